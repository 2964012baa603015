"""TU Wien reshuffled time-series cell files (pynetcf layout), read at given locations.

TU Wien's ``repurpose`` / pynetcf tools store image products as one NetCDF file per 5 x 5 deg cell
(``0165.nc``), in one of the CF-1.6 discrete sampling geometries for time series
(CF conventions, section 9 and appendix H.2):

- *orthogonal multidimensional*: variables ``(locations, time)`` with a shared ``time`` axis
  (SMAP L3 V6/V8, ERA5, ERA5-Land, GLDAS, ESA CCI, C3S in the QA4SM test data);
- *contiguous ragged array*: ``row_size(locations)`` and an ``obs`` dimension (ASCAT H119/H121);
- *indexed ragged array*: ``locationIndex(time)`` (SMAP L3 V9 AM+PM).

Locations are given by ``lat``/``lon``/``location_id`` (the grid point index) in each file, so the
``grid.nc`` files are not needed. Every variable is decoded explicitly (``_FillValue``,
``missing_value``, valid range, ``scale_factor``; see :func:`smlib.readers._common.decode_cf`) and
quality-filtered with the product's documented flags (:data:`PRODUCTS`), then aggregated to daily
means at 00:00 UTC.

Product layouts known here (detected from the variable names; a study file may override the mapping):

- ``smap_l3``: SMAP L3 SPL3SMP (O'Neill et al. 2021, SMAP L3 Radiometer Global Daily 36 km EASE-Grid
  Soil Moisture, V8, Data Products Specification): ``soil_moisture`` (cm3/cm3), kept where bit 0 of
  ``retrieval_qual_flag`` is 0 ("retrieval recommended"); AM (06:00 descending) preferred, PM
  (18:00 ascending) where AM is missing;
- ``ascat``: H SAF H119 ASCAT SSM CDR v7 (Product User Manual SAF/HSAF/CDOP3/PUM/H119): ``sm`` in %
  of saturation (scale 0.01), ``sigma40`` in dB (scale 0.001); kept where ``proc_flag == 0``,
  ``conf_flag == 0`` and ``ssf`` is 0 (unknown) or 1 (unfrozen);
- ``era5``: ERA5 / ERA5-Land ``swvl1`` (0-7 cm, m3/m3); ``rzsm`` from ``swvl1..3`` (0-7, 7-28,
  28-100 cm) thickness-weighted when present (ECMWF IFS documentation Cy45r1 part IV, section 8.1);
- ``gldas``: GLDAS-2.1 Noah ``SoilMoi0_10cm_inst`` (kg m-2 in a 100 mm layer -> /100 mm = m3/m3)
  and ``rzsm`` from the 0-10, 10-40 and 40-100 cm layers (total water / 1000 mm) (GLDAS-2.1 README,
  Beaudoing & Rodell 2020);
- ``esacci``: ESA CCI SM / C3S combined or passive ``sm`` (m3/m3), kept where ``flag == 0`` when the
  flag exists (ESA CCI SM Product User Guide v09.1, section 5); gap-filled ``sm`` as is;
  ``rzsm`` from ESA CCI RZSM ``rzsm_1m`` (0-100 cm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ._common import check_file, daily, decode_cf, fail, to_canonical

EXPECTED = "TU Wien time-series cell file (NetCDF with lat/lon per location and a time axis)"

#: ERA5 soil layers (mm): swvl1 0-7 cm, swvl2 7-28 cm, swvl3 28-100 cm, swvl4 100-289 cm.
ERA5_LAYERS_MM = {"swvl1": 70.0, "swvl2": 210.0, "swvl3": 720.0, "swvl4": 1890.0}

#: Known product layouts: detection variables, the canonical mapping, canonical units.
PRODUCTS: dict[str, dict] = {
    "smap_l3": {"detect": ("soil_moisture", "retrieval_qual_flag"),
                "variables": {"ssm": "soil_moisture", "qc": "retrieval_qual_flag"}},
    "ascat": {"detect": ("sm", "sigma40"), "variables": {"ssm": "sm", "sig40": "sigma40"}},
    "gldas": {"detect": ("SoilMoi0_10cm_inst",),
              "variables": {"ssm": "SoilMoi0_10cm_inst",
                            "rzsm": ["SoilMoi0_10cm_inst", "SoilMoi10_40cm_inst", "SoilMoi40_100cm_inst"]}},
    "era5": {"detect": ("swvl1",), "variables": {"ssm": "swvl1", "rzsm": ["swvl1", "swvl2", "swvl3"]}},
    "esacci_rzsm": {"detect": ("rzsm_1m",), "variables": {"rzsm": "rzsm_1m"}},
    "esacci": {"detect": ("sm",), "variables": {"ssm": "sm"}},
}
#: Canonical units of the variables a cell file can provide (ascat ``ssm`` stays in %).
UNITS = {"ssm": "m3/m3", "rzsm": "m3/m3", "sig40": "dB", "qc": "1", "t2m": "K", "precip": "mm/day"}


@dataclass
class Locations:
    """All locations of a set of cell files: one row per (file, location)."""

    table: pd.DataFrame  # columns: file, index, lat, lon, location_id
    files: list = field(default_factory=list)


def _open(path):
    import netCDF4

    path = check_file(path, EXPECTED)
    try:
        ds = netCDF4.Dataset(path)
    except Exception as exc:  # noqa: BLE001 -- any backend failure becomes one message
        raise fail(path, EXPECTED, f"cannot be opened as NetCDF ({type(exc).__name__})") from None
    ds.set_auto_maskandscale(False)
    for v in ("lat", "lon", "time"):
        if v not in ds.variables:
            ds.close()
            raise fail(path, EXPECTED, f"it has no '{v}' variable (variables: {', '.join(list(ds.variables)[:8])})")
    if "locations" not in ds.dimensions:
        ds.close()
        raise fail(path, EXPECTED, "it has no 'locations' dimension (an image file, not a time-series cell?)")
    return ds


def _attrs(var) -> dict:
    return {a: var.getncattr(a) for a in var.ncattrs()}


def locations(paths) -> Locations:
    """The locations (lat, lon, location_id) of every cell file in ``paths``."""
    rows = []
    files = [Path(p) for p in paths]
    for i, p in enumerate(files):
        ds = _open(p)
        try:
            lat = np.asarray(ds["lat"][:], dtype="float64")
            lon = np.asarray(ds["lon"][:], dtype="float64")
            lid = np.asarray(ds["location_id"][:]) if "location_id" in ds.variables else np.arange(lat.size)
            rsize = np.asarray(ds["row_size"][:], dtype="int64") if "row_size" in ds.variables else None
        except Exception as exc:  # noqa: BLE001
            ds.close()
            raise fail(p, EXPECTED, f"unreadable lat/lon ({type(exc).__name__}: {exc})") from None
        # unwritten slots of a cell file hold the NetCDF default fill (9.97e36) or a negative row_size
        ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 360)
        if "row_size" in ds.variables:
            ok &= rsize > 0
        for j in np.nonzero(ok)[0]:
            rows.append((i, int(j), lat[j], lon[j] - 360.0 * (lon[j] > 180), int(lid[j])))
        ds.close()
    table = pd.DataFrame(rows, columns=["file", "index", "lat", "lon", "location_id"])
    return Locations(table=table, files=files)


def detect(names) -> str:
    """The product layout (key of :data:`PRODUCTS`) whose detection variables are all in ``names``."""
    names = set(names)
    for key, spec in PRODUCTS.items():
        if all(v in names for v in spec["detect"]):
            return key
    raise KeyError(f"unknown cell-file product (variables {', '.join(sorted(names)[:12])}); "
                   "give a 'variables' mapping in the study file")


def _time_values(ds, path) -> np.ndarray:
    t = ds["time"]
    units = t.getncattr("units") if "units" in t.ncattrs() else ""
    if " since " not in units:
        raise fail(path, EXPECTED, f"time has units {units!r}, expected '<unit> since <date>'")
    unit, _, ref = units.partition(" since ")
    unit = unit.strip().lower()
    scale = {"days": "D", "day": "D", "hours": "h", "hour": "h", "minutes": "min", "seconds": "s",
             "second": "s"}.get(unit)
    if scale is None:
        raise fail(path, EXPECTED, f"unsupported time unit {unit!r}")
    raw = np.asarray(t[:], dtype="float64")
    ref = pd.Timestamp(ref.strip().replace("UTC", "").strip())
    return (ref + pd.to_timedelta(raw, unit=scale)).values


def _quality(kind: str, ds, sel, quality: str = "default") -> np.ndarray | None:
    """Boolean mask (True = keep) of the product's documented quality rule for observations ``sel``.

    ``quality="none"`` keeps everything the fill values and valid ranges leave; for SMAP,
    ``quality="retrieved"`` keeps retrievals that were attempted and succeeded (bits 1 and 2 of
    ``retrieval_qual_flag`` zero) even where bit 0 says "not recommended" (coastal and mountain cells).
    """
    if quality == "none":
        return None
    v = ds.variables

    def raw(name):
        return np.asarray(v[name][sel])

    if kind == "smap_l3" and "retrieval_qual_flag" in v:
        f = raw("retrieval_qual_flag").astype("int64")
        if quality == "retrieved":
            return (f & 0b110) == 0
        return (f & 1) == 0
    if kind == "ascat":
        keep = np.ones(np.shape(raw("sm")), dtype=bool)
        if "proc_flag" in v:
            keep &= raw("proc_flag") == 0
        if "conf_flag" in v:
            keep &= raw("conf_flag") == 0
        if "ssf" in v:
            keep &= np.isin(raw("ssf"), (0, 1))
        return keep
    if kind == "esacci" and "flag" in v:
        return raw("flag") == 0
    return None


def _overpass(ds, path, sel, nobs) -> np.ndarray | None:
    """'AM'/'PM' per observation for SMAP L3 (``Overpass`` variable, or the AM/PM group named in the
    ``coordinates`` attribute / the folder name); None when unknown."""
    if "Overpass" in ds.variables:
        o = np.asarray(ds["Overpass"][sel])
        return np.where(o == 1, "AM", np.where(o == 2, "PM", ""))
    tag = ""
    var = ds.variables.get("soil_moisture")
    coords = str(var.getncattr("coordinates")) if var is not None and "coordinates" in var.ncattrs() else ""
    if "_AM" in coords or "_AM" in str(path):
        tag = "AM"
    if "_PM" in coords or "_PM" in str(path):
        tag = "PM"
    return np.full(nobs, tag) if tag else None


def _decode_var(ds, name, sel, path):
    if name not in ds.variables:
        raise fail(path, EXPECTED, f"it has no variable {name!r} (has {', '.join(ds.variables)})")
    var = ds.variables[name]
    return decode_cf(np.asarray(var[sel]), _attrs(var)), (var.getncattr("units") if "units" in var.ncattrs()
                                                          else None)


def _combine_layers(ds, names, sel, path) -> np.ndarray:
    """Thickness-weighted mean (m3/m3) of soil layers ``names`` (GLDAS kg m-2 or ERA5 m3/m3)."""
    tot = 0.0
    th_sum = 0.0
    for n in names:
        if n not in ds.variables:
            return None
        vals, units = _decode_var(ds, n, sel, path)
        th = ERA5_LAYERS_MM.get(n) or _thickness(n)
        vol = to_canonical(vals, units, "m3/m3", name=n, thickness_mm=th, where=str(path))
        tot = tot + vol * th
        th_sum += th
    return tot / th_sum


def _thickness(name):
    from ._common import layer_thickness_mm

    th = layer_thickness_mm(name)
    if th is None:
        raise InputError(f"cannot tell the thickness of soil layer {name!r}")
    return th


def read_series(paths, index: pd.DataFrame, variables: dict | None = None, start=None, end=None,
                am_pm: str = "am_first", product: str = "", quality: str = "default") -> xr.Dataset:
    """Daily series of the cell-file locations in ``index`` (rows of :func:`locations`'s table).

    ``variables`` maps canonical names to file variables (a name, or a list of soil layers to combine
    by thickness); ``None`` uses the detected product's default (:data:`PRODUCTS`). Returns a
    Dataset with dims ``(point, time)`` (``point`` in the order of ``index``), daily ``time`` from
    ``start`` to ``end`` (00:00), values in canonical units (ASCAT ``ssm`` in % when ``product`` is
    ``ascat``), NaN where missing or flagged. ``quality`` selects the flag rule (see :func:`_quality`);
    ``am_pm`` (SMAP): ``am_first`` (AM, else PM), ``am``, ``pm`` or ``mean``.
    """
    paths = [Path(p) for p in paths]
    days_all = pd.date_range(start, end, freq="D") if start is not None else None
    npoint = len(index)
    per_point: list[dict[str, pd.Series]] = [dict() for _ in range(npoint)]
    for fi, group in index.reset_index(drop=True).groupby("file"):
        path = paths[int(fi)]
        ds = _open(path)
        try:
            names = list(ds.variables)
            try:
                kind = detect(names) if variables is None else _kind_or_none(names)
            except KeyError as exc:
                raise InputError(f"{path}: {exc.args[0]}") from None
            mapping = variables or PRODUCTS[kind]["variables"]
            times = _time_values(ds, path)
            layout = ("contiguous" if "row_size" in ds.variables else
                      "indexed" if "locationIndex" in ds.variables else "orthogonal")
            if layout == "contiguous":
                rs = np.clip(np.asarray(ds["row_size"][:], dtype="int64"), 0, None)
                starts = np.concatenate([[0], np.cumsum(rs)[:-1]])
            elif layout == "indexed":
                li = np.asarray(ds["locationIndex"][:], dtype="int64")
            for pos, row in group.iterrows():
                j = int(row["index"])
                if layout == "orthogonal":
                    sel = (j, slice(None))
                    tsel = slice(None)
                elif layout == "contiguous":
                    sel = slice(int(starts[j]), int(starts[j] + rs[j]))
                    tsel = sel
                else:
                    sel = np.nonzero(li == j)[0]
                    tsel = sel
                t = times[tsel]
                if t.size == 0:
                    continue
                keep = _quality(kind, ds, sel, quality) if kind else None
                op = _overpass(ds, path, sel if layout != "orthogonal" else slice(None), t.size) \
                    if kind == "smap_l3" else None
                for canon, src in mapping.items():
                    if isinstance(src, (list, tuple)):
                        vals = _combine_layers(ds, src, sel, path)
                        if vals is None:
                            continue
                    else:
                        if src not in ds.variables:
                            continue
                        vals, units = _decode_var(ds, src, sel, path)
                        target = "%" if (canon == "ssm" and (product == "ascat" or kind == "ascat")) else \
                            UNITS.get(canon, "1")
                        if canon != "qc":  # flags stay as stored
                            vals = to_canonical(vals, units, target, name=src, where=str(path),
                                                thickness_mm=ERA5_LAYERS_MM.get(src))
                    vals = np.asarray(vals, dtype="float64").copy()
                    if keep is not None and canon != "qc":
                        vals[~keep] = np.nan
                    s = pd.DataFrame({"v": vals, "day": daily(t)})
                    if op is not None:
                        s["op"] = op
                        s = s[np.isfinite(s["v"]) | (canon == "qc")]
                        if am_pm in ("am", "pm"):
                            s = s[s["op"] == am_pm.upper()]
                        elif am_pm == "am_first" and canon != "qc":
                            s = s[np.isfinite(s["v"])]
                            rank = np.where(s["op"] == "AM", 0, 1)
                            s = s.assign(rank=rank).sort_values(["day", "rank"]).drop_duplicates("day")
                    agg = "min" if canon == "qc" else "mean"
                    daily_s = s.groupby("day")["v"].agg(agg)
                    per_point[pos][canon] = daily_s
        finally:
            ds.close()
    canon_names = sorted({k for d in per_point for k in d})
    if days_all is None:
        idx = sorted({t for d in per_point for s in d.values() for t in s.index})
        days_all = pd.DatetimeIndex(idx)
    data_vars = {}
    for canon in canon_names:
        arr = np.full((npoint, len(days_all)), np.nan)
        for p in range(npoint):
            s = per_point[p].get(canon)
            if s is not None and len(s):
                arr[p] = s.reindex(days_all).values
        data_vars[canon] = (("point", "time"), arr)
    if "qc" in data_vars and "ssm" in data_vars:  # the flag of the retrieval kept, none where none kept
        data_vars["qc"][1][~np.isfinite(data_vars["ssm"][1])] = np.nan
    ds = xr.Dataset(data_vars, coords={"time": days_all.values.astype("datetime64[ns]"),
                                       "point": np.arange(npoint),
                                       "lat": ("point", index["lat"].to_numpy(dtype="float64")),
                                       "lon": ("point", index["lon"].to_numpy(dtype="float64"))})
    return ds


def _kind_or_none(names):
    try:
        return detect(names)
    except KeyError:
        return None


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km (mean Earth radius 6371.0088 km)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def read_at(paths, lat, lon, variables: dict | None = None, max_dist_km: float = 50.0, start=None,
            end=None, product: str = "", quality: str = "default", am_pm: str = "am_first") -> xr.Dataset:
    """Daily series at points ``(lat, lon)``: the nearest cell-file location of each point.

    Returns dims ``(point, time)`` with coords ``lat``/``lon`` (the points asked for), ``grid_lat``,
    ``grid_lon``, ``location_id`` and ``distance_km`` (of the location used). Points farther than
    ``max_dist_km`` from every location raise :class:`InputError` naming them.
    """
    lat = np.atleast_1d(np.asarray(lat, dtype="float64"))
    lon = np.atleast_1d(np.asarray(lon, dtype="float64"))
    locs = locations(paths)
    tab = locs.table
    d = haversine_km(lat[:, None], lon[:, None], tab["lat"].to_numpy()[None], tab["lon"].to_numpy()[None])
    best = d.argmin(1)
    dist = d[np.arange(lat.size), best]
    far = dist > max_dist_km
    if far.any():
        bad = [(float(a), float(b)) for a, b in zip(lat[far], lon[far])]
        raise InputError(f"{len(bad)} point(s) lie more than {max_dist_km} km from every location in "
                         f"{', '.join(str(p) for p in paths[:3])}: {bad[:5]}")
    sub = tab.iloc[best].reset_index(drop=True)
    ds = read_series(paths, sub, variables=variables, start=start, end=end, product=product, quality=quality,
                     am_pm=am_pm)
    ds = ds.assign_coords(grid_lat=("point", sub["lat"].to_numpy()), grid_lon=("point", sub["lon"].to_numpy()),
                          location_id=("point", sub["location_id"].to_numpy()),
                          distance_km=("point", dist), lat=("point", lat), lon=("point", lon))
    return ds
