"""What stage 01 shows about a run's canonical inputs, for synthetic and ingested studies alike.

Only the files present are tabulated or mapped; error parameters come from the attrs a product
carries (the synthetic generator records them; ingested files usually do not), the grid,
coverage and revisit are measured from the data themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..grid import grid_of

#: order in which stage 01 lists the inputs
ORDER = ("static", "modis", "glass", "smap", "amsr2", "ascat", "fy3c", "model_gleam", "model_noah", "model_cldas",
         "model_geos5", "model_era5land", "forcing", "stations")


def main_variable(ds: xr.Dataset) -> str:
    """The variable that defines a product's coverage: ``ssm`` if present, else ``lst_day``, else the first."""
    for v in ("ssm", "lst_day", "precip"):
        if v in ds.data_vars:
            return v
    return next(v for v in ds.data_vars if ds[v].ndim >= 1)


def revisit_days(da: xr.DataArray) -> float:
    """Mean interval (days) between observations: days / observed days, averaged over the cells
    (or stations) observed at least once."""
    other = [d for d in da.dims if d != "time"]
    n_obs = np.isfinite(da).sum("time")
    n = da.sizes["time"]
    ok = n_obs > 0
    if not bool(ok.any()):
        return float("nan")
    return float((n / n_obs.where(ok)).mean(other))


def list_inputs(inputs_dir) -> list[str]:
    """Names of the canonical inputs present (truth excluded), in the book's order."""
    have = {p.stem for p in Path(inputs_dir).glob("*.nc")} - {"truth"}
    return [n for n in ORDER if n in have] + sorted(have - set(ORDER))


def product_table(inputs_dir) -> pd.DataFrame:
    """One row per canonical input: variables, grid (deg) and size, days, coverage (% of cell-days
    observed), measured revisit (days), and the error parameters its attrs state (random error sd,
    bias; realised sd and bias against the truth where the generator measured them)."""
    rows = []
    for name in list_inputs(inputs_dir):
        with xr.open_dataset(Path(inputs_dir) / f"{name}.nc") as ds:
            ds = ds.drop_vars("spatial_ref", errors="ignore")
            v = main_variable(ds)
            a = ds.attrs
            row = {"product": name, "variables": ", ".join(map(str, ds.data_vars))}
            if "lat" in ds.dims and "lon" in ds.dims and ds.sizes["lat"] * ds.sizes["lon"] > 1:
                row["grid (deg)"] = round(grid_of(ds[v]).res, 4)
                row["cells"] = f"{ds.sizes['lat']} x {ds.sizes['lon']}"
            else:
                row["grid (deg)"] = np.nan
                row["cells"] = f"{ds.sizes.get('station', 0)} stations"
            if "time" in ds.dims:
                da = ds[v].load()
                row["days"] = ds.sizes["time"]
                row["coverage (%)"] = round(100 * float(np.isfinite(da).mean()), 1)
                row["revisit (days)"] = round(revisit_days(da), 2)
            else:
                row["days"] = 0
                row["coverage (%)"] = round(100 * float(np.isfinite(ds[v]).mean()), 1)
                row["revisit (days)"] = np.nan
            units = a.get("error_units", a.get("realised_units", "m3/m3"))
            row["error sd"] = a.get("error_sd", np.nan)
            row["bias"] = a.get("bias", np.nan)
            row["realised error sd"] = a.get("realised_error_sd", np.nan)
            row["realised bias"] = a.get("realised_bias", np.nan)
            row["error units"] = units if ("error_sd" in a or "realised_error_sd" in a) else ""
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("error sd", "bias", "realised error sd", "realised bias"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").round(4)
    return df


def qc_summary(smap: xr.Dataset) -> pd.DataFrame:
    """Share of observed SMAP-like cell-days with each QC bit set (1 dense vegetation, 2 water,
    4 frozen ground) and with no usable ``ssm``."""
    qc = smap["qc"].values
    obs = np.isfinite(qc)
    q = np.where(obs, qc, 0).astype(int)
    bits = {1: "dense vegetation (VWC > 5 kg/m2)", 2: "open water > 10%", 4: "frozen ground"}
    rows = [{"flag": lab, "bit": b, "share of observations (%)": 100 * float(((q & b) > 0)[obs].mean())}
            for b, lab in bits.items()]
    rows.append({"flag": "no ssm retrieved", "bit": np.nan,
                 "share of observations (%)": 100 * float(np.isnan(smap["ssm"].values[obs]).mean())})
    return pd.DataFrame(rows).round(1)


def pick_days(da: xr.DataArray, n: int = 3) -> list:
    """``n`` days spread over the period on which ``da`` (time, ...) has the most valid cells
    (one per equal part of the period)."""
    cnt = np.isfinite(da).sum([d for d in da.dims if d != "time"]).values
    parts = np.array_split(np.arange(da.sizes["time"]), n)
    return [da["time"].values[p[np.argmax(cnt[p])]] for p in parts if len(p)]


def wettest_day(precip: xr.DataArray):
    """The day with the largest regional mean precipitation."""
    return precip["time"].values[int(np.nanargmax(precip.mean([d for d in precip.dims if d != "time"]).values))]


def read_if(run_dir, name: str, variables=None) -> xr.Dataset | None:
    """Canonical input ``name`` of a run (only ``variables`` if given), or ``None`` when the file or
    any of the variables is absent: stage 01 shows what a study has, synthetic or ingested."""
    from ..io import has_input, read_input

    if not has_input(run_dir, name):
        return None
    ds = read_input(run_dir, name)
    if variables is not None:
        variables = [variables] if isinstance(variables, str) else list(variables)
        if not set(variables) <= set(ds.data_vars):
            return None
        ds = ds[variables]
    return ds
