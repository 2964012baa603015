"""The variable catalogue: one place for names, units, long names, CF standard names and valid ranges.

Used to write attributes (:func:`attrs`), to check inputs (:func:`check_range`) and to label plots
(:func:`label`). Units follow DESIGN.md section 3: soil moisture m3/m3, temperatures and brightness
temperatures K, backscatter dB, precipitation mm/day, elevation m, slope degrees, indices unitless.
"""

from __future__ import annotations

import numpy as np

# name: (units, long_name, standard_name or None, (valid_min, valid_max))
VARIABLES: dict[str, tuple[str, str, str | None, tuple[float, float]]] = {
    "ssm": ("m3/m3", "surface soil moisture (0-5 cm)", "volume_fraction_of_condensed_water_in_soil", (0.0, 0.7)),
    "rzsm": ("m3/m3", "root-zone soil moisture (0-100 cm)", "volume_fraction_of_condensed_water_in_soil", (0.0, 0.7)),
    "ssm_pct": ("%", "surface degree of saturation", None, (0.0, 100.0)),
    "ndvi": ("1", "normalized difference vegetation index", "normalized_difference_vegetation_index", (-1.0, 1.0)),
    "evi": ("1", "enhanced vegetation index", None, (-1.0, 1.0)),
    "nsdsi": ("1", "normalized shortwave-infrared difference bare soil moisture index", None, (-1.0, 1.0)),
    "lst_day": ("K", "daytime land surface temperature", "surface_temperature", (200.0, 350.0)),
    "t2m": ("K", "2-m air temperature", "air_temperature", (200.0, 340.0)),
    "tb": ("K", "brightness temperature", "brightness_temperature", (0.0, 350.0)),
    "tbv_asc": ("K", "L-band brightness temperature, V pol, ascending", "brightness_temperature", (0.0, 350.0)),
    "tbh_asc": ("K", "L-band brightness temperature, H pol, ascending", "brightness_temperature", (0.0, 350.0)),
    "tbv_des": ("K", "L-band brightness temperature, V pol, descending", "brightness_temperature", (0.0, 350.0)),
    "tbh_des": ("K", "L-band brightness temperature, H pol, descending", "brightness_temperature", (0.0, 350.0)),
    "sig40": ("dB", "backscatter normalized to 40 deg incidence", None, (-40.0, 5.0)),
    "mpdi": ("1", "microwave polarization difference index", None, (-1.0, 1.0)),
    "bti": ("1", "backscatter temporal index", None, (-10.0, 10.0)),
    "precip": ("mm/day", "precipitation", "lwe_precipitation_rate", (0.0, 1000.0)),
    "precip_mswep": ("mm/day", "precipitation (MSWEP-like)", "lwe_precipitation_rate", (0.0, 1000.0)),
    "ssrd": ("W/m2", "surface solar radiation downwards", "surface_downwelling_shortwave_flux_in_air", (0.0, 500.0)),
    "vpd": ("kPa", "vapour pressure deficit", None, (0.0, 10.0)),
    "wind": ("m/s", "10-m wind speed", "wind_speed", (0.0, 60.0)),
    "dem": ("m", "elevation", "surface_altitude", (-500.0, 9000.0)),
    "slope": ("degrees", "terrain slope", None, (0.0, 90.0)),
    "twi": ("1", "topographic wetness index", None, (-5.0, 40.0)),
    "landcover": ("1", "land cover class", None, (0.0, 255.0)),
    "water_fraction": ("1", "open-water fraction", None, (0.0, 1.0)),
    "sand": ("1", "sand fraction", None, (0.0, 1.0)),
    "clay": ("1", "clay fraction", None, (0.0, 1.0)),
    "porosity": ("m3/m3", "porosity", None, (0.0, 1.0)),
    "qc": ("1", "retrieval quality flag (0 = recommended)", None, (0.0, 65535.0)),
    "err_sd": ("m3/m3", "triple-collocation error standard deviation", None, (0.0, 1.0)),
}

# Suffix rules: `tbv_c1_asc` etc. inherit from a base name.
_PREFIXES = (("tbv", "tb"), ("tbh", "tb"), ("mpdi", "mpdi"), ("ssm", "ssm"), ("rzsm", "rzsm"),
             ("ndvi", "ndvi"), ("lst", "lst_day"), ("sig40", "sig40"), ("bti", "bti"))


def lookup(name: str) -> tuple[str, str, str | None, tuple[float, float]]:
    """Return ``(units, long_name, standard_name, valid_range)`` for a variable name.

    Exact names win; otherwise a known prefix (``tbv_c1_asc`` -> brightness temperature).
    Raises ``KeyError`` naming the valid names for an unknown variable.
    """
    if name in VARIABLES:
        return VARIABLES[name]
    for prefix, base in _PREFIXES:
        if name.startswith(prefix):
            units, long_name, std, rng = VARIABLES[base]
            return units, f"{long_name} ({name})", std, rng
    raise KeyError(f"variable {name!r} is not in the catalogue; known: {', '.join(sorted(VARIABLES))}")


def attrs(name: str, **extra) -> dict:
    """CF-style attributes (units, long_name, standard_name, valid_min/max) for ``name``, plus ``extra``."""
    units, long_name, std, (lo, hi) = lookup(name)
    out = {"units": units, "long_name": long_name, "valid_min": lo, "valid_max": hi}
    if std:
        out["standard_name"] = std
    out.update(extra)
    return out


def label(name: str, units: str | None = None) -> str:
    """An axis / colour-bar label such as ``"surface soil moisture (0-5 cm) [m3/m3]"``."""
    try:
        u, long_name, _, _ = lookup(name)
    except KeyError:
        return f"{name} [{units}]" if units else name
    return f"{long_name} [{units or u}]"


def check_range(values, name: str, where: str = "") -> None:
    """Raise ``ValueError`` if finite ``values`` fall outside the catalogue's valid range for ``name``."""
    _, _, _, (lo, hi) = lookup(name)
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmin < lo or vmax > hi:
        loc = f" in {where}" if where else ""
        raise ValueError(f"{name}{loc}: values span [{vmin:.4g}, {vmax:.4g}], outside the valid range "
                         f"[{lo}, {hi}] {lookup(name)[0]}")
