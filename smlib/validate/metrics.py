"""Pairwise validation metrics, vectorized over whole grids (DESIGN.md section 7).

Every function takes a product ``x`` and a reference ``y`` (``xarray.DataArray`` or NumPy arrays) and
reduces over ``dim`` (one dimension name or several), keeping every other dimension: a ``(time, lat,
lon)`` pair reduced over ``time`` gives maps, reduced over ``("lat", "lon")`` gives daily series.
Only the samples where *both* ``x`` and ``y`` are finite are used (NaN-aware, pairwise deletion).
Definitions follow pytesmo (:mod:`pytesmo.metrics`) and the unit tests check them against it:

- ``bias = mean(x - y)`` (x the product, y the reference; same units as the data, m3/m3 for SM);
- ``rmse = sqrt(mean((x - y)^2))``;
- ``ubrmse = sqrt(rmse^2 - bias^2)`` = ``sqrt(mean(((x - mean x) - (y - mean y))^2))``
  (Entekhabi et al. 2010), computed in the second, numerically stable form;
- ``mae = mean(|x - y|)``;
- Pearson ``r`` with the two-sided p-value of the t-test with ``n - 2`` degrees of freedom and the
  95 % interval from the Fisher z-transform, ``tanh(atanh(r) -/+ z_{0.975} / sqrt(n - 3))``
  (Bonett & Wright 2000, as in :func:`pytesmo.metrics.pearson_r_ci`);
- Spearman ``rho``: Pearson r of the ranks (average ranks for ties).

Minimum-sample rules (stated once, applied everywhere):

- ``n`` is the number of jointly finite samples; with ``n = 0`` every metric is NaN;
- ``bias``, ``rmse``, ``ubrmse``, ``mae`` need ``n >= 1``;
- ``r``, ``p`` and Spearman ``rho`` need ``n >= 3`` (two points always lie on a line) and a
  non-zero variance in both series (a constant series has no correlation: NaN);
- the Fisher-z interval needs ``n >= 4`` (its standard error is ``1 / sqrt(n - 3)``).

The computation is lazy when the inputs are dask-backed (only xarray arithmetic and NumPy/SciPy
ufuncs are used), so a 1000 x 1000 x 365 grid goes through in bounded memory chunk by chunk.

References: Entekhabi, D. et al. (2010) J. Hydrometeor. 11, 832-840 (ubRMSE); Gruber, A. et al.
(2020) Remote Sens. Environ. 244, 111806 (validation good practice); pytesmo documentation.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from ..errors import DataError

#: Minimum jointly finite samples for a correlation (r, p, Spearman).
MIN_N_CORR = 3
#: Minimum jointly finite samples for the Fisher-z interval of r.
MIN_N_CI = 4
#: The variables :func:`pairwise` returns, in order.
PAIRWISE_VARS = ("n", "r", "p", "r_lo", "r_hi", "bias", "rmse", "ubrmse", "mae")


# ----------------------------------------------------------------------------------- inputs
def _dims_tuple(dim) -> tuple:
    if isinstance(dim, (str, Hashable)) and not isinstance(dim, (tuple, list)):
        return (dim,)
    return tuple(dim)


def as_dataarray(a, dim="time", like: xr.DataArray | None = None, name: str = "x") -> xr.DataArray:
    """``a`` as a float64 ``DataArray``.

    A NumPy array takes ``like``'s dims when shapes agree; otherwise its first axes are the
    reduction dims ``dim`` and the rest are called ``dim_1``, ``dim_2``... Raises
    :class:`~smlib.errors.DataError` naming ``name`` when ``dim`` is not among its dims.
    """
    dims = _dims_tuple(dim)
    if isinstance(a, xr.DataArray):
        out = a
    else:
        arr = np.asarray(a)
        if like is not None and arr.shape == like.shape:
            out = xr.DataArray(arr, dims=like.dims)
        else:
            if arr.ndim < len(dims):
                raise DataError(f"{name}: a {arr.ndim}-d array cannot be reduced over {len(dims)} dims {dims}")
            extra = tuple(f"dim_{i}" for i in range(1, arr.ndim - len(dims) + 1))
            out = xr.DataArray(arr, dims=dims + extra)
    missing = [d for d in dims if d not in out.dims]
    if missing:
        raise DataError(f"{name}: has dims {tuple(out.dims)} but metrics are reduced over {missing}")
    if out.dtype.kind not in "fiub":
        raise DataError(f"{name}: must be numeric, got dtype {out.dtype}")
    return out.astype("float64", copy=False)


def paired(x, y, dim="time") -> tuple[xr.DataArray, xr.DataArray]:
    """``x`` and ``y`` as float64 DataArrays aligned by coordinates (inner join).

    Raises :class:`~smlib.errors.DataError` if the two share no coordinate values along ``dim``.
    """
    xa = as_dataarray(x, dim, name="x")
    ya = as_dataarray(y, dim, like=xa, name="y")
    if not isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        xa = as_dataarray(x, dim, like=ya, name="x")
    xa, ya = xr.align(xa, ya, join="inner", copy=False)
    for d in _dims_tuple(dim):
        if xa.sizes[d] == 0:
            raise DataError(f"x and y share no {d!r} coordinate values: nothing to pair")
    return xa, ya


# ------------------------------------------------------------------------- one formula each
def pearson_p(r, n):
    """Two-sided p-value of H0: r = 0 from the t-test ``t = r sqrt((n - 2) / (1 - r^2))`` with
    ``n - 2`` degrees of freedom (identical to :func:`scipy.stats.pearsonr`). NaN when n < 3 or r
    is NaN. NumPy arrays or DataArrays (ufuncs only)."""
    from scipy.special import stdtr

    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(np.asarray(n) >= MIN_N_CORR, np.asarray(n, dtype="float64") - 2.0, np.nan)
        rr = np.asarray(r, dtype="float64")
        t = rr * np.sqrt(df / np.maximum(1.0 - rr * rr, 0.0))
        p = np.clip(2.0 * stdtr(df, -np.abs(t)), 0.0, 1.0)
    p = np.where(np.isfinite(rr), p, np.nan)
    return r.copy(data=p).rename("p") if isinstance(r, xr.DataArray) else p


def fisher_z_interval(r, n, alpha: float = 0.05):
    """``(r_lo, r_hi)``: the ``1 - alpha`` interval of r from the Fisher z-transform,
    ``tanh(atanh(r) -/+ z_{1 - alpha/2} / sqrt(n - 3))`` (Bonett & Wright 2000;
    :func:`pytesmo.metrics.pearson_r_ci`). NaN when n < 4."""
    from scipy.stats import norm

    zc = float(norm.ppf(1.0 - alpha / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(np.asarray(n) >= MIN_N_CI, 1.0 / np.sqrt(np.asarray(n, dtype="float64") - 3.0), np.nan)
        z = np.arctanh(np.asarray(r, dtype="float64"))
        lo, hi = np.tanh(z - zc * se), np.tanh(z + zc * se)
    if isinstance(r, xr.DataArray):
        return r.copy(data=lo).rename("r_lo"), r.copy(data=hi).rename("r_hi")
    return lo, hi


#: values per block in :func:`blocked` (about 32 MB of float64 per input array)
BLOCK_VALUES = 4_000_000


def blocked(func, *arrays, block_values: int = BLOCK_VALUES, **kwargs) -> dict:
    """Apply ``func(*arrays, **kwargs) -> {name: array}`` (a core reducing the LAST axis) to blocks
    of pixels of at most ``block_values`` values each and reassemble the results: the same numbers
    as one call, with temporaries bounded by the block size (cache-friendly and memory-safe on a
    large in-memory grid; a loop over blocks of thousands of pixels, never over single pixels)."""
    arrays = [np.asarray(a) for a in arrays]
    lead, t = arrays[0].shape[:-1], arrays[0].shape[-1]
    npix = int(np.prod(lead)) if lead else 1
    flat = [a.reshape(npix, t) for a in arrays]
    step = max(1, block_values // max(t, 1))
    if npix <= step:
        res = func(*flat, **kwargs)
    else:
        parts = [func(*(a[i:i + step] for a in flat), **kwargs) for i in range(0, npix, step)]
        res = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    return {k: v.reshape(lead + v.shape[1:]) for k, v in res.items()}


def pairwise_core(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> dict:
    """All pairwise metrics of NumPy arrays reduced over their LAST axis (any leading shape), over
    the jointly finite samples; the computational core of :func:`pairwise` (which wraps it with
    xarray and dask). Sums of products go through :func:`numpy.einsum` (no large temporaries)."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.where(n > 0, n, np.nan)
        mx = np.where(ok, x, 0.0).sum(-1) / nn
        my = np.where(ok, y, 0.0).sum(-1) / nn
        ax = np.where(ok, x - mx[..., None], 0.0)
        ay = np.where(ok, y - my[..., None], 0.0)
        sxx = np.einsum("...i,...i->...", ax, ax) / nn
        syy = np.einsum("...i,...i->...", ay, ay) / nn
        sxy = np.einsum("...i,...i->...", ax, ay) / nn
        d = ax - ay  # (x - y) - bias
        ub2 = np.einsum("...i,...i->...", d, d) / nn
        del ax, ay
        e = np.where(ok, x - y, 0.0)
        mse = np.einsum("...i,...i->...", e, e) / nn
        mae_ = np.abs(e).sum(-1) / nn
        # a series whose spread is at rounding level of its mean is constant: no correlation
        const_x = sxx <= (1e-13 * np.maximum(np.abs(mx), 1e-300)) ** 2
        const_y = syy <= (1e-13 * np.maximum(np.abs(my), 1e-300)) ** 2
        good = (n >= MIN_N_CORR) & ~const_x & ~const_y
        r = np.clip(np.where(good, sxy / np.sqrt(sxx * syy), np.nan), -1.0, 1.0)
    lo, hi = fisher_z_interval(r, n, alpha)
    return {"n": n.astype("int64"), "r": r, "p": pearson_p(r, n), "r_lo": lo, "r_hi": hi, "bias": mx - my,
            "rmse": np.sqrt(mse), "ubrmse": np.sqrt(ub2), "mae": mae_}


def pairwise(x, y, dim="time", alpha: float = 0.05) -> xr.Dataset:
    """All pairwise metrics of product ``x`` against reference ``y``, reduced over ``dim``.

    Returns a Dataset with ``n`` (jointly finite samples), ``r`` (Pearson), ``p`` (t-test, n - 2
    dof), ``r_lo``/``r_hi`` (Fisher-z ``1 - alpha`` interval), ``bias = mean(x - y)``, ``rmse``,
    ``ubrmse = sqrt(rmse^2 - bias^2)`` and ``mae``, each with the dims of the inputs other than
    ``dim`` (one name or several). Units: r, p dimensionless; bias, rmse, ubrmse, mae in the units
    of the data (m3/m3 for soil moisture). Accepts DataArrays (aligned by coordinates, inner join)
    or NumPy arrays (``dim`` = the first axes). Dask-backed inputs stay lazy (chunks over the other
    dims). Minimum-sample rules: see the module docstring. Definitions as in pytesmo
    (:mod:`pytesmo.metrics`), checked against it in the tests.
    """
    xa, ya = paired(x, y, dim)
    dims = _dims_tuple(dim)
    if len(dims) > 1:
        xa, ya = xa.stack(_sample=dims), ya.stack(_sample=dims)
        core = "_sample"
    else:
        core = dims[0]
    if xa.chunks is not None or ya.chunks is not None:
        xa, ya = xa.chunk({core: -1}), ya.chunk({core: -1})

    def _f(a, b):
        r = blocked(pairwise_core, a, b, alpha=alpha)
        return tuple(r[k] for k in PAIRWISE_VARS)

    outs = xr.apply_ufunc(_f, xa, ya, input_core_dims=[[core], [core]], output_core_dims=[[]] * len(PAIRWISE_VARS),
                          dask="parallelized",
                          output_dtypes=[np.int64 if k == "n" else np.float64 for k in PAIRWISE_VARS])
    out = xr.Dataset(dict(zip(PAIRWISE_VARS, outs)))
    units = x.attrs.get("units") if isinstance(x, xr.DataArray) else None
    for v, (u, ln) in {"n": ("1", "number of jointly finite samples"),
                       "r": ("1", "Pearson correlation coefficient"),
                       "p": ("1", "two-sided p-value of r (t-test, n-2 dof)"),
                       "r_lo": ("1", f"lower bound of the {100 * (1 - alpha):g}% Fisher-z interval of r"),
                       "r_hi": ("1", f"upper bound of the {100 * (1 - alpha):g}% Fisher-z interval of r"),
                       "bias": (units, "mean difference product - reference"),
                       "rmse": (units, "root-mean-square error"),
                       "ubrmse": (units, "unbiased root-mean-square error"),
                       "mae": (units, "mean absolute error")}.items():
        out[v].attrs = {"long_name": ln, **({"units": u} if u else {})}
    return out


def bias(x, y, dim="time") -> xr.DataArray:
    """Mean difference ``mean(x - y)`` [units of the data; m3/m3 for soil moisture].

    Positive when the product ``x`` is wetter than the reference ``y``. Same as
    :func:`pytesmo.metrics.bias`. Needs n >= 1.
    """
    return pairwise(x, y, dim)["bias"]


def rmse(x, y, dim="time") -> xr.DataArray:
    """Root-mean-square error ``sqrt(mean((x - y)^2))`` [units of the data]
    (:func:`pytesmo.metrics.rmsd` with ddof = 0). Needs n >= 1."""
    return pairwise(x, y, dim)["rmse"]


def ubrmse(x, y, dim="time") -> xr.DataArray:
    """Unbiased RMSE ``sqrt(rmse^2 - bias^2)`` [units of the data] (Entekhabi et al. 2010;
    :func:`pytesmo.metrics.ubrmsd`), computed as ``sqrt(mean(((x - mean x) - (y - mean y))^2))``.
    Needs n >= 1."""
    return pairwise(x, y, dim)["ubrmse"]


def mae(x, y, dim="time") -> xr.DataArray:
    """Mean absolute error ``mean(|x - y|)`` [units of the data] (:func:`pytesmo.metrics.aad`).
    Needs n >= 1."""
    return pairwise(x, y, dim)["mae"]


def pearson_r(x, y, dim="time") -> xr.DataArray:
    """Pearson correlation coefficient r [-] of the jointly finite samples
    (:func:`pytesmo.metrics.pearson_r`). NaN when n < 3 or either series is constant."""
    return pairwise(x, y, dim)["r"]


def _rank(a: xr.DataArray, dim: str) -> xr.DataArray:
    """Average ranks along ``dim`` of the finite values (NaN stays NaN)."""
    from scipy.stats import rankdata

    def _r(v):
        return rankdata(v, axis=-1, nan_policy="omit", method="average")

    return xr.apply_ufunc(_r, a, input_core_dims=[[dim]], output_core_dims=[[dim]], dask="parallelized",
                          output_dtypes=[np.float64]).transpose(*a.dims)


def spearman(x, y, dim="time") -> xr.Dataset:
    """Spearman rank correlation ``rho`` [-] with its two-sided p-value (t approximation with
    n - 2 dof, as :func:`scipy.stats.spearmanr`) and ``n``: the Pearson r of the ranks, taken over
    the jointly finite samples with average ranks for ties (:func:`pytesmo.metrics.spearman_r`).
    One reduction dim only. NaN when n < 3 or a series is constant."""
    dims = _dims_tuple(dim)
    if len(dims) != 1:
        raise DataError(f"spearman: reduce over one dim, got {dims}")
    xa, ya = paired(x, y, dim)
    both = np.isfinite(xa) & np.isfinite(ya)
    m = pairwise(_rank(xa.where(both), dims[0]), _rank(ya.where(both), dims[0]), dim)
    return xr.Dataset({"n": m["n"], "rho": m["r"], "p": m["p"]})


# -------------------------------------------------------------- seed 003's two correlations
def spatial_correlation(x, y, space=("lat", "lon"), time_dim="time", alpha: float = 0.05) -> xr.Dataset:
    """Spatial correlation as seed 003 defines it (Zhao et al. 2021, section 2.2.2).

    For each day, the Pearson r between the product map ``x`` and the reference map ``y`` over all
    jointly finite pixels (``daily_r``, with ``daily_p`` and ``daily_n``); the summary
    ``mean_r`` is the mean of the daily r over the days whose correlation is significant at the
    ``1 - alpha`` level (p < alpha), and ``n_days`` the number of such days. Days with fewer than
    three paired pixels have NaN r and never count.
    """
    m = pairwise(x, y, dim=space, alpha=alpha)
    sig = (m["p"] < alpha) & np.isfinite(m["r"])
    mean_r = m["r"].where(sig).mean(time_dim) if time_dim in m.dims else m["r"].where(sig)
    return xr.Dataset({"daily_r": m["r"], "daily_p": m["p"], "daily_n": m["n"], "significant": sig,
                       "mean_r": mean_r, "n_days": sig.sum(time_dim) if time_dim in m.dims else sig})


def temporal_correlation(x, y, dim="time", space=("lat", "lon")) -> xr.Dataset:
    """Temporal correlation as seed 003 defines it (Zhao et al. 2021, section 2.2.2).

    The Pearson r between the product and the reference time series at each pixel (the map
    ``r``, with ``n``), and its summary ``mean_r``: the mean of all the finite pixels of that map.
    """
    m = pairwise(x, y, dim=dim)
    present = [d for d in space if d in m["r"].dims]
    mean_r = m["r"].mean(present) if present else m["r"]
    return xr.Dataset({"r": m["r"], "n": m["n"], "mean_r": mean_r})


def pooled(x, y) -> dict:
    """Metrics pooled over every jointly finite sample of ``x`` and ``y`` (all dims), as plain
    floats: ``n, r, bias, rmse, ubrmse, mae`` (the truth references of DESIGN.md section 7)."""
    xa = as_dataarray(x, dim=(), name="x")
    ya = as_dataarray(y, dim=(), like=xa, name="y")
    xa, ya = xr.align(xa, ya, join="inner", copy=False)
    dims = tuple(xa.dims)
    m = pairwise(xa, ya, dim=dims).compute()
    return {"n": int(m["n"]), **{k: float(m[k]) for k in ("r", "bias", "rmse", "ubrmse", "mae")}}


def metrics_table(ds: xr.Dataset, keys: Sequence[str] = ("n", "r", "bias", "rmse", "ubrmse", "mae")) -> dict:
    """The scalar values of a reduced :func:`pairwise` result as a ``{name: float}`` dict."""
    return {k: (int(ds[k]) if k == "n" else float(ds[k])) for k in keys}
