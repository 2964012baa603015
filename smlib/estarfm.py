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

:func:`estarfm` does this for whole images and :func:`estarfm_pixels` for target pixels that each have their
own pair dates: vectorized over the targets (one pass over the window offsets with running sums, gathering
each target's neighbours from a padded image stack), ``tile * tile`` targets at a time (memory bounded), for
any number of ``t0`` dates sharing the same pairs at once. :func:`fuse_series` turns a gappy daily fine series
and a gap-free coarse series into a daily fine series by choosing, per pixel, the nearest clear fine dates
before and after each day. :func:`yanco_check` runs the method on a real Landsat/MODIS LST pair.

Differences from the IDL code, all documented parameters: the similarity thresholds are computed over the
whole scene (not per processing block, so tiling never changes the result); an optional ``max_similar`` cap
keeps only the spatially nearest similar pixels; the minimum coarse change is an explicit parameter
(the IDL code's ``DN_max * 0.02``); ``bias_correction`` switches to the zero-bias scaling of ubESTARFM
(Yu et al. 2023, Remote Sens. Environ. 297, 113784).

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


def estarfm(fine1, coarse1, fine2, coarse2, coarse0, *, half_window: int = 25, n_classes: float = 4.0,
            max_similar: int | None = None, min_similar: int = 6, value_range: tuple[float, float] = (0.0, 10000.0),
            min_change: float | None = None, alpha: float = 0.05, max_coefficient: float = 5.0,
            tile: int = 128, thresholds: tuple[float, float] | None = None, bias_correction: bool = False) -> np.ndarray:
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
    tile : target pixels are processed ``tile * tile`` at a time; memory grows with ``tile^2 * ndates``.
    thresholds : explicit similarity thresholds for the two fine images (default: from the pixels valid in
        all images).
    bias_correction : the "zero bias" scaling of ubESTARFM (Yu et al. 2023): each pair's fine values (the
        centre and its similar pixels) are shifted by the mean fine-minus-coarse difference over the similar
        pixels (over the window's valid pixels in the few-similar-pixels branch), so the prediction takes the
        coarse series' level; the similarity weights keep the unshifted values. Off = Zhu's ESTARFM.

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
    valid = np.isfinite(f1) & np.isfinite(f2) & np.isfinite(c1) & np.isfinite(c2) & np.isfinite(c0).all(axis=0)
    if not valid.any():
        out = np.full(c0.shape, np.nan)
        return out[0] if single else out
    if thresholds is None:
        thresholds = (similarity_threshold(np.where(valid, f1, np.nan), n_classes),
                      similarity_threshold(np.where(valid, f2, np.nan), n_classes))
    d1 = np.zeros(shape, dtype=np.int64)
    out = estarfm_pixels(np.stack([f1, f2]), np.stack([c1, c2]), c0, d1, d1 + 1, valid,
                         thresholds=np.asarray(thresholds, float), half_window=half_window, n_classes=n_classes,
                         max_similar=max_similar, min_similar=min_similar, value_range=value_range,
                         min_change=min_change, alpha=alpha, max_coefficient=max_coefficient, tile=tile,
                         bias_correction=bias_correction)
    return out[0] if single else out


def estarfm_pixels(fine, coarse, coarse0, date1, date2, targets, *, thresholds=None, half_window: int = 25,
                   n_classes: float = 4.0, max_similar: int | None = None, min_similar: int = 6,
                   value_range: tuple[float, float] = (0.0, 10000.0), min_change: float | None = None,
                   alpha: float = 0.05, max_coefficient: float = 5.0, tile: int = 128,
                   bias_correction: bool = False) -> np.ndarray:
    """ESTARFM where every target pixel has its own pair dates (the engine of :func:`estarfm`).

    ``fine``/``coarse``: ``(k, ny, nx)`` stacks of fine images (NaN gaps) and coarse images on the fine grid;
    ``date1``/``date2``: ``(ny, nx)`` indices into the stacks of each pixel's two pairs; ``targets``: boolean
    ``(ny, nx)`` of the pixels to predict; ``coarse0``: ``(ndates, ny, nx)`` coarse images at the prediction
    dates. A target's window uses the fine and coarse images of *its* pair dates (neighbours missing on them
    are not similar pixels); ``thresholds``: per stack image (default ``2 sd / n_classes`` of each). Vectorized
    over target pixels with one pass over the window offsets (running sums), ``tile * tile`` targets at a time.
    Other parameters as :func:`estarfm`. Returns ``(ndates, ny, nx)``, NaN off the targets.
    """
    fine = np.asarray(fine, np.float64)
    coarse = np.asarray(coarse, np.float64)
    c0 = np.asarray(coarse0, np.float64)
    k, ny, nx = fine.shape
    n0 = c0.shape[0]
    w = int(half_window)
    if w < 1 or tile < 1 or min_similar < 1:
        raise DataError(f"estarfm: half_window, tile and min_similar must be >= 1, got {w}, {tile}, {min_similar}")
    lo, hi = float(value_range[0]), float(value_range[1])
    if min_change is None:
        min_change = 0.02 * hi
    if thresholds is None:
        thresholds = np.array([similarity_threshold(fine[i], n_classes) if np.isfinite(fine[i]).any() else 0.0
                               for i in range(k)])
    thresholds = np.asarray(thresholds, np.float64)
    out = np.full((n0, ny, nx), np.nan)
    targets = np.asarray(targets, bool) & (date1 >= 0) & (date2 >= 0)
    if not targets.any():
        return out
    ok0 = np.isfinite(c0).all(axis=0)
    ref = float(np.nanmean(fine[:, targets]))  # centring: sums in float64 without cancellation
    hp, wp = ny + 2 * w, nx + 2 * w
    npad = hp * wp

    def flat(a):  # pad by w with NaN and flatten the two spatial axes
        a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(w, w), (w, w)], constant_values=np.nan)
        return a.reshape(a.shape[:-2] + (npad,))

    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs((fine - coarse) / (fine + coarse))  # spectral term of each image, raw values
    both = np.isfinite(fine) & np.isfinite(coarse)
    fz = np.where(both, fine - ref, np.nan)
    cz = np.where(both, coarse - ref, np.nan)
    # one row per (image, padded pixel): F, C, |F-C|/|F+C|, C*C, C*F, F*F -- one gather per pair and offset
    table = np.stack([flat(x).ravel() for x in (fz, cz, rel, cz * cz, cz * fz, fz * fz)], axis=1)
    C0 = np.nan_to_num(flat(np.where(ok0, c0 - ref, 0.0)), nan=0.0)
    OK0 = flat(ok0[None].astype(np.float64))[0] == 1.0
    dys, dxs, dists = window_offsets(w)
    offs = dys * wp + dxs
    yy, xx = np.nonzero(targets)
    pos_all = (yy + w) * wp + (xx + w)
    chunk = int(tile) * int(tile)
    for s in range(0, pos_all.size, chunk):
        pos = pos_all[s:s + chunk]
        ty, tx = yy[s:s + chunk], xx[s:s + chunk]
        g1 = date1[ty, tx].astype(np.int64) * npad
        g2 = date2[ty, tx].astype(np.int64) * npad
        pred = _predict_targets(table, C0, OK0, pos, g1, g2, thresholds[date1[ty, tx]], thresholds[date2[ty, tx]],
                                offs, dists, max_similar, min_similar, lo - ref, hi - ref, min_change, alpha,
                                max_coefficient, bias_correction)
        out[:, ty, tx] = pred + ref
    return out


def _predict_targets(T, C0, OK0, pos, g1, g2, th1, th2, offs, dists, cap, min_similar, lo, hi, min_change,
                     alpha, max_coefficient, bias_correction=False):
    """One pass over the window offsets with running sums for the targets at padded flat positions ``pos``.

    ``T`` holds per (image, pixel) the columns F, C, R, CC, CF, FF (centred values; NaN where missing)."""
    n = pos.size
    n0 = C0.shape[0]
    f1c, f2c = T[g1 + pos, 0], T[g2 + pos, 0]
    centre_ok = np.isfinite(f1c + f2c) & OK0[pos]
    count, sinv, nv = np.zeros(n), np.zeros(n), np.zeros(n)
    m0, m12 = np.zeros((n0, n)), np.zeros((n, 4))  # window sums of C1, C2, F1, F2 over valid pixels
    w1, w2, w_c0 = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n0, n))  # weighted F, C of each pair
    u1, u2 = np.zeros((n, 6)), np.zeros((n, 6))  # unweighted sums of the table columns over similar pixels
    for off, dist in zip(offs, dists):
        nb = pos + off
        b1, b2 = T[g1 + nb], T[g2 + nb]
        valid = np.isfinite(b1[:, 0] + b2[:, 0]) & OK0[nb]
        if not valid.any():
            continue
        nv += valid
        c0 = np.take(C0, nb, axis=1)
        c0 *= valid
        m0 += c0
        m12 += np.where(valid[:, None], np.stack([b1[:, 1], b2[:, 1], b1[:, 0], b2[:, 0]], axis=1), 0.0)
        with np.errstate(invalid="ignore"):
            cand = valid & (np.abs(b1[:, 0] - f1c) < th1) & (np.abs(b2[:, 0] - f2c) < th2)
        if cap is not None:
            cand &= count < cap
        if not cand.any():
            continue
        count += cand
        q = 0.5 * (b1[:, 2] + b2[:, 2])
        q[np.isnan(q)] = 0.5  # 1 - S with S = 0.5 where the spectral term is 0/0
        with np.errstate(divide="ignore", invalid="ignore"):
            ic = np.where(cand, 1.0 / (q * dist + _EPS_C), 0.0)
        sinv += ic
        b1 = np.where(cand[:, None], b1, 0.0)
        b2 = np.where(cand[:, None], b2, 0.0)
        u1 += b1
        u2 += b2
        w1 += b1[:, :2] * ic[:, None]
        w2 += b2[:, :2] * ic[:, None]
        c0 *= ic
        w_c0 += c0
    with np.errstate(invalid="ignore", divide="ignore"):
        m0, m1, m2 = m0 / nv, m12[:, 0] / nv, m12[:, 1] / nv
        s = u1 + u2
        slope, p = regression_slope_test(2.0 * count, s[:, 1], s[:, 0], s[:, 3], s[:, 4], s[:, 5])
        change = np.abs(u1[:, 1] / count - u2[:, 1] / count)
        v = conversion_coefficient(slope, p, change, min_change, alpha, max_coefficient)
        wf1, wc1, wf2, wc2 = w1[:, 0] / sinv, w1[:, 1] / sinv, w2[:, 0] / sinv, w2[:, 1] / sinv
        wc0 = w_c0 / sinv
        t1, t2, _, _ = temporal_weights(m0, m1, m2)
        e_1, e_2, d1, d2 = temporal_weights(m0, m1, m2, signed=True)
        if bias_correction:  # ubESTARFM: shift each pair's fine values to the coarse level
            b1 = (u1[:, 0] - u1[:, 1]) / count
            b2 = (u2[:, 0] - u2[:, 1]) / count
            v = 1.0
            wf1, wf2 = wf1 - b1, wf2 - b2
            k1 = f1c - (m12[:, 2] - m12[:, 0]) / nv
            k2 = f2c - (m12[:, 3] - m12[:, 1]) / nv
            f1c, f2c = f1c - b1, f2c - b2
        else:
            k1, k2 = f1c, f2c
        pred = combine_pairs(f1c, f2c, wc0 - wc1, wc0 - wc2, t1, t2, v)
        pred = np.where((pred <= lo) | (pred >= hi), t1 * wf1 + t2 * wf2, pred)
        few = combine_pairs(k1, k2, d1, d2, e_1, e_2)
    pred = np.where(count >= min_similar, pred, few)
    return np.where(centre_ok, pred, np.nan)


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


def fuse_series(fine: xr.DataArray, coarse: xr.DataArray, *, resample: str = "bilinear", n_classes: float = 4.0,
                **params) -> xr.DataArray:
    """Daily fine series by ESTARFM from a gappy fine ``(time, lat, lon)`` series and a gap-free coarse one.

    A clear pixel keeps its observation. Every other pixel is predicted from its own two nearest clear fine
    dates, at or before and at or after the day (:func:`pair_dates`; one-pair mode at the ends of the
    period), by :func:`estarfm_pixels`: its similar pixels are sought in the fine images of those dates.
    Days whose pair maps equal the previous day's share one pass (similar pixels, weights and coefficients
    computed once). Pixels never clear take the resampled coarse value. The similarity threshold of each
    fine date is ``2 sd / n_classes`` of its clear pixels. ``params`` go to :func:`estarfm_pixels`
    (``half_window``, ``max_similar``, ``value_range``, ``min_change``, ``tile``...).
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
    th = np.array([similarity_threshold(F[t], n_classes) if clear[t].sum() > 1 else 0.0 for t in range(F.shape[0])])
    p, n = pair_dates(clear)
    nt = F.shape[0]
    out = np.where(clear, F, C)
    start = 0
    while start < nt:
        stop = start + 1
        while stop < nt and np.array_equal(p[stop], p[start]) and np.array_equal(n[stop], n[start]):
            stop += 1
        targets = ~clear[start] & (p[start] >= 0)
        if targets.any():
            used = np.unique(np.concatenate([p[start][targets], n[start][targets]]))
            remap = np.zeros(nt, dtype=np.int64)
            remap[used] = np.arange(used.size)
            d1 = remap[np.maximum(p[start], 0)]
            d2 = remap[np.maximum(n[start], 0)]
            pred = estarfm_pixels(F[used], C[used], C[start:stop], d1, d2, targets, thresholds=th[used],
                                  n_classes=n_classes, **params)
            good = np.isfinite(pred)
            out[start:stop] = np.where(good, pred, out[start:stop])
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


def yanco_folder(repo_root=None):
    """Where the Yanco test pair lies (``<repo>/../shared/realdata/yuyi13+ubESTARFM/1_test_data``), or None."""
    from pathlib import Path

    from .study import REPO_ROOT

    p = Path(repo_root or REPO_ROOT).parent / "shared" / "realdata" / "yuyi13+ubESTARFM" / "1_test_data"
    return p if all((p / f).exists() for f in YANCO_FILES.values()) else None


def score_against(fields: dict, reference: xr.DataArray, mask: xr.DataArray | None = None):
    """Pooled ``n, r, bias, rmse, ubrmse, mae`` of each field of ``fields`` (name -> DataArray on the grid of
    ``reference``) against ``reference``, over the pixel-days where ``mask`` is true (all when None).
    Returns a DataFrame indexed by name."""
    import pandas as pd

    from .validate import pooled

    rows = {}
    for name, da in fields.items():
        a = da if mask is None else da.where(mask)
        rows[name] = pooled(a, reference)
    df = pd.DataFrame(rows).T
    df["n"] = df["n"].astype(int)
    df.index.name = "method"
    return df
