"""Triple and extended collocation against pytesmo, known error levels, inadmissible estimates, the
seed-003 mask, bootstrap intervals and grid = per pixel."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pytesmo.metrics import ecol, tcol_metrics
from pytesmo.metrics.confidence_intervals import tcol_metrics_with_bootstrapped_ci

from smlib.errors import DataError
from smlib.validate import extended_collocation, tc_bootstrap, tc_table, triple_collocation

TOL = 1e-6
# pytesmo's own deprecation noise (np.matrix in ecol, DataFrame.dropna(inplace=True))
pytestmark = [pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The inplace keyword")]


def _triplet(n=2000, sds=(0.02, 0.04, 0.06), betas=(1.0, 1.0, 1.0), seed=0, signal_sd=0.06):
    rng = np.random.default_rng(seed)
    t = 0.25 + signal_sd * rng.standard_normal(n)
    return [0.05 * k + b * t + s * rng.standard_normal(n) for k, (s, b) in enumerate(zip(sds, betas))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tc_matches_pytesmo(seed):
    x, y, z = _triplet(n=300, betas=(1.0, 1.4, 0.7), seed=seed)
    tc = triple_collocation(x, y, z)
    snr, err_std, beta = tcol_metrics(x, y, z)
    assert bool(tc["valid"].all())
    np.testing.assert_allclose(tc["snr_db"].values, snr, atol=TOL, rtol=TOL)
    np.testing.assert_allclose(tc["err_sd_scaled"].values, err_std, atol=TOL, rtol=TOL)
    np.testing.assert_allclose(tc["beta"].values, beta, atol=TOL, rtol=TOL)
    # own-units error sd and TC-R from the same covariances
    np.testing.assert_allclose(tc["err_sd"].values * tc["beta"].values, err_std, atol=TOL)
    rho2 = 10 ** (tc["snr_db"].values / 10) / (1 + 10 ** (tc["snr_db"].values / 10))
    np.testing.assert_allclose(tc["tc_r"].values ** 2, rho2, atol=TOL)


def test_tc_with_nans_matches_pytesmo_on_complete_triplets():
    x, y, z = _triplet(n=500, seed=3)
    rng = np.random.default_rng(4)
    for a in (x, y, z):
        a[rng.random(a.size) < 0.15] = np.nan
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    tc = triple_collocation(x, y, z)
    snr, err_std, beta = tcol_metrics(x[ok], y[ok], z[ok])
    assert int(tc["n"]) == int(ok.sum())
    np.testing.assert_allclose(tc["snr_db"].values, snr, atol=TOL)
    np.testing.assert_allclose(tc["err_sd_scaled"].values, err_std, atol=TOL)


def test_known_error_levels_within_10_percent():
    x, y, z = _triplet(n=2000, sds=(0.02, 0.04, 0.06), betas=(1.0, 1.5, 0.8), seed=7)
    tc = triple_collocation(x, y, z, names=["a", "b", "c"])
    np.testing.assert_allclose(tc["err_sd"].values, [0.02, 0.04, 0.06], rtol=0.10)
    np.testing.assert_allclose(tc["beta"].values, [1.0, 1 / 1.5, 1 / 0.8], rtol=0.10)
    assert list(tc["product"].values) == ["a", "b", "c"]
    # TC-R against the true signal correlation of each product
    true_r = [np.sqrt(b**2 * 0.06**2 / (b**2 * 0.06**2 + s**2)) for s, b in zip((0.02, 0.04, 0.06), (1.0, 1.5, 0.8))]
    np.testing.assert_allclose(tc["tc_r"].values, true_r, atol=0.03)


def test_negative_error_variance_is_nan_and_flagged():
    rng = np.random.default_rng(1)
    t = rng.standard_normal(400)
    e = 0.5 * rng.standard_normal(400)
    x, y, z = t, t + e, t - e  # correlated errors of y and z: err_var of x comes out negative
    tc = triple_collocation(x, y, z)
    assert float(tc["err_var"].sel(product="x")) != float(tc["err_var"].sel(product="x"))  # NaN
    assert not bool(tc["valid"].sel(product="x"))
    assert np.isnan(float(tc["snr_db"].sel(product="x"))) or np.isnan(float(tc["err_sd"].sel(product="x")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, err_std, _ = tcol_metrics(x, y, z)
    assert np.isnan(err_std[0])  # pytesmo: sqrt of a negative number; here NaN with a flag, on purpose


def test_degenerate_inputs_do_not_crash():
    c = np.full(100, 0.2)
    x, y, _ = _triplet(n=100)
    tc = triple_collocation(x, y, c)  # a constant product
    assert not bool(tc["valid"].any())
    few = triple_collocation(x[:2], y[:2], x[:2] + 1)  # n < 3
    assert int(few["n"]) == 2 and not bool(few["valid"].any())
    assert np.isnan(few["err_sd"].values).all()
    short = triple_collocation(*_triplet(n=20))  # below min_n = 30
    assert not bool(short["valid"].any())
    ok = triple_collocation(*_triplet(n=20), min_n=10)
    assert bool(ok["valid"].all())
    with pytest.raises(DataError, match="names"):
        triple_collocation(x, y, c, names=["a", "b"])


def _grid(seed=0, nt=200, ny=3, nx=4):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-04-01", periods=nt, freq="D")
    coords = {"time": t, "lat": 36.875 - 0.25 * np.arange(ny), "lon": 100.125 + 0.25 * np.arange(nx)}
    sig = 0.25 + 0.06 * rng.standard_normal((nt, ny, nx))
    arrs = [sig + s * rng.standard_normal(sig.shape) for s in (0.02, 0.04, 0.06)]
    arrs[2][:, 0, 1] = 0.25 + 0.06 * rng.standard_normal(nt)  # unrelated to the signal: r < 0.2
    for a in arrs:
        a[rng.random(a.shape) < 0.1] = np.nan
    arrs[0][:180, 2, 3] = np.nan  # too few triplets
    dims = ("time", "lat", "lon")
    return [xr.DataArray(a, dims=dims, coords=coords, name=nm, attrs={"units": "m3/m3"})
            for a, nm in zip(arrs, ("nn", "fy3c", "model_geos5"))]


def test_gridded_equals_per_pixel_and_seed003_mask():
    x, y, z = _grid()
    tc = triple_collocation(x, y, z, min_pair_r=0.2)
    assert list(tc["product"].values) == ["nn", "fy3c", "model_geos5"]
    assert tc["err_sd"].dims == ("product", "lat", "lon")
    assert tc["err_sd"].attrs["units"] == "m3/m3"
    for i in range(x.sizes["lat"]):
        for j in range(x.sizes["lon"]):
            one = triple_collocation(x.values[:, i, j], y.values[:, i, j], z.values[:, i, j], min_pair_r=0.2)
            for k in ("err_sd", "tc_r", "snr_db", "beta", "valid", "n", "masked"):
                np.testing.assert_allclose(np.asarray(tc[k][..., i, j], float), np.asarray(one[k], float),
                                           rtol=1e-10, equal_nan=True)
    assert bool(tc["masked"][0, 1]) and np.isnan(tc["err_sd"][:, 0, 1]).all()
    assert not bool(tc["valid"][:, 2, 3].any())
    unmasked = triple_collocation(x, y, z)
    assert not bool(unmasked["masked"].any())
    s = tc_table(tc)
    assert list(s["product"]) == ["nn", "fy3c", "model_geos5"]
    np.testing.assert_allclose(s["err_sd"], [0.02, 0.04, 0.06], rtol=0.25)


def test_tc_dask_lazy_equals_eager():
    x, y, z = _grid(2)
    eager = triple_collocation(x, y, z)
    lazy = triple_collocation(*(a.chunk({"lat": 1, "lon": 2}) for a in (x, y, z)))
    assert lazy["err_sd"].chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute())


def test_bootstrap_intervals():
    x, y, z = _triplet(n=400, seed=5)
    b = tc_bootstrap(x, y, z, n_boot=200, seed=1)
    for k in ("err_sd", "tc_r", "snr_db"):
        assert (b[f"{k}_lo"] <= b[k]).all() and (b[k] <= b[f"{k}_hi"]).all()
    assert (b["n_boot_valid"] == 200).all()
    snr, _, _ = tcol_metrics_with_bootstrapped_ci(x, y, z, nsamples=200)
    width_ours = (b["snr_db_hi"] - b["snr_db_lo"]).values
    width_pytesmo = snr[2] - snr[1]
    np.testing.assert_allclose(width_ours, width_pytesmo, rtol=0.35)
    np.testing.assert_allclose(b["snr_db"].values, snr[0], atol=TOL)
    # gridded bootstrap: one draw per replicate shared by all pixels
    g = tc_bootstrap(*_grid(3, nt=120), n_boot=20, seed=0)
    assert g["err_sd_lo"].dims == ("product", "lat", "lon")
    with pytest.raises(DataError, match="n_boot"):
        tc_bootstrap(x, y, z, n_boot=3)


def test_extended_collocation_matches_pytesmo_ecol():
    rng = np.random.default_rng(8)
    t = 0.06 * rng.standard_normal(1500)
    data = {f"p{i}": 0.2 + b * t + s * rng.standard_normal(1500)
            for i, (s, b) in enumerate(zip((0.02, 0.03, 0.05, 0.04), (1.0, 1.2, 0.9, 1.1)))}
    ec = extended_collocation(*data.values())
    ref = ecol(pd.DataFrame(data))
    assert list(ec["product"].values) == ["p0", "p1", "p2", "p3"]
    assert bool(ec["valid"].all())
    for i, nm in enumerate(data):
        assert float(ec["err_var"][i]) == pytest.approx(ref[f"err_{nm}"], abs=TOL)
        assert float(ec["sig_var"][i]) == pytest.approx(ref[f"sig_{nm}"], abs=TOL)
        assert float(ec["snr_db"][i]) == pytest.approx(ref[f"snr_{nm}"], abs=TOL)
    np.testing.assert_allclose(ec["err_sd"].values, [0.02, 0.03, 0.05, 0.04], rtol=0.10)
    # with three products EC is classical TC
    three = list(data.values())[:3]
    np.testing.assert_allclose(extended_collocation(*three)["err_sd"].values,
                               triple_collocation(*three)["err_sd"].values, rtol=1e-10)
    with pytest.raises(DataError, match="at least 3"):
        extended_collocation(*three[:2])


def test_blocked_tc_core_equals_one_call():
    from smlib.validate.metrics import blocked
    from smlib.validate.tc import tc_core

    arrs = [np.moveaxis(a.values, 0, -1) for a in _grid(4)]
    one = tc_core(*arrs, min_pair_r=0.2)
    parts = blocked(tc_core, *arrs, block_values=5 * arrs[0].shape[-1], min_pair_r=0.2)
    for k in one:
        np.testing.assert_array_equal(parts[k], one[k])
