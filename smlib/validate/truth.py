"""Scores against the synthetic truth (DESIGN.md sections 5 and 7).

``inputs/truth.nc`` exists only for synthetic studies; :func:`read_truth` is the only reader of it
outside :mod:`smlib.synth` (methods never see it; a test greps for that). :func:`score_truth` gives
the two truth references of the scoreboard:

- ``truth``: pooled over all pixel-days at the product's own grid; when the product is coarser
  than the truth, the truth is averaged onto the product's cells with
  :func:`smlib.grid.block_mean` (NaN-aware mean of the fine pixels whose centres fall in each cell);
- ``truth_fine`` (1-km products only): both the product and the truth minus their own mean over each
  coarse (0.25 deg) cell (:func:`smlib.grid.cell_mean_anomaly`), computed over the pixel-days where
  both are present, then pooled: how well the product places the sub-cell detail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, InputError
from .metrics import pooled

#: The truth variables a product can be scored against (scoreboard layer names).
TRUTH_LAYERS = {"ssm": "surface", "rzsm": "rootzone"}


def _study_raw(run_dir) -> dict:
    """The effective study the runner wrote into ``<run_dir>/study.yml`` ({} if absent)."""
    import yaml

    p = Path(run_dir) / "study.yml"
    if not p.exists():
        return {}
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError:
        return {}
    return raw if isinstance(raw, dict) else {}


def has_truth(run_dir: str | os.PathLike) -> bool:
    """True when the run holds a synthetic truth (``inputs/truth.nc``) and is not a ``files`` study."""
    if _study_raw(run_dir).get("source") == "files":
        return False
    return (Path(run_dir) / "inputs" / "truth.nc").exists()


def read_truth(run_dir: str | os.PathLike, variables=None) -> xr.Dataset:
    """Read the synthetic truth ``<run_dir>/inputs/truth.nc`` (validation only).

    ``variables`` selects variables (``ssm``, ``rzsm``, ``ndvi``, ``lst_day``, ``precip``,
    ``porosity``...). Raises :class:`~smlib.errors.InputError` when the study is not synthetic, when
    the file is absent, or when a requested variable is missing.
    """
    from ..io import open_dataset, select_variables

    run_dir = Path(run_dir)
    raw = _study_raw(run_dir)
    if raw.get("source") == "files":
        raise InputError(f"{run_dir}: study {raw.get('name', '?')!r} is a 'files' (real-data) study: "
                         "it has no truth; truth scores exist only for source: synthetic")
    path = run_dir / "inputs" / "truth.nc"
    if not path.exists():
        raise InputError(f"{path}: file not found; the synthetic truth exists only for synthetic studies "
                         "(source: synthetic), written by stage 01")
    ds = open_dataset(path, what="the synthetic truth: ssm, rzsm, ndvi, lst_day, precip")
    return select_variables(ds, variables, path, kind="truth variable")


def _coarse_res(run_dir, coarse_res: float | None) -> float:
    if coarse_res is not None:
        return float(coarse_res)
    grids = _study_raw(run_dir).get("grids") or {}
    return float(grids.get("coarse", 0.25))


def truth_on_grid(truth: xr.DataArray, da: xr.DataArray) -> xr.DataArray:
    """The truth field on ``da``'s grid: block-averaged when ``da`` is coarser, the same pixels when
    it has the truth's resolution; reindexed onto ``da``'s cell centres (nearest within a quarter
    cell, so a product covering part of the region is fine). Raises
    :class:`~smlib.errors.DataError` when ``da`` is finer than the truth or its cells match none."""
    from ..grid import block_mean, grid_of

    gd, gt = grid_of(da), grid_of(truth)
    if gd.res < gt.res * (1 - 1e-6):
        raise DataError(f"product grid {gd.res} deg is finer than the truth's {gt.res} deg: cannot score it")
    tr = truth if abs(gd.res - gt.res) <= 1e-6 * gt.res else block_mean(truth, gd)
    tol = gd.res / 4
    out = tr.reindex(lat=da["lat"].values, lon=da["lon"].values, method="nearest", tolerance=tol)
    if not np.isfinite(out.values).any():
        raise DataError(f"product cells (res {gd.res} deg, {gd.west}..{gd.east} E, {gd.south}..{gd.north} N) "
                        f"match no truth cell ({gt.west}..{gt.east} E, {gt.south}..{gt.north} N)")
    return out.assign_coords(lat=da["lat"].values, lon=da["lon"].values)


def score_truth(run_dir: str | os.PathLike, da, var: str = "ssm", fine_detail: bool = False,
                coarse_res: float | None = None, truth: xr.DataArray | None = None) -> dict:
    """Score a gridded product against the synthetic truth, pooled over all pixel-days.

    ``da``: a ``(time, lat, lon)`` DataArray (or a Dataset holding ``var``) on the product's own
    grid, m3/m3. ``var``: the truth variable, ``ssm`` (surface) or ``rzsm`` (root zone). With
    ``fine_detail`` (1-km products only) both are first reduced to anomalies from their own
    coarse-cell means (``truth_fine`` reference); the coarse grid is the study's ``grids.coarse``
    (from ``<run_dir>/study.yml``, else ``coarse_res``, else 0.25 deg). ``truth`` may pass the
    truth DataArray already read (to read the file once for many products).

    Returns ``{"n", "r", "bias", "rmse", "ubrmse", "mae"}`` (n = pixel-days; bias = mean(product -
    truth), m3/m3).
    """
    from ..grid import Grid, cell_mean_anomaly, grid_of

    if var not in TRUTH_LAYERS:
        raise DataError(f"var: must be one of {', '.join(TRUTH_LAYERS)} (truth variables), got {var!r}")
    if isinstance(da, xr.Dataset):
        if var not in da.data_vars:
            raise DataError(f"product has no variable {var!r}; it has {', '.join(map(str, da.data_vars))}")
        da = da[var]
    if not {"lat", "lon"} <= set(da.dims):
        raise DataError(f"product {da.name!r}: needs lat and lon dims to be scored against the truth, "
                        f"has {tuple(da.dims)}")
    if truth is None:
        truth = read_truth(run_dir, [var])[var]
    da = da.astype("float64")
    if "time" in da.dims and "time" in truth.dims:
        da, truth = xr.align(da, truth, join="inner", exclude=("lat", "lon"))
        if da.sizes["time"] == 0:
            raise DataError("product and truth share no dates")
    tr = truth_on_grid(truth.astype("float64"), da)
    if fine_detail:
        gd, gt = grid_of(da), grid_of(truth)
        if abs(gd.res - gt.res) > 1e-6 * gt.res:
            raise DataError(f"truth_fine scores 1-km products only: this product's grid is {gd.res} deg, "
                            f"the truth's {gt.res} deg")
        cres = _coarse_res(run_dir, coarse_res)
        coarse = Grid(res=cres, west=gt.west, east=gt.east, south=gt.south, north=gt.north)
        both = np.isfinite(da) & np.isfinite(tr)
        da = cell_mean_anomaly(da.where(both), coarse)
        tr = cell_mean_anomaly(tr.where(both), coarse)
    return pooled(da, tr)
