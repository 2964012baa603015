"""LightGBM downscaling of coarse soil moisture to daily 1 km (seed 000), and the bilinear baseline.

The method of the seed paper: a gradient-boosted tree model (LightGBM) learns soil moisture of a coarse
product (GLEAM-like, 0.25 deg) from covariates aggregated to the coarse grid -- NDVI and LST (the ESTARFM
daily 1-km fusion of stage 03), elevation, slope and day of year -- and is applied to the same covariates
at 1 km, assuming the relation holds across scales. One model per layer (surface ``ssm``, root zone
``rzsm``). Steps and functions:

1. covariates on both grids: :func:`coarse_covariates` (:func:`smlib.grid.block_mean` of the 1-km fields),
   features by name (:data:`FEATURES`, :func:`feature_stack`), including scale-consistent anomalies (a
   field minus its regional daily mean, or minus its own time mean) and the coarse soil moisture itself;
2. training on coarse cell-days (:func:`train`), with random and spatial-block cross-validation side by side
   (:func:`cross_validate`, :mod:`smlib.cv`);
3. prediction over the 1-km grid in dask chunks of days x rows (:func:`predict_fine`), bounded memory;
4. optional residual correction (:func:`residual_correction`): the coarse residual (product minus the
   model's prediction at coarse scale, ``bilinear``-interpolated, or the cell residual of the 1-km field's
   block mean, ``block``, which makes each 0.25-deg cell average back exactly to the coarse value).

:func:`downscale_layer` runs all of it for one layer; :func:`bilinear_baseline` is the reference
interpolation every downscaling method must beat.

References: seed 000 (LightGBM two-layer downscaling of GLEAM; PCC 0.699 / 0.754, RMSE 0.053 / 0.055 m3/m3
at stations); Ke et al. (2017) LightGBM, NeurIPS 30.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError

#: Feature names and what they are (``_sm`` features use the coarse product itself).
FEATURES: dict[str, str] = {
    "ndvi": "NDVI (ESTARFM, unitless)",
    "lst_day": "daytime LST (ESTARFM, K)",
    "dem": "elevation (m)",
    "slope": "terrain slope (degrees)",
    "doy": "day of year",
    "ndvi_anom": "NDVI minus its regional daily mean",
    "lst_anom": "LST minus its regional daily mean (K)",
    "lst_tanom": "LST minus its own time mean over the period (K)",
    "ndvi_tanom": "NDVI minus its own time mean over the period",
    "dem_anom": "elevation minus the regional mean (m)",
    "sm_coarse": "the coarse product's soil moisture (cell value at coarse scale, bilinear at 1 km, m3/m3)",
    "lst_memory": "trailing mean of the LST time anomaly over the last memory_days days (K): drying memory",
    "ndvi_memory": "trailing mean of the NDVI time anomaly over the last memory_days days",
}
#: Features derived from the daily covariates before aggregation (:func:`add_memory`).
MEMORY_FEATURES = {"lst_memory": "lst_day", "ndvi_memory": "ndvi"}
#: The seed paper's predictors.
PAPER_FEATURES = ("ndvi", "lst_day", "dem", "slope", "doy")

#: LightGBM hyper-parameters used when not given (``n_jobs=1`` for shared machines).
DEFAULT_PARAMS = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                  "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.9, "reg_lambda": 1.0,
                  "n_jobs": 1, "random_state": 0, "verbose": -1}


def day_of_year(time) -> np.ndarray:
    """Day of year (1-366) of each date."""
    return pd.DatetimeIndex(np.asarray(time)).day_of_year.to_numpy()


def add_memory(dyn: xr.Dataset, days: int = 30) -> xr.Dataset:
    """Add ``lst_memory`` and ``ndvi_memory`` to the daily covariates: the trailing ``days``-day mean of each
    field's anomaly from its own time mean (root-zone soil moisture integrates weeks of weather; a warm,
    browning spell marks a drying root zone). Linear, so aggregating it equals computing it on the
    aggregated fields: the same feature at both scales."""
    if days < 1:
        raise DataError(f"memory_days must be >= 1, got {days}")
    out = dyn.copy()
    for name, src in MEMORY_FEATURES.items():
        if src in dyn:
            anom = dyn[src] - dyn[src].mean("time", skipna=True)
            out[name] = anom.rolling(time=int(days), min_periods=1).mean().astype("float32")
    return out


def coarse_covariates(dyn: xr.Dataset, static: xr.Dataset, grid) -> tuple[xr.Dataset, xr.Dataset]:
    """Block means of the 1-km dynamic ``(time, lat, lon)`` and static ``(lat, lon)`` covariates on ``grid``
    (a :class:`smlib.grid.Grid`), the training scale."""
    from .grid import block_mean

    d = xr.Dataset({k: block_mean(v, grid) for k, v in dyn.data_vars.items()})
    s = xr.Dataset({k: block_mean(v, grid) for k, v in static.data_vars.items()})
    return d, s


@dataclass
class Context:
    """Non-local statistics a feature needs, computed once per grid (regional daily means, time means)."""

    region_mean: dict = field(default_factory=dict)  # name -> (time,) or scalar
    time_mean: dict = field(default_factory=dict)  # name -> (lat, lon)


def feature_context(dyn: xr.Dataset, static: xr.Dataset) -> Context:
    """Regional daily means of the dynamic covariates, their time means per pixel and the regional mean
    elevation, on the grid of ``dyn``/``static``."""
    ctx = Context()
    for k in dyn.data_vars:
        ctx.region_mean[k] = dyn[k].mean(("lat", "lon"), skipna=True).values
        ctx.time_mean[k] = dyn[k].mean("time", skipna=True).values
    if "dem" in static:
        ctx.region_mean["dem"] = float(static["dem"].mean(skipna=True))
    return ctx


def feature_stack(features, dyn: dict, static: dict, doy: np.ndarray, ctx: Context, sm=None) -> np.ndarray:
    """Features ``(time, lat, lon, nfeature)`` float32 for one block of days.

    ``dyn``: name -> ``(time, lat, lon)`` arrays (``ndvi``, ``lst_day``); ``static``: name -> ``(lat, lon)``;
    ``doy``: ``(time,)``; ``ctx``: the grid's :func:`feature_context`, already sliced to the block (regional
    means to its days, time means to its rows); ``sm``: ``(time, lat, lon)`` coarse soil moisture on this
    grid (for ``sm_coarse``). Raises :class:`DataError` for an unknown feature.
    """
    ref = next(iter(dyn.values()))
    nt, ny, nx = ref.shape
    cols = []
    for f in features:
        if f in ("ndvi", "lst_day") or f in MEMORY_FEATURES:
            a = dyn[f]
        elif f in ("dem", "slope"):
            a = np.broadcast_to(static[f], (nt, ny, nx))
        elif f == "doy":
            a = np.broadcast_to(np.asarray(doy, float)[:, None, None], (nt, ny, nx))
        elif f in ("ndvi_anom", "lst_anom"):
            k = f[:-5] if f == "ndvi_anom" else "lst_day"
            a = dyn[k] - np.asarray(ctx.region_mean[k])[:, None, None]
        elif f in ("ndvi_tanom", "lst_tanom"):
            k = "ndvi" if f == "ndvi_tanom" else "lst_day"
            a = dyn[k] - ctx.time_mean[k][None]
        elif f == "dem_anom":
            a = np.broadcast_to(static["dem"] - ctx.region_mean["dem"], (nt, ny, nx))
        elif f == "sm_coarse":
            if sm is None:
                raise DataError("feature sm_coarse needs the coarse soil moisture on this grid")
            a = sm
        else:
            raise DataError(f"unknown feature {f!r}; known: {', '.join(FEATURES)}")
        cols.append(np.asarray(a, dtype=np.float32))
    return np.stack(cols, axis=-1)


def training_table(features, sm_coarse: xr.DataArray, dyn_c: xr.Dataset, static_c: xr.Dataset):
    """Coarse cell-days as a training table: ``X (n, nfeature)``, ``y (n,)`` and the cells' ``lat``/``lon``
    (for spatial-block folds); only samples with every feature and the target finite."""
    sm = sm_coarse.transpose("time", "lat", "lon").sel(time=dyn_c["time"].values)
    ctx = feature_context(dyn_c, static_c)
    X = feature_stack(features, {k: dyn_c[k].transpose("time", "lat", "lon").values for k in dyn_c.data_vars},
                      {k: static_c[k].values for k in static_c.data_vars}, day_of_year(dyn_c["time"].values), ctx,
                      sm=sm.values)
    y = sm.values.astype(np.float32)
    lat = np.broadcast_to(sm["lat"].values[None, :, None], y.shape)
    lon = np.broadcast_to(sm["lon"].values[None, None, :], y.shape)
    X = X.reshape(-1, X.shape[-1])
    y, lat, lon = y.ravel(), lat.ravel(), lon.ravel()
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    if ok.sum() < 10:
        raise DataError(f"only {int(ok.sum())} coarse cell-days have all features and a target: too few to train")
    return X[ok], y[ok], lat[ok], lon[ok]


def make_model(params: dict | None = None):
    """A ``lightgbm.LGBMRegressor`` with :data:`DEFAULT_PARAMS` updated by ``params``."""
    import lightgbm as lgb

    p = dict(DEFAULT_PARAMS)
    p.update(params or {})
    return lgb.LGBMRegressor(**p)


def train(X: np.ndarray, y: np.ndarray, params: dict | None = None):
    """Fit the LightGBM regressor on the coarse training table."""
    return make_model(params).fit(X, y)


def cross_validate(X, y, lat, lon, params: dict | None = None, k: int = 5, block_deg: float = 0.5,
                   seed: int = 0) -> pd.DataFrame:
    """Random k-fold and spatial-block k-fold CV of the coarse model, side by side.

    Returns a DataFrame indexed by scheme (``random``, ``spatial_block``) with ``n, r, bias, rmse, ubrmse,
    mae`` of the out-of-fold predictions against the coarse target (m3/m3) and the number of folds (the
    spatial scheme uses at most as many folds as there are blocks).
    Random folds share cells (and their autocorrelated days) between training and test, so they score
    interpolation; spatial blocks hold whole regions out, the honest figure for unseen places.
    """
    from .cv import block_ids, random_kfold, spatial_block_kfold
    from .validate import pooled

    n_blocks = np.unique(block_ids(lat, lon, block_deg)).size
    if n_blocks < 2:
        raise DataError(f"spatial-block CV needs at least 2 blocks of {block_deg} deg; the region has {n_blocks}")
    rows = {}
    for name, folds in (("random", random_kfold(len(y), k=k, seed=seed)),
                        ("spatial_block", spatial_block_kfold(lat, lon, block_deg=block_deg, k=min(k, n_blocks),
                                                              seed=seed))):
        pred = np.full(y.shape, np.nan)
        for f in np.unique(folds):
            test = folds == f
            pred[test] = train(X[~test], y[~test], params).predict(X[test])
        rows[name] = {**pooled(pred, y), "folds": int(np.unique(folds).size)}
    df = pd.DataFrame(rows).T
    df.index.name = "scheme"
    return df


def predict_fine(model, features, dyn: xr.Dataset, static: xr.Dataset, sm_fine: xr.DataArray | None = None,
                 chunk_days: int = 16, chunk_rows: int = 256, name: str = "sm") -> xr.DataArray:
    """Apply the coarse-trained model to the 1-km covariates, in dask chunks of ``chunk_days`` x
    ``chunk_rows`` rows (each chunk builds its features and predicts; memory bounded by the chunk).

    ``dyn``: 1-km ``(time, lat, lon)`` NDVI/LST; ``static``: 1-km ``(lat, lon)`` dem/slope; ``sm_fine``: the
    coarse soil moisture interpolated to 1 km (for ``sm_coarse``). Returns a lazy-free (computed) float32
    ``(time, lat, lon)`` DataArray; NaN where a feature is missing.
    """
    import dask
    import dask.array as da

    dyn = dyn.transpose("time", "lat", "lon")
    ctx = feature_context(dyn, static)
    names = list(dyn.data_vars)
    nt, ny, nx = dyn[names[0]].shape
    doy = day_of_year(dyn["time"].values)
    ct, cy = max(1, int(chunk_days)), max(1, int(chunk_rows))
    arrays = [da.from_array(dyn[k].values, chunks=(ct, cy, nx)) for k in names]
    if sm_fine is not None:
        arrays.append(da.from_array(sm_fine.transpose("time", "lat", "lon").values, chunks=(ct, cy, nx)))
    stat = {k: static[k].values for k in static.data_vars}

    def block(*blocks, block_info=None):
        loc = block_info[0]["array-location"]
        (t0, t1), (y0, y1) = loc[0], loc[1]
        sub = Context(region_mean={k: (np.asarray(v)[t0:t1] if np.ndim(v) else v) for k, v in ctx.region_mean.items()},
                      time_mean={k: v[y0:y1] for k, v in ctx.time_mean.items()})
        d = dict(zip(names, blocks[:len(names)]))
        sm = blocks[len(names)] if sm_fine is not None else None
        X = feature_stack(features, d, {k: v[y0:y1] for k, v in stat.items()}, doy[t0:t1], sub, sm=sm)
        flat = X.reshape(-1, X.shape[-1])
        out = np.full(flat.shape[0], np.nan, dtype=np.float32)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            out[ok] = model.predict(flat[ok])
        return out.reshape(X.shape[:-1])

    lazy = da.map_blocks(block, *arrays, dtype=np.float32)
    with dask.config.set(scheduler="threads", num_workers=1):
        vals = lazy.compute()
    return xr.DataArray(vals, dims=("time", "lat", "lon"), coords={"time": dyn["time"].values,
                                                                    "lat": dyn["lat"].values, "lon": dyn["lon"].values},
                        name=name)


def residual_correction(fine: xr.DataArray, coarse: xr.DataArray, coarse_pred: xr.DataArray | None = None,
                        method: str = "block") -> xr.DataArray:
    """Correct a 1-km prediction with the coarse residual.

    ``block``: add the residual ``coarse - block_mean(fine)`` of each cell to its pixels, so that every
    cell's 1-km mean equals the coarse value exactly (where the cell has predictions). ``bilinear``: add the
    model's coarse-scale residual ``coarse - coarse_pred`` interpolated bilinearly (smooth; no steps at cell
    edges; the cell means are then close to, not equal to, the coarse values). ``detail``: the model gives
    only the sub-cell detail (its 1-km field minus its own cell means), added to the bilinear interpolation of
    the coarse product, then ``block`` so every cell averages back exactly. ``none``: unchanged.
    """
    from .grid import bilinear, block_mean, grid_of, replicate

    lat, lon = fine["lat"].values, fine["lon"].values
    if method == "none":
        return fine
    if method == "detail":
        g = grid_of(coarse)
        detail = fine - replicate(block_mean(fine, g), lat, lon).values
        smooth = bilinear(coarse.fillna(coarse.mean()), lat, lon).transpose(*fine.dims)
        out = smooth + detail.values
        return residual_correction(out.where(np.isfinite(fine)), coarse, method="block")
    if method == "block":
        res = coarse - block_mean(fine, grid_of(coarse))
        return fine + replicate(res.fillna(0.0), lat, lon).values
    if method == "bilinear":
        if coarse_pred is None:
            raise DataError("residual_correction(method='bilinear') needs the model's coarse-scale prediction")
        res = (coarse - coarse_pred).fillna(0.0)
        return fine + bilinear(res, lat, lon).transpose(*fine.dims).values
    raise DataError(f"residual method must be 'block', 'bilinear', 'detail' or 'none', got {method!r}")


def bilinear_baseline(model_ds: xr.Dataset, lat, lon, variables=("ssm", "rzsm")) -> xr.Dataset:
    """The downscaling baseline: the coarse product's layers bilinearly interpolated to the 1-km centres
    ``lat``/``lon`` (NaN cells filled from the nearest cell first), float32 with catalogue attrs."""
    from .catalog import attrs
    from .grid import bilinear, fill_nearest

    out = {}
    for v in variables:
        if v not in model_ds:
            raise DataError(f"the coarse product lacks {v!r}; it has {', '.join(map(str, model_ds.data_vars))}")
        out[v] = bilinear(fill_nearest(model_ds[v]), lat, lon).transpose("time", "lat", "lon").astype("float32")
        out[v].attrs = attrs(v, method="bilinear interpolation of the coarse product")
    return xr.Dataset(out)


@dataclass
class LayerResult:
    """What :func:`downscale_layer` returns: the 1-km field, the model, its CV table and importances."""

    fine: xr.DataArray
    model: object
    cv: pd.DataFrame | None
    importance: pd.Series
    coarse_pred: xr.DataArray


def downscale_layer(sm_coarse: xr.DataArray, dyn: xr.Dataset, static: xr.Dataset, features=PAPER_FEATURES,
                    params: dict | None = None, residual: str = "block", cv_folds: int = 5,
                    block_deg: float = 0.5, chunk_days: int = 16, chunk_rows: int = 256, seed: int = 0,
                    memory_days: int = 30) -> LayerResult:
    """Downscale one layer of a coarse product to the 1-km grid of ``dyn``/``static`` with LightGBM.

    ``sm_coarse``: ``(time, lat, lon)`` on the coarse grid (m3/m3); ``dyn``: 1-km daily ``ndvi``/``lst_day``;
    ``static``: 1-km ``dem``/``slope``; ``features``: names from :data:`FEATURES`; ``params``: LightGBM
    hyper-parameters; ``residual``: see :func:`residual_correction`; ``cv_folds`` 0 skips cross-validation;
    ``memory_days``: window of the ``*_memory`` features (:func:`add_memory`).
    """
    from .grid import bilinear, fill_nearest, grid_of

    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise DataError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}")
    sm_coarse = sm_coarse.transpose("time", "lat", "lon").sel(time=dyn["time"].values)
    if any(f in MEMORY_FEATURES for f in features):
        dyn = add_memory(dyn, memory_days)
    dyn = dyn[[k for k in dyn.data_vars if k in ("ndvi", "lst_day") or k in features]]
    grid = grid_of(sm_coarse)
    dyn_c, static_c = coarse_covariates(dyn, static, grid)
    X, y, lat, lon = training_table(features, sm_coarse, dyn_c, static_c)
    cv = cross_validate(X, y, lat, lon, params, k=cv_folds, block_deg=block_deg, seed=seed) if cv_folds else None
    model = train(X, y, params)
    sm_fine = None
    if "sm_coarse" in features:
        sm_fine = bilinear(fill_nearest(sm_coarse), dyn["lat"].values, dyn["lon"].values)
    fine = predict_fine(model, features, dyn, static, sm_fine, chunk_days, chunk_rows, name=str(sm_coarse.name))
    coarse_pred = predict_fine(model, features, dyn_c, static_c, sm_coarse if "sm_coarse" in features else None,
                               chunk_days, chunk_rows)
    fine = residual_correction(fine, sm_coarse, coarse_pred, residual)
    imp = pd.Series(model.booster_.feature_importance("gain"), index=list(features), name="gain")
    imp = imp / imp.sum()
    return LayerResult(fine=fine.astype("float32"), model=model, cv=cv, importance=imp.sort_values(ascending=False),
                       coarse_pred=coarse_pred)


def as_product(results: dict, method: str = "LightGBM downscaling") -> xr.Dataset:
    """The ``lightgbm`` product: one float32 ``(time, lat, lon)`` variable per layer of ``results``
    (layer name -> :class:`LayerResult`), with catalogue attributes."""
    from .catalog import attrs

    out = {}
    for layer, res in results.items():
        da = res.fine.transpose("time", "lat", "lon").astype("float32")
        da.attrs = attrs(layer, method=method)
        out[layer] = da
    return xr.Dataset(out)
