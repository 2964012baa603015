"""Diagnostics of the synthetic region: how much 1-km detail there is and how much of it the
observable covariates explain; the realised error of every product against the truth.

These numbers describe the benchmark (the book's synthetic chapter and stage 01 report them;
``tests/test_synth.py`` checks them). They read ``truth.nc``, which only :mod:`smlib.synth` and
:mod:`smlib.validate` may do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..grid import Grid, block_mean, grid_of, replicate


def cell_anomaly(da: xr.DataArray, coarse: Grid) -> xr.DataArray:
    """``da`` minus the mean of its coarse cell (NaN-aware), on ``da``'s grid."""
    cm = block_mean(da, coarse)
    return da - replicate(cm, da["lat"].values, da["lon"].values).values


def within_cell_variance_fraction(da: xr.DataArray, coarse: Grid) -> float:
    """Fraction of the spatial variance of ``da`` (time, lat, lon) that lies inside coarse cells:
    per day ``var(da - cell mean) / var(da)`` over the valid pixels, averaged over days (1)."""
    an = cell_anomaly(da, coarse)
    dims = ("lat", "lon")
    tot = da.var(dim=dims, skipna=True)
    inside = an.var(dim=dims, skipna=True)
    ok = tot > 0
    return float((inside / tot).where(ok).mean())


def _flat_anomalies(fields: dict, coarse: Grid, time) -> dict:
    out = {}
    for k, v in fields.items():
        if "time" not in v.dims:
            v = v.expand_dims(time=time).transpose("time", "lat", "lon")
        out[k] = cell_anomaly(v, coarse).values.ravel()
    return out


def anomaly_r2(target: xr.DataArray, covariates: dict, coarse: Grid, max_samples: int = 400_000,
               seed: int = 0) -> dict:
    """Ordinary least squares of the 1-km anomalies of ``target`` (minus its coarse-cell mean)
    on the 1-km anomalies of ``covariates`` (name -> (lat, lon) or (time, lat, lon) arrays),
    pooled over pixel-days (a random subsample of at most ``max_samples``).

    Returns ``{"r2": R2, "n": samples, "coef": {name: coefficient}}``: the share of the
    within-cell detail that the covariates explain linearly.
    """
    time = target["time"]
    y = cell_anomaly(target, coarse).values.ravel()
    xs = _flat_anomalies(covariates, coarse, time)
    X = np.column_stack([xs[k] for k in covariates])
    ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
    idx = np.flatnonzero(ok)
    if idx.size > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_samples, replace=False))
    y, X = y[idx], X[idx]
    A = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    r2 = 1.0 - resid.var() / y.var() if y.var() > 0 else float("nan")
    return {"r2": float(r2), "n": int(len(y)), "coef": dict(zip(covariates, map(float, coef[1:])))}


def fine_scale_realism(inputs_dir, coarse_res: float = 0.25) -> dict:
    """The two realism numbers of the synthetic region for a written ``inputs`` folder: the
    within-cell variance fraction of the truth's surface SM and the R2 of its anomalies on the
    truth NDVI and LST and the static DEM and slope."""
    d = Path(inputs_dir)
    truth = xr.open_dataset(d / "truth.nc")
    static = xr.open_dataset(d / "static.nc")
    g = grid_of(truth["ssm"])
    coarse = Grid(res=coarse_res, west=g.west, east=g.east, south=g.south, north=g.north)
    frac = within_cell_variance_fraction(truth["ssm"], coarse)
    frac_rz = within_cell_variance_fraction(truth["rzsm"], coarse)
    cov = {"ndvi": truth["ndvi"], "lst_day": truth["lst_day"], "dem": static["dem"], "slope": static["slope"]}
    fit = anomaly_r2(truth["ssm"], cov, coarse)
    fit_rz = anomaly_r2(truth["rzsm"], cov, coarse)
    truth.close()
    static.close()
    return {"variance_fraction_ssm": frac, "variance_fraction_rzsm": frac_rz, "r2_ssm": fit["r2"],
            "r2_rzsm": fit_rz["r2"], "n": fit["n"], "coef_ssm": fit["coef"]}


def realised_errors(inputs_dir) -> pd.DataFrame:
    """One row per product with its grid, revisit, nominal error parameters and the realised
    bias / error sd recorded in its attrs (units in ``units``)."""
    rows = []
    for p in sorted(Path(inputs_dir).glob("*.nc")):
        if p.stem in ("truth", "static"):
            continue
        with xr.open_dataset(p) as ds:
            a = ds.attrs
            rows.append({"product": p.stem, "grid_deg": a.get("grid_res_deg", np.nan),
                         "revisit_days": a.get("revisit_days", np.nan), "error_sd": a.get("error_sd", np.nan),
                         "bias": a.get("bias", np.nan), "realised_error_sd": a.get("realised_error_sd", np.nan),
                         "realised_bias": a.get("realised_bias", np.nan), "units": a.get("realised_units", ""),
                         "gap_fraction": a.get("gap_fraction", np.nan)})
    return pd.DataFrame(rows)


def summary(study, inputs_dir) -> str:
    """A short text report of the realism numbers and the realised errors."""
    r = fine_scale_realism(inputs_dir, study.grids["coarse"])
    lines = [f"{k}: {v}" for k, v in r.items()]
    lines.append(realised_errors(inputs_dir).to_string(index=False))
    return "\n".join(lines)
