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
    return out.astype("float64")


def paired(x, y, dim="time") -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Align ``x`` and ``y`` (inner join on shared coordinates) and keep only jointly finite samples.

    Returns ``(x, y, valid)`` with NaN wherever either is missing and ``valid`` the boolean mask.
    Raises :class:`~smlib.errors.DataError` if the two share no coordinate values along ``dim``.
    """
    xa = as_dataarray(x, dim, name="x")
    ya = as_dataarray(y, dim, like=xa, name="y")
    if not isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        xa = as_dataarray(x, dim, like=ya, name="x")
    xa, ya = xr.align(xa, ya, join="inner")
    for d in _dims_tuple(dim):
        if xa.sizes[d] == 0:
            raise DataError(f"x and y share no {d!r} coordinate values: nothing to pair")
    valid = np.isfinite(xa) & np.isfinite(ya)
    return xa.where(valid), ya.where(valid), valid


# ------------------------------------------------------------------------- one formula each
def count(valid: xr.DataArray, dim="time") -> xr.DataArray:
    """Number of jointly finite samples ``n`` along ``dim`` (int64)."""
    return valid.sum(_dims_tuple(dim)).astype("int64")


def nanmean(a: xr.DataArray, n: xr.DataArray, dim="time") -> xr.DataArray:
    """Mean over the finite values of ``a`` along ``dim`` given their count ``n`` (NaN where n = 0)."""
    s = a.fillna(0.0).sum(_dims_tuple(dim))
    return (s / n.where(n > 0)).astype("float64")


def bias(x, y, dim="time") -> xr.DataArray:
    """Mean difference ``mean(x - y)`` [units of the data; m3/m3 for soil moisture].

    Positive when the product ``x`` is wetter than the reference ``y``. Same as
    :func:`pytesmo.metrics.bias`. Needs n >= 1.
    """
    xp, yp, valid = paired(x, y, dim)
    return nanmean(xp - yp, count(valid, dim), dim).rename("bias")


def rmse(x, y, dim="time") -> xr.DataArray:
    """Root-mean-square error ``sqrt(mean((x - y)^2))`` [units of the data]
    (:func:`pytesmo.metrics.rmsd` with ddof = 0). Needs n >= 1."""
    xp, yp, valid = paired(x, y, dim)
    return np.sqrt(nanmean((xp - yp) ** 2, count(valid, dim), dim)).rename("rmse")


def ubrmse(x, y, dim="time") -> xr.DataArray:
    """Unbiased RMSE ``sqrt(rmse^2 - bias^2)`` [units of the data] (Entekhabi et al. 2010;
    :func:`pytesmo.metrics.ubrmsd`), computed as ``sqrt(mean((d - mean d)^2))``, d = x - y.
    Needs n >= 1."""
    xp, yp, valid = paired(x, y, dim)
    n = count(valid, dim)
    d = xp - yp
    b = nanmean(d, n, dim)
    return np.sqrt(nanmean((d - b) ** 2, n, dim)).rename("ubrmse")


def mae(x, y, dim="time") -> xr.DataArray:
    """Mean absolute error ``mean(|x - y|)`` [units of the data] (:func:`pytesmo.metrics.aad`).
    Needs n >= 1."""
    xp, yp, valid = paired(x, y, dim)
    return nanmean(abs(xp - yp), count(valid, dim), dim).rename("mae")


def _pearson_from_paired(xp, yp, n, dim) -> xr.DataArray:
    mx = nanmean(xp, n, dim)
    my = nanmean(yp, n, dim)
    ax = xp - mx
    ay = yp - my
    sxy = nanmean(ax * ay, n, dim)
    sxx = nanmean(ax * ax, n, dim)
    syy = nanmean(ay * ay, n, dim)
    # a series whose spread is at rounding level of its mean is constant: no correlation
    tiny_x = sxx <= (1e-13 * np.maximum(abs(mx), 1e-300)) ** 2
    tiny_y = syy <= (1e-13 * np.maximum(abs(my), 1e-300)) ** 2
    ok = (n >= MIN_N_CORR) & (sxx > 0) & (syy > 0) & ~tiny_x & ~tiny_y
    r = sxy / np.sqrt(sxx.where(ok) * syy.where(ok))
    return r.clip(-1.0, 1.0)


def pearson_r(x, y, dim="time") -> xr.DataArray:
    """Pearson correlation coefficient r [-] of the jointly finite samples
    (:func:`pytesmo.metrics.pearson_r`). NaN when n < 3 or either series is constant."""
    xp, yp, valid = paired(x, y, dim)
    return _pearson_from_paired(xp, yp, count(valid, dim), dim).rename("r")


def pearson_p(r, n) -> xr.DataArray:
    """Two-sided p-value of H0: r = 0 from the t-test ``t = r sqrt((n - 2) / (1 - r^2))`` with
    ``n - 2`` degrees of freedom (identical to :func:`scipy.stats.pearsonr`). NaN when n < 3."""
    from scipy.special import stdtr

    r = xr.DataArray(r) if not isinstance(r, xr.DataArray) else r
    n = xr.DataArray(n) if not isinstance(n, xr.DataArray) else n
    df = (n - 2).astype("float64")
    df = df.where(n >= MIN_N_CORR)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(df / np.maximum(1.0 - r * r, 0.0))
    p = 2.0 * stdtr(df, -abs(t))
    return p.where(np.isfinite(r)).clip(0.0, 1.0).rename("p")


def fisher_z_interval(r, n, alpha: float = 0.05) -> tuple[xr.DataArray, xr.DataArray]:
    """``(r_lo, r_hi)``: the ``1 - alpha`` interval of r from the Fisher z-transform,
    ``tanh(atanh(r) -/+ z_{1 - alpha/2} / sqrt(n - 3))`` (Bonett & Wright 2000;
    :func:`pytesmo.metrics.pearson_r_ci`). NaN when n < 4."""
    from scipy.stats import norm

    r = xr.DataArray(r) if not isinstance(r, xr.DataArray) else r
    n = xr.DataArray(n) if not isinstance(n, xr.DataArray) else n
    zc = float(norm.ppf(1.0 - alpha / 2.0))
    se = 1.0 / np.sqrt((n - 3).astype("float64").where(n >= MIN_N_CI))
    with np.errstate(divide="ignore"):
        z = np.arctanh(r)
    return np.tanh(z - zc * se).rename("r_lo"), np.tanh(z + zc * se).rename("r_hi")


def _rank(a: xr.DataArray, dim: str) -> xr.DataArray:
    """Average ranks along ``dim`` of the finite values (NaN stays NaN)."""
    from scipy.stats import rankdata

    def _r(v):
        return rankdata(v, axis=-1, nan_policy="omit", method="average")

    return xr.apply_ufunc(_r, a, input_core_dims=[[dim]], output_core_dims=[[dim]], dask="parallelized",
                          output_dtypes=[np.float64]).transpose(*a.dims)


def spearman(x, y, dim="time") -> xr.Dataset:
    """Spearman rank correlation ``rho`` [-] with its two-sided p-value (t approximation with
    n - 2 dof, as :func:`scipy.stats.spearmanr`) and ``n``. Ranks are taken over the jointly finite
    samples with average ranks for ties (:func:`pytesmo.metrics.spearman_r`). One reduction dim
    only. NaN when n < 3 or a series is constant."""
    dims = _dims_tuple(dim)
    if len(dims) != 1:
        raise DataError(f"spearman: reduce over one dim, got {dims}")
    xp, yp, valid = paired(x, y, dim)
    n = count(valid, dim)
    rx = _rank(xp, dims[0])
    ry = _rank(yp, dims[0])
    rho = _pearson_from_paired(rx, ry, n, dim)
    return xr.Dataset({"n": n, "rho": rho, "p": pearson_p(rho, n)})


def pairwise(x, y, dim="time", alpha: float = 0.05) -> xr.Dataset:
    """All pairwise metrics of product ``x`` against reference ``y``, reduced over ``dim``.

    Returns a Dataset with ``n`` (jointly finite samples), ``r`` (Pearson), ``p`` (t-test, n - 2
    dof), ``r_lo``/``r_hi`` (Fisher-z ``1 - alpha`` interval), ``bias = mean(x - y)``, ``rmse``,
    ``ubrmse = sqrt(rmse^2 - bias^2)`` and ``mae``, each with the dims of the inputs other than
    ``dim``. Units: r, p dimensionless; bias, rmse, ubrmse, mae in the units of the data (m3/m3
    for soil moisture). Accepts DataArrays (aligned by coordinates, inner join) or NumPy arrays
    (``dim`` = the first axes). Minimum-sample rules: see the module docstring. Definitions as in
    pytesmo (:mod:`pytesmo.metrics`), checked against it in the tests.
    """
    xp, yp, valid = paired(x, y, dim)
    n = count(valid, dim)
    d = xp - yp
    b = nanmean(d, n, dim)
    r = _pearson_from_paired(xp, yp, n, dim)
    lo, hi = fisher_z_interval(r, n, alpha)
    out = xr.Dataset({
        "n": n,
        "r": r,
        "p": pearson_p(r, n),
        "r_lo": lo,
        "r_hi": hi,
        "bias": b,
        "rmse": np.sqrt(nanmean(d * d, n, dim)),
        "ubrmse": np.sqrt(nanmean((d - b) ** 2, n, dim)),
        "mae": nanmean(abs(d), n, dim),
    })
    units = xp.attrs.get("units") if isinstance(x, xr.DataArray) else None
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
    xa, ya = xr.align(xa, ya, join="inner")
    dims = tuple(xa.dims)
    m = pairwise(xa, ya, dim=dims).compute()
    return {"n": int(m["n"]), **{k: float(m[k]) for k in ("r", "bias", "rmse", "ubrmse", "mae")}}


def metrics_table(ds: xr.Dataset, keys: Sequence[str] = ("n", "r", "bias", "rmse", "ubrmse", "mae")) -> dict:
    """The scalar values of a reduced :func:`pairwise` result as a ``{name: float}`` dict."""
    return {k: (int(ds[k]) if k == "n" else float(ds[k])) for k in keys}
