"""LightGBM 1-km prediction throughput (``lightgbm_predict_pixel_days_per_s``, DESIGN.md section 9).

Trains the surface-layer model of stage 05 on the demo study's 0.25-deg cell-days (quick: the first 30 days
of the tiny study) and times :func:`smlib.downscale.predict_fine` over every 1-km pixel-day of the study
(features built and predicted in dask chunks). Baseline: the bilinear interpolation of the coarse product to
the same pixel-days (the downscaling baseline), timed in the same run. The daily 1-km NDVI/LST come from
``products/estarfm.nc`` of the run when stage 03 has run, else from GLASS resampled to 1 km (same shapes and
cost; the detail says which).
"""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(quick: bool = False, run_dir: str | None = None) -> dict:
    """``run_dir`` overrides ``data/runs/<demo or tiny>``."""
    import xarray as xr

    from smlib import downscale as D
    from smlib import estarfm, io
    from smlib.errors import InputError
    from smlib.grid import grid_of

    name = "tiny" if quick else "demo"
    run = Path(run_dir) if run_dir else ROOT / "data" / "runs" / name
    if not (run / "inputs" / "model_gleam.nc").exists():
        raise InputError(f"{run}/inputs: no inputs; run `python -m smlib run --study data/studies/{name}.yml "
                         "--stages 01` first")
    gleam = io.read_input(run, "model_gleam", ["ssm"])["ssm"]
    static = io.read_input(run, "static", ["dem", "slope"])
    if (run / "products" / "estarfm.nc").exists():
        dyn, source = io.read_product(run, "estarfm")[["ndvi", "lst_day"]], "ESTARFM"
    else:
        glass = io.read_input(run, "glass", ["ndvi", "lst_day"])
        modis = io.read_input(run, "modis", ["ndvi"])
        dyn = xr.Dataset({v: estarfm.coarse_on_fine(glass[v], modis["ndvi"]) for v in ("ndvi", "lst_day")})
        source = "GLASS resampled (no estarfm product)"
    if quick:
        dyn = dyn.isel(time=slice(0, 30))
    feats = D.PAPER_FEATURES + ("lst_anom", "ndvi_anom", "lst_tanom")
    gleam = gleam.sel(time=dyn["time"].values)
    dyn_c, static_c = D.coarse_covariates(dyn, static, grid_of(gleam))
    X, y, *_ = D.training_table(feats, gleam, dyn_c, static_c)
    model = D.train(X, y, {"n_estimators": 300})
    t = time.perf_counter()
    pred = D.predict_fine(model, feats, dyn, static)
    t_pred = time.perf_counter() - t
    npd = pred.size
    t = time.perf_counter()
    D.bilinear_baseline(gleam.to_dataset(), dyn["lat"].values, dyn["lon"].values, variables=("ssm",))
    t_bil = time.perf_counter() - t
    rate, base = npd / t_pred, npd / t_bil
    return {"lightgbm_predict_pixel_days_per_s": {
        "value": round(rate, 0), "unit": "pixel-days/s", "baseline": round(base, 0), "ratio": round(rate / base, 4),
        "detail": (f"{name} study, {npd:,} pixel-days ({dyn.sizes['time']} days x {dyn.sizes['lat']} x "
                   f"{dyn.sizes['lon']}), {len(feats)} features, 300 trees, 1 thread, covariates from {source}: "
                   f"{t_pred:.1f} s; baseline = bilinear interpolation {t_bil:.2f} s")}}

