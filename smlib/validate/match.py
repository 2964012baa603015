"""Matching gridded products to in-situ stations, and station scores (DESIGN.md section 7).

- Space: each station takes the value of the product cell containing it (``nearest``) or the
  bilinear interpolation between the four surrounding cell centres (``bilinear``), via
  :func:`smlib.grid.point_values`; stations outside the product's grid are left out.
- Depth: the product's ``ssm`` (0-5 cm) is compared with the stations' ``ssm`` (surface sensors),
  ``rzsm`` (0-100 cm) with the stations' ``rzsm`` (root-zone average); :data:`LAYERS`.
- Time: daily values on the same date (inner join on ``time``); a station is scored only with at
  least ``min_days`` (default 30, as seed 003) paired days.
- A product already at the stations, ``(station, time)`` (from cross-validation, e.g.
  ``products/lightgbm_calibrated_stations.nc``), is matched by station id.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError
from .metrics import pairwise

#: scoreboard layer of each soil-moisture variable (product and station variable share the name)
LAYERS = {"ssm": "surface", "rzsm": "rootzone"}
#: default minimum number of paired days per station
MIN_DAYS = 30
#: columns of :func:`score_stations`
STATION_COLUMNS = ("station", "lat", "lon", "landcover", "n", "r", "bias", "rmse", "ubrmse", "mae")


def read_stations(run_dir: str | os.PathLike) -> xr.Dataset:
    """The canonical ``inputs/stations.nc`` of a run (dims ``station, time``)."""
    from ..io import read_input

    return read_input(run_dir, "stations")


def at_stations(da: xr.DataArray, stations: xr.Dataset, method: str = "nearest") -> xr.DataArray:
    """Sample a gridded ``(time, lat, lon)`` product at the stations of ``stations``.

    Returns ``(time, station)`` values with the ``station`` coordinate of ``stations``; stations
    outside the product's grid are dropped. ``method``: ``nearest`` (cell containing the station)
    or ``bilinear``. A ``(station, time)`` input is returned restricted to the known stations.
    """
    from ..grid import grid_of, point_values

    if method not in ("nearest", "bilinear"):
        raise DataError(f"method: must be 'nearest' or 'bilinear', got {method!r}")
    if "station" in da.dims:
        common = np.intersect1d(da["station"].values, stations["station"].values)
        if common.size == 0:
            raise DataError("the product's station ids match none of inputs/stations.nc")
        return da.sel(station=common)
    if not {"lat", "lon"} <= set(da.dims):
        raise DataError(f"product {da.name!r}: needs (lat, lon) or station dims, has {tuple(da.dims)}")
    g = grid_of(da)
    lat = np.asarray(stations["lat"].values, float)
    lon = np.asarray(stations["lon"].values, float)
    r, _ = g.index_of(lat, lon)
    inside = r >= 0
    if not inside.any():
        raise DataError(f"no station lies inside the product's grid [{g.west}, {g.east}] x [{g.south}, {g.north}]")
    out = point_values(da, lat[inside], lon[inside], method=method)
    out = out.drop_vars(["lat", "lon"], errors="ignore")
    return out.assign_coords(station=("station", stations["station"].values[inside]))


def station_metrics(prod: xr.DataArray, ref: xr.DataArray) -> xr.Dataset:
    """:func:`~smlib.validate.metrics.pairwise` of product and station series, per station."""
    prod, ref = xr.align(prod, ref, join="inner")
    if prod.sizes.get("station", 0) == 0:
        raise DataError("product and stations share no station")
    return pairwise(prod, ref, dim="time")


def score_stations(run_dir: str | os.PathLike, da, var: str = "ssm", min_days: int = MIN_DAYS,
                   method: str = "nearest", stations: xr.Dataset | None = None) -> pd.DataFrame:
    """Per-station metrics of a product against the in-situ stations of a run.

    ``da``: gridded ``(time, lat, lon)`` (matched by ``method``, ``nearest`` or ``bilinear``) or
    already ``(station, time)``; a Dataset is reduced to its ``var``. ``var``: ``ssm`` (surface
    sensors) or ``rzsm`` (root-zone). Stations with fewer than ``min_days`` paired days are left
    out. ``stations`` may pass ``inputs/stations.nc`` already read.

    Returns a DataFrame, one row per station: ``station, lat, lon, landcover, n, r, bias, rmse,
    ubrmse, mae`` (bias = mean(product - station), m3/m3; empty with these columns if no station
    qualifies).
    """
    if var not in LAYERS:
        raise DataError(f"var: must be one of {', '.join(LAYERS)}, got {var!r}")
    if isinstance(da, xr.Dataset):
        if var not in da.data_vars:
            raise DataError(f"product has no variable {var!r}; it has {', '.join(map(str, da.data_vars))}")
        da = da[var]
    st = stations if stations is not None else read_stations(run_dir)
    if var not in st.data_vars:
        raise DataError(f"inputs/stations.nc has no {var!r} series; it has {', '.join(map(str, st.data_vars))}")
    prod = at_stations(da, st, method=method)
    m = station_metrics(prod, st[var]).compute()
    df = m[["n", "r", "bias", "rmse", "ubrmse", "mae"]].to_dataframe().reset_index()
    df = df[[c for c in df.columns if c in ("station", "n", "r", "bias", "rmse", "ubrmse", "mae")]]
    meta = pd.DataFrame({"station": st["station"].values,
                         "lat": np.asarray(st["lat"].values, float),
                         "lon": np.asarray(st["lon"].values, float),
                         "landcover": st["landcover"].values if "landcover" in st.coords or "landcover" in st
                         else np.full(st.sizes["station"], "unknown", dtype=object)})
    df = meta.merge(df, on="station", how="inner")
    df = df[df["n"] >= int(min_days)].reset_index(drop=True)
    return df[list(STATION_COLUMNS)]


def by_landcover(df: pd.DataFrame, metrics=("r", "bias", "ubrmse", "rmse", "mae"), names: dict | None = None,
                 group: str | list = "landcover") -> pd.DataFrame:
    """Stratify per-station metrics by land cover: the median of each metric and the number of
    stations per class (and per any extra ``group`` column such as ``product``). ``names`` maps
    class codes to labels."""
    if df.empty:
        cols = ([group] if isinstance(group, str) else list(group)) + ["stations"] + list(metrics)
        return pd.DataFrame(columns=cols)
    d = df.copy()
    if names:
        d["landcover"] = d["landcover"].map(lambda c: names.get(c, names.get(str(c), c)))
    keys = [group] if isinstance(group, str) else list(group)
    g = d.groupby(keys, dropna=False)
    out = g[list(metrics)].median()
    out.insert(0, "stations", g.size())
    return out.reset_index()


def summarize_stations(df: pd.DataFrame) -> dict:
    """The ``stations`` reference of the scoreboard: the median over stations of each per-station
    metric, and ``n`` = the number of stations (DESIGN.md section 7)."""
    if df.empty:
        return {"n": 0, **{k: float("nan") for k in ("r", "bias", "rmse", "ubrmse", "mae")}}
    out = {"n": int(len(df))}
    for k in ("r", "bias", "rmse", "ubrmse", "mae"):
        v = df[k].to_numpy(float)
        out[k] = float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
    return out


def compare_medians(a: pd.DataFrame, b: pd.DataFrame, metric: str = "r", n_boot: int = 2000, seed: int = 0,
                    alpha: float = 0.05) -> dict:
    """Is product ``a`` better than ``b`` at the stations, beyond the luck of which stations exist?

    ``a``, ``b``: per-station tables of :func:`score_stations` (paired on ``station``; stations in only
    one are dropped). Returns ``stations`` (paired), ``median_a``, ``median_b``, ``diff`` (median of
    ``a`` minus median of ``b``: the scoreboard's comparison), ``diff_lo``/``diff_hi`` (its
    ``1 - alpha`` percentile interval from ``n_boot`` bootstrap resamples of the stations, the same
    stations drawn for both products), ``median_paired`` (median over stations of the per-station
    difference) and ``share_better`` (fraction of stations where ``a`` has the larger ``metric``;
    for error metrics such as ``rmse`` read it as "larger"). Efron & Tibshirani (1993), percentile
    bootstrap.
    """
    if metric not in a.columns or metric not in b.columns:
        raise DataError(f"metric {metric!r} is not a column of both station tables")
    m = a[["station", metric]].merge(b[["station", metric]], on="station", suffixes=("_a", "_b")).dropna()
    if m.empty:
        raise DataError("the two station tables share no station with a finite " + metric)
    xa, xb = m[f"{metric}_a"].to_numpy(float), m[f"{metric}_b"].to_numpy(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(m), size=(int(n_boot), len(m)))
    boot = np.median(xa[idx], axis=1) - np.median(xb[idx], axis=1)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return {"stations": int(len(m)), "median_a": float(np.median(xa)), "median_b": float(np.median(xb)),
            "diff": float(np.median(xa) - np.median(xb)), "diff_lo": float(lo), "diff_hi": float(hi),
            "median_paired": float(np.median(xa - xb)), "share_better": float(np.mean(xa > xb))}
