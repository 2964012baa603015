"""The land surface of the synthetic region: a two-layer water balance, vegetation and LST.

Layers: surface 0-5 cm (``z1`` = 50 mm) and the rest of the root zone 5-100 cm (950 mm);
root-zone soil moisture (0-100 cm) is their depth-weighted mean. One daily step (:func:`step`):

1. snow: precipitation below 0.5 degC accumulates, melt by a degree-day factor (4 mm/K/day);
2. runoff: infiltration excess over a 3-hour storm at the saturated conductivity, and saturation
   excess from the ARNO/VIC variable-infiltration curve (Zhao 1992; Wood et al. 1992, b = 0.3);
3. infiltration fills the surface layer, overflow goes to the layer below;
4. gravity drainage of the surface layer above field capacity (rate 0.5/day) and diffusive
   exchange between the layers (rate 0.25/day at field capacity, scaled by the Campbell
   diffusivity, so that little water rises into a dry surface), each integrated exactly over the
   day as a linear relaxation;
5. drainage of the lower layer above field capacity at the Campbell (1974) conductivity,
   slowed in convergent valleys through the wetness index, and capillary support from shallow
   groundwater in valley bottoms (TWI above its 80th percentile);
6. bare-soil evaporation from the surface layer and transpiration from the root zone, each the
   potential rate times its cover fraction times a water-stress factor.

Vegetation: fractional cover from a phenology per land cover, modulated by lagged root-zone water
stress (20-day memory); reflectances of a linear soil-vegetation mixture with soil darkening on
wetting (Lobell and Asner 2002) give NDVI, EVI (Huete et al. 2002) and NSDSI (Yue et al. 2019).
LST: air temperature plus a daytime excess that grows as the surface dries and shrinks under
transpiring vegetation, plus a slope-aspect radiation term.
"""

from __future__ import annotations

import numpy as np

from .terrain import BARE, CROP, FOREST, GRASS, WATER, campbell_conductivity

Z1 = 50.0     # mm, surface layer 0-5 cm
Z2 = 950.0    # mm, lower root zone 5-100 cm
ZRZ = Z1 + Z2

# land cover: (min cover, max cover, stress sensitivity, green-up doy, senescence doy, transp. coeff.)
VEG = {
    WATER: (0.0, 0.0, 0.0, 140.0, 260.0, 0.0),
    BARE: (0.02, 0.10, 0.3, 140.0, 255.0, 0.8),
    GRASS: (0.06, 0.60, 0.6, 140.0, 262.0, 1.0),
    CROP: (0.03, 0.82, 0.5, 138.0, 240.0, 1.1),
    FOREST: (0.45, 0.88, 0.2, 135.0, 270.0, 1.0),
}
# reflectance end-members (blue, red, nir, swir1, swir2) and soil wetting coefficients (per m3/m3)
SOIL_DRY = np.array([0.11, 0.20, 0.27, 0.38, 0.32])
VEG_REFL = np.array([0.04, 0.04, 0.45, 0.25, 0.12])
WATER_REFL = np.array([0.06, 0.04, 0.02, 0.012, 0.008])
SOIL_WET_COEF = np.array([1.6, 1.6, 1.5, 2.2, 3.0])


def lc_table(lc: np.ndarray, column: int) -> np.ndarray:
    """Look up column ``column`` of :data:`VEG` for every land-cover code."""
    table = np.array([VEG[k][column] for k in sorted(VEG)])
    return table[lc]


def phenology_params(lc, dem) -> dict:
    """Per-pixel phenology parameters: minimum and maximum cover and stress sensitivity of the land
    cover, green-up 2 days later and senescence 1.5 days earlier per 100 m above 3000 m."""
    return {"fmin": lc_table(lc, 0), "fmax": lc_table(lc, 1), "sens": lc_table(lc, 2),
            "greenup": lc_table(lc, 3) + 2.0 * (dem - 3000.0) / 100.0,
            "senescence": lc_table(lc, 4) - 1.5 * (dem - 3000.0) / 100.0}


def phenology(doy: float, greenup, senescence) -> np.ndarray:
    """Seasonal greenness (0-1): a logistic green-up (7-day scale) times a logistic senescence
    (9-day scale) around the pixel's green-up and senescence days of year."""
    return 1.0 / (1.0 + np.exp(-(doy - greenup) / 7.0)) / (1.0 + np.exp((doy - senescence) / 9.0))


def vegetation_vigor(noise, precip_factor, awc, exponent: float = 1.0) -> np.ndarray:
    """Long-term canopy vigour (multiplier of the seasonal cover, 0.4-1.6): more vegetation where
    it rains more (``precip_factor``) and in proportion to the plant-available water the soil holds,
    ``(awc / median)**exponent`` with ``awc = fc - wp`` (m3/m3) -- the equilibrium of canopy density
    with the soil's water supply (Eagleson 1982) -- times a smooth random factor (``noise``,
    standard normal, 12%)."""
    water = (awc / np.median(awc)) ** exponent
    return np.clip((1.0 + 0.12 * noise) * np.clip(precip_factor, 0.6, 1.3) * water, 0.4, 1.6)


def vegetation_cover(doy, vp: dict, vigor, stress_memory) -> np.ndarray:
    """Fractional vegetation cover (0-1): ``fmin + (fmax - fmin) * phenology * vigor * stress``,
    where ``stress = 1 - sensitivity * (1 - stress_memory)`` and ``stress_memory`` is the lagged
    root-zone water-stress factor (1 = unstressed); ``vp`` from :func:`phenology_params`."""
    ph = phenology(doy, vp["greenup"], vp["senescence"])
    stress = 1.0 - vp["sens"] * (1.0 - stress_memory)
    return np.clip(vp["fmin"] + (vp["fmax"] - vp["fmin"]) * ph * vigor * stress, 0.0, 0.97)


def reflectances(fveg, theta1, sand, water_fraction) -> np.ndarray:
    """Surface reflectance in (blue, red, nir, swir1, swir2), shape ``(5, ...)``: a linear mixture of
    vegetation and soil, the soil brighter when sandier and darker when wet
    (``rho = rho_dry exp(-c theta)``, Lobell and Asner 2002), mixed with open water."""
    th = np.nan_to_num(theta1, nan=0.3)
    bright = 0.8 + 0.4 * sand
    out = np.empty((5, *np.shape(th)))
    for b in range(5):
        soil = SOIL_DRY[b] * bright * np.exp(-SOIL_WET_COEF[b] * th)
        land = fveg * VEG_REFL[b] + (1 - fveg) * soil
        out[b] = land + water_fraction * (WATER_REFL[b] - land)
    return out


def ndvi(refl) -> np.ndarray:
    """NDVI = (NIR - red) / (NIR + red) (Rouse et al. 1974)."""
    return (refl[2] - refl[1]) / (refl[2] + refl[1])


def evi(refl) -> np.ndarray:
    """EVI = 2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1) (Huete et al. 2002)."""
    return 2.5 * (refl[2] - refl[1]) / (refl[2] + 6 * refl[1] - 7.5 * refl[0] + 1.0)


def nsdsi(refl) -> np.ndarray:
    """NSDSI = (SWIR1 - SWIR2) / SWIR1 (Yue et al. 2019, NSDSI1 with MODIS bands 6 and 7)."""
    return (refl[3] - refl[4]) / refl[3]


def surface_stress(theta1, soil) -> np.ndarray:
    """Bare-soil evaporation efficiency (0-1): linear from the residual content to field capacity."""
    return np.clip((theta1 - soil["resid"]) / (soil["fc"] - soil["resid"]), 0.0, 1.0)


def root_stress(theta_rz, soil) -> np.ndarray:
    """Transpiration stress factor (0-1): linear from wilting point to 70% of the available water
    (Feddes-type reduction)."""
    return np.clip((theta_rz - soil["wp"]) / (0.7 * (soil["fc"] - soil["wp"])), 0.0, 1.0)


def land_surface_temperature(t2m, rs, fveg, beta_s, beta_t, slope, aspect, water_fraction, snow) -> np.ndarray:
    """Daytime LST (K): ``t2m + (rs/20) * (2 + 9 (1-beta_s)(1-fveg) - 2.5 fveg beta_t + 3 south)``
    with ``rs`` in MJ m-2 day-1 and ``south`` = sin(slope) * -cos(aspect) (equator-facing slopes
    warmer); lakes at ``t2m - 1``; snow-covered ground at most 273 K."""
    south = -np.sin(np.radians(slope)) * np.cos(np.radians(aspect))
    excess = (rs / 20.0) * (2.0 + 9.0 * (1 - beta_s) * (1 - fveg) - 2.5 * fveg * beta_t + 3.0 * south)
    lst = t2m + excess
    lst = np.where(snow > 5.0, np.minimum(lst, 273.0), lst)
    return (1 - water_fraction) * lst + water_fraction * (t2m - 1.0)


def arno_saturated_fraction(w, b: float = 0.3) -> np.ndarray:
    """Saturated-area fraction of the ARNO/VIC curve: ``1 - (1 - w)**(b/(1+b))`` for relative storage ``w``."""
    return 1.0 - (1.0 - np.clip(w, 0.0, 1.0)) ** (b / (1.0 + b))


def exchange_rate(theta1, theta2, fc, b, rate_fc: float = 0.25) -> np.ndarray:
    """Exchange coefficient between the layers (1/day): ``rate_fc`` at field capacity, scaled by
    the soil-water diffusivity ``D ~ (theta/theta_fc)**(b + 2)`` of Campbell (1974) at the mean
    content of the two layers (capped at twice ``rate_fc``): dry soil passes little water upward."""
    mean = 0.5 * (theta1 + theta2)
    return rate_fc * np.minimum((np.maximum(mean, 0.0) / fc) ** (b + 2.0), 2.0)


def snow_step(snow, precip, t2m, ddf: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Degree-day snow: returns (new snow water equivalent mm, liquid input mm)."""
    solid = t2m < 273.65
    snow = snow + np.where(solid, precip, 0.0)
    melt = np.minimum(snow, ddf * np.maximum(t2m - 273.15, 0.0))
    return snow - melt, np.where(solid, 0.0, precip) + melt


def step(state: dict, soil: dict, static: dict, precip, t2m, pet, fveg) -> dict:
    """One daily step of the two-layer water balance (see the module docstring); returns the
    fluxes (mm/day) and updates ``state`` (``theta1``, ``theta2``, ``snow``) in place."""
    th1, th2 = state["theta1"], state["theta2"]
    ts, fc, wp, res = soil["porosity"], soil["fc"], soil["wp"], soil["resid"]
    state["snow"], water = snow_step(state["snow"], precip, t2m)
    # runoff: infiltration excess (3-hour storms) and saturation excess (ARNO)
    cap = soil["ksat"] * 3.0
    r_ie = np.maximum(water - cap, 0.0)
    th_rz = (Z1 * th1 + Z2 * th2) / ZRZ
    r_se = (water - r_ie) * arno_saturated_fraction((th_rz - wp) / (ts - wp))
    infil = water - r_ie - r_se
    th1 = th1 + infil / Z1
    over = np.maximum(th1 - ts, 0.0) * Z1
    th1 = th1 - over / Z1
    th2 = th2 + over / Z2
    over2 = np.maximum(th2 - ts, 0.0) * Z2
    th2 = th2 - over2 / Z2
    # surface gravity drainage and diffusive exchange (positive downward)
    # (each as the exact one-day solution of a linear relaxation, so a day never drains more than
    # the excess: 1 - exp(-k) of it)
    g1 = (1.0 - np.exp(-0.5)) * np.maximum(th1 - fc, 0.0) * Z1
    g1 = np.minimum(g1, (ts - th2) * Z2)
    th1 = th1 - g1 / Z1
    th2 = th2 + g1 / Z2
    k = exchange_rate(th1, th2, fc, soil["b"])
    q = (1.0 - np.exp(-k)) * (th1 - th2) * (Z1 * Z2 / ZRZ)
    th1 = th1 - q / Z1
    th2 = th2 + q / Z2
    # lower drainage above field capacity, slowed in valleys; groundwater support in valley bottoms
    kd = campbell_conductivity(th2, ts, soil["ksat"], soil["b"]) * 24.0 * static["drain_factor"]
    drain = np.minimum(kd, np.maximum(th2 - fc, 0.0) * Z2)
    gw = static["gw_factor"] * np.maximum(fc - th2, 0.0) * Z2
    th2 = th2 - drain / Z2 + gw / Z2
    # evaporation and transpiration
    beta_s = surface_stress(th1, soil)
    th_rz = (Z1 * th1 + Z2 * th2) / ZRZ
    beta_t = root_stress(th_rz, soil)
    no_snow = state["snow"] < 1.0
    es = np.where(no_snow, pet * (1 - fveg) * beta_s, 0.0)
    es = np.minimum(es, np.maximum(th1 - res, 0.0) * Z1)
    tr = np.where(no_snow, pet * fveg * static["kt"] * beta_t, 0.0)
    tr = np.minimum(tr, np.maximum(th2 - wp, 0.0) * Z2)
    th1 = np.clip(th1 - es / Z1, res, ts)
    th2 = np.clip(th2 - tr / Z2, res, ts)
    state["theta1"], state["theta2"] = th1, th2
    return {"runoff": r_ie + r_se + over2, "drainage": drain, "es": es, "tr": tr, "beta_s": beta_s,
            "beta_t": beta_t}


def rootzone(theta1, theta2) -> np.ndarray:
    """Root-zone (0-100 cm) soil moisture, the depth-weighted mean of the two layers (m3/m3)."""
    return (Z1 * theta1 + Z2 * theta2) / ZRZ


def hydro_factors(twi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wetness-index controls of the lower layer: a drainage factor ``exp(-0.5 (twi - median))``
    (clipped to 0.1-3; convergent valleys drain slower) and a groundwater-support rate
    (0.02/day per unit of TWI above its 80th percentile)."""
    med = np.median(twi)
    drain = np.clip(np.exp(-0.5 * (twi - med)), 0.1, 3.0)
    gw = 0.02 * np.maximum(twi - np.quantile(twi, 0.8), 0.0)
    return drain, np.minimum(gw, 0.1)
