"""Parameters of the synthetic study generator, with the error levels fixed by DESIGN.md section 5.

A study file's ``synthetic:`` section overrides :data:`DEFAULTS`; :func:`validate_params` checks
every value and raises ``ValueError("<key>: <rule>")`` (the study loader prefixes ``synthetic.``).

The sensor error levels (``smap_error_sd``, ``amsr2_error_sd``, ``fy3c_error_sd``, the model biases,
``station_error_sd``) are the contract of DESIGN.md section 5: they may be changed in a study file
for an experiment, but the shipped profiles keep these values.
"""

from __future__ import annotations

import copy

#: Generator parameters (units in the comments). Sensor error levels are the contract of DESIGN.md.
DEFAULTS: dict = {
    # ---- stations
    "n_stations": 30,            # number of in-situ stations (20-40 in the shipped profiles)
    "station_error_sd": 0.025,   # m3/m3, point-scale representativeness error of ssm (AR(1))
    "station_error_phi": 0.9,    # 1, lag-1 autocorrelation of the representativeness error (daily)
    "station_rz_error_sd": 0.02,  # m3/m3, representativeness error of rzsm (AR(1), phi 0.97)
    "station_bias_sd": 0.02,     # m3/m3, sd of the per-station sensor bias
    "station_gap_fraction": 0.1,  # 1, fraction of station-days lost to outages
    "station_min_water_km": 3.0,  # km, minimum distance of a station from open water
    # ---- satellites (error levels: DESIGN.md section 5)
    "smap_error_sd": 0.04,       # m3/m3, SMAP-like ssm random error
    "smap_bias": 0.01,           # m3/m3
    "amsr2_error_sd": 0.06,      # m3/m3
    "amsr2_bias": 0.03,          # m3/m3 (X/C-band retrievals are wet-biased over vegetation)
    "fy3c_error_sd": 0.06,       # m3/m3
    "fy3c_bias": -0.02,          # m3/m3
    "ascat_noise_db": 0.45,      # dB, sig40 random error (speckle, azimuthal noise)
    "ascat_sensitivity_db": 7.0,  # dB, sig40 change from dry to saturated soil
    "tb_noise_k": 1.0,           # K, radiometric noise of the L-band brightness temperatures
    "smap_swath_fraction": 0.4,  # 1, fraction of days a point is inside a SMAP-like swath (per pass)
    "amsr2_swath_fraction": 0.6,  # 1, same for AMSR2-like / FY3C-like
    "ascat_swath_fraction": 0.55,  # 1, same for ASCAT-like
    # ---- optical / thermal
    "modis_lst_error_k": 1.0,    # K, MODIS-like LST random error
    "modis_ndvi_error": 0.02,    # 1, daily NDVI random error before compositing
    "glass_ndvi_bias": 0.02,     # 1, GLASS-like NDVI bias
    "glass_lst_bias_k": 0.8,     # K, GLASS-like LST bias
    # ---- models (coarse re-runs of the water balance)
    # m3/m3, shift of each model's soil parameters (realised biases 0.02-0.05 in both layers)
    "model_bias": {"gleam": 0.025, "noah": -0.04, "cldas": 0.03, "geos5": 0.025, "era5land": 0.035},
    "model_precip_error": 0.35,  # 1, sd of the log of the models' multiplicative precipitation error
    # ---- forcing products
    "era5_precip_error": 0.5,    # 1, sd of the log of the ERA5-like multiplicative precipitation error
    "mswep_precip_error": 0.25,  # 1, same for MSWEP-like
    # ---- terrain, soils, climate
    "mean_elevation_m": 3300.0,  # m
    "relief_m": 900.0,           # m, amplitude of the range / basin structure
    "roughness_m": 220.0,        # m, sd of the fractal terrain component
    "n_lakes": 3,                # number of lakes
    "annual_precip_mm": 420.0,   # mm/yr, regional mean annual precipitation
    "orographic_gain": 0.35,     # 1/km, relative precipitation increase per km of elevation
    "storm_length_km": 25.0,     # km, correlation length of the storm field
    "convective_length_km": 4.0,  # km, correlation length of local convective cells
    "lapse_rate": 6.5,           # K/km, air-temperature lapse rate
    "t_sea_level_k": 294.0,      # K, annual mean sea-level-reduced air temperature
    "t_amplitude_k": 11.0,       # K, amplitude of the seasonal temperature cycle
    "texture_local_sd": 0.07,    # 1, sd of the sand fraction's local (1.5 km) variability (clay: 0.55x)
    "heterogeneity_sd": 0.012,   # m3/m3, sd of the sub-kilometre soil-hydraulic heterogeneity field
    "spinup_days": 60,           # days, water-balance spin-up before the study period
    "block_days": 0,             # days per generation block, a multiple of 16 (0 = whole period at once; large: 16)
    "compress": False,           # zlib-compress the written files (large profile)
}

MODEL_NAMES = ("gleam", "noah", "cldas", "geos5", "era5land")

# key: (min, max) for plain numbers; None bound = open
_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "station_error_sd": (0.0, 0.2, "m3/m3"),
    "station_error_phi": (0.0, 0.999, "1"),
    "station_rz_error_sd": (0.0, 0.2, "m3/m3"),
    "station_bias_sd": (0.0, 0.2, "m3/m3"),
    "station_gap_fraction": (0.0, 0.9, "1"),
    "station_min_water_km": (0.0, 50.0, "km"),
    "smap_error_sd": (0.0, 0.3, "m3/m3"),
    "smap_bias": (-0.2, 0.2, "m3/m3"),
    "amsr2_error_sd": (0.0, 0.3, "m3/m3"),
    "amsr2_bias": (-0.2, 0.2, "m3/m3"),
    "fy3c_error_sd": (0.0, 0.3, "m3/m3"),
    "fy3c_bias": (-0.2, 0.2, "m3/m3"),
    "ascat_noise_db": (0.0, 5.0, "dB"),
    "ascat_sensitivity_db": (0.5, 20.0, "dB"),
    "tb_noise_k": (0.0, 10.0, "K"),
    "smap_swath_fraction": (0.05, 1.0, "1"),
    "amsr2_swath_fraction": (0.05, 1.0, "1"),
    "ascat_swath_fraction": (0.05, 1.0, "1"),
    "modis_lst_error_k": (0.0, 10.0, "K"),
    "modis_ndvi_error": (0.0, 0.3, "1"),
    "glass_ndvi_bias": (-0.3, 0.3, "1"),
    "glass_lst_bias_k": (-10.0, 10.0, "K"),
    "model_precip_error": (0.0, 2.0, "1"),
    "era5_precip_error": (0.0, 2.0, "1"),
    "mswep_precip_error": (0.0, 2.0, "1"),
    "mean_elevation_m": (-400.0, 6000.0, "m"),
    "relief_m": (0.0, 4000.0, "m"),
    "roughness_m": (0.0, 2000.0, "m"),
    "annual_precip_mm": (10.0, 5000.0, "mm/yr"),
    "orographic_gain": (0.0, 2.0, "1/km"),
    "storm_length_km": (2.0, 500.0, "km"),
    "convective_length_km": (0.5, 50.0, "km"),
    "lapse_rate": (0.0, 10.0, "K/km"),
    "t_sea_level_k": (230.0, 320.0, "K"),
    "t_amplitude_k": (0.0, 30.0, "K"),
    "texture_local_sd": (0.0, 0.2, "1"),
    "heterogeneity_sd": (0.0, 0.05, "m3/m3"),
}
_INTS: dict[str, tuple[int, int]] = {
    "n_stations": (1, 500),
    "n_lakes": (0, 50),
    "spinup_days": (0, 3650),
    "block_days": (0, 3660),
}


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v == v and abs(v) != float("inf")


def validate_params(params: dict) -> dict:
    """Check generator parameters; return a validated copy. Raises ``ValueError("key: rule")``."""
    out = copy.deepcopy(params)
    unknown = [k for k in out if k not in DEFAULTS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown generator parameter; valid: {', '.join(sorted(DEFAULTS))}")
    for k, (lo, hi) in _INTS.items():
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{k}: must be an integer in [{lo}, {hi}], got {v!r}")
    for k, (lo, hi, unit) in _RANGES.items():
        v = out[k]
        if not _is_number(v):
            raise ValueError(f"{k}: must be a number ({unit}), got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{k}: must lie in [{lo}, {hi}] {unit}, got {v!r}")
        out[k] = float(v)
    bd = out["block_days"]
    if bd and bd % 16:
        raise ValueError(f"block_days: must be 0 or a multiple of 16 (MODIS composite periods), got {bd}")
    if not isinstance(out["compress"], bool):
        raise ValueError(f"compress: must be true or false, got {out['compress']!r}")
    mb = out["model_bias"]
    if not isinstance(mb, dict):
        raise ValueError(f"model_bias: must be a mapping of model name to bias (m3/m3), got {mb!r}")
    bad = [m for m in mb if m not in MODEL_NAMES]
    if bad:
        raise ValueError(f"model_bias.{bad[0]}: unknown model; valid: {', '.join(MODEL_NAMES)}")
    merged = dict(DEFAULTS["model_bias"])
    merged.update(mb)
    for m, v in merged.items():
        if not _is_number(v) or abs(v) > 0.2:
            raise ValueError(f"model_bias.{m}: must be a number in [-0.2, 0.2] m3/m3, got {v!r}")
        merged[m] = float(v)
    out["model_bias"] = merged
    return out
