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

from itertools import combinations

import numpy as np
import xarray as xr

from ..errors import DataError
from .metrics import _dims_tuple, as_dataarray

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
    das = list(xr.align(*das, join="inner"))
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


def pairwise_r_from_cov(cov, n_products: int) -> dict:
    """Pearson r of each pair ``(i, j)`` from the covariance matrix."""
    out = {}
    for i, j in combinations(range(n_products), 2):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[(i, j)] = _c(cov, i, j) / np.sqrt(_c(cov, i, i) * _c(cov, j, j))
    return out


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


def triple_collocation(x, y, z, dim="time", names=None, min_n: int = MIN_N_TC, min_pair_r: float | None = None,
                       ddof: int = 1) -> xr.Dataset:
    """Covariance-notation triple collocation of three products, per pixel.

    Parameters: ``x, y, z`` DataArrays (aligned by coordinates, inner join) or NumPy arrays
    (``dim`` = first axis) of the same variable; ``names`` the product labels (default: the
    DataArrays' names when distinct, else ``x, y, z``); ``min_n`` the minimum number of complete
    triplets (default 30); ``min_pair_r`` masks pixels where any pairwise Pearson r is below it
    (``0.2`` reproduces seed 003; ``None`` = no mask).

    Returns a Dataset with dim ``product`` (length 3): ``err_sd`` (error sd in each product's own
    units), ``err_sd_scaled`` (in the first product's units, = pytesmo ``err_std``), ``err_var``,
    ``tc_r`` (McColl 2014), ``snr_db`` (Gruber 2016), ``beta`` (scaling to the first product),
    ``valid`` (estimate admissible: enough samples, positive error variance, 0 < rho2 <= 1, not
    masked); and without the product dim ``n`` (complete triplets), ``r_pair`` (dim ``pair``) and
    ``masked`` (seed-003 mask applied). Inadmissible values are NaN.
    """
    arrays, valid = collocate([x, y, z], dim)
    labels = _names([x, y, z], names)
    cov, n = covariance_matrix(arrays, valid, dim, ddof)
    rp = pairwise_r_from_cov(cov, 3)
    enough = n >= max(int(min_n), ddof + 2)
    masked = xr.zeros_like(enough)
    if min_pair_r is not None:
        for v in rp.values():
            masked = masked | (v < min_pair_r)
    others = {0: (1, 2), 1: (0, 2), 2: (0, 1)}
    ev, r2, be = [], [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(3):
            j, k = others[i]
            cii, cij, cik, cjk = _c(cov, i, i), _c(cov, i, j), _c(cov, i, k), _c(cov, j, k)
            ev.append(tc_error_variance(cii, cij, cik, cjk))
            r2.append(tc_rho2(cii, cij, cik, cjk))
            if i == 0:
                be.append(xr.ones_like(cii))
            else:
                kk = 2 if i == 1 else 1
                be.append(tc_beta(_c(cov, 0, kk), _c(cov, i, kk)))
    pdim = xr.DataArray(labels, dims="product", name="product")
    err_var = xr.concat(ev, dim=pdim)
    rho2 = xr.concat(r2, dim=pdim)
    beta = xr.concat(be, dim=pdim)
    base = enough & ~masked
    ok_var = base & (err_var >= 0) & np.isfinite(err_var)
    ok_r = base & (rho2 > 0) & (rho2 <= 1) & np.isfinite(rho2)
    ok_b = base & np.isfinite(beta)
    err_var = err_var.where(ok_var)
    err_sd = np.sqrt(err_var)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = snr_db(rho2.where(ok_r))
    tc_r = np.sqrt(rho2.where(ok_r))
    beta = beta.where(ok_b)
    pair_labels = [f"{labels[i]}-{labels[j]}" for i, j in rp]
    r_pair = xr.concat(list(rp.values()), dim=xr.DataArray(pair_labels, dims="pair", name="pair"))
    out = xr.Dataset({
        "err_sd": err_sd, "err_sd_scaled": err_sd * abs(beta), "err_var": err_var, "tc_r": tc_r,
        "snr_db": snr, "beta": beta, "valid": ok_var & ok_r & ok_b, "n": n, "r_pair": r_pair,
        "masked": masked,
    })
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
    pixel, so the loop runs over replicates, never over pixels) and recomputes
    :func:`triple_collocation`. Returns the point estimate plus ``<var>_lo``/``<var>_hi`` for
    ``err_sd``, ``tc_r``, ``snr_db`` and ``beta`` (NaN-aware percentiles over the admissible
    replicates) and ``n_boot_valid`` (replicates with an admissible estimate).
    """
    if n_boot < 10:
        raise DataError(f"n_boot: at least 10 bootstrap replicates are needed, got {n_boot}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha: must lie in (0, 1), got {alpha}")
    dims = _dims_tuple(dim)
    if len(dims) != 1:
        raise DataError(f"tc_bootstrap: reduce over one dim, got {dims}")
    d = dims[0]
    arrays, _ = collocate([x, y, z], dim)
    labels = _names([x, y, z], names)
    est = triple_collocation(*arrays, dim=dim, names=labels, min_n=min_n, min_pair_r=min_pair_r)
    rng = np.random.default_rng(seed)
    size = arrays[0].sizes[d]
    keys = ("err_sd", "tc_r", "snr_db", "beta")
    reps = {k: [] for k in keys}
    for _ in range(n_boot):
        idx = rng.integers(0, size, size)
        sub = [a.isel({d: idx}).drop_vars(d, errors="ignore") for a in arrays]
        t = triple_collocation(*sub, dim=dim, names=labels, min_n=min_n, min_pair_r=min_pair_r)
        for k in keys:
            reps[k].append(t[k])
    out = est.copy()
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    for k in keys:
        stack = xr.concat(reps[k], dim="boot")
        if k == "tc_r":
            out["n_boot_valid"] = np.isfinite(stack).sum("boot")
        lo_hi = stack.quantile([q[0] / 100, q[1] / 100], dim="boot", skipna=True)
        out[f"{k}_lo"] = lo_hi.isel(quantile=0, drop=True)
        out[f"{k}_hi"] = lo_hi.isel(quantile=1, drop=True)
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
                          "tc_r": np.sqrt(sig_v / (sig_v + err_v)), "valid": ok, "n": n})
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
