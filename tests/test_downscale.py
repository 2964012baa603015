"""LightGBM downscaling (smlib.downscale): features, training, CV, chunked prediction, residual correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from smlib import downscale as D
from smlib.errors import DataError
from smlib.grid import Grid, block_mean


def _scene(nt=20, n=40, seed=0):
    """A 0.4-deg region at 0.01 deg (fine) and 0.1 deg (coarse, 4x4 cells) where soil moisture depends on
    elevation (wetter low) and LST (wetter cool) at every scale."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-05-01", periods=nt)
    lat = np.round(36.4 - (np.arange(n) + 0.5) * 0.01, 8)
    lon = np.round(100 + (np.arange(n) + 0.5) * 0.01, 8)
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dem = 1500 + 300 * np.sin(yy / 5.0) * np.cos(xx / 7.0) + 5 * xx
    slope = np.abs(np.gradient(dem)[0]) / 10
    wet = (np.sin(np.arange(nt) / 4.0) + 1)[:, None, None] / 2
    lst = 300 - 0.006 * (dem - 1500)[None] - 8 * wet + rng.normal(0, 0.3, (nt, n, n))
    ndvi = 0.3 + 0.2 * wet + 0.0 * dem[None] + rng.normal(0, 0.01, (nt, n, n))
    sm = 0.15 + 0.15 * wet - 0.0002 * (dem - 1500)[None] - 0.004 * (lst - 300) + rng.normal(0, 0.003, (nt, n, n))
    c = {"time": t, "lat": lat, "lon": lon}
    dyn = xr.Dataset({"ndvi": (("time", "lat", "lon"), ndvi.astype("float32")),
                      "lst_day": (("time", "lat", "lon"), lst.astype("float32"))}, coords=c)
    static = xr.Dataset({"dem": (("lat", "lon"), dem), "slope": (("lat", "lon"), slope)}, coords={"lat": lat, "lon": lon})
    fine_sm = xr.DataArray(sm.astype("float32"), dims=("time", "lat", "lon"), coords=c, name="ssm")
    grid = Grid(res=0.1, west=100.0, east=100.4, south=36.0, north=36.4)
    coarse = block_mean(fine_sm, grid).rename("ssm")
    return dyn, static, coarse, fine_sm, grid


def test_features_are_scale_consistent_and_named():
    dyn, static, coarse, _, grid = _scene()
    dyn_c, static_c = D.coarse_covariates(dyn, static, grid)
    assert dyn_c.sizes["lat"] == 4 and static_c["dem"].shape == (4, 4)
    np.testing.assert_allclose(dyn_c["lst_day"].mean(("lat", "lon")), dyn["lst_day"].mean(("lat", "lon")), rtol=1e-6)
    m = D.add_memory(dyn, days=5)
    np.testing.assert_allclose(block_mean(m["lst_memory"], grid), D.add_memory(dyn_c, 5)["lst_memory"], atol=1e-4)
    ctx = D.feature_context(dyn, static)
    X = D.feature_stack(["doy", "lst_anom", "dem_anom"], {k: dyn[k].values for k in dyn.data_vars},
                        {k: static[k].values for k in static.data_vars}, D.day_of_year(dyn.time.values), ctx)
    assert X.shape == (20, 40, 40, 3) and X.dtype == np.float32
    assert X[0, 0, 0, 0] == 121  # 1 May 2021
    np.testing.assert_allclose(X[..., 1].mean(axis=(1, 2)), 0, atol=1e-3)
    with pytest.raises(DataError, match="unknown feature"):
        D.feature_stack(["nope"], {"ndvi": dyn["ndvi"].values}, {}, np.arange(20), ctx)


def test_training_table_and_cv_side_by_side():
    dyn, static, coarse, _, grid = _scene()
    dyn_c, static_c = D.coarse_covariates(dyn, static, grid)
    X, y, lat, lon = D.training_table(D.PAPER_FEATURES, coarse, dyn_c, static_c)
    assert X.shape == (20 * 16, 5) and y.shape == (320,)
    cv = D.cross_validate(X, y, lat, lon, {"n_estimators": 60, "min_child_samples": 5}, k=4, block_deg=0.2)
    assert list(cv.index) == ["random", "spatial_block"]
    assert (cv["n"] == 320).all() and cv.loc["random", "r"] > 0.8
    # holding whole regions out is harder than holding out random cell-days
    assert cv.loc["spatial_block", "rmse"] >= cv.loc["random", "rmse"] * 0.9


def test_predict_fine_is_chunk_invariant():
    dyn, static, coarse, _, grid = _scene(nt=9)
    dyn_c, static_c = D.coarse_covariates(dyn, static, grid)
    X, y, *_ = D.training_table(D.PAPER_FEATURES, coarse, dyn_c, static_c)
    model = D.train(X, y, {"n_estimators": 30, "min_child_samples": 5})
    a = D.predict_fine(model, D.PAPER_FEATURES, dyn, static, chunk_days=2, chunk_rows=7)
    b = D.predict_fine(model, D.PAPER_FEATURES, dyn, static, chunk_days=9, chunk_rows=40)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == ("time", "lat", "lon") and np.isfinite(a.values).all()
    gappy = dyn.copy()
    gappy["ndvi"] = gappy["ndvi"].where(gappy["lat"] < 36.3)
    c = D.predict_fine(model, D.PAPER_FEATURES, gappy, static)
    assert np.isnan(c.sel(lat=36.35, method="nearest")).all()


def test_residual_block_averages_back_exactly():
    dyn, static, coarse, fine_sm, grid = _scene(nt=5)
    noisy = fine_sm + 0.05
    out = D.residual_correction(noisy, coarse, method="block")
    np.testing.assert_allclose(block_mean(out, grid), coarse, atol=1e-6)
    det = D.residual_correction(noisy, coarse, method="detail")
    np.testing.assert_allclose(block_mean(det, grid), coarse, atol=1e-6)
    assert D.residual_correction(noisy, coarse, method="none") is noisy
    with pytest.raises(DataError, match="coarse-scale prediction"):
        D.residual_correction(noisy, coarse, method="bilinear")
    with pytest.raises(DataError, match="residual method"):
        D.residual_correction(noisy, coarse, method="kriging")


def test_downscale_layer_beats_bilinear_on_a_learnable_scene():
    dyn, static, coarse, fine_sm, grid = _scene(nt=30, seed=2)
    res = D.downscale_layer(coarse, dyn, static, features=D.PAPER_FEATURES,
                            params={"n_estimators": 150, "min_child_samples": 5}, residual="block", cv_folds=3,
                            block_deg=0.2)
    base = D.bilinear_baseline(coarse.to_dataset(), dyn.lat.values, dyn.lon.values, variables=("ssm",))["ssm"]

    def detail(a):  # correlation and RMSE of the sub-cell detail against the fine field's
        from smlib.grid import cell_mean_anomaly

        x, y = cell_mean_anomaly(a, grid).values.ravel(), cell_mean_anomaly(fine_sm, grid).values.ravel()
        return np.corrcoef(x, y)[0, 1], np.sqrt(np.mean((x - y) ** 2))

    (r_l, e_l), (r_b, e_b) = detail(res.fine), detail(base)
    assert r_l > r_b + 0.03 and e_l < 0.9 * e_b
    assert res.cv is not None and set(res.cv.index) == {"random", "spatial_block"}
    assert abs(res.importance.sum() - 1) < 1e-9 and set(res.importance.index) == set(D.PAPER_FEATURES)
    assert res.fine.dtype == np.float32


def test_bilinear_baseline_and_errors():
    dyn, static, coarse, _, _ = _scene(nt=3)
    ds = xr.Dataset({"ssm": coarse, "rzsm": coarse * 1.5})
    out = D.bilinear_baseline(ds, dyn.lat.values, dyn.lon.values)
    assert out["ssm"].shape == (3, 40, 40) and out["rzsm"].attrs["units"] == "m3/m3"
    with pytest.raises(DataError, match="lacks 'rzsm'"):
        D.bilinear_baseline(coarse.to_dataset(), dyn.lat.values, dyn.lon.values)
    with pytest.raises(DataError, match="unknown feature"):
        D.downscale_layer(coarse, dyn, static, features=("ndvi", "wind"))
    with pytest.raises(DataError, match="memory_days"):
        D.add_memory(dyn, 0)
