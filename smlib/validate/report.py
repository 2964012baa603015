"""Stage-08 building blocks: triple collocation of product triplets of a run, the table of TC
estimates beside the generator's recorded error levels, Taylor-diagram statistics and the series
at one station. Each function works with whatever products exist and says what it skipped."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, InputError
from .match import at_stations, read_stations
from .metrics import pooled
from .products import available, collocated, load_sm, recorded_error
from .tc import MIN_N_TC, triple_collocation
from .truth import has_truth, read_truth, score_truth


def study_grid(run_dir: str | os.PathLike, which: str = "coarse"):
    """The study's grid ``which`` from ``<run_dir>/study.yml`` (region + grids), else inferred from
    the first 0.25-deg input found (``amsr2``, ``fy3c``, ``ascat``, ``model_*``)."""
    import yaml

    from ..grid import Grid, grid_of

    run_dir = Path(run_dir)
    p = run_dir / "study.yml"
    if p.exists():
        raw = yaml.safe_load(p.read_text()) or {}
        reg, grids = raw.get("region"), raw.get("grids") or {}
        if reg and which in grids:
            return Grid(res=float(grids[which]), west=float(reg["west"]), east=float(reg["east"]),
                        south=float(reg["south"]), north=float(reg["north"]))
    for name in ["amsr2", "fy3c", "ascat"] + sorted(q.stem for q in (run_dir / "inputs").glob("model_*.nc")):
        f = run_dir / "inputs" / f"{name}.nc"
        if f.exists():
            with xr.open_dataset(f) as ds:
                return grid_of(ds)
    raise InputError(f"{run_dir}: no study.yml and no 0.25-deg input to take the coarse grid from")


def resolve_triplets(run_dir, triplets, var: str = "ssm", auto_products_with=None) -> tuple[list, list]:
    """Keep the triplets whose three products exist with ``var``; with ``auto_products_with`` (two
    names, e.g. ``["fy3c", "model_geos5"]`` as seed 003) add ``[p, *auto]`` for each method output
    ``p``. Returns ``(usable, skipped_messages)``."""
    have = set(available(run_dir, var))
    outputs = [p.stem for p in sorted((Path(run_dir) / "products").glob("*.nc")) if not p.stem.endswith("_stations")]
    cand = [list(t) for t in triplets]
    if auto_products_with:
        cand += [[p, *auto_products_with] for p in outputs if p in have]
    usable, skipped, seen = [], [], set()
    for t in cand:
        if len(t) != 3 or len(set(t)) != 3:
            skipped.append(f"{t}: a triplet needs three different products")
            continue
        miss = [p for p in t if p not in have]
        if miss:
            skipped.append(f"{'/'.join(t)}: skipped, {', '.join(miss)} not present with {var}")
            continue
        if tuple(t) not in seen:
            seen.add(tuple(t))
            usable.append(t)
    return usable, skipped


def tc_triplets(run_dir, triplets, var: str = "ssm", grid=None, min_n: int = MIN_N_TC,
                min_pair_r: float | None = 0.2, use_qc: bool = True) -> dict:
    """Triple collocation of each triplet on the study's coarse grid: ``{"a/b/c": Dataset}``
    (see :func:`~smlib.validate.triple_collocation`); products are brought to the grid with
    :func:`~smlib.validate.products.to_grid`; each product's units are in the ``units`` coordinate
    (TC error sd is in each product's own units: % for ASCAT-like saturation)."""
    out = {}
    if triplets and grid is None:
        grid = study_grid(run_dir)
    for t in triplets:
        das = collocated(run_dir, t, grid, var=var, use_qc=use_qc)
        tc = triple_collocation(*das, names=list(t), min_n=min_n, min_pair_r=min_pair_r).compute()
        tc = tc.assign_coords(units=("product", [str(d.attrs.get("units", "")) for d in das]))
        out["/".join(t)] = tc
    return out


def tc_vs_recorded(run_dir, tcs: dict, var: str = "ssm", grid=None, use_qc: bool = True) -> pd.DataFrame:
    """One row per (triplet, product): the median TC error sd, TC-R and SNR over admissible pixels
    and their number, beside the generator's recorded ``error_sd`` and ``realised_error_sd``
    (attrs of the inputs) and, for synthetic studies, the ubRMSE against the truth averaged to the
    same grid (the error sd TC tries to estimate, bias removed)."""
    if tcs and grid is None:
        grid = study_grid(run_dir)
    truth = read_truth(run_dir, [var])[var] if has_truth(run_dir) and tcs else None
    rows = []
    cache = {}
    for key, tc in tcs.items():
        for p in tc["product"].values:
            p = str(p)
            t = tc.sel(product=p)
            ok = t["valid"]
            if p not in cache:
                da = load_sm(run_dir, p, var, use_qc)
                rec = recorded_error(da)
                if truth is not None:
                    from .products import to_grid

                    s = score_truth(run_dir, to_grid(da, grid), var=var, truth=truth)
                    rec["truth_ubrmse"] = s["ubrmse"] if rec["units"] in ("m3/m3", "") else float("nan")
                else:
                    rec["truth_ubrmse"] = float("nan")
                cache[p] = rec
            rec = cache[p]
            rows.append({"triplet": key, "product": p, "tc_err_sd": float(t["err_sd"].where(ok).median()),
                         "tc_r": float(t["tc_r"].where(ok).median()), "snr_db": float(t["snr_db"].where(ok).median()),
                         "pixels": int(ok.sum()), "recorded_error_sd": rec["recorded_error_sd"],
                         "realised_error_sd": rec["realised_error_sd"], "truth_ubrmse": rec["truth_ubrmse"],
                         "units": rec["units"]})
    return pd.DataFrame(rows, columns=["triplet", "product", "tc_err_sd", "tc_r", "snr_db", "pixels",
                                       "recorded_error_sd", "realised_error_sd", "truth_ubrmse", "units"])


def taylor_stats(x, y) -> dict:
    """Taylor (2001) diagram coordinates of product ``x`` against reference ``y`` over their jointly
    finite samples: ``sd_ratio = sd(x) / sd(y)``, Pearson ``r``, and the normalised centred RMS
    difference ``crmsd = sqrt(1 + sd_ratio^2 - 2 sd_ratio r)`` (= ubRMSE / sd(y)); ``n``."""
    xv = np.asarray(x, float).ravel()
    yv = np.asarray(y, float).ravel()
    ok = np.isfinite(xv) & np.isfinite(yv)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "sd_ratio": np.nan, "r": np.nan, "crmsd": np.nan}
    sx, sy = xv[ok].std(), yv[ok].std()
    if sy == 0 or sx == 0:
        return {"n": int(ok.sum()), "sd_ratio": np.nan, "r": np.nan, "crmsd": np.nan}
    m = pooled(xv[ok], yv[ok])
    s = sx / sy
    return {"n": m["n"], "sd_ratio": float(s), "r": m["r"], "crmsd": float(np.sqrt(max(1 + s * s - 2 * s * m["r"], 0)))}


def taylor_points(run_dir, var: str = "ssm", reference: str = "auto", use_qc: bool = True) -> tuple[pd.DataFrame, str]:
    """Taylor statistics of every volumetric product with ``var`` against the truth (synthetic
    studies: truth on each product's own grid, all pixel-days) or, otherwise, against the stations
    (all paired station-days, nearest cell). Products in other units (ASCAT-like %) are left out:
    their standard deviation is not comparable. Returns ``(table, reference_used)``."""
    from .scoreboard import is_volumetric
    from .truth import truth_on_grid

    ref = reference
    if ref == "auto":
        ref = "truth" if has_truth(run_dir) else "stations"
    rows = []
    truth = read_truth(run_dir, [var])[var] if ref == "truth" else None
    st = read_stations(run_dir) if ref == "stations" and (Path(run_dir) / "inputs" / "stations.nc").exists() else None
    if ref == "stations" and (st is None or var not in st.data_vars):
        return pd.DataFrame(columns=["product", "n", "sd_ratio", "r", "crmsd"]), ref
    for name in available(run_dir, var):
        da = load_sm(run_dir, name, var, use_qc)
        if not is_volumetric(da):
            continue
        if ref == "truth":
            da, tr = xr.align(da, truth, join="inner", exclude=("lat", "lon"))
            y = truth_on_grid(tr, da)
            x = da
        else:
            x = at_stations(da, st)
            y = st[var].sel(station=x["station"].values)
            x, y = xr.align(x, y, join="inner")
            x, y = x.transpose("station", "time"), y.transpose("station", "time")
        rows.append({"product": name, **taylor_stats(x.values, y.values)})
    return pd.DataFrame(rows, columns=["product", "n", "sd_ratio", "r", "crmsd"]), ref


def station_series(run_dir, station: str | None = None, var: str = "ssm", products=None,
                   use_qc: bool = True) -> dict:
    """Series at one station for a time-series figure: ``{"station", "time", "observed", "precip",
    "products": {name: values}, "landcover"}``. ``station`` defaults to the station with the most
    observed days; ``products`` to the SMAP-like retrievals, the first model and every method output
    present (nearest cell); products not in m3/m3 are left out."""
    from .scoreboard import is_volumetric

    st = read_stations(run_dir)
    if var not in st.data_vars:
        raise DataError(f"inputs/stations.nc has no {var!r}")
    obs = st[var]
    if station is None:
        station = str(obs["station"].values[int(np.isfinite(obs.values).sum(axis=obs.dims.index("time")).argmax())])
    if station not in set(map(str, st["station"].values)):
        raise DataError(f"station {station!r} is not in inputs/stations.nc")
    sub = st.sel(station=[station])
    one = sub.isel(station=0)
    series = {}
    if products is None:
        have = available(run_dir, var)
        models = [p for p in have if p.startswith("model_")]
        products = [p for p in have if p == "smap"] + models[:1] + \
            [p for p in have if p not in ("smap", "amsr2", "ascat", "fy3c") and not p.startswith("model_")]
    for name in products:
        da = load_sm(run_dir, name, var, use_qc)
        if not is_volumetric(da):
            continue
        try:
            v = at_stations(da, sub)
        except DataError:
            continue
        v = v.isel(station=0).reindex(time=one["time"].values)
        series[name] = v.values
    return {"station": station, "time": one["time"].values, "observed": one[var].values,
            "precip": one["precip"].values if "precip" in one else None, "products": series,
            "landcover": one["landcover"].item() if "landcover" in one.coords else None}


def _best(board: pd.DataFrame, layer: str, reference: str, metric: str, low: bool) -> pd.Series | None:
    d = board[(board["layer"] == layer) & (board["reference"] == reference)].dropna(subset=[metric])
    if reference == "stations":
        d = d[d["n"] > 0]
    if d.empty:
        return None
    return d.loc[d[metric].idxmin() if low else d[metric].idxmax()]


def summary_text(board: pd.DataFrame, tc_rec: pd.DataFrame, synthetic: bool, min_days: int = 30) -> str:
    """The chapter's closing summary as Markdown, every number read from the scoreboard and the TC
    table (nothing typed by hand): the best product per layer and reference by ubRMSE and by r,
    how many products and stations were scored, and how far TC's error sd lies from the level the
    generator recorded."""
    if board.empty:
        return ("Nothing could be scored: no soil-moisture input or product with a reference "
                "(truth or stations) was found in this run.")
    lines = [f"- **{board['product'].nunique()} products** were scored in {len(board)} scoreboard rows."]
    if not synthetic:
        lines.append("- This is a real-data study: there is no truth, so only the `stations` rows exist.")
    for layer in ("surface", "rootzone"):
        for ref in ("truth", "truth_fine", "stations"):
            lo = _best(board, layer, ref, "ubrmse", True)
            hi = _best(board, layer, ref, "r", False)
            if lo is None and hi is None:
                continue
            what = f"against the {ref} ({layer}, each product on its own grid)" if ref == "truth" else f"against the {ref} ({layer})"
            parts = []
            if lo is not None:
                parts.append(f"lowest ubRMSE `{lo['product']}` ({lo['ubrmse']:.3f} m3/m3)")
            if hi is not None:
                parts.append(f"highest r `{hi['product']}` ({hi['r']:.2f})")
            unit = "stations" if ref == "stations" else "pixel-days"
            n = int(board[(board["layer"] == layer) & (board["reference"] == ref)]["n"].max())
            lines.append(f"- {what}: " + "; ".join(parts) + f" (up to {n} {unit}).")
    st = board[board["reference"] == "stations"]
    if not st.empty and (st["n"] == 0).any():
        none = ", ".join(f"`{p}`" for p in st.loc[st["n"] == 0, "product"].unique())
        lines.append(f"- No station reached {min_days} paired days with {none}, so their station rows are empty.")
    d = tc_rec.dropna(subset=["tc_err_sd", "realised_error_sd"]) if not tc_rec.empty else tc_rec
    if not d.empty:
        rel = (d["tc_err_sd"] / d["realised_error_sd"] - 1).abs()
        worst = d.loc[rel.idxmax()]
        lines.append(f"- Triple collocation recovered the generator's realised error sd within a median "
                     f"{100 * rel.median():.0f} % over {len(d)} product-triplet estimates (largest miss: "
                     f"`{worst['product']}` in {worst['triplet']}, TC {worst['tc_err_sd']:.3f} vs "
                     f"{worst['realised_error_sd']:.3f} m3/m3).")
    elif not tc_rec.empty:
        lines.append("- Triple collocation ran, but no estimate could be set beside a recorded error level "
                     "(real data, or no admissible cell).")
    else:
        lines.append("- No triplet of products was present, so no triple collocation.")
    return "\n".join(lines)


def seed003_correlations(run_dir, var: str = "ssm", use_qc: bool = True, alpha: float = 0.05) -> pd.DataFrame:
    """Seed 003's two summary correlations of every volumetric product against the synthetic truth on
    the product's own grid (truth block-averaged to coarse cells): ``spatial_r`` (mean daily map
    correlation over the days with p < alpha, and ``sig_days`` of ``days``) and ``temporal_r`` (mean
    of the per-pixel correlation map). Empty for studies without a truth."""
    from .metrics import spatial_correlation, temporal_correlation
    from .scoreboard import is_volumetric
    from .truth import truth_on_grid

    cols = ["product", "spatial_r", "sig_days", "days", "temporal_r"]
    if not has_truth(run_dir):
        return pd.DataFrame(columns=cols)
    truth = read_truth(run_dir, [var])[var]
    rows = []
    for name in available(run_dir, var):
        da = load_sm(run_dir, name, var, use_qc)
        if not is_volumetric(da):
            continue
        da, tr = xr.align(da, truth, join="inner", exclude=("lat", "lon"))
        tr = truth_on_grid(tr, da)
        sp = spatial_correlation(da, tr, alpha=alpha)
        tp = temporal_correlation(da, tr)
        rows.append({"product": name, "spatial_r": float(sp["mean_r"]), "sig_days": int(sp["n_days"]),
                     "days": int((sp["daily_n"] >= 3).sum()), "temporal_r": float(tp["mean_r"])})
    return pd.DataFrame(rows, columns=cols)
