"""ESTARFM: the enhanced spatial and temporal adaptive reflectance fusion model (Zhu et al. 2010).

Predicts a fine-resolution image at a date ``t0`` from two fine/coarse pairs (dates ``t1``, ``t2``) and the
coarse image at ``t0``, with the coarse images already resampled to the fine grid. For each target pixel:

1. **similar pixels** in a ``(2w+1) x (2w+1)`` moving window: pixels whose fine value differs from the
   target's by less than ``2 sd / n_classes`` in *both* fine images (:func:`similarity_threshold`);
2. **weights** from the spectral similarity of fine and coarse values (:func:`spectral_similarity`, the
   single-band form of Zhu's reference code) and the relative spatial distance
   (:func:`distance_factor`): ``W = (1/C) / sum(1/C)`` with ``C = (1 - S) * D`` (:func:`combined_distance`);
3. a **conversion coefficient** ``V``: the slope of fine on coarse regressed over the similar pixels of both
   pairs, kept only if the coarse change between the pairs is large enough, the F-test is significant at
   ``alpha`` and ``0 < V <= max_coefficient``, else 1 (:func:`conversion_coefficient`);
4. **temporal weights** from the coarse change between each pair and ``t0`` over the window
   (:func:`temporal_weights`), and the prediction
   ``F0 = T1 (F1 + V sum W (C0 - C1)) + T2 (F2 + V sum W (C0 - C2))`` (:func:`combine_pairs`); a value outside
   ``value_range`` falls back to the weighted mean of the similar pixels' fine values, and a pixel with too few
   similar pixels to ``T1 (F1 + dC1) + T2 (F2 + dC2)`` with window-mean coarse changes -- the rules of Zhu's
   IDL reference code (ESTARFM.pro, version of 27 July 2018).

:func:`estarfm` does this for whole images, vectorized over pixels (one pass over the window offsets with
running sums) and tiled with a halo (memory bounded by ``tile``), for any number of ``t0`` dates sharing the
same pairs at once. :func:`fuse_series` turns a gappy daily fine series and a gap-free coarse series into a
daily fine series by choosing, per pixel, the nearest clear fine dates before and after each day.

Differences from the IDL code, all documented parameters: the similarity thresholds are computed over the
whole scene (not per processing block, so tiling never changes the result); an optional ``max_similar`` cap
keeps only the spatially nearest similar pixels; the minimum coarse change is an explicit parameter
(the IDL code's ``DN_max * 0.02``).

Reference: Zhu, X., Chen, J., Gao, F., Chen, X., Masek, J. G. (2010) An enhanced spatial and temporal adaptive
reflectance fusion model for complex heterogeneous regions. Remote Sens. Environ. 114, 2610-2623.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import DataError

#: small constants of the reference code
_EPS_C = 1e-7  # added to the combined distance
_EPS_T = 0.01 ** 5  # added to the coarse differences of the temporal weights


# ------------------------------------------------------------------------------------------ formulas
def similarity_threshold(fine, n_classes: float = 4.0) -> float:
    """Similar-pixel threshold ``2 * sd(fine) / n_classes`` (Zhu et al. 2010, eq. 7), NaN-aware, in the
    units of ``fine``; the standard deviation is the population one (``ddof=0``)."""
    if n_classes <= 0:
        raise DataError(f"n_classes must be positive, got {n_classes}")
    arr = np.asarray(fine, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise DataError("cannot compute a similarity threshold: the fine image has no valid pixel")
    return float(arr.std() * 2.0 / n_classes)


def spectral_similarity(fine1, coarse1, fine2, coarse2):
    """Spectral similarity ``S = 1 - (|(F1-C1)/(F1+C1)| + |(F2-C2)/(F2+C2)|) / 2`` of a pixel's fine and
    coarse values over both pairs (unitless, <= 1; 1 = identical). This is the single-band form used in Zhu's
    reference code in place of the cross-band correlation of the paper (eq. 8); NaN (0/0) becomes 0.5 as
    there."""
    f1, c1, f2, c2 = (np.asarray(a, dtype=float) for a in (fine1, coarse1, fine2, coarse2))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 1.0 - 0.5 * (np.abs((f1 - c1) / (f1 + c1)) + np.abs((f2 - c2) / (f2 + c2)))
    return np.where(np.isnan(s), 0.5, s)


def distance_factor(dy, dx, half_window: int):
    """Relative spatial distance ``D = 1 + sqrt(dy^2 + dx^2) / w`` of a pixel at offset ``(dy, dx)`` pixels
    from the target, ``w`` the half window (Zhu et al. 2010, eq. 9)."""
    return 1.0 + np.sqrt(np.asarray(dy, float) ** 2 + np.asarray(dx, float) ** 2) / float(half_window)


def combined_distance(similarity, distance):
    """Combined distance ``C = (1 - S) * D + 1e-7``; the weight of a similar pixel is ``(1/C) / sum(1/C)``
    (Zhu et al. 2010, eqs. 10-11)."""
    return (1.0 - np.asarray(similarity, float)) * np.asarray(distance, float) + _EPS_C


def regression_slope_test(n, sx, sy, sxx, sxy, syy):
    """Least-squares slope of y on x and the F-test p-value, from the sums of ``n`` points.

    Returns ``(slope, p)``: ``F = SSR / (SSE / (n - 2))`` on (1, n-2) degrees of freedom, as IDL's
    ``regress(..., FTEST=)``; ``p = 1 - F_cdf(F)``. A perfect fit gives p = 0; a constant x gives NaN.
    """
    from scipy.special import fdtrc

    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = sx / n
        my = sy / n
        vxx = sxx - n * mx * mx
        vxy = sxy - n * mx * my
        vyy = syy - n * my * my
        slope = vxy / vxx
        ssr = slope * vxy
        sse = np.maximum(vyy - ssr, 0.0)
        fval = ssr / (sse / (n - 2.0))
        p = np.where(np.isfinite(fval), fdtrc(1.0, np.maximum(n - 2.0, 1.0), np.where(np.isfinite(fval), fval, 0.0)),
                     np.where(fval == np.inf, 0.0, np.nan))
    return slope, p


def conversion_coefficient(slope, p, coarse_change, min_change: float, alpha: float = 0.05,
                           max_coefficient: float = 5.0):
    """Conversion coefficient ``V`` (Zhu et al. 2010, eq. 5, reference-code rules): the regression slope of
    fine on coarse over the similar pixels where the coarse change between the pairs is at least
    ``min_change``, the F-test is significant (``p <= alpha``) and ``0 < slope <= max_coefficient``; 1
    elsewhere (no significant, an inconsistent or an implausibly large conversion)."""
    slope = np.asarray(slope, float)
    ok = (np.asarray(coarse_change) >= min_change) & (np.asarray(p) <= alpha) & (slope > 0) & (slope <= max_coefficient)
    return np.where(ok, slope, 1.0)


def temporal_weights(mean0, mean1, mean2, signed: bool = False):
    """Temporal weights ``T_k = (1/|dC_k|) / (1/|dC_1| + 1/|dC_2|)`` with ``dC_k`` the window-mean coarse
    change between pair ``k`` and the prediction date (Zhu et al. 2010, eq. 12); ``1e-10`` is added to each
    change (to its absolute value, or with ``signed`` to the signed change as in the reference code's
    few-similar-pixels branch). Returns ``(T1, T2, dC1, dC2)`` with the signed changes."""
    d1 = np.asarray(mean0, float) - np.asarray(mean1, float)
    d2 = np.asarray(mean0, float) - np.asarray(mean2, float)
    if signed:
        d1 = d1 + _EPS_T
        d2 = d2 + _EPS_T
        a1, a2 = np.abs(d1), np.abs(d2)
    else:
        a1, a2 = np.abs(d1) + _EPS_T, np.abs(d2) + _EPS_T
    i1, i2 = 1.0 / a1, 1.0 / a2
    return i1 / (i1 + i2), i2 / (i1 + i2), d1, d2


def combine_pairs(fine1, fine2, change1, change2, t1, t2, coefficient=1.0):
    """Prediction ``T1 (F1 + V dC1) + T2 (F2 + V dC2)`` from both pairs (Zhu et al. 2010, eqs. 6 and 13),
    ``dC_k`` the (weighted) coarse change from pair ``k`` to the prediction date."""
    return t1 * (fine1 + coefficient * change1) + t2 * (fine2 + coefficient * change2)


# ---------------------------------------------------------------------------------- the image kernel
def window_offsets(half_window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets ``(dy, dx)`` of a ``(2w+1)^2`` window ordered by distance from the centre (ties in raster
    order) and their :func:`distance_factor`. The order defines which similar pixels a ``max_similar`` cap
    keeps (the spatially nearest)."""
    w = int(half_window)
    dy, dx = np.meshgrid(np.arange(-w, w + 1), np.arange(-w, w + 1), indexing="ij")
    dy, dx = dy.ravel(), dx.ravel()
    d2 = dy * dy + dx * dx
    order = np.lexsort((dx, dy, d2))
    dy, dx = dy[order], dx[order]
    return dy, dx, distance_factor(dy, dx, w)


def _box_sum(padded: np.ndarray, w: int) -> np.ndarray:
    """Sum over the ``(2w+1)^2`` window of each interior pixel of an array padded by ``w`` zeros (last two
    axes), by 2-D cumulative sums."""
    c = np.cumsum(np.cumsum(padded, axis=-1), axis=-2)
    c = np.pad(c, [(0, 0)] * (c.ndim - 2) + [(1, 0), (1, 0)])
    k = 2 * w + 1
    return c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]


def estarfm(fine1, coarse1, fine2, coarse2, coarse0, *, half_window: int = 25, n_classes: float = 4.0,
            max_similar: int | None = None, min_similar: int = 6, value_range: tuple[float, float] = (0.0, 10000.0),
            min_change: float | None = None, alpha: float = 0.05, max_coefficient: float = 5.0,
            tile: int = 128, thresholds: tuple[float, float] | None = None) -> np.ndarray:
    """Fine image(s) at the prediction date(s) by ESTARFM from two pairs (2-D arrays on the fine grid).

    Parameters
    ----------
    fine1, coarse1, fine2, coarse2 : 2-D arrays ``(ny, nx)``; the coarse images resampled to the fine grid.
        NaN marks missing pixels. For one-pair (STARFM-like) prediction pass the same pair twice.
    coarse0 : ``(ny, nx)`` or ``(ndates, ny, nx)``: coarse image(s) at the prediction date(s); all dates share
        the pairs, so similar pixels, weights and coefficients are computed once.
    half_window : ``w``; the window is ``2w+1`` fine pixels wide (reference default 25).
    n_classes : estimated number of classes; similarity threshold ``2 sd / n_classes``.
    max_similar : keep at most this many similar pixels, the spatially nearest (None = all, as the reference).
    min_similar : fewer similar pixels than this use the window-mean fallback (reference: more than 5).
    value_range : ``(DN_min, DN_max)``; predictions at or beyond it fall back to the weighted fine mean.
    min_change : minimum window coarse change between the pairs for a regressed coefficient
        (default ``0.02 * DN_max``, the reference's rule).
    alpha, max_coefficient : F-test level and upper bound of the conversion coefficient (0.05, 5).
    tile : target pixels per tile side; memory grows with ``(tile + 2w)^2 * ndates``.
    thresholds : explicit similarity thresholds for the two fine images (default from the scene).

    Returns ``float64`` predictions shaped like ``coarse0`` (NaN where a pair or ``coarse0`` is missing).
    """
    f1, c1, f2, c2 = (np.asarray(a, dtype=np.float64) for a in (fine1, coarse1, fine2, coarse2))
    c0 = np.asarray(coarse0, dtype=np.float64)
    single = c0.ndim == 2
    if single:
        c0 = c0[None]
    shape = f1.shape
    if f1.ndim != 2 or any(a.shape != shape for a in (c1, f2, c2)) or c0.shape[1:] != shape:
        raise DataError(f"estarfm: fine/coarse images must share one 2-D shape, got {f1.shape}, {c1.shape}, "
                        f"{f2.shape}, {c2.shape} and coarse0 {np.shape(coarse0)}")
    w = int(half_window)
    if w < 1 or tile < 1 or min_similar < 1:
        raise DataError(f"estarfm: half_window, tile and min_similar must be >= 1, got {w}, {tile}, {min_similar}")
    lo, hi = float(value_range[0]), float(value_range[1])
    if min_change is None:
        min_change = 0.02 * hi
    valid = np.isfinite(f1) & np.isfinite(f2) & np.isfinite(c1) & np.isfinite(c2) & np.isfinite(c0).all(axis=0)
    out = np.full(c0.shape, np.nan)
    if not valid.any():
        return out[0] if single else out
    if thresholds is None:
        thresholds = (similarity_threshold(np.where(valid, f1, np.nan), n_classes),
                      similarity_threshold(np.where(valid, f2, np.nan), n_classes))
    th1, th2 = float(thresholds[0]), float(thresholds[1])

    # centre the values (regression sums in float64 without cancellation); all formulas are shift-equivariant
    ref = float(np.mean(f1[valid]))
    q = 1.0 - spectral_similarity(f1, c1, f2, c2)  # 1 - S, from raw values

    def pad(a, fill=0.0):
        return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(w, w), (w, w)], constant_values=fill)

    V = pad(valid, False)
    F1, F2 = pad(np.where(valid, f1 - ref, 0.0)), pad(np.where(valid, f2 - ref, 0.0))
    C1, C2 = pad(np.where(valid, c1 - ref, 0.0)), pad(np.where(valid, c2 - ref, 0.0))
    C0 = pad(np.where(valid, c0 - ref, 0.0))
    Q = pad(np.where(valid, q, 0.0))
    XX, XY, YY = C1 * C1 + C2 * C2, C1 * F1 + C2 * F2, F1 * F1 + F2 * F2
    # window means of all valid pixels (temporal weights, fallback), by box sums
    nv = _box_sum(V.astype(np.float64), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        m0 = _box_sum(C0, w) / nv
        m1 = _box_sum(C1, w) / nv
        m2 = _box_sum(C2, w) / nv
    dy_all, dx_all, dist_all = window_offsets(w)
    ny, nx = shape
    for r0 in range(0, ny, tile):
        r1 = min(ny, r0 + tile)
        for q0 in range(0, nx, tile):
            q1 = min(nx, q0 + tile)
            vc = valid[r0:r1, q0:q1]
            if not vc.any():
                continue
            res = _tile(F1, F2, C1, C2, C0, Q, V, XX, XY, YY, r0, r1, q0, q1, w, dy_all, dx_all, dist_all,
                        th1, th2, max_similar)
            count, sinv, sw, su = res
            sl = (slice(r0, r1), slice(q0, q1))
            f1c, f2c = F1[r0 + w:r1 + w, q0 + w:q1 + w], F2[r0 + w:r1 + w, q0 + w:q1 + w]
            n2 = 2.0 * count
            slope, p = regression_slope_test(n2, su["c1"] + su["c2"], su["f1"] + su["f2"], su["xx"], su["xy"], su["yy"])
            with np.errstate(invalid="ignore", divide="ignore"):
                change = np.abs(su["c1"] / count - su["c2"] / count)
                vcoef = conversion_coefficient(slope, p, change, min_change, alpha, max_coefficient)
                wc1, wc2 = sw["c1"] / sinv, sw["c2"] / sinv
                wf1, wf2 = sw["f1"] / sinv, sw["f2"] / sinv
                wc0 = sw["c0"] / sinv
            enough = count >= min_similar
            t1, t2, _, _ = temporal_weights(m0[:, sl[0], sl[1]], m1[sl], m2[sl])
            pred = combine_pairs(f1c, f2c, wc0 - wc1, wc0 - wc2, t1, t2, vcoef) + ref
            bad = (pred <= lo) | (pred >= hi)
            pred = np.where(bad, t1 * wf1 + t2 * wf2 + ref, pred)
            u1, u2, e1, e2 = temporal_weights(m0[:, sl[0], sl[1]], m1[sl], m2[sl], signed=True)
            few = combine_pairs(f1c, f2c, e1, e2, u1, u2) + ref
            pred = np.where(enough, pred, few)
            out[:, r0:r1, q0:q1] = np.where(vc, pred, np.nan)
    return out[0] if single else out


def _tile(F1, F2, C1, C2, C0, Q, V, XX, XY, YY, r0, r1, q0, q1, w, dys, dxs, dists, th1, th2, cap):
    """Running sums over the window offsets for the target pixels ``[r0:r1, q0:q1]`` (padded arrays)."""
    cy, cx = slice(r0 + w, r1 + w), slice(q0 + w, q1 + w)
    f1c, f2c = F1[cy, cx], F2[cy, cx]
    shp = f1c.shape
    count = np.zeros(shp)
    sinv = np.zeros(shp)
    sw = {k: np.zeros(shp) for k in ("c1", "c2", "f1", "f2")}
    sw["c0"] = np.zeros((C0.shape[0],) + shp)
    su = {k: np.zeros(shp) for k in ("c1", "c2", "f1", "f2", "xx", "xy", "yy")}
    diff = np.empty(shp)
    cand = np.empty(shp, dtype=bool)
    tmp = np.empty(shp, dtype=bool)
    ic = np.empty(shp)
    prod = np.empty(shp)
    prod0 = np.empty((C0.shape[0],) + shp)
    src_w = {"c1": C1, "c2": C2, "f1": F1, "f2": F2}
    src_u = {"c1": C1, "c2": C2, "f1": F1, "f2": F2, "xx": XX, "xy": XY, "yy": YY}
    for dy, dx, dist in zip(dys, dxs, dists):
        sy, sx = slice(r0 + w + dy, r1 + w + dy), slice(q0 + w + dx, q1 + w + dx)
        np.subtract(F1[sy, sx], f1c, out=diff)
        np.abs(diff, out=diff)
        np.less(diff, th1, out=cand)
        np.subtract(F2[sy, sx], f2c, out=diff)
        np.abs(diff, out=diff)
        np.less(diff, th2, out=tmp)
        cand &= tmp
        cand &= V[sy, sx]
        if cap is not None:
            np.less(count, cap, out=tmp)
            cand &= tmp
        if not cand.any():
            continue
        np.add(count, 1.0, out=count, where=cand)
        np.multiply(Q[sy, sx], dist, out=ic)
        ic += _EPS_C
        np.divide(1.0, ic, out=ic)
        ic[~cand] = 0.0
        sinv += ic
        for k, a in src_w.items():
            np.multiply(a[sy, sx], ic, out=prod)
            sw[k] += prod
        np.multiply(C0[:, sy, sx], ic, out=prod0)
        sw["c0"] += prod0
        for k, a in src_u.items():
            np.add(su[k], a[sy, sx], out=su[k], where=cand)
    return count, sinv, sw, su


# ------------------------------------------------------------------------------------- time series
def clear_indices(clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a ``(time, ...)`` boolean array of clear observations, the index of the last clear date at or
    before each date (-1 if none) and of the first clear date at or after it (``ntime`` if none)."""
    nt = clear.shape[0]
    t = np.arange(nt).reshape((nt,) + (1,) * (clear.ndim - 1))
    prev = np.maximum.accumulate(np.where(clear, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(clear, t, nt)[::-1], axis=0)[::-1]
    return prev.astype(np.int32), nxt.astype(np.int32)


def pair_dates(clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per date and pixel, the dates (indices) of the two pairs ESTARFM uses: the nearest clear fine date at
    or before and at or after; where one side has none, both pairs come from the other side (one-pair
    mode); -1 where the pixel is never clear."""
    prev, nxt = clear_indices(clear)
    nt = clear.shape[0]
    p = np.where(prev < 0, nxt, prev)
    n = np.where(nxt >= nt, prev, nxt)
    p = np.where(p >= nt, -1, p)
    n = np.where(n < 0, -1, n)
    return p.astype(np.int32), n.astype(np.int32)


def nearest_clear(fine: xr.DataArray) -> xr.DataArray:
    """Baseline: each day takes the value of the nearest clear fine date (ties to the earlier date); NaN where
    a pixel is never clear. ``fine`` has dims ``(time, lat, lon)``."""
    arr = fine.transpose("time", "lat", "lon").values
    prev, nxt = clear_indices(np.isfinite(arr))
    nt = arr.shape[0]
    t = np.arange(nt)[:, None, None]
    use_prev = (prev >= 0) & ((nxt >= nt) | (t - prev <= nxt - t))
    idx = np.where(use_prev, prev, nxt)
    never = (prev < 0) & (nxt >= nt)
    out = np.take_along_axis(arr, np.clip(idx, 0, nt - 1), axis=0)
    out = np.where(never, np.nan, out).astype(arr.dtype)
    return fine.copy(data=out)


def coarse_on_fine(coarse: xr.DataArray, fine: xr.DataArray, method: str = "bilinear") -> xr.DataArray:
    """The coarse series resampled to the fine grid (``bilinear`` or ``nearest`` replication), at the fine
    series' dates; raises :class:`DataError` naming missing dates."""
    from .grid import bilinear, replicate

    missing = np.setdiff1d(fine["time"].values, coarse["time"].values)
    if missing.size:
        raise DataError(f"the coarse series lacks {missing.size} date(s) of the fine series, first "
                        f"{str(missing[0])[:10]}: ESTARFM needs a coarse image on every date")
    coarse = coarse.sel(time=fine["time"].values)
    if method == "bilinear":
        out = bilinear(coarse, fine["lat"].values, fine["lon"].values)
    elif method == "nearest":
        out = replicate(coarse, fine["lat"].values, fine["lon"].values)
    else:
        raise DataError(f"resample must be 'bilinear' or 'nearest', got {method!r}")
    return out.transpose("time", "lat", "lon")


def fuse_series(fine: xr.DataArray, coarse: xr.DataArray, *, resample: str = "bilinear", **params) -> xr.DataArray:
    """Daily fine series by ESTARFM from a gappy fine ``(time, lat, lon)`` series and a gap-free coarse one.

    For each day and pixel the two pairs are the nearest clear fine dates at or before and at or after it
    (:func:`pair_dates`), so every pixel uses its own clearest neighbours in time; a day whose pair maps equal
    the previous day's shares its similar pixels and coefficients with it (one :func:`estarfm` call for the
    run of days). A clear pixel reproduces its observation (its change to itself is zero). Pixels never clear
    take the resampled coarse value. ``params`` go to :func:`estarfm`.
    """
    if set(fine.dims) != {"time", "lat", "lon"}:
        raise DataError(f"fuse_series: the fine series must have dims (time, lat, lon), got {fine.dims}")
    fine = fine.transpose("time", "lat", "lon")
    cf = coarse_on_fine(coarse, fine, resample)
    F = fine.values.astype(np.float64)
    C = cf.values.astype(np.float64)
    clear = np.isfinite(F)
    if not clear.any():
        raise DataError(f"fuse_series: the fine series {fine.name!r} has no clear pixel")
    p, n = pair_dates(clear)
    nt = F.shape[0]
    out = np.full(F.shape, np.nan)
    start = 0
    while start < nt:
        stop = start + 1
        while stop < nt and np.array_equal(p[stop], p[start]) and np.array_equal(n[stop], n[start]):
            stop += 1
        pi, ni = p[start], n[start]
        never = pi < 0
        pi_, ni_ = np.where(never, 0, pi)[None], np.where(never, 0, ni)[None]
        f1 = np.where(never, np.nan, np.take_along_axis(F, pi_, 0)[0])
        f2 = np.where(never, np.nan, np.take_along_axis(F, ni_, 0)[0])
        c1 = np.take_along_axis(C, pi_, 0)[0]
        c2 = np.take_along_axis(C, ni_, 0)[0]
        pred = estarfm(f1, c1, f2, c2, C[start:stop], **params)
        out[start:stop] = np.where(np.isfinite(pred), pred, C[start:stop])
        start = stop
    res = fine.copy(data=out.astype(np.float32))
    res.attrs = dict(fine.attrs)
    res.attrs["fusion"] = "ESTARFM (Zhu et al. 2010), nearest clear pairs per pixel"
    return res


# ------------------------------------------------------------------------------- real-data check
#: The Yanco (NSW) Landsat/MODIS LST test pair of the ubESTARFM repository (Yu et al. 2023).
YANCO_FILES = {"fine1": "Landsat_LST_cloudrm_20160205.tif", "coarse1": "MOD11A1_LST_cloudrm_20160205.tif",
               "fine0": "Landsat_LST_cloudrm_20160308.tif", "coarse0": "MOD11A1_LST_cloudrm_20160308.tif"}


def read_band(path) -> np.ndarray:
    """First band of a raster file as float64 with its nodata (and non-positive temperatures) as NaN."""
    import rasterio

    from .errors import InputError

    try:
        with rasterio.open(path) as src:
            arr = src.read(1).astype(np.float64)
            nodata = src.nodata
    except Exception as exc:  # noqa: BLE001 -- any reader failure becomes one clear message
        raise InputError(f"{path}: cannot be read as a raster: {type(exc).__name__}: {exc}") from None
    if nodata is not None:
        arr[arr == nodata] = np.nan
    arr[~np.isfinite(arr)] = np.nan
    return arr


def yanco_check(folder, **params):
    """ESTARFM on real data: predict the 2016-03-08 Landsat LST at Yanco from the 2016-02-05 Landsat/MODIS
    pair and the 2016-03-08 MODIS image (one-pair mode: the pair passed twice), scored against the observed
    Landsat image beside two baselines: the 03-08 MODIS image resampled to the fine grid (the files already
    are) and the 02-05 Landsat image (no change). ``params`` go to :func:`estarfm` (``value_range`` defaults
    to 200-350 K, ``min_change`` to 2 K). Returns a DataFrame indexed by method with ``n, r, bias, rmse,
    ubrmse, mae`` (K) and the predicted image in ``.attrs["prediction"]``.
    """
    from pathlib import Path

    import pandas as pd

    from .errors import InputError
    from .validate import pooled

    folder = Path(folder)
    missing = [f for f in YANCO_FILES.values() if not (folder / f).exists()]
    if missing:
        raise InputError(f"{folder}: lacks the Yanco test file(s) {', '.join(missing)}")
    img = {k: read_band(folder / f) for k, f in YANCO_FILES.items()}
    params = {"value_range": (200.0, 350.0), "min_change": 2.0, "half_window": 12, **params}
    pred = estarfm(img["fine1"], img["coarse1"], img["fine1"], img["coarse1"], img["coarse0"], **params)
    obs = img["fine0"]
    rows = {"estarfm": pred, "modis_resampled": img["coarse0"], "landsat_no_change": img["fine1"]}
    df = pd.DataFrame({k: pooled(v, obs) for k, v in rows.items()}).T
    df.index.name = "method"
    df.attrs["prediction"] = pred
    return df
