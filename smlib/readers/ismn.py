"""ISMN in-situ station files into the stations layout (DESIGN.md section 3).

The International Soil Moisture Network (Dorigo et al. 2011, 2021, doi:10.5194/hess-25-5749-2021)
delivers one ``.stm`` file per sensor and variable in one of two formats (ISMN data download
description, https://ismn.earth/en/data/): *header + values* (one header line with network, station,
lat, lon, elevation, depth_from, depth_to, sensor, then ``date time value flag orig_flag``) and *CEOP*
(one line per record with the metadata repeated). Both are read with the ``ismn`` package
(TU Wien, :class:`ismn.filehandlers.DataFile`), which also reads the station's
``*_static_variables.csv`` (land cover ``lc_2010``: ESA CCI land-cover class; soil texture).

Rules applied here (all explicit):

- quality: only values with ISMN quality flag ``G`` ("good") are kept (ISMN quality-flag
  description, Dorigo et al. 2013, doi:10.2136/vzj2012.0097); ``D``/``C``/``M`` flagged values are
  dropped;
- units: ISMN soil moisture is m3/m3, precipitation mm per record interval (ISMN variable list);
- ``ssm``: the daily mean (UTC days) of the station's soil-moisture sensors whose depth lies within
  ``ssm_depth`` (default 0-0.10 m: ``depth_from >= 0`` and ``depth_to <= 0.10``); several sensors at a
  station are averaged;
- ``rzsm``: where the station has a sensor deeper than ``ssm_depth``, the daily mean over all its
  sensors within ``rzsm_depth`` (default 0-1.0 m), a profile mean approximating 0-100 cm;
- ``precip``: the daily sum of the records of the day, only for days with at least 90 % of the
  day's records present (otherwise NaN).

The station id is ``"<network>.<station>"``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ._common import fail

EXPECTED = "ISMN station file (.stm, header+values or CEOP format)"


def find_files(paths) -> list[Path]:
    """All ``.stm`` files in ``paths`` (files or folders, searched recursively), sorted."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.rglob("*.stm")))
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: file not found (expected {EXPECTED} or a folder of them)")
    return sorted(set(out))


def read_file(path) -> tuple[dict, pd.DataFrame]:
    """Metadata and data of one ``.stm`` file through :class:`ismn.filehandlers.DataFile`.

    Returns ``(meta, frame)``: ``meta`` with network, station, lat, lon, elevation, variable,
    depth_from, depth_to, instrument, landcover (ESA CCI class or -1); ``frame`` indexed by time with
    columns ``value`` and ``flag``. Raises :class:`InputError` naming the file if it is not one.
    """
    from ismn.base import IsmnRoot
    from ismn.filehandlers import DataFile

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (expected {EXPECTED})")
    if path.stat().st_size == 0:
        raise fail(path, EXPECTED, "the file is empty")
    root_dir = path.parents[2] if len(path.parents) > 2 else path.parent
    try:
        with warnings.catch_warnings():  # ismn 1.5 uses pandas' deprecated inplace= keyword
            warnings.simplefilter("ignore")
            root = IsmnRoot(str(root_dir))
            df = DataFile(root, path.relative_to(root_dir), load_metadata=True)
            data = df.read_data()
            meta = df.metadata
    except Exception as exc:  # noqa: BLE001 -- whatever ismn raises becomes one line naming the file
        raise fail(path, EXPECTED, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    def get(key, default=None):
        try:
            v = meta[key]
        except (KeyError, IndexError, TypeError):
            return default
        val = getattr(v, "val", v)
        return default if val is None else val

    try:
        var = meta["variable"]
        name, dfrom, dto = var.val, float(var.depth.start), float(var.depth.end)
    except Exception:  # noqa: BLE001
        raise fail(path, EXPECTED, "no variable/depth in its metadata") from None
    cols = [c for c in data.columns if not c.endswith("_flag") and not c.endswith("_orig_flag")]
    if not cols or f"{cols[0]}_flag" not in data.columns:
        raise fail(path, EXPECTED, f"unexpected columns {list(data.columns)}")
    frame = pd.DataFrame({"value": pd.to_numeric(data[cols[0]], errors="coerce").to_numpy(dtype="float64"),
                          "flag": data[f"{cols[0]}_flag"].astype(str).to_numpy()},
                         index=pd.DatetimeIndex(data.index))
    lc = _landcover(root, root_dir, path)
    try:
        lc = int(lc)
    except (TypeError, ValueError):
        lc = -1
    info = {"network": str(get("network", "")), "station": str(get("station", "")),
            "lat": float(get("latitude", np.nan)), "lon": float(get("longitude", np.nan)),
            "elevation": float(get("elevation", np.nan)), "variable": str(name), "depth_from": dfrom,
            "depth_to": dto, "instrument": str(get("instrument", "")), "landcover": lc, "file": str(path)}
    return info, frame


def _landcover(root, root_dir: Path, path: Path) -> int:
    """ESA CCI land-cover class of the station (``lc_2010``, else 2005, 2000) from its
    ``*_static_variables.csv``, read with :class:`ismn.filehandlers.StaticMetaFile`; -1 if absent."""
    from ismn.filehandlers import StaticMetaFile

    csvs = sorted(path.parent.glob("*_static_variables.csv"))
    if not csvs:
        return -1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = StaticMetaFile(root, csvs[0].relative_to(root_dir)).read_metadata()
    except Exception:  # noqa: BLE001 -- static metadata are optional: a bad file means unknown class
        return -1
    for key in ("lc_2010", "lc_2005", "lc_2000"):
        try:
            return int(meta[key].val)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            continue
    return -1


def _daily_mean(frames: list[pd.DataFrame], days: pd.DatetimeIndex, min_per_day: int) -> np.ndarray:
    parts = []
    for f in frames:
        good = f.loc[f["flag"] == "G", "value"]
        parts.append(good)
    if not parts:
        return np.full(len(days), np.nan)
    s = pd.concat(parts)
    s = s[np.isfinite(s.values)]
    g = s.groupby(s.index.floor("D"))
    m = g.mean()
    m[g.count() < min_per_day] = np.nan
    return m.reindex(days).to_numpy(dtype="float64")


def _daily_sum(frames: list[pd.DataFrame], days: pd.DatetimeIndex) -> np.ndarray:
    out = []
    for f in frames:
        good = f.loc[f["flag"] == "G", "value"]
        good = good[np.isfinite(good.values)]
        if len(f.index) < 2:
            continue
        step = pd.Series(f.index).diff().median()
        expected = pd.Timedelta("1D") / step if step and step > pd.Timedelta(0) else 24
        g = good.groupby(good.index.floor("D"))
        tot = g.sum()
        tot[g.count() < 0.9 * expected] = np.nan
        out.append(tot.reindex(days).to_numpy(dtype="float64"))
    if not out:
        return np.full(len(days), np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.vstack(out), axis=0) if len(out) > 1 else out[0]


def read_stations(paths, start, end, ssm_depth=(0.0, 0.10), rzsm_depth=(0.0, 1.0), min_per_day: int = 1,
                  region=None) -> xr.Dataset:
    """Read ISMN ``.stm`` files (or folders of them) into the stations layout.

    Returns a Dataset with dims ``(station, time)``, daily ``time`` from ``start`` to ``end`` (00:00),
    variables ``ssm``, ``rzsm`` (only if any station has a deeper sensor), ``precip`` (only if any
    station has a gauge), coords ``station`` (``"<network>.<station>"``), ``lat``, ``lon``, ``network``,
    ``landcover`` (ESA CCI LC class), ``elevation`` (m), ``depth_from``/``depth_to`` (m, of the ``ssm``
    sensors). ``region`` (an object with west/east/south/north) keeps only stations inside it.
    Stations without a soil-moisture sensor in ``ssm_depth`` are left out.
    """
    from ..catalog import attrs

    files = find_files(paths)
    if not files:
        raise InputError(f"{', '.join(map(str, paths))}: no ISMN .stm files found (expected {EXPECTED})")
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    stations: dict[str, dict] = {}
    for f in files:
        info, frame = read_file(f)
        frame = frame[(frame.index >= days[0]) & (frame.index < days[-1] + pd.Timedelta("1D"))]
        sid = f"{info['network']}.{info['station']}"
        st = stations.setdefault(sid, {"info": info, "ssm": [], "rz": [], "p": [], "depths": [], "deep": False})
        var = info["variable"]
        if var == "soil_moisture":
            if ssm_depth[0] - 1e-9 <= info["depth_from"] and info["depth_to"] <= ssm_depth[1] + 1e-9:
                st["ssm"].append(frame)
                st["depths"].append((info["depth_from"], info["depth_to"]))
                if st["info"]["variable"] != "soil_moisture":
                    st["info"] = info
            elif info["depth_to"] > ssm_depth[1]:
                st["deep"] = True
            if rzsm_depth[0] - 1e-9 <= info["depth_from"] and info["depth_to"] <= rzsm_depth[1] + 1e-9:
                st["rz"].append(frame)
        elif var == "precipitation":
            st["p"].append(frame)
    ids = [s for s, v in stations.items() if v["ssm"]]
    if region is not None:
        ids = [s for s in ids if region.south <= stations[s]["info"]["lat"] <= region.north
               and region.west <= stations[s]["info"]["lon"] <= region.east]
    if not ids:
        raise InputError(f"{files[0].parent}: no ISMN soil-moisture sensor within {ssm_depth[0]}-{ssm_depth[1]} m"
                         + (" inside the study region" if region is not None else ""))
    ssm = np.vstack([_daily_mean(stations[s]["ssm"], days, min_per_day) for s in ids])
    data = {"ssm": (("station", "time"), ssm.astype("float32"), attrs("ssm", quality="ISMN flag G only"))}
    if any(stations[s]["deep"] for s in ids):
        rz = np.vstack([_daily_mean(stations[s]["rz"], days, min_per_day) if stations[s]["deep"]
                        else np.full(len(days), np.nan) for s in ids])
        data["rzsm"] = (("station", "time"), rz.astype("float32"), attrs("rzsm", quality="ISMN flag G only"))
    if any(stations[s]["p"] for s in ids):
        p = np.vstack([_daily_sum(stations[s]["p"], days) for s in ids])
        data["precip"] = (("station", "time"), p.astype("float32"), attrs("precip"))
    info = [stations[s]["info"] for s in ids]
    coords = {
        "station": ("station", np.array(ids, dtype=object)),
        "time": days.values.astype("datetime64[ns]"),
        "lat": ("station", np.array([i["lat"] for i in info]), {"units": "degrees_north"}),
        "lon": ("station", np.array([i["lon"] for i in info]), {"units": "degrees_east"}),
        "network": ("station", np.array([i["network"] for i in info], dtype=object)),
        "landcover": ("station", np.array([i["landcover"] for i in info], dtype="int32"),
                      {"long_name": "ESA CCI land cover class (ISMN static variables, 2010)"}),
        "elevation": ("station", np.array([i["elevation"] for i in info]), {"units": "m"}),
        "depth_from": ("station", np.array([min(d[0] for d in stations[s]["depths"]) for s in ids]),
                       {"units": "m"}),
        "depth_to": ("station", np.array([max(d[1] for d in stations[s]["depths"]) for s in ids]), {"units": "m"}),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(source="ISMN (https://ismn.earth), read with the ismn package",
                    quality_rule="ISMN quality flag G only", ssm_depth_m=f"{ssm_depth[0]}-{ssm_depth[1]}")
    return ds
