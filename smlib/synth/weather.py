"""Daily weather of the synthetic region: storms, clouds, air temperature, radiation, humidity,
wind and potential evaporation (DESIGN.md section 5).

Formulas of FAO-56 (Allen et al. 1998) for radiation, vapour pressure and the psychrometric
constant; Priestley and Taylor (1972) for potential evaporation. Storms: a regional wet/dry
Markov chain (Richardson 1981 style weather generator), gamma-distributed regional amounts, and
a spatial pattern from thresholded, lognormal Gaussian random fields with orographic enhancement.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .fields import gaussian_field, stream

SIGMA_SB = 4.903e-9     # Stefan-Boltzmann constant, MJ K-4 m-2 day-1
LAMBDA = 2.45           # latent heat of vaporization, MJ/kg
GSC = 0.0820            # solar constant, MJ m-2 min-1
SUMMER_DOY = 205        # day of year of the monsoon / temperature peak


def seasonal(doy, peak_doy: float = SUMMER_DOY) -> np.ndarray:
    """Cosine seasonal cycle, +1 on ``peak_doy`` and -1 half a year later."""
    return np.cos(2 * np.pi * (np.asarray(doy, float) - peak_doy) / 365.25)


def wet_day_probability(doy) -> float:
    """Regional probability of a storm day: 0.12 in winter to 0.50 in midsummer (monsoon climate)."""
    return 0.12 + 0.38 * (0.5 + 0.5 * seasonal(doy))


def shower_mean(doy) -> float:
    """Regional mean precipitation (mm) of a day without a storm: isolated convective showers,
    0.5 mm at midsummer, none in the cold half of the year."""
    return 0.5 * max(float(seasonal(doy)), 0.0)


def mean_wet_day_amount(doy, annual_mm: float) -> float:
    """Regional mean precipitation (mm) of a storm day so that, with the showers of the other
    days, the yearly total is ``annual_mm`` with 85% seasonal amplitude (a summer-monsoon regime)."""
    daily = annual_mm / 365.25 * (1.0 + 0.85 * seasonal(doy))
    pw = wet_day_probability(doy)
    return max(daily - (1 - pw) * shower_mean(doy), 0.1 * daily) / pw


def air_temperature(doy, dem_m, t_sea_level_k: float, amplitude_k: float, lapse_k_per_km: float,
                    anomaly_k=0.0) -> np.ndarray:
    """Daily-mean 2-m air temperature (K): a seasonal cycle at sea level minus the lapse rate
    times elevation plus the synoptic ``anomaly_k``."""
    return t_sea_level_k + amplitude_k * seasonal(doy) - lapse_k_per_km * np.asarray(dem_m) / 1000.0 + anomaly_k


def extraterrestrial_radiation(lat_deg, doy) -> np.ndarray:
    """Daily extraterrestrial radiation Ra (MJ m-2 day-1), FAO-56 eqs. 21-25."""
    phi = np.radians(np.asarray(lat_deg, float))
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    dec = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1, 1))
    return 24 * 60 / np.pi * GSC * dr * (ws * np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.sin(ws))


def clear_sky_radiation(ra, z_m) -> np.ndarray:
    """Clear-sky solar radiation Rso (MJ m-2 day-1), FAO-56 eq. 37: (0.75 + 2e-5 z) Ra."""
    return (0.75 + 2e-5 * np.asarray(z_m)) * ra


def solar_radiation(ra, rso, cloudiness) -> np.ndarray:
    """Incoming shortwave radiation (MJ m-2 day-1), Angstrom formula (FAO-56 eq. 35) with the
    relative sunshine duration 1 - cloudiness, scaled to the clear-sky value at elevation."""
    return (0.25 + 0.50 * (1.0 - cloudiness)) * ra * (rso / (0.75 * ra))


def saturation_vapour_pressure(t_k) -> np.ndarray:
    """Saturation vapour pressure (kPa), FAO-56 eq. 11 (Tetens), temperature in K."""
    tc = np.asarray(t_k) - 273.15
    return 0.6108 * np.exp(17.27 * tc / (tc + 237.3))


def vapour_pressure_slope(t_k) -> np.ndarray:
    """Slope of the saturation vapour pressure curve (kPa/K), FAO-56 eq. 13."""
    tc = np.asarray(t_k) - 273.15
    return 4098 * saturation_vapour_pressure(t_k) / (tc + 237.3) ** 2


def psychrometric_constant(z_m) -> np.ndarray:
    """Psychrometric constant (kPa/K) at elevation ``z_m`` (FAO-56 eqs. 7-8)."""
    p = 101.3 * ((293.0 - 0.0065 * np.asarray(z_m)) / 293.0) ** 5.26
    return 0.665e-3 * p


def net_longwave(t_k, ea_kpa, rs, rso) -> np.ndarray:
    """Net outgoing long-wave radiation (MJ m-2 day-1), FAO-56 eq. 39 with daily-mean temperature."""
    ratio = np.clip(rs / np.maximum(rso, 1e-6), 0.3, 1.0)
    return SIGMA_SB * np.asarray(t_k) ** 4 * (0.34 - 0.14 * np.sqrt(np.maximum(ea_kpa, 0))) * (1.35 * ratio - 0.35)


def priestley_taylor(rn, t_k, z_m, alpha: float = 1.26) -> np.ndarray:
    """Potential evaporation (mm/day), Priestley and Taylor (1972): alpha D/(D+g) Rn / lambda."""
    d = vapour_pressure_slope(t_k)
    g = psychrometric_constant(z_m)
    return np.maximum(alpha * d / (d + g) * rn / LAMBDA, 0.0)


def storm_pattern(g, z: float, a: float = 0.6) -> np.ndarray:
    """Mean-one spatial pattern of a storm: ``exp(a g - a^2/2) 1[g > z] / Phi(a - z)`` for a standard
    Gaussian field ``g`` (the normalisation is the exact expectation, so the regional amount is kept
    on average without forcing every day's mean)."""
    return np.where(g > z, np.exp(a * g - 0.5 * a * a), 0.0) / ndtr(a - z)


class Weather:
    """Daily weather generator on the fine grid. Holds the regional state (wet/dry chain,
    synoptic temperature anomaly); call :meth:`day` for consecutive days."""

    def __init__(self, static: dict, lat: np.ndarray, res_deg: float, params: dict, seed: int):
        self.s = static
        self.p = params
        self.seed = seed
        self.lat_col = np.asarray(lat, float)[:, None]
        km = res_deg * 111.195
        self.storm_px = max(params["storm_length_km"] / km, 1.0)
        self.conv_px = max(params["convective_length_km"] / km, 0.7)
        self.wet = False
        self.t_anom = 0.0
        self.dem_mean = float(static["dem"].mean())

    def day(self, date) -> dict:
        """Weather of one day: precip (mm/day), cloudiness and cloud mask, t2m (K), ssrd (W/m2), rs and
        rso (MJ m-2 day-1), ea and vpd (kPa), wind (m/s)."""
        from .fields import day_number

        dn = day_number(date)
        doy = int(np.datetime64(date, "D").astype("datetime64[D]").item().timetuple().tm_yday)
        rng = stream(self.seed, "weather", dn)
        shape = self.s["dem"].shape
        # regional wet/dry chain (lag-1 persistence 0.3)
        pw = wet_day_probability(doy)
        p_next = pw + 0.3 * (1 - pw) if self.wet else pw * (1 - 0.3)
        self.wet = bool(rng.uniform() < p_next)
        g = gaussian_field(shape, self.storm_px, rng)
        gc = gaussian_field(shape, self.conv_px, rng)
        precip = np.zeros(shape)
        if self.wet:
            amount = rng.gamma(0.8, mean_wet_day_amount(doy, self.p["annual_precip_mm"]) / 0.8)
            z = -0.25  # about 60% of the region wet on a storm day
            precip = amount * storm_pattern(g, z, a=0.45) * np.exp(0.35 * gc - 0.06125)
            cloud_latent = g - (z - 0.8)
        else:
            z = 1.6  # isolated convective showers (about 5% of the region), mostly in summer
            precip = 2.0 * shower_mean(doy) * storm_pattern(gc, z, a=0.5) * rng.uniform(0, 1)
            cloud_latent = np.maximum(0.6 * gaussian_field(shape, self.storm_px, rng) - 0.7, gc - z + 0.6)
        precip = precip * self.s["precip_factor"]
        cloudiness = ndtr(2.5 * cloud_latent)
        # temperature
        self.t_anom = 0.75 * self.t_anom + rng.normal(0, 2.5 * np.sqrt(1 - 0.75 ** 2))
        t2m = air_temperature(doy, self.s["dem"], self.p["t_sea_level_k"], self.p["t_amplitude_k"],
                              self.p["lapse_rate"], self.t_anom) - 2.0 * cloudiness
        ra = extraterrestrial_radiation(self.lat_col, doy)
        rso = clear_sky_radiation(ra, self.s["dem"])
        rs = solar_radiation(ra, rso, cloudiness)
        rh = np.clip(0.35 + 0.35 * cloudiness + 0.1 * (precip > 0.5), 0.05, 0.97)
        es = saturation_vapour_pressure(t2m)
        ea = es * rh
        wind = 3.0 * np.exp(rng.normal(0, 0.35)) * np.clip(1 + 0.25 * (self.s["dem"] - self.dem_mean) / 1000, 0.3, None)
        return {"doy": doy, "precip": precip, "cloudiness": cloudiness, "cloud": cloudiness > 0.5, "t2m": t2m,
                "rs": rs, "rso": rso, "ssrd": rs * 1e6 / 86400.0, "ea": ea, "vpd": es - ea, "wind": wind}
