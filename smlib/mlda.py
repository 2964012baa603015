"""ML-DA (seed 002): TC-R merged labels, a LightGBM soil-moisture simulator and Newtonian nudging.

The method of seed 002 ("Spatiotemporal seamless global surface soil moisture", IEEE Dataport 2025)
in three steps, all on the 0.25 deg grid:

1. **Labels.** Several surface soil-moisture products (SMAP-like, ASCAT-like, model products) are
   brought to one grid (:func:`conservative_regrid` for the 0.36 deg SMAP grid), rescaled to a common
   reference (:func:`rescale_meanstd` or :func:`rescale_cdf`), and merged per pixel with weights from
   their triple-collocation correlations (TC-R, McColl et al. 2014; :func:`product_tcr`,
   :func:`tcr_weights`, :func:`weighted_merge`). Product ``tcr_merged``.
2. **Simulator.** A LightGBM regressor predicts today's soil moisture from today's forcings (ERA5-like
   and MSWEP-like precipitation, 2-m temperature, radiation, VPD, wind), antecedent-precipitation
   features (:func:`antecedent_precip_index`, :func:`precip_sum`), static fields aggregated to 0.25
   deg (:func:`static_features`) and the previous day's soil moisture (the *state*). Run forward in
   time on its own previous output (:func:`forward_run`), it is a data-driven land-surface model:
   product ``mlda_openloop``.
3. **Assimilation.** Newtonian nudging (Hoke and Anthes 1976; Houser et al. 1998) of SMAP-like
   observations into the state, ``SM_a = SM_f + G (SM_obs - SM_f)`` where observed (:func:`nudge`),
   the run continuing from the analysed state; the gain ``G`` is chosen by cross-validation on
   withheld observations (:func:`select_gain`): product ``mlda``.

Evaluation (:func:`cross_validate`): ten-fold random cross-validation over pixel-days, as the paper
does, and spatial-block cross-validation beside it (whole blocks of pixels held out, so neighbouring
autocorrelated samples cannot leak between training and test folds).

Everything here works on the inputs a method may read (``smlib.io.read_input``); scoring against
the synthetic reference field is done by :mod:`smlib.validate` in the notebook.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError, InputError

#: Products merged into the labels by default (names of canonical inputs; ``model_<name>`` for models).
DEFAULT_LABEL_PRODUCTS = ("smap", "ascat", "model_gleam", "model_noah", "model_cldas", "model_geos5",
                          "model_era5land")
#: Forcing variables used as predictors (``inputs/forcing.nc``).
FORCING_VARS = ("precip", "precip_mswep", "t2m", "ssrd", "vpd", "wind")
#: Static fields aggregated to 0.25 deg when present (``inputs/static.nc``).
STATIC_VARS = ("dem", "slope", "sand", "clay", "water_fraction")
#: Name of the state feature (previous day's soil moisture, m3/m3).
STATE = "sm_prev"


# =================================================================================== 1. labels
def _edges(centres: np.ndarray) -> np.ndarray:
    c = np.asarray(centres, dtype=float)
    if c.size < 2:
        raise DataError("need at least two cell centres along each axis to infer cell edges")
    res = abs(c[1] - c[0])
    sign = 1.0 if c[1] > c[0] else -1.0
    return np.concatenate([c - sign * res / 2, [c[-1] + sign * res / 2]])


def overlap_matrix(src_edges, dst_edges) -> np.ndarray:
    """Overlap length of each destination interval with each source interval, shape ``(ndst, nsrc)``.

    Edges are monotonic (ascending or descending) arrays of length ``n + 1`` in any unit; used with
    ``sin(lat)`` edges the overlaps are proportional to cell area on the sphere.
    """
    s = np.sort(np.stack([src_edges[:-1], src_edges[1:]], axis=1), axis=1)
    d = np.sort(np.stack([dst_edges[:-1], dst_edges[1:]], axis=1), axis=1)
    lo = np.maximum(d[:, None, 0], s[None, :, 0])
    hi = np.minimum(d[:, None, 1], s[None, :, 1])
    return np.clip(hi - lo, 0.0, None)


def conservative_regrid(da: xr.DataArray, target, min_valid: float = 0.5) -> xr.DataArray:
    """Area-weighted (first-order conservative) regridding of ``da`` ``(..., lat, lon)`` onto ``target``.

    Each target cell takes the mean of the source cells that overlap it, weighted by the overlap
    area on the sphere (latitude overlaps measured in ``sin(lat)``, longitude overlaps in degrees);
    NaN source cells are left out and the weights renormalised. A target cell whose valid overlap is
    less than ``min_valid`` of its area becomes NaN. This is how the 0.36 deg SMAP grid, which does not
    nest in the 0.25 deg grid, is brought to 0.25 deg (Jones 1999, Mon. Weather Rev. 127, 2204-2210).

    ``target`` is a :class:`smlib.grid.Grid`. Vectorized: two matrix products per call.
    """
    if not 0.0 <= min_valid <= 1.0:
        raise DataError(f"min_valid must be a fraction in [0, 1], got {min_valid}")
    slat = np.asarray(da["lat"].values, dtype=float)
    slon = np.asarray(da["lon"].values, dtype=float)
    dlat_e = _edges(np.asarray(target.lat, dtype=float)) if target.nlat > 1 else \
        np.array([target.north, target.south], dtype=float)
    dlon_e = _edges(np.asarray(target.lon, dtype=float)) if target.nlon > 1 else \
        np.array([target.west, target.east], dtype=float)
    A = overlap_matrix(np.sin(np.radians(_edges(slat))), np.sin(np.radians(dlat_e)))  # (nlat_t, nlat_s)
    B = overlap_matrix(_edges(slon), dlon_e)  # (nlon_t, nlon_s)
    other = [d for d in da.dims if d not in ("lat", "lon")]
    arr = da.transpose(*other, "lat", "lon").values.astype("float64")
    lead = arr.shape[:-2]
    flat = arr.reshape((-1, slat.size, slon.size))
    valid = np.isfinite(flat)
    s = np.einsum("rl,tlm,cm->trc", A, np.where(valid, flat, 0.0), B, optimize=True)
    w = np.einsum("rl,tlm,cm->trc", A, valid.astype(float), B, optimize=True)
    cell = np.abs(np.diff(np.sin(np.radians(dlat_e))))[:, None] * np.abs(np.diff(dlon_e))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / w
    out[(w <= 0) | (w < min_valid * cell[None] - 1e-12)] = np.nan
    coords = {d: da[d] for d in other if d in da.coords}
    coords.update({"lat": target.lat, "lon": target.lon})
    return xr.DataArray(out.reshape(lead + target.shape).astype("float32"), dims=(*other, "lat", "lon"),
                        coords=coords, attrs=dict(da.attrs), name=da.name)


def _fill_space(da: xr.DataArray) -> xr.DataArray:
    """Fill NaN pixels of a ``(lat, lon)`` field from the nearest valid pixel (no-op when complete)."""
    from .grid import fill_nearest

    if not {"lat", "lon"} <= set(da.dims) or bool(da.notnull().all()) or not bool(da.notnull().any()):
        return da
    return fill_nearest(da)


def rescale_meanstd(x: xr.DataArray, ref: xr.DataArray, dim: str = "time", min_common: int = 3,
                    fill: bool = True) -> xr.DataArray:
    """Mean/standard-deviation matching of ``x`` to ``ref`` per pixel: ``(x - mean_x) sd_ref / sd_x + mean_ref``.

    Means and standard deviations are taken over ``dim`` on the days both are valid (so a gappy
    reference such as SMAP does not bias the match). Units become those of ``ref``. Where a pixel has
    fewer than ``min_common`` common days (the reference never observes it, e.g. QC-flagged forest or
    water), with ``fill`` the reference's mean and sd come from the nearest pixel that has them and
    ``x``'s from all its own days; without ``fill`` such pixels become NaN. Reference: Draper et al.
    (2009), Remote Sens. Environ. 113, 703-710; pytesmo ``scaling.mean_std``.
    """
    both = x.notnull() & ref.notnull()
    xm = x.where(both)
    rm = ref.where(both)
    ok = (both.sum(dim) >= min_common) & (xm.std(dim) > 0)
    mx, sx = xm.mean(dim).where(ok), xm.std(dim).where(ok)
    mr, sr = rm.mean(dim).where(ok), rm.std(dim).where(ok)
    if fill:
        mx = mx.fillna(x.mean(dim))
        sx = sx.fillna(x.std(dim))
        mr, sr = _fill_space(mr), _fill_space(sr)
    out = (x - mx) * (sr / sx.where(sx > 0)) + mr
    return out.astype("float32").rename(x.name)


def rescale_cdf(x: xr.DataArray, ref: xr.DataArray, dim: str = "time", n_quantiles: int = 21,
                fill: bool = True) -> xr.DataArray:
    """Piecewise-linear CDF matching of ``x`` to ``ref`` per pixel (Reichle and Koster 2004, GRL 31, L19501).

    The ``n_quantiles`` percentiles (0..100) of ``x`` and ``ref`` on their common valid days define a
    piecewise-linear transfer function per pixel; values beyond the end percentiles are extended with
    the slope of the outermost segment. Vectorized over pixels. Pixels with fewer than
    ``n_quantiles`` common days fall back to :func:`rescale_meanstd` with ``fill`` (else NaN).
    """
    if n_quantiles < 3:
        raise DataError(f"n_quantiles must be at least 3, got {n_quantiles}")
    both = x.notnull() & ref.notnull()
    q = np.linspace(0, 100, n_quantiles)
    other = [d for d in x.dims if d != dim]
    xv = x.transpose(dim, *other).values.astype(float)
    shape = xv.shape
    xv = xv.reshape(shape[0], -1)
    bv = both.transpose(dim, *other).values.reshape(shape[0], -1)
    rv = ref.transpose(dim, *other).values.astype(float).reshape(shape[0], -1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            px = np.nanpercentile(np.where(bv, xv, np.nan), q, axis=0)  # (Q, P)
            pr = np.nanpercentile(np.where(bv, rv, np.nan), q, axis=0)
    # strictly increasing source percentiles (ties -> tiny ramp) so every segment has a slope
    px = px + np.arange(n_quantiles)[:, None] * 1e-9
    k = np.clip((xv[None] >= px[:, None, :]).sum(0) - 1, 0, n_quantiles - 2)  # (T, P)
    cols = np.arange(xv.shape[1])[None, :]
    x0, x1 = px[k, cols], px[k + 1, cols]
    y0, y1 = pr[k, cols], pr[k + 1, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = y0 + (xv - x0) * (y1 - y0) / (x1 - x0)
    few = bv.sum(0) < n_quantiles
    out[:, few] = np.nan
    out = x.copy(data=out.reshape(shape).astype("float32").transpose(
        *[list((dim, *other)).index(d) for d in x.dims])).rename(x.name)
    if fill and few.any():
        out = out.fillna(rescale_meanstd(x, ref, dim, fill=True))
    return out


def rescale(x: xr.DataArray, ref: xr.DataArray, method: str = "meanstd", dim: str = "time") -> xr.DataArray:
    """Rescale ``x`` to the climatology of ``ref`` with ``method`` ``meanstd``, ``cdf`` or ``none``."""
    if method == "meanstd":
        return rescale_meanstd(x, ref, dim)
    if method == "cdf":
        return rescale_cdf(x, ref, dim)
    if method == "none":
        return x
    raise DataError(f"rescale method must be 'meanstd', 'cdf' or 'none', got {method!r}")


def product_group(name: str) -> str:
    """Error-independence group of a product: all ``model_*`` share one group (they share model
    structure and forcing, so their errors correlate); every satellite product is its own group."""
    return "model" if name.startswith("model_") else name


def tc_triplets(names, groups=None) -> list[tuple[str, str, str]]:
    """All triplets of ``names`` whose members come from three different error groups
    (:func:`product_group` unless ``groups`` maps name -> group). Raises if there are none."""
    groups = groups or {n: product_group(n) for n in names}
    out = [t for t in itertools.combinations(names, 3) if len({groups[n] for n in t}) == 3]
    if not out:
        raise DataError(f"no triplet of independent products among {list(names)} (groups {groups}): triple "
                        "collocation needs three products whose errors are independent, e.g. an active and a "
                        "passive satellite product and a model")
    return out


def product_tcr(stack: xr.DataArray, dim: str = "time", groups=None, min_r: float = 0.0, min_n: int = 30):
    """TC-R of every product of ``stack`` ``(product, time, lat, lon)``, per pixel.

    Triple collocation (covariance notation, McColl et al. 2014) is run with
    :func:`smlib.validate.triple_collocation` on every triplet of :func:`tc_triplets`; a product's
    TC-R is the mean over the valid triplets it belongs to (a triplet needs ``min_n`` days on which
    all three products are valid). Returns ``(tc_r, n_triplets)``, DataArrays ``(product, lat,
    lon)``; TC-R is NaN where no triplet was valid or the estimate is below ``min_r``.
    """
    from . import validate

    names = [str(n) for n in stack["product"].values]
    trip = tc_triplets(names, groups)
    acc = {n: [] for n in names}
    for a, b, c in trip:
        x, y, z = (stack.sel(product=n).drop_vars("product") for n in (a, b, c))
        tc = validate.triple_collocation(x, y, z, dim=dim, names=[a, b, c], min_n=min_n)
        r = tc["tc_r"].where(tc["valid"].astype(bool))
        for i, n in enumerate((a, b, c)):
            acc[n].append(r.isel(product=i, drop=True))
    per = []
    counts = []
    for n in names:
        if acc[n]:
            s = xr.concat(acc[n], dim="triplet")
            s = s.where(s >= min_r)
            per.append(s.mean("triplet", skipna=True))
            counts.append(s.notnull().sum("triplet"))
        else:
            tmpl = stack.isel({dim: 0}).sel(product=n, drop=True)
            per.append(xr.full_like(tmpl, np.nan, dtype=float))
            counts.append(xr.zeros_like(tmpl, dtype=int))
    tcr = xr.concat(per, dim="product").assign_coords(product=names).rename("tc_r")
    cnt = xr.concat(counts, dim="product").assign_coords(product=names).rename("n_triplets")
    return tcr, cnt


def tcr_weights(tc_r: xr.DataArray, scheme: str = "optimal", max_r: float = 0.98, fill: str = "median"):
    """Merging weights ``(product, lat, lon)`` from TC-R, summing to one over ``product`` per pixel.

    ``scheme``:

    - ``optimal``: ``w_i ~ R_i / (1 - R_i^2)``, the weights that maximise the correlation of the merged
      series with the unknown signal when the products are scaled to equal variance and their errors
      are independent (with ``x_i = R_i s + (1 - R_i^2)^0.5 e_i``; Gruber et al. 2017, IEEE TGRS 55,
      6780-6792, in correlation form);
    - ``r2``: ``w_i ~ R_i^2`` (the squared TC-R, i.e. explained signal variance);
    - ``r``: ``w_i ~ R_i``.

    TC-R is clipped to ``[0, max_r]`` (an estimate near one would take all the weight). Where a
    product's TC-R is missing, ``fill='median'`` uses its median TC-R over the domain, ``fill='zero'``
    gives it no weight. A pixel where every weight is zero falls back to equal weights.
    """
    if not 0 < max_r < 1:
        raise DataError(f"max_r must be in (0, 1), got {max_r}")
    r = tc_r.astype(float)
    if fill == "median":
        r = r.fillna(r.median([d for d in r.dims if d != "product"], skipna=True))
    elif fill != "zero":
        raise DataError(f"fill must be 'median' or 'zero', got {fill!r}")
    r = r.fillna(0.0).clip(0.0, max_r)
    if scheme == "optimal":
        w = r / (1.0 - r ** 2)
    elif scheme == "r2":
        w = r ** 2
    elif scheme == "r":
        w = r
    else:
        raise DataError(f"scheme must be 'optimal', 'r2' or 'r', got {scheme!r}")
    tot = w.sum("product")
    n = w.sizes["product"]
    w = xr.where(tot > 0, w / tot.where(tot > 0), 1.0 / n)
    return w.transpose(*tc_r.dims).rename("weight")


def weighted_merge(stack: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Merge ``stack`` ``(product, time, lat, lon)`` with ``weights`` ``(product, lat, lon)``:
    ``m = sum_i w_i x_i / sum_i w_i`` over the products valid on that pixel-day (weights renormalised
    where a product has a gap); NaN where none is valid."""
    ok = stack.notnull()
    w = weights.broadcast_like(stack).where(ok, 0.0)
    num = (stack.fillna(0.0) * w).sum("product")
    den = w.sum("product")
    return (num / den.where(den > 0)).astype("float32").rename("ssm")


def equal_weight_merge(stack: xr.DataArray) -> xr.DataArray:
    """The baseline: the plain mean of the rescaled products valid on each pixel-day."""
    return stack.mean("product", skipna=True).astype("float32").rename("ssm")


def load_label_stack(run_dir, names, target, smap_min_valid: float = 0.5, qc_max: int | None = 0):
    """Read the surface soil moisture of ``names`` (``smap``, ``ascat``, ``model_<name>``...) on ``target``.

    SMAP-like ``ssm`` (0.36 deg) is brought to the 0.25 deg ``target`` grid by
    :func:`conservative_regrid` after masking retrievals whose ``qc`` exceeds ``qc_max`` (``None``
    keeps all); products already on ``target`` are taken as they are (ASCAT-like ``ssm`` stays in %,
    rescaling handles the units). Returns a ``(product, time, lat, lon)`` DataArray.
    """
    from .grid import grid_of
    from .io import read_input

    arrays = []
    for n in names:
        ds = read_input(run_dir, n)
        if "ssm" not in ds:
            raise InputError(f"{n}: has no variable 'ssm' (has {', '.join(ds.data_vars)})")
        da = ds["ssm"].astype("float32")
        if qc_max is not None and "qc" in ds:
            da = da.where(ds["qc"] <= qc_max)
        g = grid_of(da)
        if abs(g.res - target.res) > 1e-9 or da.sizes["lat"] != target.nlat or da.sizes["lon"] != target.nlon:
            da = conservative_regrid(da, target, min_valid=smap_min_valid)
        else:
            da = da.assign_coords(lat=target.lat, lon=target.lon)
        arrays.append(da.drop_vars([c for c in da.coords if c not in ("time", "lat", "lon")]))
    stack = xr.concat(arrays, dim="product", join="inner").assign_coords(product=list(names))
    return stack.rename("ssm")


@dataclass
class MergeResult:
    """What :func:`merge_labels` returns: the merged labels and everything behind them."""

    merged: xr.DataArray      # (time, lat, lon) m3/m3, TC-R weighted
    equal: xr.DataArray       # (time, lat, lon) m3/m3, equal-weight mean of the same rescaled products
    rescaled: xr.DataArray    # (product, time, lat, lon) m3/m3
    tc_r: xr.DataArray        # (product, lat, lon)
    n_triplets: xr.DataArray  # (product, lat, lon)
    weights: xr.DataArray     # (product, lat, lon)
    params: dict = field(default_factory=dict)


def merge_labels(stack: xr.DataArray, reference: str = "smap", rescale_method: str = "meanstd",
                 scheme: str = "optimal", max_r: float = 0.98, groups=None, tc_min_n: int = 30) -> MergeResult:
    """TC-R merging of a ``(product, time, lat, lon)`` stack into label data (seed 002, step 1).

    1. TC-R of every product (:func:`product_tcr`; TC-R does not depend on linear rescaling, so it is
       computed on the products as they are);
    2. each product rescaled to ``reference``'s climatology (:func:`rescale`), the reference itself kept;
    3. per-pixel weights (:func:`tcr_weights`) and the weighted mean (:func:`weighted_merge`).

    Pixel-days where every product is missing stay NaN; the model products are gap-free, so in
    practice the labels are complete.
    """
    names = [str(n) for n in stack["product"].values]
    if reference not in names:
        raise DataError(f"reference {reference!r} is not among the merged products {names}")
    tc_r, n_trip = product_tcr(stack, groups=groups, min_n=tc_min_n)
    ref = stack.sel(product=reference, drop=True)
    res = []
    for n in names:
        x = stack.sel(product=n, drop=True)
        res.append(x if n == reference else rescale(x, ref, rescale_method))
    rescaled = xr.concat(res, dim="product").assign_coords(product=names)
    w = tcr_weights(tc_r, scheme=scheme, max_r=max_r)
    merged = weighted_merge(rescaled, w)
    return MergeResult(merged=merged, equal=equal_weight_merge(rescaled), rescaled=rescaled, tc_r=tc_r,
                       n_triplets=n_trip, weights=w,
                       params=dict(reference=reference, rescale=rescale_method, scheme=scheme, max_r=max_r,
                                   tc_min_n=tc_min_n))


# ============================================================================ 2. the simulator
def antecedent_precip_index(p: xr.DataArray, k: float, dim: str = "time") -> xr.DataArray:
    """Antecedent precipitation index ``API_t = k API_{t-1} + P_t`` (mm), ``API_0 = P_0``.

    ``k`` (0 < k < 1, per day) is the daily recession constant (Kohler and Linsley 1951, US Weather
    Bureau Res. Pap. 34). A linear recursive filter along ``dim`` (``scipy.signal.lfilter``), so it is
    vectorized over the grid; missing precipitation counts as zero.
    """
    from scipy.signal import lfilter

    if not 0 < k < 1:
        raise DataError(f"API recession constant k must be in (0, 1), got {k}")
    axis = p.get_axis_num(dim)
    out = lfilter([1.0], [1.0, -k], np.nan_to_num(p.values.astype(float)), axis=axis)
    return p.copy(data=out.astype("float32")).rename(f"api_{k:g}")


def precip_sum(p: xr.DataArray, days: int, dim: str = "time") -> xr.DataArray:
    """Precipitation total (mm) over the last ``days`` days including today (shorter at the start)."""
    if days < 1:
        raise DataError(f"days must be at least 1, got {days}")
    axis = p.get_axis_num(dim)
    c = np.cumsum(np.nan_to_num(p.values.astype(float)), axis=axis)
    lag = np.zeros_like(c)
    idx = [slice(None)] * c.ndim
    src = [slice(None)] * c.ndim
    idx[axis] = slice(days, None)
    src[axis] = slice(None, c.shape[axis] - days)
    lag[tuple(idx)] = c[tuple(src)]
    return p.copy(data=(c - lag).astype("float32")).rename(f"psum_{days}d")


def static_features(static: xr.Dataset, target, variables=STATIC_VARS, landcover: bool = True) -> xr.Dataset:
    """Static predictors on ``target`` (0.25 deg): the block means (:func:`smlib.grid.block_mean`) of
    ``variables`` present in ``static`` and, with ``landcover``, the fraction of each land-cover class."""
    from .grid import block_mean

    out = {}
    for v in variables:
        if v in static:
            out[v] = block_mean(static[v].astype("float32"), target)
    if landcover and "landcover" in static:
        lc = static["landcover"]
        classes = np.unique(lc.values[np.isfinite(lc.values)]).astype(int)
        for c in classes:
            out[f"lc_frac_{c}"] = block_mean((lc == c).astype("float32"), target)
    if not out:
        raise InputError(f"static: none of {', '.join(variables)} or landcover present")
    return xr.Dataset(out)


def build_features(forcing: xr.Dataset, static: xr.Dataset | None = None, api_k=(0.5, 0.8, 0.95),
                   sum_days=(3, 7, 30), precip_var: str = "precip_mswep", doy: bool = True) -> xr.Dataset:
    """The exogenous predictors ``(time, lat, lon)`` of the simulator (everything but the state).

    Today's forcings (:data:`FORCING_VARS` present in ``forcing``), the antecedent precipitation index
    of ``precip_var`` for each recession constant in ``api_k`` and its totals over ``sum_days``, day
    of year as sine and cosine (with ``doy``), and the ``static`` fields broadcast over time.
    """
    if precip_var not in forcing:
        raise InputError(f"forcing: lacks {precip_var!r} (has {', '.join(forcing.data_vars)})")
    feats = {v: forcing[v].astype("float32") for v in FORCING_VARS if v in forcing}
    p = forcing[precip_var]
    for k in api_k:
        feats[f"api_{k:g}"] = antecedent_precip_index(p, k)
    for d in sum_days:
        feats[f"psum_{d}d"] = precip_sum(p, d)
    ds = xr.Dataset(feats)
    if doy:
        day = ds["time"].dt.dayofyear.astype(float)
        ds["doy_sin"] = np.sin(2 * np.pi * day / 365.25).astype("float32").broadcast_like(p)
        ds["doy_cos"] = np.cos(2 * np.pi * day / 365.25).astype("float32").broadcast_like(p)
    if static is not None:
        for v in static.data_vars:
            ds[v] = static[v].assign_coords(lat=p["lat"], lon=p["lon"]).broadcast_like(p).astype("float32")
    return ds.transpose("time", ...)


def feature_cube(features: xr.Dataset) -> tuple[np.ndarray, list[str]]:
    """``(time, pixel, feature)`` float32 array of the exogenous features and their names (every
    dimension but ``time`` is flattened into pixels: ``(lat, lon)`` on a grid, ``station`` at points)."""
    names = list(features.data_vars)
    arr = np.stack([features[v].transpose("time", ...).values.reshape(features.sizes["time"], -1)
                    for v in names], axis=-1).astype("float32")
    return arr, names


def training_samples(cube: np.ndarray, label: np.ndarray):
    """Samples for one-step training: features at day ``t`` plus the label at ``t-1`` as state,
    target the label at ``t``. ``cube`` ``(T, P, F)``, ``label`` ``(T, P)``. Returns ``X (N, F+1)``,
    ``y (N,)``, and the ``(t, pixel)`` index of each sample; samples with a missing target or state
    are dropped."""
    X = np.concatenate([cube[1:], label[:-1, :, None]], axis=-1)
    y = label[1:]
    t, pix = np.meshgrid(np.arange(1, label.shape[0]), np.arange(label.shape[1]), indexing="ij")
    ok = np.isfinite(y) & np.isfinite(label[:-1])
    return X[ok], y[ok], t[ok], pix[ok]


@dataclass
class Simulator:
    """A LightGBM one-step soil-moisture simulator ``SM_t = f(features_t, SM_{t-1})``.

    ``target='level'`` learns ``SM_t`` directly, ``target='delta'`` learns the change ``SM_t - SM_{t-1}``.
    Predictions are clipped to ``[sm_min, sm_max]`` (m3/m3), the physical range of the labels.
    """

    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    target: str = "level"
    n_jobs: int = 1
    seed: int = 0
    sm_min: float = 0.0
    sm_max: float = 0.7
    feature_names: list = field(default_factory=list)
    model: object = None

    def _make(self):
        import lightgbm as lgb

        if self.target not in ("level", "delta"):
            raise DataError(f"target must be 'level' or 'delta', got {self.target!r}")
        return lgb.LGBMRegressor(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                 num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                                 subsample=self.subsample, subsample_freq=1 if self.subsample < 1 else 0,
                                 colsample_bytree=self.colsample_bytree, n_jobs=self.n_jobs,
                                 random_state=self.seed, verbose=-1)

    def fit(self, X: np.ndarray, y: np.ndarray, feature_names=None) -> "Simulator":
        """Fit on samples ``X (N, F+1)`` whose last column is the state, targets ``y`` (m3/m3)."""
        if len(y) < 10:
            raise DataError(f"only {len(y)} training samples: the simulator needs more labelled days")
        self.feature_names = list(feature_names or [f"f{i}" for i in range(X.shape[1] - 1)] + [STATE])
        self.model = self._make()
        t = y - X[:, -1] if self.target == "delta" else y
        self.model.fit(np.asarray(X, dtype="float32"), t, feature_name=self.feature_names)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """One step: ``SM_t`` (m3/m3) for rows ``X (N, F+1)`` (last column the previous state)."""
        if self.model is None:
            raise DataError("the simulator is not fitted: call fit() first")
        out = self.model.booster_.predict(np.asarray(X, dtype="float32"))
        if self.target == "delta":
            out = out + X[:, -1]
        return np.clip(out, self.sm_min, self.sm_max)

    def importance(self):
        """Gain importance per feature (pandas Series, sorted, fractions summing to one)."""

        g = self.model.booster_.feature_importance(importance_type="gain")
        s = pd.Series(g / max(g.sum(), 1e-12), index=self.feature_names)
        return s.sort_values(ascending=False)


def nudge(forecast, obs, gain):
    """Newtonian nudging: ``SM_a = SM_f + G (SM_obs - SM_f)`` where ``SM_obs`` is finite, else ``SM_f``.

    ``gain`` G is dimensionless in [0, 1] (0 keeps the forecast, 1 replaces it by the observation);
    arrays broadcast. Reference: Hoke and Anthes (1976), Mon. Weather Rev. 104, 1551-1556; Houser et
    al. (1998), Water Resour. Res. 34, 3405-3420.
    """
    f = np.asarray(forecast, dtype=float)
    o = np.asarray(obs, dtype=float)
    g = np.asarray(gain, dtype=float)
    if np.any((g < 0) | (g > 1)):
        raise DataError(f"nudging gain G must be in [0, 1], got {np.unique(g)[:5]}")
    return np.where(np.isfinite(o), f + g * (o - f), f)


def forward_run(sim: Simulator, cube: np.ndarray, init: np.ndarray, obs: np.ndarray | None = None,
                gain=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Run the simulator forward in time on its own state, optionally nudging observations into it.

    ``cube`` ``(T, P, F)`` exogenous features, ``init`` the state on day 0 ``(P,)`` or ``(M, P)`` for
    ``M`` members run at once (one LightGBM call per day for all members), ``obs`` ``(T, P)`` or
    ``(T, M, P)`` observations (NaN = none), ``gain`` a scalar or ``(M,)`` nudging gains. Day 0 is the
    initial state (nudged if observed); on each later day the forecast uses the previous day's
    analysed state. Returns ``(analysis, forecast)``, each ``(T, P)`` or ``(T, M, P)``.
    """
    T, P, F = cube.shape
    init = np.asarray(init, dtype=float)
    single = init.ndim == 1
    state = init[None] if single else init.copy()
    M = state.shape[0]
    g = np.broadcast_to(np.asarray(gain, dtype=float), (M,))[:, None]
    if obs is not None:
        obs = np.asarray(obs, dtype=float)
        obs = np.broadcast_to(obs[:, None] if obs.ndim == 2 else obs, (T, M, P))
    ana = np.empty((T, M, P), dtype="float32")
    fc = np.empty((T, M, P), dtype="float32")
    fc[0] = state
    if obs is not None:
        state = nudge(state, obs[0], g)
    ana[0] = state
    for t in range(1, T):
        X = np.concatenate([np.broadcast_to(cube[t], (M, P, F)), state[..., None]], axis=-1).reshape(M * P, F + 1)
        f = sim.predict(X).reshape(M, P)
        fc[t] = f
        state = nudge(f, obs[t], g) if obs is not None else f
        ana[t] = state
    if single:
        return ana[:, 0], fc[:, 0]
    return ana, fc


def to_grid(arr: np.ndarray, like: xr.DataArray, name: str = "ssm") -> xr.DataArray:
    """Wrap a ``(time, pixel)`` array as ``like`` with time first (``(time, lat, lon)`` on a grid,
    ``(time, station)`` at points), with the coordinates of ``like``."""
    like = like.transpose("time", ...)
    out = xr.DataArray(np.asarray(arr, dtype="float32").reshape(like.shape), dims=like.dims,
                       coords={k: v for k, v in like.coords.items()}, name=name)
    from .catalog import attrs

    out.attrs = attrs(name)
    return out


def obs_for_assimilation(obs: xr.DataArray, model: xr.DataArray, method: str = "meanstd") -> xr.DataArray:
    """Observations rescaled to the model's climatology before assimilation (standard practice: the
    nudging should correct the model's anomalies, not pull it towards another climatology;
    Reichle and Koster 2004). ``method`` as in :func:`rescale`."""
    return rescale(obs, model, method)


# ============================================================================ 3. cross-validation
def _pixel_latlon(like: xr.DataArray):
    la, lo = np.meshgrid(like["lat"].values, like["lon"].values, indexing="ij")
    return la.ravel(), lo.ravel()


def cv_folds(scheme: str, t, pix, like: xr.DataArray, k: int = 10, block_deg: float = 0.5, seed: int = 0):
    """Fold id per sample: ``random`` k-fold over pixel-days (the paper's ten-fold CV) or ``spatial``
    block k-fold (:func:`smlib.cv.spatial_block_kfold` on the pixel centres, whole blocks held out)."""
    from .cv import random_kfold, spatial_block_kfold

    if scheme == "random":
        return random_kfold(len(t), k=k, seed=seed)
    if scheme == "spatial":
        la, lo = _pixel_latlon(like)
        pf = spatial_block_kfold(la, lo, block_deg=block_deg, k=k, seed=seed)
        return pf[pix]
    raise DataError(f"CV scheme must be 'random' or 'spatial', got {scheme!r}")


def cross_validate(sim_kwargs: dict, cube: np.ndarray, label: xr.DataArray, scheme: str = "random",
                   k: int = 10, block_deg: float = 0.5, seed: int = 0, openloop: bool = True):
    """Cross-validated simulator predictions, out of fold, on the grid of ``label``.

    For each fold a :class:`Simulator` (``sim_kwargs``) is trained on the other folds' samples and
    predicts the held-out samples one step ahead (state = label of the previous day): array
    ``onestep``. With the ``spatial`` scheme and ``openloop``, each fold's model also runs forward
    on its held-out pixels from the day-0 label, on its own state: array ``openloop`` (the skill of
    the simulator where it has never seen a label). Returns a dict of ``(time, lat, lon)``
    DataArrays plus ``folds`` (fold of every sample).
    """
    lab = label.transpose("time", ...).values.reshape(label.sizes["time"], -1).astype(float)
    X, y, t, pix = training_samples(cube, lab)
    folds = cv_folds(scheme, t, pix, label, k=k, block_deg=block_deg, seed=seed)
    one = np.full(lab.shape, np.nan)
    ol = np.full(lab.shape, np.nan) if (scheme == "spatial" and openloop) else None
    for f in np.unique(folds):
        tr = folds != f
        sim = Simulator(**sim_kwargs).fit(X[tr], y[tr])
        one[t[~tr], pix[~tr]] = sim.predict(X[~tr])
        if ol is not None:
            held = np.unique(pix[~tr])
            init = lab[0, held]
            init = np.where(np.isfinite(init), init, np.nanmean(lab[:, held], axis=0))
            a, _ = forward_run(sim, cube[:, held], init)
            ol[:, held] = a
    out = {"onestep": to_grid(one, label)}
    if ol is not None:
        out["openloop"] = to_grid(ol, label)
    out["folds"] = folds
    return out


def select_gain(sim: Simulator, cube: np.ndarray, init: np.ndarray, obs: np.ndarray, gains=None, k: int = 5,
                seed: int = 0):
    """Choose the nudging gain G by k-fold cross-validation on the observations themselves.

    The observed pixel-days of ``obs`` ``(T, P)`` are split at random into ``k`` folds; for each
    fold and each candidate G (all run at once as members of :func:`forward_run`) the other folds
    are nudged in and the analysed state is compared with the withheld observations. Because the
    withheld observation errors are independent of the run, the mean squared difference is the
    state's error variance plus a constant (the observation error variance), so the G with the
    smallest value is the one with the smallest state error. Returns ``(best_gain, table)`` with
    a pandas DataFrame of ``gain, rmse, ubrmse, r, n`` (pooled over folds).
    """

    from .cv import random_kfold

    gains = np.round(np.linspace(0, 1, 11), 3) if gains is None else np.asarray(gains, dtype=float)
    obs = np.asarray(obs, dtype=float)
    ti, pi = np.nonzero(np.isfinite(obs))
    if ti.size < 2 * k:
        raise DataError(f"only {ti.size} observed pixel-days: too few to choose G by {k}-fold cross-validation")
    folds = random_kfold(ti.size, k=k, seed=seed)
    G = len(gains)
    obs_m = np.repeat(obs[:, None], k * G, axis=1)  # member = fold * G + gain index
    for f in range(k):
        sel = folds == f
        obs_m[ti[sel], f * G:(f + 1) * G, pi[sel]] = np.nan  # withhold fold f from its members
    init_m = np.broadcast_to(np.asarray(init, dtype=float), (k * G, obs.shape[1])).copy()
    ana, _ = forward_run(sim, cube, init_m, obs_m, np.tile(gains, k))
    rows = []
    for gi, g in enumerate(gains):
        d_s, d_o = [], []
        for f in range(k):
            sel = folds == f
            d_s.append(ana[ti[sel], f * G + gi, pi[sel]])
            d_o.append(obs[ti[sel], pi[sel]])
        s, o = np.concatenate(d_s), np.concatenate(d_o)
        diff = s - o
        rows.append({"gain": float(g), "rmse": float(np.sqrt(np.mean(diff ** 2))),
                     "ubrmse": float(np.std(diff)), "r": float(np.corrcoef(s, o)[0, 1]), "n": int(s.size)})
    table = pd.DataFrame(rows)
    best = float(table.loc[table["rmse"].idxmin(), "gain"])
    return best, table


# ============================================================================ 4. the pipeline
def simulator_inputs(run_dir, target, api_k=(0.5, 0.8, 0.95), sum_days=(3, 7, 30),
                     precip_var: str = "precip_mswep", landcover: bool = True) -> xr.Dataset:
    """Read ``forcing`` and ``static`` of a run and build the simulator's exogenous features on
    ``target`` (:func:`build_features`, :func:`static_features`; static fields optional)."""
    from .io import has_input, read_input

    forcing = read_input(run_dir, "forcing")
    forcing = forcing.assign_coords(lat=target.lat, lon=target.lon) if (
        forcing.sizes["lat"] == target.nlat and forcing.sizes["lon"] == target.nlon) else forcing
    static = static_features(read_input(run_dir, "static"), target, landcover=landcover) \
        if has_input(run_dir, "static") else None
    return build_features(forcing, static, api_k=api_k, sum_days=sum_days, precip_var=precip_var)


def fit_simulator(sim_kwargs: dict, features: xr.Dataset, label: xr.DataArray) -> Simulator:
    """Train a :class:`Simulator` on every labelled pixel-day (features and label share time/lat/lon)."""
    cube, names = feature_cube(features)
    lab = label.transpose("time", ...).values.reshape(label.sizes["time"], -1).astype(float)
    X, y, _, _ = training_samples(cube, lab)
    return Simulator(**sim_kwargs).fit(X, y, names + [STATE])


def initial_state(label: xr.DataArray) -> np.ndarray:
    """Day-0 state ``(pixel,)``: the label on the first day, its time mean where that is missing."""
    lab = label.transpose("time", ...).values.reshape(label.sizes["time"], -1).astype(float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            init = np.where(np.isfinite(lab[0]), lab[0], np.nanmean(lab, axis=0))
    if not np.isfinite(init).all():
        raise DataError(f"{int((~np.isfinite(init)).sum())} pixel(s) have no label on any day: no initial state")
    return init


def tc_gain(forecast: xr.DataArray, obs: xr.DataArray, third: xr.DataArray, min_n: int = 20) -> float:
    """Nudging gain from triple collocation: ``G = SNR_obs / (SNR_obs + SNR_f)``, ``SNR = R^2 / (1 - R^2)``.

    TC-R of the open-loop ``forecast``, the ``obs`` and an independent ``third`` product (e.g. the
    ASCAT-like one) gives each one's signal-to-noise ratio (Gruber et al. 2016); for two estimates of one
    signal with independent errors, scaled alike, the minimum-variance update weights the observation by
    its share of the total SNR (the scalar Kalman gain, Yilmaz and Crow 2013, J. Hydrometeorol. 14,
    650-660). Returns the median over pixels (dimensionless, in [0, 1]); raises if no pixel is valid.
    """
    from .validate import triple_collocation

    tc = triple_collocation(forecast, obs, third, names=["forecast", "obs", "third"], min_n=min_n)
    r2 = (tc["tc_r"] ** 2).where(tc["valid"]).clip(max=0.999)
    snr = r2 / (1 - r2)
    g = (snr.sel(product="obs") / (snr.sel(product="obs") + snr.sel(product="forecast")))
    if not bool(g.notnull().any()):
        raise DataError(f"triple collocation of forecast, observations and third product valid at no pixel "
                        f"(min_n={min_n} common days): cannot estimate a TC gain")
    return float(g.median())


@dataclass
class AssimilationResult:
    """What :func:`assimilate` returns."""

    openloop: xr.DataArray   # (time, lat, lon) m3/m3, G = 0
    analysis: xr.DataArray   # (time, lat, lon) m3/m3, nudged with the chosen G
    forecast: xr.DataArray   # (time, lat, lon) m3/m3, the nudged run's forecasts before each update
    obs: xr.DataArray        # (time, lat, lon) m3/m3, the observations as assimilated (rescaled)
    gain: float
    gain_method: str
    gain_table: object       # pandas DataFrame: per candidate G, the withheld-observation and station scores
    station_cv: object = None          # pandas DataFrame per station (leave-stations-out CV) or None
    station_series: xr.DataArray = None  # (station, time): each station's series with its fold's G
    tc_gain: float | None = None       # the triple-collocation gain estimate (when a third product was given)


GAIN_METHODS = ("stations", "obs", "tc")


def assimilate(sim: Simulator, features: xr.Dataset, label: xr.DataArray, obs: xr.DataArray, gains=None,
               gain_method: str = "stations", stations: xr.Dataset | None = None, gain_folds: int = 0,
               obs_rescale: str = "meanstd", seed: int = 0, min_days: int = 30,
               gain: float | None = None, third: xr.DataArray | None = None,
               tc_min_n: int = 20) -> AssimilationResult:
    """Open loop and Newtonian nudging of ``obs`` into the simulator (seed 002, step 3).

    The open loop (G = 0) runs from :func:`initial_state`; the observations are rescaled to the open
    loop's climatology (:func:`obs_for_assimilation`). G is chosen among ``gains`` by cross-validation,
    unless ``gain`` is given:

    - ``gain_method='stations'``: leave-stations-out k-fold CV on median station R
      (:func:`select_gain_stations`, ``gain_folds`` folds of ``stations``, 0 = leave-one-station-out);
      the cross-validated station series are returned for honest station scores;
    - ``gain_method='obs'``: k-fold CV on withheld observations (:func:`select_gain`, ``gain_folds``
      folds, 5 when ``gain_folds`` is 0). Where the
      observations' footprint differs from the model grid (SMAP 36 km on 0.25 deg), their
      representativeness error persists in time, is shared by the withheld and the assimilated
      retrievals, and this criterion then favours too large a G; it is always computed and reported;
    - ``gain_method='tc'``: no cross-validation, :func:`tc_gain` of the open loop, the observations and
      ``third`` (computed and stored in ``tc_gain`` whenever ``third`` is given and ``tc_min_n`` common
      days allow it).

    The final nudged run uses every observation.
    """
    if gain_method not in GAIN_METHODS:
        raise DataError(f"gain_method must be one of {', '.join(GAIN_METHODS)}, got {gain_method!r}")
    cube, _ = feature_cube(features)
    init = initial_state(label)
    ol, _ = forward_run(sim, cube, init)
    openloop = to_grid(ol, label)
    o = obs_for_assimilation(obs.transpose(*openloop.dims), openloop, obs_rescale)
    ov = o.values.reshape(o.sizes["time"], -1).astype(float)
    best_obs, table = select_gain(sim, cube, init, ov, gains=gains, k=gain_folds if gain_folds >= 2 else 5,
                                  seed=seed)
    table = table.rename(columns={"rmse": "obs_rmse", "ubrmse": "obs_ubrmse", "r": "obs_r", "n": "obs_n"})
    g, station_cv, series = best_obs, None, None
    g_tc = None
    if third is not None:
        try:
            g_tc = tc_gain(openloop, o, third, min_n=tc_min_n)
        except DataError:
            if gain_method == "tc":
                raise
    if gain_method == "tc":
        if g_tc is None:
            raise DataError("gain_method='tc' needs a third product (e.g. the ASCAT-like ssm) for triple collocation")
        g = round(g_tc, 3)
    if gain_method == "stations":
        if stations is None:
            raise DataError("gain_method='stations' needs the stations (inputs/stations.nc)")
        runs = gain_runs(sim, features, label, o, table["gain"].to_numpy())
        g, st_table, station_cv = select_gain_stations(runs, stations, k=gain_folds, seed=seed, min_days=min_days)
        table = table.merge(st_table, on="gain")
        from .validate import at_stations

        pts = at_stations(runs, stations)
        pick = station_cv.set_index("station")["gain"]
        series = xr.concat([pts.sel(station=sid, gain=pick[sid]).drop_vars("gain") for sid in pick.index],
                           dim="station").transpose("station", "time").rename("ssm")
    if gain is not None:
        g = float(gain)
    ana, fc = forward_run(sim, cube, init, ov, g)
    return AssimilationResult(openloop=openloop, analysis=to_grid(ana, label), forecast=to_grid(fc, label),
                              obs=o.astype("float32"), gain=float(g), gain_method=gain_method, gain_table=table,
                              station_cv=station_cv, station_series=series, tc_gain=g_tc)


def product_dataset(da: xr.DataArray, description: str, **attrs) -> xr.Dataset:
    """A product Dataset with variable ``ssm`` (m3/m3, catalogue attributes) and a description."""
    from .catalog import attrs as cat_attrs

    out = da.astype("float32").rename("ssm").to_dataset()
    out["ssm"].attrs = cat_attrs("ssm")
    out.attrs.update(description=description, **{k: str(v) for k, v in attrs.items()})
    return out


def station_skill(runs: xr.DataArray, stations: xr.Dataset, var: str = "ssm", min_days: int = 30) -> xr.Dataset:
    """Per-station skill of several runs ``(gain, time, lat, lon)`` at the stations of ``stations``.

    Each station takes the run's cell containing it (:func:`smlib.validate.at_stations`); returns
    :func:`smlib.validate.pairwise` over time, dims ``(gain, station)``, with stations having fewer than
    ``min_days`` paired days set to NaN.
    """
    from .validate import at_stations, pairwise

    pts = at_stations(runs, stations)
    ref = stations[var].sel(station=pts["station"])
    pts, ref = xr.align(pts, ref, join="inner", exclude=("gain",))
    ref = ref.broadcast_like(pts).transpose(*pts.dims)
    m = pairwise(pts, ref, dim="time")
    return m.where(m["n"] >= min_days)


def select_gain_stations(runs: xr.DataArray, stations: xr.Dataset, k: int = 0, seed: int = 0,
                         min_days: int = 30, var: str = "ssm"):
    """Choose the nudging gain G by leave-stations-out k-fold cross-validation.

    ``runs`` holds the nudged run for each candidate gain, ``(gain, time, lat, lon)``. The stations are
    dealt at random into ``k`` folds (``k = 0``: one station per fold, leave-one-station-out, the
    least noisy choice with a few dozen stations); for each fold G is the candidate with the highest median station R
    on the *other* folds' stations (ties go to the smaller G), and the held-out stations are scored with
    that G, so every station's score comes from a G it did not help choose. Returns ``(best, table,
    cv)``: ``best`` the G chosen on all stations (for the product), ``table`` a pandas DataFrame of
    ``gain, r_median, ubrmse_median, n_stations`` over all stations, ``cv`` a DataFrame per station
    (``station, fold, gain, r, ubrmse``) of the cross-validated scores.
    """

    from .cv import random_kfold

    m = station_skill(runs, stations, var=var, min_days=min_days)
    r = m["r"].transpose("gain", "station")
    ok = r.notnull().any("gain").values
    sids = r["station"].values[ok]
    k = int(sids.size) if k == 0 else int(k)
    if sids.size < max(k, 2):
        raise DataError(f"only {sids.size} stations with {min_days}+ paired days: too few for {k}-fold "
                        "leave-stations-out cross-validation of G")
    r = r.sel(station=sids)
    ub = m["ubrmse"].transpose("gain", "station").sel(station=sids)
    gains = r["gain"].values

    def choose(cols):
        med = np.nanmedian(r.values[:, cols], axis=1)
        return int(np.nanargmax(np.round(med, 6)))  # first maximum = smallest G among ties

    folds = random_kfold(sids.size, k=k, seed=seed)
    rows = []
    for f in range(k):
        gi = choose(folds != f)
        for j in np.nonzero(folds == f)[0]:
            rows.append({"station": sids[j], "fold": f, "gain": float(gains[gi]), "r": float(r.values[gi, j]),
                         "ubrmse": float(ub.values[gi, j])})
    table = pd.DataFrame({"gain": gains.astype(float), "r_median": np.nanmedian(r.values, axis=1),
                          "ubrmse_median": np.nanmedian(ub.values, axis=1),
                          "n_stations": np.isfinite(r.values).sum(axis=1)})
    best = float(gains[choose(np.ones(sids.size, bool))])
    return best, table, pd.DataFrame(rows)


def gain_runs(sim: Simulator, features: xr.Dataset, label: xr.DataArray, obs: xr.DataArray, gains) -> xr.DataArray:
    """The nudged run for every candidate gain at once, ``(gain, time, lat, lon)`` (m3/m3); ``obs``
    as assimilated (already rescaled)."""
    cube, _ = feature_cube(features)
    init = initial_state(label)
    gains = np.asarray(gains, dtype=float)
    like = label.transpose("time", ...)
    ov = obs.transpose(*like.dims).values.reshape(obs.sizes["time"], -1).astype(float)
    ana, _ = forward_run(sim, cube, np.tile(init, (gains.size, 1)), ov, gains)
    arr = ana.transpose(1, 0, 2).reshape((gains.size,) + like.shape)
    return xr.DataArray(arr, dims=("gain",) + like.dims, coords={"gain": gains, **dict(like.coords)}, name="ssm")


def load_point_stack(run_dir, names, stations: xr.Dataset, var: str = "ssm", qc_max: int | None = 0) -> xr.DataArray:
    """Point mode: the ``var`` series of products ``names`` at the cells holding ``stations``,
    ``(product, time, station)`` (each station takes the cell containing it; retrievals with ``qc`` above
    ``qc_max`` dropped). Used where products exist only around stations (the real-data studies)."""
    from .io import read_input
    from .validate import at_stations

    out = []
    for n in names:
        ds = read_input(run_dir, n)
        if var not in ds:
            raise InputError(f"{n}: has no variable {var!r} (has {', '.join(ds.data_vars)})")
        da = ds[var].astype("float32")
        if qc_max is not None and "qc" in ds:
            da = da.where(ds["qc"] <= qc_max)
        pts = at_stations(da, stations).reindex(station=stations["station"].values)
        out.append(pts.drop_vars([c for c in pts.coords if c not in ("time", "station")]).transpose("time", "station"))
    return xr.concat(out, dim="product", join="inner").assign_coords(product=list(names)).rename(var)


@dataclass
class PointRun:
    """Result of :func:`point_run`: ``table`` (per product and station: ``n, r, ubrmse``), ``note`` (one
    line: what ran, or why it was skipped), ``stations`` (the gauged stations used; None when skipped)."""

    table: pd.DataFrame | None
    note: str
    stations: xr.Dataset | None = None


def point_run(study_file, realdata, out_dir, sim_kwargs: dict, products=("smap", "ascat", "model_era5land",
              "model_noah"), label_reference: str = "model_era5land", min_gauge_days: int = 300,
              tc_min_n: int = 30, weight_scheme: str = "optimal", api_k=(0.5, 0.8, 0.95), sum_days=(3, 7, 30),
              gains=None, obs_rescale: str = "meanstd", seed: int = 0, min_days: int = 30) -> PointRun:
    """ML-DA in point mode on a real-data study (seed 002 at stations; e.g. ``data/studies/hawaii.yml``).

    Where no gridded forcing exists, the simulator is driven by **station precipitation** (antecedent
    precipitation and totals, :func:`build_features`) at the stations whose gauge has at least
    ``min_gauge_days`` days; labels are the TC-R merge (:func:`merge_labels`) of ``products`` at the station
    cells, rescaled to ``label_reference``; SMAP is nudged in with G chosen by leave-one-station-out CV.
    ``realdata``: folder of the real-data samples; the study's inputs are made into ``out_dir`` once
    (stage-01 ingest). Skipped, with the reason in ``note``, where the samples or the study file are absent
    or no station is gauged. Units: soil moisture m3/m3 (ASCAT in % of saturation, so its ubRMSE is in %).
    """
    from .io import has_input
    from .study import REPO_ROOT
    from .validate import score_stations
    from .validate.match import read_stations

    study_file = Path(study_file)
    realdata = Path(realdata) if Path(realdata).is_absolute() else REPO_ROOT / realdata
    if not realdata.exists():
        return PointRun(None, f"skipped: the real-data samples ({realdata}) are absent on this machine")
    if not study_file.exists():
        return PointRun(None, f"skipped: the study file {study_file} is absent")
    out_dir = Path(out_dir)
    if not has_input(out_dir, "stations"):
        from .inputs import make_inputs
        from .study import load as load_study

        make_inputs(load_study(study_file), out_dir)
    st_all = read_stations(out_dir)
    if "precip" not in st_all:
        return PointRun(None, "skipped: the stations record no precipitation")
    st = st_all.isel(station=np.nonzero((st_all["precip"].notnull().sum("time") >= min_gauge_days).values)[0])
    if st.sizes["station"] == 0:
        return PointRun(None, f"skipped: no station has a rain gauge with {min_gauge_days} days or more")
    names = [n for n in products if has_input(out_dir, n)]
    if "smap" not in names:
        return PointRun(None, "skipped: the study has no SMAP product to assimilate")
    stack = load_point_stack(out_dir, names, st)
    merge = merge_labels(stack, reference=label_reference, tc_min_n=tc_min_n, scheme=weight_scheme)
    feat = build_features(xr.Dataset({"precip": st["precip"].transpose("time", "station")}), precip_var="precip",
                          api_k=api_k, sum_days=sum_days)
    feat, label = xr.align(feat, merge.merged.transpose("time", "station"), join="inner")
    sim = fit_simulator(sim_kwargs, feat, label)
    res = assimilate(sim, feat, label, stack.sel(product="smap", drop=True), gains=gains, gain_method="stations",
                     stations=st, gain_folds=0, obs_rescale=obs_rescale, seed=seed, min_days=min_days)
    fields = {**{n: stack.sel(product=n, drop=True) for n in names}, "tcr_merged": merge.merged,
              "mlda_openloop": res.openloop, "mlda (CV)": res.station_series}
    table = pd.concat({k: score_stations(out_dir, v.transpose("station", "time"), min_days=min_days, stations=st)
                       .set_index("station")[["n", "r", "ubrmse"]] for k, v in fields.items()},
                      names=["product"]).round(3)
    note = (f"point run at {st.sizes['station']} gauged stations; G by leave-one-station-out CV: "
            f"{res.station_cv.set_index('station')['gain'].to_dict()}")
    return PointRun(table, note, st)
