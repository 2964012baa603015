"""SMAP soil moisture HDF5 granules (L2, L3, L4) on the EASE-Grid 2.0, regridded to a study grid.

Product specifications followed (NSIDC user guides and data-product specifications):

- **L3** SPL3SMP (36 km) and SPL3SMP_E (enhanced, 9 km), daily composites of the half orbits:
  O'Neill, P. E. et al. (2021), *SMAP L3 Radiometer Global Daily 36 km EASE-Grid Soil Moisture,
  Version 8* and *SMAP Enhanced L3 ... 9 km, Version 5*, NSIDC DAAC, doi:10.5067/OMHVSRGFX38O and
  doi:10.5067/4DQ54OUIJ9DL; data fields in Soil Moisture Active Passive (SMAP) Project, *Level 3
  Passive Soil Moisture Product Specification Document* (JPL D-72551). Groups
  ``Soil_Moisture_Retrieval_Data_AM`` (descending, 06:00 local) and ``..._PM`` (ascending, 18:00;
  every dataset name ends in ``_pm``); 2-D arrays on the global EASE2 grid, M36 ``(406, 964)`` or
  M09 ``(1624, 3856)``; ``soil_moisture`` in cm3/cm3, ``_FillValue`` -9999, valid range 0.02-0.5;
  ``tb_v_corrected``/``tb_h_corrected`` in K; ``retrieval_qual_flag`` bit 0 = 0 means *recommended
  quality*, bit 1 = 0 *retrieval attempted*, bit 2 = 0 *retrieval successful*. File names
  ``SMAP_L3_SM_P_YYYYMMDD_R*.h5`` and ``SMAP_L3_SM_P_E_YYYYMMDD_R*.h5`` give the date.
- **L2** SPL2SMP half orbits: the same fields as 1-D arrays over the swath, with
  ``EASE_row_index``/``EASE_column_index`` of the M36 grid; file names
  ``SMAP_L2_SM_P_NNNNN_[AD]_YYYYMMDDTHHMMSS_*.h5`` (A = ascending, D = descending).
- **L4** SPL4SMAU / SPL4SMGP (Reichle et al. 2022, *SMAP L4 Global 3-hourly 9 km EASE-Grid Surface
  and Root Zone Soil Moisture*, V7, doi:10.5067/LWJ6TF5SZRG3): ``sm_surface`` (0-5 cm) and
  ``sm_rootzone`` (0-100 cm), m3/m3, on the M09 grid with projected ``x``/``y`` cell centres (m);
  groups ``Analysis_Data`` (``*_analysis``) or ``Geophysical_Data``; ``time`` in seconds since
  2000-01-01 11:58:55.816 UTC (J2000). Granules of one UTC day are averaged.

Values are decoded with the CF attributes (:func:`smlib.readers._common.decode_cf`), filtered by the
quality rule, and regridded with :func:`smlib.readers.ease2.to_latlon` (mean over samples per cell;
``qc`` takes the EASE2 cell at the centre).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from . import ease2
from ._common import check_file, decode_cf, fail, stack_daily
from .gridded import nanmean0

L3_EXPECTED = "SMAP L3 SPL3SMP/SPL3SMP_E HDF5 granule"
L2_EXPECTED = "SMAP L2 SPL2SMP half-orbit HDF5 granule"
L4_EXPECTED = "SMAP L4 SPL4SMAU/SPL4SMGP HDF5 granule"
AM, PM = "Soil_Moisture_Retrieval_Data_AM", "Soil_Moisture_Retrieval_Data_PM"
#: L3 fields read: canonical name -> (AM dataset, PM dataset without the _pm suffix)
L3_FIELDS = {"ssm": "soil_moisture", "tbv": "tb_v_corrected", "tbh": "tb_h_corrected", "qc": "retrieval_qual_flag"}


def _h5(path, expected):
    import h5py

    path = check_file(path, expected)
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001
        raise fail(path, expected, f"cannot be opened as HDF5 ({type(exc).__name__})") from None


def _attrs(ds) -> dict:
    return {k: v for k, v in ds.attrs.items() if k not in ("DIMENSION_LIST", "REFERENCE_LIST")}


def quality_mask(flag: np.ndarray, quality: str = "default") -> np.ndarray:
    """True where a retrieval is kept by ``retrieval_qual_flag`` (uint16; fill 65534 is never kept).

    ``default``: bit 0 clear (recommended quality); ``retrieved``: bits 1 and 2 clear (attempted and
    successful); ``none``: any retrieval present.
    """
    f = np.asarray(flag)
    present = f != 65534
    fi = f.astype("int64")
    if quality == "default":
        return present & ((fi & 1) == 0)
    if quality == "retrieved":
        return present & ((fi & 0b110) == 0)
    if quality == "none":
        return present
    raise ValueError(f"quality must be 'default', 'retrieved' or 'none', got {quality!r}")


def canonical_qc(ds: xr.Dataset, quality: str) -> xr.Dataset:
    """Canonical ``qc`` (DESIGN.md section 4, catalogue: 0 = recommended / usable): 0 where ``ssm``
    passed the quality rule ``quality``, NaN where there is no retrieval kept. SMAP's own bit flags
    travel beside it as ``retrieval_qual_flag`` (bit 0 not recommended, bit 1 not attempted, bit 2
    failed, bit 3 freeze/thaw failed; product specification, see the module docstring)."""
    if "qc" in ds:
        raw = ds["qc"].where(np.isfinite(ds["ssm"]))
        ds["retrieval_qual_flag"] = raw
        ds["retrieval_qual_flag"].attrs = {"long_name": "SMAP retrieval_qual_flag of the retrieval kept (bit flags)",
                                           "flag_masks": "1, 2, 4, 8",
                                           "flag_meanings": "not_recommended not_attempted failed ft_failed"}
        ds["qc"] = xr.where(np.isfinite(ds["ssm"]), 0.0, np.nan)
        ds["qc"].attrs = {"long_name": f"0 = retrieval kept by the quality rule '{quality}'"}
    return ds


def l3_date(path) -> pd.Timestamp:
    """The date of an L3 granule from its name ``SMAP_L3_SM_P[_E]_YYYYMMDD_...``."""
    m = re.search(r"SM_P(?:_E)?_(\d{8})_", Path(path).name)
    if not m:
        raise fail(path, L3_EXPECTED, "the name lacks _YYYYMMDD_ (expected SMAP_L3_SM_P[_E]_YYYYMMDD_R*.h5)")
    return pd.Timestamp(m.group(1))


def read_l3(path, window: tuple[slice, slice] | None = None, quality: str = "default") -> dict:
    """Read one L3 granule: ``{"ease": EASE2Grid, "date", "am": {...}, "pm": {...}}``.

    Each of ``am``/``pm`` maps ``ssm``, ``tbv``, ``tbh`` (float64, NaN = fill or flagged) and ``qc``
    (the flag as float, NaN = fill) to 2-D arrays of the EASE2 ``window`` (row, column slices; the
    whole grid when None).
    """
    f = _h5(path, L3_EXPECTED)
    try:
        if AM not in f:
            raise fail(path, L3_EXPECTED, f"no group {AM} (groups: {', '.join(list(f.keys())[:6])})")
        shape = f[AM]["soil_moisture"].shape
        grid = ease2.grid_from_shape(shape)
        if grid is None:
            raise fail(path, L3_EXPECTED, f"soil_moisture has shape {shape}, not an EASE-Grid 2.0 M36 (406, 964) "
                                          "or M09 (1624, 3856) grid")
        win = window or (slice(0, grid.nrows), slice(0, grid.ncols))
        out = {"ease": grid, "date": l3_date(path), "window": win}
        for tag, group, suffix in (("am", AM, ""), ("pm", PM, "_pm")):
            if group not in f:
                continue
            g = f[group]
            fields = {}
            flag = np.asarray(g[L3_FIELDS["qc"] + suffix][win])
            keep = quality_mask(flag, quality)
            for canon, name in L3_FIELDS.items():
                ds = g[name + suffix] if name + suffix in g else None
                if ds is None:
                    if canon == "ssm":
                        raise fail(path, L3_EXPECTED, f"no dataset {group}/{name + suffix}")
                    continue
                vals = decode_cf(ds[win], _attrs(ds))
                if canon == "qc":
                    vals[flag == 65534] = np.nan
                else:
                    vals[~keep] = np.nan
                fields[canon] = vals
            out[tag] = fields
        return out
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- truncated or damaged HDF5 datasets
        raise fail(path, L3_EXPECTED, f"{type(exc).__name__}: {exc}") from None
    finally:
        f.close()


def _combine(am, pm, how: str):
    if am is None:
        return pm
    if pm is None or how == "am":
        return am
    if how == "pm":
        return pm
    if how == "mean":
        return nanmean0([am, pm])
    return np.where(np.isfinite(am), am, pm)  # am_first


def l3_to_grid(paths, grid, start=None, end=None, quality: str = "default", am_pm: str = "am_first") -> xr.Dataset:
    """L3 granules -> daily ``ssm``, ``tbv_asc``, ``tbh_asc`` (PM), ``tbv_des``, ``tbh_des`` (AM), ``qc``
    (0 where ``ssm`` is kept, see :func:`canonical_qc`) and ``retrieval_qual_flag`` on the lat/lon
    ``grid``. ``ssm`` combines AM and PM by ``am_pm`` (``am_first``: AM, PM where AM is
    missing; ``am``; ``pm``; ``mean``); ``qc`` is the flag of the AM retrieval, else PM."""
    per_day: dict = {}
    for p in paths:
        date = l3_date(p)
        if start is not None and not (pd.Timestamp(start) <= date <= pd.Timestamp(end)):
            continue
        f = _h5(p, L3_EXPECTED)
        try:
            if AM not in f:
                raise fail(p, L3_EXPECTED, f"no group {AM}")
            eg = ease2.grid_from_shape(f[AM]["soil_moisture"].shape)
        finally:
            f.close()
        if eg is None:
            raise fail(p, L3_EXPECTED, "soil_moisture is not on an EASE-Grid 2.0 M36/M09 grid")
        win = eg.window(grid)
        g = read_l3(p, win, quality)
        r0, c0 = win[0].start, win[1].start

        def rg(a, how="mean"):
            return None if a is None else ease2.to_latlon(a, eg, grid, r0, c0, how=how)

        am, pm = g.get("am", {}), g.get("pm", {})
        day = {"ssm": _combine(rg(am.get("ssm")), rg(pm.get("ssm")), am_pm)}
        qc_am, qc_pm = rg(am.get("qc"), "nearest"), rg(pm.get("qc"), "nearest")
        ssm_am = rg(am.get("ssm"))
        if qc_am is not None:
            day["qc"] = np.where(np.isfinite(ssm_am), qc_am, qc_pm if qc_pm is not None else np.nan)
        for canon, tag, src in (("tbv_des", "am", am), ("tbh_des", "am", am), ("tbv_asc", "pm", pm),
                                ("tbh_asc", "pm", pm)):
            v = src.get(canon[:3])
            if v is not None:
                day[canon] = rg(v)
        per_day[date] = day
    if not per_day:
        raise InputError(f"{paths[0] if paths else 'smap'}: no SMAP L3 granule dated within {start}..{end}")
    ds = canonical_qc(stack_daily(per_day, grid, start, end), quality)
    ds.attrs["source"] = "SMAP L3 SPL3SMP/SPL3SMP_E, EASE-Grid 2.0, regridded with smlib.readers.ease2"
    ds.attrs["quality_rule"] = f"retrieval_qual_flag: {quality}; AM/PM: {am_pm}"
    return ds


# -------------------------------------------------------------------------------------------- L2
def l2_info(path) -> tuple[str, pd.Timestamp]:
    """Orbit direction (``A``/``D``) and UTC date of an L2 half orbit from its file name."""
    m = re.search(r"_([AD])_(\d{8})T\d{6}_", Path(path).name)
    if not m:
        raise fail(path, L2_EXPECTED, "the name lacks _[AD]_YYYYMMDDTHHMMSS_ (expected "
                                      "SMAP_L2_SM_P_NNNNN_A_YYYYMMDDTHHMMSS_R*.h5)")
    return m.group(1), pd.Timestamp(m.group(2))


def read_l2(path, quality: str = "default") -> dict:
    """One L2 half orbit: ``{"row", "col" (M36 indices), "ssm", "tbv", "tbh", "qc", "direction", "date"}``."""
    direction, date = l2_info(path)
    f = _h5(path, L2_EXPECTED)
    try:
        g = f.get("Soil_Moisture_Retrieval_Data")
        if g is None or "soil_moisture" not in g or "EASE_row_index" not in g:
            raise fail(path, L2_EXPECTED, "no Soil_Moisture_Retrieval_Data/soil_moisture with EASE_row_index")
        row = np.asarray(g["EASE_row_index"][:]).astype("int64")
        col = np.asarray(g["EASE_column_index"][:]).astype("int64")
        flag = np.asarray(g["retrieval_qual_flag"][:])
        keep = quality_mask(flag, quality) & (row != 65534) & (col != 65534)
        out = {"row": np.where(keep, row, -1), "col": np.where(keep, col, -1), "direction": direction, "date": date}
        for canon, name in L3_FIELDS.items():
            if name in g:
                v = decode_cf(g[name][:], _attrs(g[name]))
                if canon == "qc":
                    v[flag == 65534] = np.nan
                else:
                    v[~keep] = np.nan
                out[canon] = v
        return out
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise fail(path, L2_EXPECTED, f"{type(exc).__name__}: {exc}") from None
    finally:
        f.close()


def l2_to_grid(paths, grid, start=None, end=None, quality: str = "default") -> xr.Dataset:
    """L2 half orbits -> daily ``ssm`` (descending first, as L3 does with AM), ``tbv/tbh_asc/des``, ``qc``
    on ``grid``: the swath points are placed on the M36 grid (mean where half orbits overlap), then
    regridded like L3."""
    eg = ease2.grid("M36")
    win = eg.window(grid)
    r0, c0 = win[0].start, win[1].start
    shape = (win[0].stop - r0, win[1].stop - c0)
    acc: dict = {}
    for p in paths:
        d = read_l2(p, quality)
        if start is not None and not (pd.Timestamp(start) <= d["date"] <= pd.Timestamp(end)):
            continue
        r, c = d["row"] - r0, d["col"] - c0
        ok = (d["row"] >= 0) & (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
        day = acc.setdefault(d["date"], {})
        for canon in ("ssm", "tbv", "tbh", "qc"):
            if canon not in d:
                continue
            key = f"{canon}_{'asc' if d['direction'] == 'A' else 'des'}"
            s, n = day.setdefault(key, (np.zeros(shape), np.zeros(shape)))
            v = d[canon][ok]
            fin = np.isfinite(v)
            np.add.at(s, (r[ok][fin], c[ok][fin]), v[fin])
            np.add.at(n, (r[ok][fin], c[ok][fin]), 1)
    per_day = {}
    for date, day in acc.items():
        mean = {k: np.where(n > 0, s / np.maximum(n, 1), np.nan) for k, (s, n) in day.items()}
        out = {}
        des = mean.get("ssm_des")
        asc = mean.get("ssm_asc")
        rg = {k: ease2.to_latlon(v, eg, grid, r0, c0, how="nearest" if k.startswith("qc") else "mean")
              for k, v in mean.items()}
        out["ssm"] = _combine(rg.get("ssm_des") if des is not None else None,
                              rg.get("ssm_asc") if asc is not None else None, "am_first")
        for k in ("tbv_asc", "tbh_asc", "tbv_des", "tbh_des"):
            if k in rg:
                out[k] = rg[k]
        qd, qa = rg.get("qc_des"), rg.get("qc_asc")
        out["qc"] = qd if qa is None else (qa if qd is None else np.where(np.isfinite(qd), qd, qa))
        per_day[date] = out
    if not per_day:
        raise InputError(f"{paths[0] if paths else 'smap'}: no SMAP L2 half orbit dated within {start}..{end}")
    ds = canonical_qc(stack_daily(per_day, grid, start, end), quality)
    ds.attrs["source"] = "SMAP L2 SPL2SMP half orbits on the EASE-Grid 2.0 M36 grid, regridded"
    ds.attrs["quality_rule"] = f"retrieval_qual_flag: {quality}"
    return ds


# -------------------------------------------------------------------------------------------- L4
J2000 = pd.Timestamp("2000-01-01 11:58:55.816")
L4_FIELDS = {"ssm": ("sm_surface_analysis", "sm_surface"), "rzsm": ("sm_rootzone_analysis", "sm_rootzone")}


def read_l4(path) -> dict:
    """One L4 granule: ``{"time", "ease", "row0", "col0", "ssm", "rzsm"}`` (2-D arrays on an M09 window)."""
    f = _h5(path, L4_EXPECTED)
    try:
        group = next((g for g in ("Analysis_Data", "Geophysical_Data") if g in f), None)
        if group is None:
            raise fail(path, L4_EXPECTED, "no Analysis_Data or Geophysical_Data group")
        eg = ease2.grid("M09")
        if "x" in f and "y" in f:
            x = np.asarray(f["x"][:], dtype="float64")
            y = np.asarray(f["y"][:], dtype="float64")
            col0 = int(round((x[0] - eg.x_min) / eg.res - 0.5))
            row0 = int(round((eg.y_max - y[0]) / eg.res - 0.5))
            if abs(eg.x(col0) - x[0]) > 0.01 * eg.res or abs(eg.y(row0) - y[0]) > 0.01 * eg.res:
                raise fail(path, L4_EXPECTED, "x/y are not EASE-Grid 2.0 M09 cell centres")
        else:
            row0 = col0 = 0
        out = {"ease": eg, "row0": row0, "col0": col0}
        g = f[group]
        for canon, names in L4_FIELDS.items():
            name = next((n for n in names if n in g), None)
            if name is not None:
                out[canon] = decode_cf(g[name][:], _attrs(g[name]))
        if "ssm" not in out:
            raise fail(path, L4_EXPECTED, f"no {group}/sm_surface(_analysis)")
        if "time" in f:
            out["time"] = J2000 + pd.to_timedelta(float(np.asarray(f["time"][:]).ravel()[0]), unit="s")
        else:
            m = re.search(r"_(\d{8})T(\d{6})_", Path(path).name)
            if not m:
                raise fail(path, L4_EXPECTED, "neither a time dataset nor _YYYYMMDDTHHMMSS_ in the name")
            out["time"] = pd.Timestamp(m.group(1) + m.group(2))
        return out
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise fail(path, L4_EXPECTED, f"{type(exc).__name__}: {exc}") from None
    finally:
        f.close()


def l4_to_grid(paths, grid, start=None, end=None) -> xr.Dataset:
    """L4 granules -> daily mean ``ssm`` (0-5 cm) and ``rzsm`` (0-100 cm) on ``grid``."""
    acc: dict = {}
    for p in paths:
        d = read_l4(p)
        day = pd.Timestamp(d["time"]).normalize()
        if start is not None and not (pd.Timestamp(start) <= day <= pd.Timestamp(end)):
            continue
        for canon in ("ssm", "rzsm"):
            if canon in d:
                v = ease2.to_latlon(d[canon], d["ease"], grid, d["row0"], d["col0"])
                acc.setdefault(day, {}).setdefault(canon, []).append(v)
    if not acc:
        raise InputError(f"{paths[0] if paths else 'smap'}: no SMAP L4 granule dated within {start}..{end}")
    per_day = {}
    for day, fields in acc.items():
        per_day[day] = {k: nanmean0(v) for k, v in fields.items()}
    ds = stack_daily(per_day, grid, start, end)
    ds.attrs["source"] = "SMAP L4 SPL4SMAU/SPL4SMGP (GEOS-5 land data assimilation), 9 km EASE-Grid 2.0, regridded"
    return ds
