"""Benchmark: triple collocation and pairwise metrics over whole grids against a per-pixel loop.

``tc_grid_speedup``: pixels per second of :func:`smlib.validate.triple_collocation` on a
``(365, ny, nx)`` grid (vectorized, one call) against the same estimates computed pixel by pixel in a
Python loop with :func:`pytesmo.metrics.tcol_metrics` (NaN-filtered per pixel, as a user of pytesmo
would), both timed in this run on the same arrays. ``metrics_grid_speedup``: the same for
:func:`smlib.validate.pairwise` against a loop over pytesmo's ``bias``, ``rmsd``, ``ubrmsd``, ``aad``
and ``pearson_r``. The loops run over a random subset of pixels (``loop_pixels``) and their
throughput is per pixel; grid and loop are each timed as the best of two runs. Without ``quick``, a 1000 x 1000 x 365 grid of three products, generated
lazily with dask in (365, 125, 125) chunks, goes through TC and the metrics in bounded memory: the
peak resident memory is reported beside the size the arrays would have in memory.

    python benchmarks/run.py -k tc [--quick]
"""

from __future__ import annotations

import os
import resource
import time
import warnings

import numpy as np


def _synthetic(nt: int, ny: int, nx: int, seed: int = 0, gap: float = 0.2):
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(seed)
    sig = 0.25 + 0.06 * rng.standard_normal((nt, ny, nx))
    coords = {"time": pd.date_range("2021-01-01", periods=nt, freq="D"), "lat": np.arange(ny, 0, -1) * 0.01,
              "lon": np.arange(nx) * 0.01}
    out = []
    for s in (0.02, 0.04, 0.06):
        a = sig + s * rng.standard_normal(sig.shape)
        a[rng.random(a.shape) < gap] = np.nan
        out.append(xr.DataArray(a, dims=("time", "lat", "lon"), coords=coords))
    return out


def _loop_tc(arrs, pix):
    from pytesmo.metrics import tcol_metrics

    res = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, j in pix:
            x, y, z = (a[:, i, j] for a in arrs)
            ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
            res.append(tcol_metrics(x[ok], y[ok], z[ok]))
    return res


def _loop_metrics(arrs, pix):
    import pytesmo.metrics as pm

    res = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, j in pix:
            x, y = arrs[0][:, i, j], arrs[1][:, i, j]
            ok = np.isfinite(x) & np.isfinite(y)
            x, y = x[ok], y[ok]
            res.append((pm.bias(x, y), pm.rmsd(x, y), pm.ubrmsd(x, y), pm.aad(x, y), pm.pearson_r(x, y)))
    return res


def _speed(name, grid_fn, loop_fn, das, loop_pixels, rng):
    ny, nx = das[0].sizes["lat"], das[0].sizes["lon"]
    t_grid = []
    for _ in range(2):  # best of two: the first call also pays the first touch of large allocations
        t0 = time.perf_counter()
        out = grid_fn()
        t_grid.append(time.perf_counter() - t0)
    t_grid = min(t_grid)
    arrs = [d.values for d in das]
    flat = rng.choice(ny * nx, size=min(loop_pixels, ny * nx), replace=False)
    pix = [(int(k // nx), int(k % nx)) for k in flat]
    t_loop = []
    for _ in range(2):
        t0 = time.perf_counter()
        loop = loop_fn(arrs, pix)
        t_loop.append(time.perf_counter() - t0)
    t_loop = min(t_loop)
    v_grid = ny * nx / t_grid
    v_loop = len(pix) / t_loop
    return out, loop, pix, {"value": round(v_grid, 1), "unit": "pixels/s", "baseline": round(v_loop, 1),
                            "ratio": round(v_grid / v_loop, 1),
                            "detail": f"{name}: {ny}x{nx} pixels x {das[0].sizes['time']} days, 20% gaps; grid "
                                      f"{t_grid:.2f} s for all pixels, per-pixel pytesmo loop {t_loop:.2f} s for "
                                      f"{len(pix)} pixels (best of 2 each; ratio = speedup)"}


def _full(n: int = 1000, nt: int = 365, chunk: int = 125) -> dict:
    import dask
    import dask.array as dsa
    import xarray as xr

    from smlib.validate import pairwise, triple_collocation

    rng = dsa.random.default_rng(0)
    shape, chunks = (nt, n, n), (nt, chunk, chunk)
    sig = 0.25 + 0.06 * rng.standard_normal(shape, chunks=chunks, dtype="float32")
    das = []
    for s in (0.02, 0.04, 0.06):
        a = sig + s * rng.standard_normal(shape, chunks=chunks, dtype="float32")
        das.append(xr.DataArray(a, dims=("time", "lat", "lon")))
    in_memory_gb = 3 * np.prod(shape) * 4 / 1e9
    res = {}
    with dask.config.set(scheduler="threads", num_workers=int(os.environ.get("BENCH_WORKERS", "2"))):
        t0 = time.perf_counter()
        tc = triple_collocation(*das, min_n=30).compute()
        t_tc = time.perf_counter() - t0
        rss_tc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        t0 = time.perf_counter()
        m = pairwise(das[0], das[1]).compute()
        t_m = time.perf_counter() - t0
        rss_m = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    med = [float(np.nanmedian(tc["err_sd"].sel(product=p).values)) for p in tc["product"].values]
    res["tc_1000x1000x365_seconds"] = {
        "value": round(t_tc, 1), "unit": "s", "baseline": None, "ratio": None,
        "detail": f"TC of 3 dask-backed float32 products {nt}x{n}x{n} ({in_memory_gb:.1f} GB if held in memory), "
                  f"chunks ({nt}, {chunk}, {chunk}); peak RSS {rss_tc:.2f} GB; "
                  f"{n * n / t_tc:.0f} pixels/s; median err_sd {med[0]:.4f}/{med[1]:.4f}/{med[2]:.4f} "
                  f"(true 0.02/0.04/0.06)"}
    res["metrics_1000x1000x365_seconds"] = {
        "value": round(t_m, 1), "unit": "s", "baseline": None, "ratio": None,
        "detail": f"pairwise (n, r, p, r_lo, r_hi, bias, rmse, ubrmse, mae) of 2 dask-backed products "
                  f"{nt}x{n}x{n}; peak RSS so far {rss_m:.2f} GB; median ubrmse "
                  f"{float(np.nanmedian(m['ubrmse'].values)):.4f}"}
    return res


def bench(quick: bool = False) -> dict:
    """``{"tc_grid_speedup", "metrics_grid_speedup"}`` and, unless ``quick``, the 1000 x 1000 x 365
    dask runs ``tc_1000x1000x365_seconds`` and ``metrics_1000x1000x365_seconds``."""
    from smlib.validate import pairwise, triple_collocation

    ny = nx = 60 if quick else 200
    loop_pixels = 300 if quick else 1000
    das = _synthetic(365, ny, nx)
    rng = np.random.default_rng(1)
    tc, loop, pix, r_tc = _speed("triple collocation", lambda: triple_collocation(*das, min_n=30),
                                 _loop_tc, das, loop_pixels, rng)
    # the two must agree on the pixels of the loop (scaled error sd, as pytesmo reports it)
    got = np.array([tc["err_sd_scaled"].values[:, i, j] for i, j in pix])
    ref = np.array([r[1] for r in loop])
    if not np.allclose(got, ref, rtol=1e-6, atol=1e-9, equal_nan=True):
        raise AssertionError("triple_collocation and the pytesmo loop disagree")
    m, mloop, mpix, r_m = _speed("pairwise metrics", lambda: pairwise(das[0], das[1]), _loop_metrics, das,
                                 loop_pixels, rng)
    got = np.array([m["ubrmse"].values[i, j] for i, j in mpix])
    if not np.allclose(got, [r[2] for r in mloop], rtol=1e-6, atol=1e-9):
        raise AssertionError("pairwise and the pytesmo loop disagree")
    out = {"tc_grid_speedup": r_tc, "metrics_grid_speedup": r_m}
    if not quick:
        out.update(_full())
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(bench(quick="--quick" in sys.argv), indent=1))
