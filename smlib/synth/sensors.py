"""Sensor models of the synthetic region: microwave emission, backscatter, swaths, composites.

- Soil permittivity by the refractive (CRIM) mixing model (Birchak et al. 1974) with a Debye
  relaxation of free water (Ulaby et al. 1986): lower water permittivity at C and X band.
- Fresnel reflectivities, the Choudhury et al. (1979) roughness correction, and the tau-omega
  zero-order radiative-transfer model (Mo et al. 1982) with the optical depth ``tau = b VWC``
  (Jackson and Schmugge 1991) and vegetation water content from NDVI (Jackson et al. 2004).
- ASCAT-like backscatter by the change-detection model of Wagner et al. (1999): dry reference
  plus sensitivity times degree of saturation plus a vegetation term.
- Swaths as moving stripes (a revisit cycle of about ``1/fraction`` days), MODIS-like
  16-day maximum-value composites (Holben 1986) and 8-day means.
"""

from __future__ import annotations

import numpy as np

# sensor bands: (frequency GHz, incidence deg, b (tau per kg/m2), single-scattering albedo, roughness h)
BANDS = {
    "L": (1.41, 40.0, 0.12, 0.05, 0.13),
    "c1": (6.9, 55.0, 0.30, 0.06, 0.20),
    "c2": (7.3, 55.0, 0.31, 0.06, 0.20),
    "x": (10.7, 55.0, 0.38, 0.07, 0.22),
}


def water_permittivity(freq_ghz: float, eps_static: float = 80.0, eps_inf: float = 4.9,
                       relax_ghz: float = 17.0) -> float:
    """Real part of the permittivity of free water, Debye model (Ulaby et al. 1986), at ~20 degC."""
    f = freq_ghz / relax_ghz
    return eps_inf + (eps_static - eps_inf) / (1 + f * f)


def soil_permittivity(theta, porosity, freq_ghz: float, eps_solid: float = 4.7) -> np.ndarray:
    """Real soil permittivity by the CRIM refractive mixing model (Birchak et al. 1974):
    ``sqrt(eps) = (1 - phi) sqrt(eps_s) + theta sqrt(eps_w) + (phi - theta) sqrt(1)``."""
    ew = water_permittivity(freq_ghz)
    th = np.clip(theta, 0.0, porosity)
    n = (1 - porosity) * np.sqrt(eps_solid) + th * np.sqrt(ew) + (porosity - th)
    return n * n


def fresnel(eps, incidence_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Fresnel power reflectivities (H, V) of a flat surface of real permittivity ``eps``."""
    c = np.cos(np.radians(incidence_deg))
    s2 = np.sin(np.radians(incidence_deg)) ** 2
    root = np.sqrt(eps - s2)
    rh = ((c - root) / (c + root)) ** 2
    rv = ((eps * c - root) / (eps * c + root)) ** 2
    return rh, rv


def rough_reflectivity(r, h: float, incidence_deg: float):
    """Roughness-reduced reflectivity ``r exp(-h cos^2 theta)`` (Choudhury et al. 1979)."""
    return r * np.exp(-h * np.cos(np.radians(incidence_deg)) ** 2)


def vegetation_water_content(ndvi, stem_factor) -> np.ndarray:
    """Vegetation water content (kg/m2) from NDVI, Jackson et al. (2004):
    foliage ``1.9134 NDVI^2 - 0.3215 NDVI`` plus ``stem_factor (NDVI - 0.1)/(0.9)``."""
    nd = np.clip(ndvi, 0.1, 0.95)
    return np.maximum(1.9134 * nd ** 2 - 0.3215 * nd, 0.0) + stem_factor * (nd - 0.1) / 0.9


def tau_omega(t_eff, reflectivity, tau, omega: float, incidence_deg: float) -> np.ndarray:
    """Brightness temperature (K), tau-omega model (Mo et al. 1982), canopy at soil temperature:
    ``TB = T (1 - r) g + T (1 - w)(1 - g)(1 + r g)``, ``g = exp(-tau / cos theta)``."""
    g = np.exp(-tau / np.cos(np.radians(incidence_deg)))
    return t_eff * (1 - reflectivity) * g + t_eff * (1 - omega) * (1 - g) * (1 + reflectivity * g)


def brightness_temperatures(band: str, theta, porosity, t_eff, vwc, water_fraction) -> tuple[np.ndarray, np.ndarray]:
    """(TBH, TBV) in K of land-water mixed cells for ``band`` (key of :data:`BANDS`); frozen soil
    (``t_eff`` below 273.15 K) keeps only 0.04 m3/m3 of liquid water."""
    freq, inc, b, omega, h = BANDS[band]
    liquid = np.where(t_eff < 273.15, np.minimum(theta, 0.04), theta)
    eps = soil_permittivity(np.nan_to_num(liquid, nan=0.2), porosity, freq)
    rh, rv = fresnel(eps, inc)
    rh, rv = rough_reflectivity(rh, h, inc), rough_reflectivity(rv, h, inc)
    tau = b * vwc
    tbh = tau_omega(t_eff, rh, tau, omega, inc)
    tbv = tau_omega(t_eff, rv, tau, omega, inc)
    wh, wv = fresnel(water_permittivity(freq), inc)
    tw = np.maximum(t_eff, 273.15)
    tbh = (1 - water_fraction) * tbh + water_fraction * tw * (1 - wh)
    tbv = (1 - water_fraction) * tbv + water_fraction * tw * (1 - wv)
    return tbh, tbv


def backscatter_db(saturation, ndvi, slope_deg, sensitivity_db: float, dry_db: float = -17.5) -> np.ndarray:
    """Backscatter at 40 deg (dB) by change detection (Wagner et al. 1999): dry reference
    ``dry_db`` + 1.5 dB per 10 deg of mean slope (roughness) + vegetation ``4 NDVI`` +
    ``sensitivity_db * saturation`` (degree of saturation, 0-1)."""
    return dry_db + 0.15 * slope_deg + 4.0 * ndvi + sensitivity_db * saturation


def swath_mask(day_numbers, lat, lon, fraction: float, phase: float, period_deg: float = 11.0,
               speed_deg: float = 4.13, tilt: float = 0.35) -> np.ndarray:
    """Observation mask ``(time, lat, lon)``: cells inside a stripe of relative width ``fraction``
    of a pattern of period ``period_deg`` that moves ``speed_deg`` per day (a revisit cycle of
    about 1/fraction days; the stripes are tilted like descending or ascending orbits)."""
    d = np.asarray(day_numbers, float)[:, None, None]
    u = (np.asarray(lon, float)[None, None, :] + tilt * np.asarray(lat, float)[None, :, None]
         + speed_deg * d + phase * period_deg) % period_deg
    return u / period_deg < fraction


def composite_windows(dates, period: int) -> np.ndarray:
    """Start date (datetime64[D]) of the MODIS composite window of each date: windows of
    ``period`` days starting on day of year 1 of each year (MOD13: 16 days; MOD09A1: 8 days)."""
    d = np.asarray(dates, dtype="datetime64[D]")
    year = d.astype("datetime64[Y]")
    doy = (d - year.astype("datetime64[D]")).astype(int)
    return year.astype("datetime64[D]") + (doy // period) * period


def max_value_composite(values, key) -> np.ndarray:
    """Per pixel, the entry of ``values`` (time first) on the time step where ``key`` is largest
    (NaN-aware; NaN where ``key`` is NaN throughout): the maximum-value composite (Holben 1986)."""
    k = np.where(np.isfinite(key), key, -np.inf)
    i = np.argmax(k, axis=0)
    out = np.take_along_axis(values, i[None], axis=0)[0]
    return np.where(np.isfinite(key).any(axis=0), out, np.nan)

