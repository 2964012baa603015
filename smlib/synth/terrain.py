"""Terrain, soils and land cover of the synthetic study region (DESIGN.md section 5).

- DEM: a mountain range and a basin across the region, a network of valleys and a fractal
  roughness component (spectral synthesis, Saupe 1988).
- Slope and aspect by centred differences; D8 flow accumulation (O'Callaghan and Mark 1984) and
  the topographic wetness index ``ln(a / tan(beta))`` (Beven and Kirkby 1979).
- Sand and clay fields; soil hydraulic parameters from the pedotransfer functions of
  Cosby et al. (1984) and the retention curve of Campbell (1974).
- Land cover (0 water, 1 bare, 2 grassland, 3 cropland, 4 forest) from elevation, slope, aspect,
  wetness and precipitation climate, with a few lakes.
"""

from __future__ import annotations

import numpy as np

from .fields import fractal_field, gaussian_field, pixel_km, smooth, stream

#: land-cover codes (attrs ``flag_values`` / ``flag_meanings`` of ``static.landcover``)
LANDCOVER = {0: "water", 1: "bare", 2: "grassland", 3: "cropland", 4: "forest"}
WATER, BARE, GRASS, CROP, FOREST = 0, 1, 2, 3, 4

#: suction heads (cm of water) of field capacity (33 kPa) and wilting point (1500 kPa)
PSI_FC_CM = 336.5
PSI_WP_CM = 15296.0


# ------------------------------------------------------------------------------------------ DEM
def dem_field(shape, res_deg: float, mean_m: float, relief_m: float, roughness_m: float,
              rng: np.random.Generator) -> np.ndarray:
    """Elevation (m): ``mean + relief * (range - basin) + valleys + roughness * fractal``.

    The range is a Gaussian ridge across the region at a random angle, the basin a Gaussian
    depression on the other side of it, valleys follow the zero lines of a smooth random field
    (about 10 km apart) and the fractal component has spectral exponent 3.2.
    """
    ny, nx = shape
    y, x = np.meshgrid((np.arange(ny) + 0.5) / ny, (np.arange(nx) + 0.5) / nx, indexing="ij")
    ang = rng.uniform(0, np.pi)
    off = rng.uniform(-0.15, 0.15)
    d = (x - 0.5) * np.cos(ang) + (y - 0.5) * np.sin(ang) - off      # signed distance from the ridge line
    ridge = np.exp(-(d / 0.17) ** 2)
    side = -np.sign(rng.uniform(-1, 1)) or 1.0
    bx, by = 0.5 + side * 0.32 * np.cos(ang), 0.5 + side * 0.32 * np.sin(ang)
    basin = np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * 0.2 ** 2))
    km = res_deg * 111.195
    g = gaussian_field(shape, max(10.0 / km, 1.5), rng)
    valleys = np.exp(-(g / 0.35) ** 2)
    rough = fractal_field(shape, 3.2, rng)
    dem = mean_m + relief_m * (0.9 * ridge - 0.8 * basin) - 0.25 * relief_m * valleys * (0.5 + ridge)
    dem = dem + roughness_m * rough
    return dem - (dem.mean() - mean_m)


def slope_aspect(dem: np.ndarray, res_deg: float, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and aspect (degrees clockwise from north, the direction the slope faces)
    by centred differences; ``lat`` (descending) gives the east-west pixel size per row."""
    dy_km, _ = pixel_km(res_deg, 0.0)
    dx_m = (res_deg * 111195.0 * np.cos(np.radians(lat)))[:, None]
    dz_drow, dz_dcol = np.gradient(dem)
    dzdx = dz_dcol / dx_m                 # east
    dzdy = -dz_drow / (dy_km * 1000.0)    # north (rows go south)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    aspect = (np.degrees(np.arctan2(-dzdx, -dzdy)) + 360.0) % 360.0
    return slope, aspect


_D8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def d8_accumulation(dem: np.ndarray) -> np.ndarray:
    """Number of cells draining through each cell (itself included) by the D8 rule: each cell
    drains to the neighbour of steepest descent (O'Callaghan and Mark 1984); pits drain nowhere."""
    ny, nx = dem.shape
    pad = np.pad(dem, 1, mode="edge")
    best = np.zeros(dem.shape)
    rec = np.full(dem.shape, -1, dtype=np.int64)
    idx = np.arange(ny * nx).reshape(ny, nx)
    pidx = np.pad(idx, 1, mode="constant", constant_values=-1)
    for dr, dc in _D8:
        nb = pad[1 + dr:1 + dr + ny, 1 + dc:1 + dc + nx]
        drop = (dem - nb) / np.hypot(dr, dc)
        better = (drop > best) & (pidx[1 + dr:1 + dr + ny, 1 + dc:1 + dc + nx] >= 0)
        best = np.where(better, drop, best)
        rec = np.where(better, pidx[1 + dr:1 + dr + ny, 1 + dc:1 + dc + nx], rec)
    order = np.argsort(-dem, axis=None, kind="stable").tolist()
    r = rec.ravel().tolist()
    acc = [1.0] * (ny * nx)
    for i in order:
        j = r[i]
        if j >= 0:
            acc[j] += acc[i]
    return np.asarray(acc).reshape(ny, nx)


def wetness_index(acc: np.ndarray, slope_deg: np.ndarray, cell_m: float) -> np.ndarray:
    """Topographic wetness index ``ln(a / tan(beta))`` (Beven and Kirkby 1979): ``a`` is the
    upslope area per unit contour width (m; ``acc * cell_m``), ``tan(beta)`` at least 0.001."""
    return np.log(acc * cell_m / np.maximum(np.tan(np.radians(slope_deg)), 1e-3))


# ----------------------------------------------------------------------------------------- lakes
def lakes(dem: np.ndarray, res_deg: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Open-water fraction (0-1) of ``n`` elliptic lakes placed in low ground (lowest 20% of the
    smoothed DEM), radii 2.5-7 km, with anti-aliased shores."""
    ny, nx = dem.shape
    wf = np.zeros(dem.shape)
    if n == 0:
        return wf
    km = res_deg * 111.195
    low = smooth(dem, 5.0 / km)
    cand = np.flatnonzero(low.ravel() <= np.quantile(low, 0.2))
    yy, xx = np.mgrid[0:ny, 0:nx]
    for _ in range(n):
        c = cand[rng.integers(cand.size)]
        cy, cx = divmod(int(c), nx)
        a = rng.uniform(2.5, 7.0) / km
        b = a * rng.uniform(0.45, 0.9)
        th = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
        v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        wf = np.maximum(wf, np.clip((1.0 - r) * b + 0.5, 0.0, 1.0))
    return wf


# ----------------------------------------------------------------------------------------- soils
def texture(dem: np.ndarray, twi: np.ndarray, res_deg: float, rng: np.random.Generator,
            local_sd: float = 0.07) -> tuple[np.ndarray, np.ndarray]:
    """Sand and clay fractions (0-1): a regional pattern (15 km, sd 0.10 sand / 0.05 clay), local
    variability (1.5 km, sd ``local_sd`` sand and 0.55 ``local_sd`` clay), sandier alluvial fans in
    low ground and finer soils in wet valley bottoms."""
    km = res_deg * 111.195
    big_s = gaussian_field(dem.shape, max(15.0 / km, 1.0), rng)
    small_s = gaussian_field(dem.shape, max(1.5 / km, 0.7), rng)
    big_c = gaussian_field(dem.shape, max(15.0 / km, 1.0), rng)
    small_c = gaussian_field(dem.shape, max(1.5 / km, 0.7), rng)
    low = (np.quantile(dem, 0.5) - dem) / max(dem.std(), 1.0)
    wet = (twi - np.median(twi)) / max(twi.std(), 1e-6)
    sand = 0.45 + 0.10 * big_s + local_sd * small_s + 0.05 * np.clip(low, -1, 2) - 0.03 * np.clip(wet, 0, 3)
    clay = 0.18 + 0.05 * big_c + 0.55 * local_sd * small_c - 0.04 * np.clip(low, -1, 2) + 0.03 * np.clip(wet, 0, 3)
    sand = np.clip(sand, 0.08, 0.85)
    clay = np.clip(clay, 0.04, 0.5)
    clay = np.minimum(clay, 0.95 - sand)
    return sand, clay


def soil_map(true_field: np.ndarray, res_deg: float, rng: np.random.Generator, length_km: float = 8.0,
             error_sd: float = 0.04) -> np.ndarray:
    """A SoilGrids-like map of a texture fraction: the truth smoothed over ``length_km`` plus a
    smooth mapping error of sd ``error_sd``; the sub-kilometre texture stays unobserved."""
    km = res_deg * 111.195
    err = gaussian_field(true_field.shape, max(5.0 / km, 1.0), rng) * error_sd
    return np.clip(smooth(true_field, length_km / km) + err, 0.02, 0.95)


def cosby_porosity(sand: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """Saturated water content (m3/m3), Cosby et al. (1984): 0.505 - 0.00142 S - 0.00037 C (S, C in %)."""
    return 0.505 - 0.142 * sand - 0.037 * clay


def cosby_b(sand: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """Campbell/Clapp-Hornberger exponent b (1), Cosby et al. (1984): 3.10 + 0.157 C - 0.003 S."""
    return 3.10 + 15.7 * clay - 0.3 * sand


def cosby_psi_s(sand: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """Air-entry suction head (cm of water), Cosby et al. (1984): 10**(1.54 - 0.0095 S + 0.0063 Si)."""
    silt = np.clip(1.0 - sand - clay, 0.0, 1.0)
    return 10.0 ** (1.54 - 0.95 * sand + 0.63 * silt)


def cosby_ksat(sand: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """Saturated hydraulic conductivity (mm/h), Cosby et al. (1984): 10**(-0.60 + 0.0126 S - 0.0064 C) in/h."""
    return 25.4 * 10.0 ** (-0.60 + 1.26 * sand - 0.64 * clay)


def campbell_theta(psi_cm, theta_s, psi_s, b):
    """Water content (m3/m3) at suction ``psi_cm`` from Campbell (1974): theta_s (psi_s/psi)**(1/b)."""
    return theta_s * (psi_s / psi_cm) ** (1.0 / b)


def campbell_conductivity(theta, theta_s, ksat, b):
    """Unsaturated hydraulic conductivity (units of ``ksat``), Campbell (1974): ksat (theta/theta_s)**(2b+3)."""
    return ksat * np.clip(theta / theta_s, 0.0, 1.0) ** (2.0 * b + 3.0)


# ------------------------------------------------------------------------------------ land cover
def landcover(dem, slope, aspect, twi, precip_factor, water_fraction, rng: np.random.Generator,
              res_deg: float) -> np.ndarray:
    """Land-cover codes from the environment: water where the water fraction is at least 0.5;
    forest on moist, steeper, shaded (north-facing) mid slopes below the tree line; cropland on
    flat, moist low ground; bare ground in the dry basin floor and above the vegetation line;
    grassland elsewhere. A smooth random field (5 km) makes the boundaries irregular."""
    km = res_deg * 111.195
    noise = gaussian_field(dem.shape, max(5.0 / km, 1.0), rng)
    q = np.quantile(dem, [0.12, 0.35, 0.55, 0.9, 0.97])
    shade = np.cos(np.radians(aspect)) * np.sin(np.radians(slope))   # >0 north-facing
    wet = (twi - np.median(twi)) / max(twi.std(), 1e-6)
    lc = np.full(dem.shape, GRASS, dtype=np.int8)
    bare = ((dem < q[0] + 80 * noise) & (precip_factor < 1.0 + 0.05 * noise)) | (dem > q[4] + 60 * noise)
    crop = (slope < 4.0) & (dem < q[2] + 60 * noise) & (wet + 0.6 * noise > 0.2) & ~bare
    forest = ((dem > q[1] + 80 * noise) & (dem < q[3] + 80 * noise) & (slope > 7.0)
              & (shade + 0.15 * noise > 0.02) & (precip_factor > 0.95))
    lc[crop] = CROP
    lc[forest] = FOREST
    lc[bare] = BARE
    lc[water_fraction >= 0.5] = WATER
    return lc


def derived_soil(sand, clay, heterogeneity, lc=None) -> dict:
    """Soil hydraulic parameters from texture (Cosby 1984, Campbell 1974) plus the sub-kilometre
    heterogeneity field (m3/m3) that shifts the whole retention curve of a pixel."""
    ts = cosby_porosity(sand, clay)
    b = cosby_b(sand, clay)
    ps = cosby_psi_s(sand, clay)
    fc = campbell_theta(PSI_FC_CM, ts, ps, b)
    wp = campbell_theta(PSI_WP_CM, ts, ps, b)
    h = heterogeneity
    out = {"porosity": ts + h, "fc": fc + h, "wp": np.maximum(wp + h, 0.02), "b": b,
           "ksat": cosby_ksat(sand, clay)}
    out["resid"] = 0.5 * out["wp"]
    return out


def static_fields(shape, res_deg: float, lat: np.ndarray, params: dict, seed: int) -> dict:
    """Every static fine-grid field of the region (numpy arrays): dem, slope, aspect, twi,
    water_fraction, landcover, precip_factor, sand, clay (true and mapped), soil parameters."""
    rng = stream(seed, "terrain")
    dem = dem_field(shape, res_deg, params["mean_elevation_m"], params["relief_m"], params["roughness_m"], rng)
    wf = lakes(dem, res_deg, params["n_lakes"], stream(seed, "lakes"))
    # lakes are flat at the elevation of their shore; the banks slope down to them over about 2 km
    if wf.any():
        shore = np.quantile(dem[wf > 0.05], 0.1)
        w = np.clip(smooth(wf, 2.0 / (res_deg * 111.195)) * 1.5, 0.0, 1.0)
        w = np.maximum(w, wf)
        dem = dem - w * (dem - np.minimum(dem, shore))
    slope, aspect = slope_aspect(dem, res_deg, lat)
    acc = d8_accumulation(dem)
    cell_m = res_deg * 111195.0 * np.cos(np.radians(float(np.mean(lat))))
    twi = wetness_index(acc, slope, cell_m)
    pf = np.clip(1.0 + params["orographic_gain"] * (dem - dem.mean()) / 1000.0, 0.2, None)
    lc = landcover(dem, slope, aspect, twi, pf, wf, stream(seed, "landcover"), res_deg)
    sand, clay = texture(dem, twi, res_deg, stream(seed, "texture"), params["texture_local_sd"])
    het = stream(seed, "heterogeneity").standard_normal(shape) * params["heterogeneity_sd"]
    soil = derived_soil(sand, clay, het)
    rs = stream(seed, "soilmap")
    out = {"dem": dem, "slope": slope, "aspect": aspect, "twi": twi, "water_fraction": wf, "landcover": lc,
           "precip_factor": pf, "sand_true": sand, "clay_true": clay,
           "sand": soil_map(sand, res_deg, rs), "clay": soil_map(clay, res_deg, rs)}
    out.update(soil)
    return out
