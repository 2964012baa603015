"""ESTARFM: the vectorized, tiled smlib.estarfm against a straightforward per-pixel implementation.

The reference below follows Zhu's IDL code (ESTARFM.pro, 2018) line by line for a single band: a loop over
target pixels, the window clipped at the image edges, similar pixels, weights, the regression with its
F-test and range rules, temporal weights, the abnormal-value and few-similar-pixels branches. It is also the
baseline of benchmarks/bench_estarfm.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from smlib import estarfm as E
from smlib.errors import DataError

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "yuyi13+ubESTARFM" / "1_test_data"


def reference_estarfm(fine1, coarse1, fine2, coarse2, coarse0, w=25, n_classes=4.0, dn_min=0.0, dn_max=10000.0,
                      min_change=None, max_similar=None, thresholds=None, bias_correction=False):
    """Per-pixel ESTARFM for one band (Zhu et al. 2010; IDL reference code), the test oracle."""
    ns, nl = fine1.shape
    min_change = dn_max * 0.02 if min_change is None else min_change
    valid = (np.isfinite(fine1) & np.isfinite(fine2) & np.isfinite(coarse1) & np.isfinite(coarse2)
             & np.isfinite(coarse0))
    if thresholds is None:
        th1 = np.std(fine1[valid]) * 2.0 / n_classes
        th2 = np.std(fine2[valid]) * 2.0 / n_classes
    else:
        th1, th2 = thresholds
    out = np.full(fine1.shape, np.nan)
    for i in range(ns):
        for j in range(nl):
            if not valid[i, j]:
                continue
            ai, bi, aj, bj = max(0, i - w), min(ns - 1, i + w), max(0, j - w), min(nl - 1, j + w)
            win = (slice(ai, bi + 1), slice(aj, bj + 1))
            vw = valid[win]
            rows, cols = np.meshgrid(np.arange(ai, bi + 1), np.arange(aj, bj + 1), indexing="ij")
            with np.errstate(invalid="ignore"):
                cand = (np.abs(fine1[win] - fine1[i, j]) < th1) & (np.abs(fine2[win] - fine2[i, j]) < th2) & vw
            ii, jj = rows[cand], cols[cand]
            if max_similar is not None and ii.size > max_similar:
                d2 = (ii - i) ** 2 + (jj - j) ** 2
                order = np.lexsort((jj - j, ii - i, d2))[:max_similar]
                ii, jj = ii[order], jj[order]
            m0 = coarse0[win][vw].mean()
            m1 = coarse1[win][vw].mean()
            m2 = coarse2[win][vw].mean()
            if ii.size > 5:
                f1, f2 = fine1[ii, jj], fine2[ii, jj]
                c1, c2, c0 = coarse1[ii, jj], coarse2[ii, jj], coarse0[ii, jj]
                with np.errstate(divide="ignore", invalid="ignore"):
                    s = 1.0 - 0.5 * (np.abs((f1 - c1) / (f1 + c1)) + np.abs((f2 - c2) / (f2 + c2)))
                s[np.isnan(s)] = 0.5
                d = 1.0 + np.sqrt((ii - i) ** 2 + (jj - j) ** 2) / float(w)
                cd = (1.0 - s) * d + 1e-7
                weight = (1.0 / cd) / np.sum(1.0 / cd)
                g1, g2 = fine1[i, j], fine2[i, j]
                if bias_correction:  # ubESTARFM "zero bias" (Yu et al. 2023), V = 1
                    b1, b2 = f1.mean() - c1.mean(), f2.mean() - c2.mean()
                    g1, g2, f1, f2 = g1 - b1, g2 - b2, f1 - b1, f2 - b2
                    v = 1.0
                elif abs(c1.mean() - c2.mean()) >= min_change:
                    x = np.concatenate([c1, c2])
                    y = np.concatenate([f1, f2])
                    res = stats.linregress(x, y)
                    n = x.size
                    ssr = res.slope ** 2 * np.sum((x - x.mean()) ** 2)
                    sse = np.sum((y - y.mean()) ** 2) - ssr
                    fval = ssr / (sse / (n - 2)) if sse > 0 else np.inf
                    sig = stats.f.sf(fval, 1, n - 2) if np.isfinite(fval) else 0.0
                    v = res.slope if (sig <= 0.05 and 0 < res.slope <= 5) else 1.0
                else:
                    v = 1.0
                a1 = abs(m0 - m1) + 0.01 ** 5
                a2 = abs(m0 - m2) + 0.01 ** 5
                t1 = (1 / a1) / (1 / a1 + 1 / a2)
                t2 = (1 / a2) / (1 / a1 + 1 / a2)
                p01 = g1 + np.sum(weight * v * (c0 - c1))
                p02 = g2 + np.sum(weight * v * (c0 - c2))
                pred = t1 * p01 + t2 * p02
                if pred <= dn_min or pred >= dn_max:
                    pred = t1 * np.sum(weight * f1) + t2 * np.sum(weight * f2)
            else:
                d1 = m0 - m1 + 0.01 ** 5
                d2 = m0 - m2 + 0.01 ** 5
                t1 = (1 / abs(d1)) / (1 / abs(d1) + 1 / abs(d2))
                t2 = (1 / abs(d2)) / (1 / abs(d1) + 1 / abs(d2))
                g1, g2 = fine1[i, j], fine2[i, j]
                if bias_correction:
                    g1 = g1 - fine1[win][vw].mean() + m1
                    g2 = g2 - fine2[win][vw].mean() + m2
                pred = t1 * (g1 + d1) + t2 * (g2 + d2)
            out[i, j] = pred
    return out


def make_scene(n=24, seed=0, factor=4, gaps=0.0, lst=False):
    """Two fine/coarse pairs and a prediction date over a patchy landscape with a coarse change."""
    rng = np.random.default_rng(seed)
    classes = (rng.random((n // 3 + 1, n // 3 + 1)) * 4).astype(int)
    cls = np.kron(classes, np.ones((3, 3)))[:n, :n].astype(int)
    base = np.array([0.2, 0.4, 0.6, 0.8])[cls] + rng.normal(0, 0.02, (n, n))
    growth = np.array([0.05, 0.10, 0.02, -0.03])[cls]

    def coarse(f):
        m = f.reshape(n // factor, factor, n // factor, factor).mean(axis=(1, 3))
        return np.kron(m, np.ones((factor, factor))) + 0.01

    f1 = base
    f0 = base + growth
    f2 = base + 2.2 * growth + rng.normal(0, 0.01, (n, n))
    if lst:
        f1, f0, f2 = 290 + 20 * f1, 293 + 20 * f0, 300 + 20 * f2
    c1, c0, c2 = coarse(f1), coarse(f0), coarse(f2)
    if gaps:
        f1 = np.where(rng.random((n, n)) < gaps, np.nan, f1)
        f2 = np.where(rng.random((n, n)) < gaps, np.nan, f2)
    return f1, c1, f2, c2, c0, f0


@pytest.mark.parametrize("kw", [dict(w=3), dict(w=5, n_classes=3), dict(w=4, max_similar=12), dict(w=2)])
def test_matches_reference_ndvi(kw):
    f1, c1, f2, c2, c0, _ = make_scene(24, seed=1)
    w = kw.pop("w")
    ref = reference_estarfm(f1, c1, f2, c2, c0, w=w, dn_min=-1, dn_max=1, **kw)
    got = E.estarfm(f1, c1, f2, c2, c0, half_window=w, value_range=(-1, 1), tile=7, **kw)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_matches_reference_lst_with_gaps_and_tiles():
    f1, c1, f2, c2, c0, _ = make_scene(24, seed=3, gaps=0.15, lst=True)
    ref = reference_estarfm(f1, c1, f2, c2, c0, w=4, dn_min=200, dn_max=350, min_change=1.0)
    for tile in (5, 24, 100):
        got = E.estarfm(f1, c1, f2, c2, c0, half_window=4, value_range=(200, 350), min_change=1.0, tile=tile)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_branches_are_exercised():
    """The abnormal-value and few-similar-pixel branches agree with the reference too."""
    f1, c1, f2, c2, c0, _ = make_scene(20, seed=5)
    # a narrow value range forces the abnormal-value fallback for many pixels; many classes the few-pixel branch
    ref = reference_estarfm(f1, c1, f2, c2, c0, w=2, n_classes=40, dn_min=0.25, dn_max=0.7)
    got = E.estarfm(f1, c1, f2, c2, c0, half_window=2, n_classes=40, value_range=(0.25, 0.7))
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_bias_correction_matches_reference_and_removes_offset():
    f1, c1, f2, c2, c0, f0 = make_scene(24, seed=6, lst=True)
    for n_classes in (4, 60):  # 60: many pixels take the few-similar-pixels branch
        ref = reference_estarfm(f1 + 3, c1, f2 + 3, c2, c0, w=3, n_classes=n_classes, dn_min=200, dn_max=350,
                                bias_correction=True)
        got = E.estarfm(f1 + 3, c1, f2 + 3, c2, c0, half_window=3, n_classes=n_classes, value_range=(200, 350),
                        bias_correction=True)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    plain = E.estarfm(f1 + 3, c1, f2 + 3, c2, c0, half_window=3, value_range=(200, 350))
    assert abs(np.mean(got - f0)) < 0.5 < abs(np.mean(plain - f0))


def test_several_prediction_dates_at_once():
    f1, c1, f2, c2, c0, _ = make_scene(16, seed=2)
    stack = np.stack([c0, 0.5 * (c0 + c1), c2])
    got = E.estarfm(f1, c1, f2, c2, stack, half_window=3, value_range=(-1, 1))
    for k in range(3):
        one = E.estarfm(f1, c1, f2, c2, stack[k], half_window=3, value_range=(-1, 1))
        np.testing.assert_allclose(got[k], one, atol=1e-12)


def test_beats_coarse_and_no_change():
    f1, c1, f2, c2, c0, f0 = make_scene(32, seed=4)
    pred = E.estarfm(f1, c1, f2, c2, c0, half_window=4, value_range=(-1, 1))
    rmse = lambda a: float(np.sqrt(np.nanmean((a - f0) ** 2)))  # noqa: E731
    assert rmse(pred) < rmse(c0)
    assert rmse(pred) < min(rmse(f1), rmse(f2))


def test_formulas():
    assert E.similarity_threshold([1.0, 3.0, np.nan], 2) == pytest.approx(1.0)
    assert E.distance_factor(3, 4, 5) == pytest.approx(2.0)
    s = E.spectral_similarity(0.0, 0.0, 1.0, 1.0)
    assert s == pytest.approx(0.5 + 0.5 * 0.5 * 2 - 0.5)  # NaN -> 0.5
    t1, t2, d1, d2 = E.temporal_weights(1.0, 0.0, 3.0)
    assert t1 == pytest.approx(2 / 3, rel=1e-6) and t2 == pytest.approx(1 / 3, rel=1e-6)
    x = np.arange(10.0)
    y = 2 * x + np.sin(x)
    slope, p = E.regression_slope_test(10, x.sum(), y.sum(), (x * x).sum(), (x * y).sum(), (y * y).sum())
    lr = stats.linregress(x, y)
    assert slope == pytest.approx(lr.slope) and p == pytest.approx(lr.pvalue, rel=1e-6)
    assert E.conversion_coefficient(7.0, 0.0, 1.0, 0.1) == 1.0
    assert E.conversion_coefficient(2.0, 0.01, 1.0, 0.1) == 2.0
    assert E.conversion_coefficient(2.0, 0.2, 1.0, 0.1) == 1.0
    assert E.conversion_coefficient(2.0, 0.01, 0.05, 0.1) == 1.0


def test_bad_input():
    with pytest.raises(DataError, match="share one 2-D shape"):
        E.estarfm(np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(DataError, match="no valid pixel"):
        E.similarity_threshold([np.nan])
    a = np.full((5, 5), np.nan)
    assert np.isnan(E.estarfm(a, a, a, a, a, half_window=1)).all()


def _series(nt=12, n=20, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-05-01", periods=nt)
    lat = np.round(37 - (np.arange(n) + 0.5) * 0.01, 8)
    lon = np.round(100 + (np.arange(n) + 0.5) * 0.01, 8)
    cls = np.kron((rng.random((n // 4, n // 4)) * 3).astype(int), np.ones((4, 4), int))
    amp = np.array([0.1, 0.3, 0.5])[cls]
    days = np.arange(nt)[:, None, None]
    true = 0.2 + amp * (1 + np.sin(days / 6.0))[...] / 2 + 0.02 * rng.normal(size=(1, n, n))
    fine = xr.DataArray(true.astype("float32"), dims=("time", "lat", "lon"), coords={"time": t, "lat": lat, "lon": lon},
                        name="ndvi")
    clat = np.round(37 - (np.arange(n // 5) + 0.5) * 0.05, 8)
    clon = np.round(100 + (np.arange(n // 5) + 0.5) * 0.05, 8)
    coarse = xr.DataArray(true.reshape(nt, n // 5, 5, n // 5, 5).mean(axis=(2, 4)), dims=("time", "lat", "lon"),
                          coords={"time": t, "lat": clat, "lon": clon})
    gappy = fine.where(xr.DataArray(rng.random((nt, n, n)) > 0.6, dims=fine.dims, coords=fine.coords))
    gappy[:, :2, :2] = np.nan  # never clear
    return fine, gappy, coarse


def test_pair_dates_and_nearest_clear():
    clear = np.array([False, True, False, False, True, False])[:, None]
    p, n = E.pair_dates(clear)
    assert p[:, 0].tolist() == [1, 1, 1, 1, 4, 4]
    assert n[:, 0].tolist() == [1, 1, 4, 4, 4, 4]
    assert E.pair_dates(np.zeros((3, 1), bool))[0][:, 0].tolist() == [-1, -1, -1]
    da = xr.DataArray(np.array([np.nan, 1, np.nan, np.nan, 4, np.nan])[:, None, None], dims=("time", "lat", "lon"))
    assert E.nearest_clear(da).values.ravel().tolist() == [1, 1, 1, 4, 4, 4]


def test_fuse_series_fills_gaps_and_beats_baselines():
    fine, gappy, coarse = _series()
    out = E.fuse_series(gappy, coarse, half_window=3, value_range=(-1, 1), min_change=0.01)
    assert out.shape == fine.shape and np.isfinite(out.values).all()
    clear = np.isfinite(gappy.values)
    np.testing.assert_allclose(out.values[clear], gappy.values[clear], atol=1e-5)
    gap = ~clear
    gap[:, :2, :2] = False
    err = lambda a: float(np.sqrt(np.mean((np.asarray(a)[gap] - fine.values[gap]) ** 2)))  # noqa: E731
    e_est = err(out.values)
    e_near = err(E.nearest_clear(gappy).values)
    e_coarse = err(E.coarse_on_fine(coarse, gappy).values)
    assert e_est < e_near and e_est < e_coarse


def test_fuse_series_bad_input():
    fine, gappy, coarse = _series(nt=4)
    with pytest.raises(DataError, match="lacks 1 date"):
        E.fuse_series(gappy, coarse.isel(time=slice(0, 3)))
    with pytest.raises(DataError, match="no clear pixel"):
        E.fuse_series(gappy * np.nan, coarse)


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.exists(), reason=f"real data folder {REALDATA} is absent (../shared/realdata)")
def test_yanco_one_pair_beats_resampled_modis():
    """Yanco (NSW) 2016: predict the 2016-03-08 Landsat LST from the 02-05 Landsat/MODIS pair and the 03-08
    MODIS image; ESTARFM beats the MODIS image itself against the observed Landsat image."""
    res = E.yanco_check(REALDATA, half_window=12)
    est, base = res.loc["estarfm"], res.loc["modis_resampled"]
    assert est["r"] > base["r"]
    assert est["rmse"] < base["rmse"]
