"""Triple collocation (TC) and extended collocation (EC), vectorized over whole grids.

Three collocated products ``x, y, z`` of one geophysical variable are modelled as
``i = alpha_i + beta_i * theta + eps_i`` with mutually independent, zero-mean errors ``eps_i``
independent of the signal ``theta``. From the sample covariance matrix ``C`` (ddof = 1, over the
samples where all three are finite) the covariance notation of Gruber et al. (2016) gives, for
product ``i`` with the two others ``j, k``:

- error variance  ``err_var_i = C_ii - C_ij C_ik / C_jk``  [units of product i, squared];
- TC-R (McColl et al. 2014), the correlation of product i with the unknown truth,
  ``tc_r_i = sqrt(C_ij C_ik / (C_ii C_jk))`` [-];
- signal-to-noise ratio (Gruber et al. 2016) ``snr_db_i = 10 log10(rho2_i / (1 - rho2_i))`` [dB]
  with ``rho2_i = tc_r_i^2``;
- scaling to the first product ``beta_0 = 1``, ``beta_1 = C_02 / C_12``, ``beta_2 = C_01 / C_21``,
  so ``err_sd_scaled_i = beta_i * err_sd_i`` is the error sd in the first product's units
  (pytesmo's ``err_std``).

Sampling noise can make ``err_var`` negative or ``rho2`` fall outside ``(0, 1]`` (weak signal,
few samples, correlated errors, negative covariances). Such estimates are returned as NaN and the
product's ``valid`` flag is False: never a crash, never a silent absolute value (pytesmo takes
absolute values in its SNR; the tests compare with pytesmo where the estimates are admissible).
Optionally (seed 003, Zhao et al. 2021, section 3.3) every pixel where any pairwise Pearson r is
below ``min_pair_r`` (0.2 in the paper) is masked.

References: McColl, K. A. et al. (2014) Extended triple collocation, Geophys. Res. Lett. 41,
6229-6236; Gruber, A. et al. (2016) Recent advances in (soil moisture) triple collocation
analysis, Int. J. Appl. Earth Obs. Geoinf. 45, 200-211; Gruber, A. et al. (2016) Estimating error
cross-correlations in soil moisture data sets using extended collocation analysis, J. Geophys.
Res. Atmos. 121, 1208-1219; pytesmo :func:`pytesmo.metrics.tcol_metrics` and
:func:`pytesmo.metrics.ecol`.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import xarray as xr

from ..errors import DataError
from .metrics import _dims_tuple, as_dataarray, blocked

#: Default minimum number of triplets (samples where all products are finite) for an estimate.
MIN_N_TC = 30
#: Seed 003's threshold on the pairwise correlations (Zhao et al. 2021).
SEED003_MIN_PAIR_R = 0.2


def _names(arrays, names) -> list[str]:
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(arrays):
            raise DataError(f"names: got {len(names)} names for {len(arrays)} products")
    else:
        got = [getattr(a, "name", None) for a in arrays]
        names = [str(g) for g in got] if all(g is not None for g in got) and len(set(got)) == len(got) else \
            [chr(ord("x") + i) if len(arrays) == 3 else f"p{i}" for i in range(len(arrays))]
    if len(set(names)) != len(names):
        raise DataError(f"names: product names must be distinct, got {names}")
    return names


def collocate(arrays, dim="time") -> tuple[list[xr.DataArray], xr.DataArray]:
    """Align products (inner join) and keep only samples where all are finite.

    Returns the masked float64 arrays and the boolean mask of complete samples.
    """
    if len(arrays) < 3:
        raise DataError(f"collocation needs at least 3 products, got {len(arrays)}")
    first = next((a for a in arrays if isinstance(a, xr.DataArray)), None)
    das = [as_dataarray(a, dim, like=first, name=f"product {i}") for i, a in enumerate(arrays)]
    das = list(xr.align(*das, join="inner", copy=False))
    for d in _dims_tuple(dim):
        if das[0].sizes[d] == 0:
            raise DataError(f"the products share no {d!r} coordinate values: nothing to collocate")
    valid = np.isfinite(das[0])
    for a in das[1:]:
        valid = valid & np.isfinite(a)
    return [a.where(valid) for a in das], valid


def covariance_matrix(arrays, valid: xr.DataArray, dim="time", ddof: int = 1) -> tuple[dict, xr.DataArray]:
    """Sample covariances ``C[(i, j)]`` (i <= j) of collocated products over ``dim`` and their
    count ``n``; ``ddof = 1`` as :func:`numpy.cov`. NaN where ``n <= ddof``."""
    dims = _dims_tuple(dim)
    n = valid.sum(dims).astype("int64")
    nn = n.where(n > 0)
    anom = [a - a.fillna(0.0).sum(dims) / nn for a in arrays]
    den = (n - ddof).where(n > ddof).astype("float64")
    cov = {}
    for i in range(len(arrays)):
        for j in range(i, len(arrays)):
            cov[(i, j)] = (anom[i] * anom[j]).fillna(0.0).sum(dims) / den
    return cov, n


def _c(cov, i, j):
    return cov[(min(i, j), max(i, j))]


def tc_error_variance(cii, cij, cik, cjk):
    """TC error variance of product i, ``C_ii - C_ij C_ik / C_jk`` [units of i squared]
    (Gruber et al. 2016, covariance notation)."""
    return cii - cij * cik / cjk


def tc_rho2(cii, cij, cik, cjk):
    """Squared TC-R of product i, ``C_ij C_ik / (C_ii C_jk)`` [-] (McColl et al. 2014, eq. 6)."""
    return cij * cik / (cii * cjk)


def snr_db(rho2):
    """Signal-to-noise ratio in dB from the squared TC-R, ``10 log10(rho2 / (1 - rho2))``
    (Gruber et al. 2016, eq. 13: SNR = var(beta theta) / var(eps) = rho2 / (1 - rho2))."""
    return 10.0 * np.log10(rho2 / (1.0 - rho2))


def tc_beta(c_ref_k, c_i_k):
    """TC scaling factor of product i to the reference product, ``C_ref,k / C_i,k`` with k the
    third product (Gruber et al. 2016); multiplying i's anomalies by it puts them in the
    reference's units."""
    return c_ref_k / c_i_k


#: output variables of the NumPy TC core: (name, has a product axis)
_TC_VARS = (("err_sd", True), ("err_sd_scaled", True), ("err_var", True), ("tc_r", True), ("snr_db", True),
            ("beta", True), ("valid", True), ("n", False), ("r_pair", True), ("masked", False))


def tc_core(x: np.ndarray, y: np.ndarray, z: np.ndarray, min_n: int = MIN_N_TC, min_pair_r: float | None = None,
            ddof: int = 1) -> dict:
    """Triple collocation on NumPy arrays reduced over their LAST axis (any leading shape).

    The computational core of :func:`triple_collocation` (which wraps it with xarray/dask): only
    samples where all three are finite are used; returns a dict of arrays, the product-wise ones
    with a trailing axis of length 3 (``r_pair``: pairs x-y, x-z, y-z). See
    :func:`triple_collocation` for the formulas and flags.
    """
    s = np.stack([np.asarray(a, dtype="float64") for a in (x, y, z)], axis=-2)  # (..., 3, T), a copy
    ok = np.isfinite(s).all(-2)  # complete triplets (..., T)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.copyto(s, 0.0, where=~ok[..., None, :])
        nn = np.where(n > 0, n, np.nan)
        s -= (s.sum(-1) / nn[..., None])[..., None]  # anomalies (NaN rows where n = 0)
        s *= ok[..., None, :]  # incomplete samples contribute nothing
        den = np.where(n > ddof, n - ddof, np.nan)
        cm = np.matmul(s, np.swapaxes(s, -1, -2)) / den[..., None, None]  # (..., 3, 3) covariances
        cov = {(i, j): cm[..., i, j] for i in range(3) for j in range(i, 3)}
        pairs = [(0, 1), (0, 2), (1, 2)]
        rp = np.stack([_c(cov, i, j) / np.sqrt(_c(cov, i, i) * _c(cov, j, j)) for i, j in pairs], -1)
        enough = n >= max(int(min_n), ddof + 2)
        masked = np.zeros(n.shape, bool)
        if min_pair_r is not None:
            masked = (rp < min_pair_r).any(-1)
        others = {0: (1, 2), 1: (0, 2), 2: (0, 1)}
        ev, r2, be = [], [], []
        for i in range(3):
            j, k = others[i]
            cii, cij, cik, cjk = _c(cov, i, i), _c(cov, i, j), _c(cov, i, k), _c(cov, j, k)
            ev.append(tc_error_variance(cii, cij, cik, cjk))
            r2.append(tc_rho2(cii, cij, cik, cjk))
            if i == 0:
                be.append(np.ones_like(cii))
            else:
                kk = 2 if i == 1 else 1
                be.append(tc_beta(_c(cov, 0, kk), _c(cov, i, kk)))
        err_var, rho2, beta = np.stack(ev, -1), np.stack(r2, -1), np.stack(be, -1)
        base = (enough & ~masked)[..., None]
        ok_var = base & np.isfinite(err_var) & (err_var >= 0)
        ok_r = base & np.isfinite(rho2) & (rho2 > 0) & (rho2 <= 1)
        ok_b = base & np.isfinite(beta)
        err_var = np.where(ok_var, err_var, np.nan)
        rho2 = np.where(ok_r, rho2, np.nan)
        beta = np.where(ok_b, beta, np.nan)
        err_sd = np.sqrt(err_var)
        return {"err_sd": err_sd, "err_sd_scaled": err_sd * np.abs(beta), "err_var": err_var,
                "tc_r": np.sqrt(rho2), "snr_db": snr_db(rho2), "beta": beta, "valid": ok_var & ok_r & ok_b,
                "n": n.astype("int64"), "r_pair": rp, "masked": masked}


def _stacked(arrays, dim):
    dims = _dims_tuple(dim)
    if len(dims) == 1:
        return arrays, dims[0]
    return [a.stack(_sample=dims) for a in arrays], "_sample"


def triple_collocation(x, y, z, dim="time", names=None, min_n: int = MIN_N_TC, min_pair_r: float | None = None,
                       ddof: int = 1) -> xr.Dataset:
    """Covariance-notation triple collocation of three products, per pixel.

    Parameters: ``x, y, z`` DataArrays (aligned by coordinates, inner join) or NumPy arrays
    (``dim`` = first axis) of the same variable; ``names`` the product labels (default: the
    DataArrays' names when distinct, else ``x, y, z``); ``min_n`` the minimum number of complete
    triplets (default 30); ``min_pair_r`` masks pixels where any pairwise Pearson r is below it
    (``0.2`` reproduces seed 003; ``None`` = no mask). Dask-backed inputs stay lazy (chunked over
    the non-reduced dims; the reduced dim must be one chunk).

    Returns a Dataset with dim ``product`` (length 3): ``err_sd`` (error sd in each product's own
    units), ``err_sd_scaled`` (in the first product's units, = pytesmo ``err_std``), ``err_var``,
    ``tc_r`` (McColl 2014), ``snr_db`` (Gruber 2016), ``beta`` (scaling to the first product),
    ``valid`` (estimate admissible: enough samples, positive error variance, 0 < rho2 <= 1, not
    masked); and without the product dim ``n`` (complete triplets), ``r_pair`` (dim ``pair``) and
    ``masked`` (seed-003 mask applied). Inadmissible values are NaN.
    """
    labels = _names([x, y, z], names)
    first = next((a for a in (x, y, z) if isinstance(a, xr.DataArray)), None)
    das = [as_dataarray(a, dim, like=first, name=f"product {labels[i]}") for i, a in enumerate((x, y, z))]
    das = list(xr.align(*das, join="inner", copy=False))
    for d in _dims_tuple(dim):
        if das[0].sizes[d] == 0:
            raise DataError(f"the products share no {d!r} coordinate values: nothing to collocate")
    das, core = _stacked(das, dim)
    if das[0].chunks is not None:
        das = [a.chunk({core: -1}) for a in das]

    def _f(a, b, c):
        r = blocked(tc_core, a, b, c, min_n=min_n, min_pair_r=min_pair_r, ddof=ddof)
        return tuple(r[k] for k, _ in _TC_VARS)

    outs = xr.apply_ufunc(
        _f, *das, input_core_dims=[[core]] * 3,
        output_core_dims=[["product"] if k != "r_pair" and p else (["pair"] if k == "r_pair" else [])
                          for k, p in _TC_VARS],
        dask="parallelized",
        output_dtypes=[bool if k in ("valid", "masked") else (np.int64 if k == "n" else np.float64)
                       for k, _ in _TC_VARS],
        dask_gufunc_kwargs={"output_sizes": {"product": 3, "pair": 3}})
    out = xr.Dataset({k: v for (k, _), v in zip(_TC_VARS, outs)})
    out = out.assign_coords(product=("product", labels),
                            pair=("pair", [f"{labels[i]}-{labels[j]}" for i, j in ((0, 1), (0, 2), (1, 2))]))
    out = out.transpose("product", "pair", ...)
    units = [a.attrs.get("units") for a in (x, y, z) if isinstance(a, xr.DataArray)]
    u = units[0] if units and all(v == units[0] for v in units) else None
    attrs = {"err_sd": ("TC error standard deviation, in each product's own units", u),
             "err_sd_scaled": ("TC error standard deviation in the first product's units", u),
             "err_var": ("TC error variance, own units squared", f"({u})^2" if u else None),
             "tc_r": ("TC-R: correlation with the unknown truth (McColl et al. 2014)", "1"),
             "snr_db": ("signal-to-noise ratio (Gruber et al. 2016)", "dB"),
             "beta": ("scaling factor to the first product", "1"),
             "valid": ("estimate admissible (enough samples, err_var >= 0, 0 < rho2 <= 1, not masked)", None),
             "n": ("number of complete triplets", "1"),
             "r_pair": ("pairwise Pearson r of the collocated products", "1"),
             "masked": (f"pixel masked: a pairwise r below {min_pair_r} (seed 003)", None)}
    for v, (ln, un) in attrs.items():
        out[v].attrs = {"long_name": ln, **({"units": un} if un else {})}
    out.attrs.update(min_n=int(min_n), min_pair_r=float(min_pair_r) if min_pair_r is not None else "none")
    return out


def tc_bootstrap(x, y, z, dim="time", n_boot: int = 200, alpha: float = 0.05, seed: int = 0, names=None,
                 min_n: int = MIN_N_TC, min_pair_r: float | None = None) -> xr.Dataset:
    """Percentile bootstrap ``1 - alpha`` intervals of the TC estimates (as
    :func:`pytesmo.metrics.tcol_metrics_with_bootstrapped_ci` with ``method="percentile"``).

    Each of ``n_boot`` replicates draws ``dim`` positions with replacement (the same draw for every
    pixel, so the loop runs over replicates, never over pixels) and recomputes the TC estimates
    (:func:`tc_core`). Returns the point estimate of :func:`triple_collocation` plus
    ``<var>_lo``/``<var>_hi`` for ``err_sd``, ``tc_r``, ``snr_db`` and ``beta`` (percentiles over
    the admissible replicates) and ``n_boot_valid`` (replicates with an admissible TC-R).
    """
    if n_boot < 10:
        raise DataError(f"n_boot: at least 10 bootstrap replicates are needed, got {n_boot}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha: must lie in (0, 1), got {alpha}")
    dims = _dims_tuple(dim)
    if len(dims) != 1:
        raise DataError(f"tc_bootstrap: reduce over one dim, got {dims}")
    d = dims[0]
    est = triple_collocation(x, y, z, dim=dim, names=names, min_n=min_n, min_pair_r=min_pair_r).compute()
    arrays, _ = collocate([x, y, z], dim)
    other = [k for k in arrays[0].dims if k != d]
    vals = [a.transpose(*other, d).values for a in arrays]
    rng = np.random.default_rng(seed)
    size = vals[0].shape[-1]
    keys = ("err_sd", "tc_r", "snr_db", "beta")
    reps = {k: np.empty((n_boot,) + vals[0].shape[:-1] + (3,)) for k in keys}
    for b in range(n_boot):
        idx = rng.integers(0, size, size)
        r = tc_core(*(v[..., idx] for v in vals), min_n=min_n, min_pair_r=min_pair_r)
        for k in keys:
            reps[k][b] = r[k]
    out = est.copy()
    pdims = (*other, "product")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels give NaN bounds
        for k in keys:
            lo, hi = np.nanpercentile(reps[k], [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
            out[f"{k}_lo"] = xr.DataArray(lo, dims=pdims).transpose(*est[k].dims)
            out[f"{k}_hi"] = xr.DataArray(hi, dims=pdims).transpose(*est[k].dims)
    out["n_boot_valid"] = xr.DataArray(np.isfinite(reps["tc_r"]).sum(0), dims=pdims).transpose(*est["tc_r"].dims)
    out.attrs.update(n_boot=int(n_boot), alpha=float(alpha), bootstrap="percentile")
    return out


def extended_collocation(*arrays, dim="time", names=None, min_n: int = MIN_N_TC) -> xr.Dataset:
    """Extended collocation (EC) of N >= 3 products with mutually independent errors.

    Following Gruber et al. (2016, JGR) and :func:`pytesmo.metrics.ecol`: the observation vector
    holds every product's variance ``C_ii`` and, for every product i and every pair (j, k) of the
    others, the classical signal-variance estimator ``C_ij C_ik / C_jk``; the unknowns are each
    product's signal variance ``sig_var_i`` (= beta_i^2 var(theta)) and error variance
    ``err_var_i``, with ``C_ii = sig_var_i + err_var_i``. The least-squares solution uses one
    pseudo-inverse of the (pixel-independent) design matrix, applied to all pixels at once.

    Returns a Dataset with dim ``product``: ``sig_var``, ``err_var``, ``err_sd`` (own units),
    ``snr_db = 10 log10(sig_var / err_var)``, ``tc_r = sqrt(sig_var / (sig_var + err_var))`` and
    ``valid``; plus ``n``. Negative variance estimates are NaN with ``valid`` False (pytesmo
    takes absolute values instead). Error cross-correlations are not estimated here: every product
    is assumed to have errors independent of all the others.
    """
    if len(arrays) < 3:
        raise DataError(f"extended collocation needs at least 3 products, got {len(arrays)}")
    das, valid = collocate(list(arrays), dim)
    labels = _names(list(arrays), names)
    N = len(das)
    cov, n = covariance_matrix(das, valid, dim)
    rows, obs = [], []
    for i in range(N):
        row = np.zeros(2 * N)
        row[i] = 1.0
        row[N + i] = 1.0
        rows.append(row)
        obs.append(_c(cov, i, i))
    for i in range(N):
        others = [j for j in range(N) if j != i]
        for j, k in combinations(others, 2):
            row = np.zeros(2 * N)
            row[i] = 1.0
            rows.append(row)
            with np.errstate(invalid="ignore", divide="ignore"):
                obs.append(_c(cov, i, j) * _c(cov, i, k) / _c(cov, j, k))
    A = np.vstack(rows)
    P = np.linalg.pinv(A)  # (2N, M)
    Y = xr.concat(obs, dim="obs")
    sol = xr.dot(xr.DataArray(P, dims=("par", "obs")), Y, dim="obs")
    pdim = xr.DataArray(labels, dims="product", name="product")
    sig = sol.isel(par=slice(0, N)).rename(par="product").assign_coords(product=pdim)
    err = sol.isel(par=slice(N, 2 * N)).rename(par="product").assign_coords(product=pdim)
    enough = n >= max(int(min_n), 3)
    ok = enough & (sig > 0) & (err >= 0) & np.isfinite(sig) & np.isfinite(err)
    sig_v, err_v = sig.where(ok), err.where(ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = xr.Dataset({"sig_var": sig_v, "err_var": err_v, "err_sd": np.sqrt(err_v),
                          "snr_db": 10.0 * np.log10(sig_v / err_v),
                          "tc_r": np.sqrt(sig_v / (sig_v + err_v)), "valid": ok, "n": n}).transpose("product", ...)
    out.attrs.update(method="extended collocation (Gruber et al. 2016), independent errors", min_n=int(min_n))
    return out


def tc_table(tc: xr.Dataset, space=("lat", "lon")) -> "object":
    """Summary of a gridded TC result as a pandas DataFrame, one row per product: median
    ``err_sd``, ``tc_r``, ``snr_db`` over the admissible pixels and the number of such pixels."""
    import pandas as pd

    present = [d for d in space if d in tc.dims]
    rows = []
    for p in tc["product"].values:
        t = tc.sel(product=p)
        ok = t["valid"]
        rows.append({"product": str(p),
                     "err_sd": float(t["err_sd"].where(ok).median(present)) if present else float(t["err_sd"]),
                     "tc_r": float(t["tc_r"].where(ok).median(present)) if present else float(t["tc_r"]),
                     "snr_db": float(t["snr_db"].where(ok).median(present)) if present else float(t["snr_db"]),
                     "n_pixels": int(ok.sum()) if present else int(bool(ok))})
    return pd.DataFrame(rows)
