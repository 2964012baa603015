"""Helpers shared by the readers: clear errors, CF decoding done explicitly, daily time, units.

CF conventions (CF-1.8, section 8.1 "Packed data" and 2.5.1 "Missing data"): a stored value ``raw``
is missing where it equals ``_FillValue`` or ``missing_value`` or lies outside ``valid_min`` /
``valid_max`` / ``valid_range`` (compared on the *stored* values); otherwise the physical value is
``raw * scale_factor + add_offset``. The readers apply these rules themselves (instead of relying on
a library's automatic decoding) so that every step is visible and tested.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError


def fail(path, expected: str, detail: str = "") -> InputError:
    """An :class:`InputError` naming ``path`` and what it should have been (one line)."""
    tail = f": {detail}" if detail else ""
    msg = f"{path}: not a valid {expected}{tail}"
    return InputError(" ".join(msg.split()))


def check_file(path, expected: str) -> Path:
    """``path`` as a :class:`Path`; raises :class:`InputError` if it is missing or empty."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (expected {expected})")
    if path.is_file() and os.path.getsize(path) == 0:
        raise fail(path, expected, "the file is empty")
    return path


def _attr(attrs: dict, *names):
    for n in names:
        if n in attrs:
            v = attrs[n]
            if isinstance(v, bytes):
                v = v.decode()
            return v
    return None


def decode_cf(raw, attrs: dict, extra_invalid=()) -> np.ndarray:
    """Decode stored values ``raw`` with their CF attributes into float64 physical values, NaN = missing.

    Handles ``_FillValue``, ``missing_value``, ``valid_min``/``valid_max``/``valid_range``,
    ``flag_values`` stored in the data variable itself (CGLS writes flag codes such as 251 = water
    into the ``ssm`` layer: those are not data), then ``scale_factor`` and ``add_offset``.
    ``extra_invalid`` lists further stored values to treat as missing.
    """
    raw = np.asarray(raw)
    data = raw.astype("float64")
    bad = np.zeros(raw.shape, dtype=bool)
    if raw.dtype.kind == "f":
        bad |= ~np.isfinite(data)
    for key in ("_FillValue", "missing_value"):
        v = _attr(attrs, key)
        if v is not None:
            for x in np.atleast_1d(np.asarray(v, dtype="float64")):
                if np.isfinite(x):
                    bad |= data == x
    vr = _attr(attrs, "valid_range")
    lo = _attr(attrs, "valid_min")
    hi = _attr(attrs, "valid_max")
    if vr is not None and np.size(vr) == 2:
        lo, hi = np.asarray(vr, dtype="float64")
    if lo is not None:
        bad |= data < float(np.asarray(lo).ravel()[0])
    if hi is not None:
        bad |= data > float(np.asarray(hi).ravel()[0])
    fv = _attr(attrs, "flag_values")
    if fv is not None and _attr(attrs, "scale_factor") is not None:
        # flag codes inside a packed data layer (CGLS SSM/SWI): not measurements
        for x in np.atleast_1d(np.asarray(fv, dtype="float64")):
            bad |= data == x
    for x in extra_invalid:
        bad |= data == float(x)
    scale = _attr(attrs, "scale_factor")
    offset = _attr(attrs, "add_offset")
    if scale is not None:
        data = data * float(np.asarray(scale).ravel()[0])
    if offset is not None:
        data = data + float(np.asarray(offset).ravel()[0])
    data[bad] = np.nan
    return data


def daily(times) -> np.ndarray:
    """Times floored to the day (00:00) as ``datetime64[ns]`` (DESIGN.md section 3)."""
    import pandas as pd

    return pd.DatetimeIndex(times).floor("D").values.astype("datetime64[ns]")


# ------------------------------------------------------------------------------------------ units
#: Units meaning volumetric soil moisture in m3/m3 (as written by the products cited in the readers).
VOLUMETRIC = {"m3/m3", "m3 m-3", "m^3/m^3", "m**3 m**-3", "m^3 m^-3", "m3m-3", "cm**3/cm**3",
              "cm3/cm3", "cm3 cm-3", "m^3*m^-3", "1", "fraction", ""}
PERCENT = {"%", "percent", "percentage", "% vol", "vol %", "%vol"}


def layer_thickness_mm(name: str) -> float | None:
    """Thickness in mm of a layer named like GLDAS ``SoilMoi0_10cm_inst`` (-> 100 mm), else None."""
    m = re.search(r"(\d+)_(\d+)\s*cm", name)
    if not m:
        return None
    return (float(m.group(2)) - float(m.group(1))) * 10.0


def to_canonical(values: np.ndarray, units: str | None, target: str, name: str = "",
                 thickness_mm: float | None = None, where: str = "") -> np.ndarray:
    """Convert ``values`` in ``units`` to the canonical unit ``target`` of DESIGN.md section 3.

    Supported conversions (every one is explicit here):

    - ``m3/m3``: volumetric spellings are taken as is; ``%`` (volumetric percent) / 100;
      ``kg m-2`` (a layer's water mass, e.g. GLDAS Noah ``SoilMoi0_10cm_inst``) / (1000 kg m-3 x
      thickness in m), the thickness parsed from the name or given;
    - ``%`` (degree of saturation, ASCAT, CGLS): ``%`` as is, a fraction (0-1) x 100;
    - ``K``: ``degC``/``C``/``Celsius`` + 273.15; ``K``/``Kelvin``/``Kelvins`` as is;
    - ``mm/day``: ``kg m-2 s-1``/``mm s-1`` x 86400; ``m`` (daily accumulation, ERA5 ``tp``) x 1000;
      ``mm``/``mm/day``/``kg m-2`` (daily totals) as is;
    - ``m``, ``degrees``, ``dB``, ``1``: as is when the units agree.

    Raises :class:`InputError` naming ``where`` when the units are unknown for ``target``.
    """
    u = (units or "").strip()
    ul = u.lower().replace("**", "^").replace("  ", " ")
    v = np.asarray(values, dtype="float64")
    if target == "m3/m3":
        if u in VOLUMETRIC or ul in {x.lower().replace("**", "^") for x in VOLUMETRIC}:
            return v
        if ul in PERCENT:
            return v / 100.0
        if ul in {"kg m-2", "kg/m2", "kg m^-2", "kg/m^2", "mm"}:
            th = thickness_mm or layer_thickness_mm(name)
            if not th:
                raise InputError(f"{where}: {name} is in {u!r}: give the layer thickness (thickness_mm) "
                                 "to convert a water mass to m3/m3")
            return v / th
    elif target == "%":
        if ul in PERCENT:
            return v
        if u in VOLUMETRIC:
            return v * 100.0
    elif target == "K":
        if ul in {"k", "kelvin", "kelvins", "degk"}:
            return v
        if ul in {"degc", "c", "celsius", "deg c", "°c", "degree_celsius"}:
            return v + 273.15
    elif target == "mm/day":
        if ul in {"kg m-2 s-1", "kg/m2/s", "mm s-1", "mm/s", "kg m^-2 s^-1"}:
            return v * 86400.0
        if ul in {"m", "m/day", "m day-1"}:
            return v * 1000.0
        if ul in {"mm", "mm/day", "mm day-1", "kg m-2", "mm/d"}:
            return v
    elif target == "m":
        if ul in {"m", "meters", "metres", "meter", ""}:
            return v
        if ul in {"cm"}:
            return v / 100.0
        if ul in {"km"}:
            return v * 1000.0
    else:
        if ul == target.lower() or ul in {"", "1", "-", "none"}:
            return v
    raise InputError(f"{where}: cannot convert {name or 'variable'} from units {u!r} to {target}")


def stack_daily(per_day: dict, grid, start, end, combine=None):
    """``{date: {name: (lat, lon) array}}`` -> a daily ``(time, lat, lon)`` Dataset on ``grid``.

    Days run from ``start`` to ``end`` (or over the dates present when ``start`` is None); a missing
    day or variable is NaN. ``combine`` reduces the value stored for a day (e.g. several MODIS tiles
    -> their NaN-aware mean); ``None`` takes it as it is.
    """
    import pandas as pd
    import xarray as xr

    days = pd.date_range(start, end, freq="D") if start is not None else pd.DatetimeIndex(sorted(per_day))
    names = sorted({k for d in per_day.values() for k in d})
    data = {}
    for n in names:
        arr = np.full((len(days), grid.nlat, grid.nlon), np.nan)
        for i, d in enumerate(days):
            if d in per_day and n in per_day[d]:
                v = per_day[d][n]
                arr[i] = combine(v) if combine is not None else v
        data[n] = (("time", "lat", "lon"), arr)
    return xr.Dataset(data, coords={"time": days.values.astype("datetime64[ns]"), **grid.coords()})
