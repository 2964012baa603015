"""Tests of smlib.calibrate: CNN bias correction with transfer learning (stage 07)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from smlib import calibrate as cal  # noqa: E402
from smlib.errors import DataError, InputError  # noqa: E402
from smlib.grid import Grid  # noqa: E402

torch.set_num_threads(1)
GRID = Grid(res=0.01, west=100.0, east=100.2, south=36.0, north=36.2)  # 20 x 20 pixels


def _scene(nt=30, seed=0, bias=(0.05, 0.03)):
    """A small 1-km scene: a smooth 'actual' SM, a source with a wet bias that grows with NDVI, covariates."""
    rng = np.random.default_rng(seed)
    ny, nx = GRID.shape
    times = pd.date_range("2021-05-01", periods=nt, freq="D")
    yy, xx = np.meshgrid(np.linspace(0, 1, ny), np.linspace(0, 1, nx), indexing="ij")
    ndvi = 0.2 + 0.5 * xx[None] + 0.02 * rng.standard_normal((nt, ny, nx))
    dem = 2000 + 800 * yy
    wave = 0.05 * np.sin(np.arange(nt) / 4.0)[:, None, None]
    actual = np.stack([0.20 + 0.1 * yy[None] + wave, 0.25 + 0.08 * yy[None] + wave / 2], axis=0)
    actual = np.broadcast_to(actual, (2, nt, ny, nx)).copy()
    src = actual + np.array(bias)[:, None, None, None] * (0.5 + ndvi)[None]
    coords = {"time": times, "lat": GRID.lat, "lon": GRID.lon}
    dims = ("time", "lat", "lon")
    source = xr.Dataset({"ssm": (dims, src[0].astype("float32")), "rzsm": (dims, src[1].astype("float32"))},
                        coords=coords)
    cov = xr.Dataset({"ndvi": (dims, ndvi.astype("float32")),
                      "lst_day": (dims, (300 - 20 * actual[0]).astype("float32")),
                      "dem": (("lat", "lon"), dem.astype("float32")),
                      "slope": (("lat", "lon"), (5 + 3 * xx).astype("float32"))}, coords=coords)
    ref = xr.Dataset({"ssm": (dims, actual[0].astype("float32")), "rzsm": (dims, actual[1].astype("float32"))},
                     coords=coords)
    return source, cov, ref, actual


def _stations(actual, n=10, seed=1, sensor_sd=0.0, noise_sd=0.0):
    rng = np.random.default_rng(seed)
    ny, nx = GRID.shape
    rows = rng.choice(np.arange(3, ny - 3), n)
    cols = rng.choice(np.arange(3, nx - 3), n)
    nt = actual.shape[1]
    obs = actual[:, :, rows, cols].transpose(2, 1, 0) + sensor_sd * rng.standard_normal((n, 1, 1)) \
        + noise_sd * rng.standard_normal((n, nt, 2))
    obs[:, ::7, 0] = np.nan  # gaps
    times = pd.date_range("2021-05-01", periods=nt, freq="D")
    return xr.Dataset({"ssm": (("station", "time"), obs[..., 0].astype("float32")),
                       "rzsm": (("station", "time"), obs[..., 1].astype("float32"))},
                      coords={"station": [f"S{i:02d}" for i in range(n)], "time": times,
                              "lat": ("station", GRID.lat[rows]), "lon": ("station", GRID.lon[cols])})


def _fields(patch=5, **kw):
    source, cov, ref, actual = _scene(**kw)
    return cal.build_fields(source, cov, patch), ref, actual


CFG = dict(widths=(4, 8), patch_size=5, head_width=8)


# ------------------------------------------------------------------------------------ architecture
def test_kernel_sizes_receptive_field():
    assert cal.kernel_sizes(9, 4) == [3, 3, 3, 3]
    assert cal.kernel_sizes(15, 4) == [5, 5, 5, 3]
    assert cal.kernel_sizes(5, 4) == [3, 3, 1, 1]
    for p, n in [(7, 3), (11, 2), (1, 2)]:
        assert sum(k - 1 for k in cal.kernel_sizes(p, n)) == p - 1
    with pytest.raises(DataError, match="odd"):
        cal.kernel_sizes(6, 2)


def test_model_shapes_and_untrained_identity():
    model = cal.build_model(**CFG, seed=0)
    x = torch.rand(3, len(cal.CHANNELS), 5, 5)
    y = model(x)
    assert y.shape == (3, 2, 1, 1)
    # the last layer starts at zero: an untrained network returns the source at the centre
    assert torch.allclose(y[:, :, 0, 0], x[:, :2, 2, 2])
    big = model(torch.rand(2, len(cal.CHANNELS), 12, 9))
    assert big.shape == (2, 2, 8, 5)


def test_full_image_equals_patchwise_prediction():
    fields, ref, _ = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=500, epochs=2, seed=3, **CFG)
    maps = cal.predict_map(model, fields, days_per_batch=7)
    t = np.array([0, 5, 29, 12])
    r = np.array([0, 19, 7, 3])
    c = np.array([0, 19, 11, 18])
    pp = cal.predict_patches(model, cal.extract_patches(fields, t, r, c, 5))
    np.testing.assert_allclose(pp[:, 0], maps["ssm"].values[t, r, c], atol=1e-5)
    np.testing.assert_allclose(pp[:, 1], maps["rzsm"].values[t, r, c], atol=1e-5)
    assert maps["ssm"].attrs["units"] == "m3/m3"


def test_extract_patches_centre_and_reflect_padding():
    fields, _, _ = _fields(patch=5)
    X = fields.stack
    P = cal.extract_patches(fields, [2, 3], [0, 10], [0, 4], 5)
    assert P.shape == (2, len(cal.CHANNELS), 5, 5)
    np.testing.assert_array_equal(P[1, :, 2, 2], X[3, :, 12, 6])
    src = fields.source["ssm"].values
    assert P[0, 0, 2, 2] == src[2, 0, 0]
    assert P[0, 0, 1, 2] == src[2, 1, 0]  # reflected across the north edge
    # a smaller patch from the same padded stack
    Q = cal.extract_patches(fields, [3], [10], [4], 3)
    np.testing.assert_array_equal(Q[0], P[1, :, 1:4, 1:4])


def test_deterministic_with_seed():
    fields, ref, _ = _fields(patch=5)
    m1, h1 = cal.pretrain(fields, ref, n_samples=400, epochs=2, seed=11, **CFG)
    m2, h2 = cal.pretrain(fields, ref, n_samples=400, epochs=2, seed=11, **CFG)
    m3, _ = cal.pretrain(fields, ref, n_samples=400, epochs=2, seed=12, **CFG)
    assert h1 == h2
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert not all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m3.state_dict().values()))


def test_pretraining_learns_gridded_bias():
    fields, ref, actual = _fields(patch=5)
    before = np.sqrt(np.nanmean((fields.source["ssm"].values - actual[0]) ** 2))
    model, hist = cal.pretrain(fields, ref, n_samples=4000, epochs=15, lr=3e-3, seed=0, **CFG)
    after = np.sqrt(np.nanmean((cal.predict_map(model, fields)["ssm"].values - actual[0]) ** 2))
    assert hist[-1] < hist[0]
    assert after < 0.5 * before


def test_freeze_keeps_feature_layers_fixed_during_fine_tuning():
    fields, ref, actual = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    stations = cal.stations_from_dataset(_stations(actual), fields, GRID)
    X, Y, _, _ = cal.station_samples(fields, stations, np.arange(len(stations)), 5)
    cfg = cal.CalibrationConfig(finetune_epochs=3, n_trainable=2, finetune_l2sp=(0.0,), device="cpu")
    tuned, _ = cal.fine_tune(model, X, Y + 0.02, cfg)
    before, after = model.state_dict(), tuned.state_dict()
    n_layers = len(model.layers())
    frozen_names = cal.freeze(tuned, 2)
    assert frozen_names and all(n.startswith("features.") for n in frozen_names)
    assert len(frozen_names) == 2 * (n_layers - 2)
    for k in before:
        if k.startswith("features.") or k in ("mean", "std", "out_scale"):
            assert torch.equal(before[k], after[k]), f"{k} changed although frozen"
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("head."))
    with pytest.raises(DataError, match="n_trainable"):
        cal.freeze(tuned, 99)
    cal.freeze(tuned, 0)
    with pytest.raises(DataError, match="frozen"):
        cal.train(tuned, X, Y, epochs=1)


def test_save_load_round_trip_weights_only(tmp_path):
    fields, ref, _ = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    path = cal.save_model(model, tmp_path / "m" / "cnn.pt")
    blob = torch.load(path, weights_only=True)  # plain tensors and builtins only
    assert set(blob) == {"state_dict", "config"}
    back = cal.load_model(path)
    x = torch.from_numpy(cal.extract_patches(fields, [1, 2], [3, 4], [5, 6], 5))
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    with pytest.raises(InputError, match="not found"):
        cal.load_model(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------- baselines
def test_mean_bias_known_answer():
    x = np.array([0.1, 0.2, np.nan, 0.4])
    y = np.array([0.15, 0.25, 0.3, np.nan])
    assert cal.mean_bias(x, y) == pytest.approx(0.05)
    with pytest.raises(DataError):
        cal.mean_bias([np.nan], [0.1])


def test_linear_cdf_params_known_answer():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.05, 500)
    y = 0.02 + 0.5 * x
    a, b = cal.linear_cdf_params(x, y)
    assert b == pytest.approx(0.5)
    assert a == pytest.approx(0.02)
    z = a + b * x
    assert z.mean() == pytest.approx(y.mean())
    assert z.std() == pytest.approx(y.std())


def test_station_cdf_match_cv_uses_only_other_blocks():
    x = np.linspace(0.1, 0.3, 40)
    y = 0.05 + 2 * x
    out = cal.station_cdf_match_cv(x, y, n_blocks=4, min_pairs=5)
    np.testing.assert_allclose(out, y, atol=1e-9)  # an exact linear relation is recovered out of block
    y2 = y.copy()
    y2[:10] += 1.0  # a change confined to block 0 cannot leak into block 0's own prediction
    out2 = cal.station_cdf_match_cv(x, y2, n_blocks=4, min_pairs=5)
    np.testing.assert_allclose(out2[:10], y[:10], atol=1e-9)
    assert np.isnan(cal.station_cdf_match_cv(x, np.full(40, np.nan), 4)).all()


# ------------------------------------------------------------------------------ leave-stations-out
def test_station_folds_partition():
    f = cal.station_folds(23, k=5, seed=2)
    assert f.shape == (23,) and set(f) == set(range(5))
    assert np.bincount(f).max() - np.bincount(f).min() <= 1
    with pytest.raises(DataError):
        cal.station_folds(1, 5)


def test_leave_stations_out_never_trains_on_held_out(monkeypatch):
    fields, ref, actual = _fields(patch=5)
    st = _stations(actual, n=8)
    stations = cal.stations_from_dataset(st, fields, GRID)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    cfg = cal.CalibrationConfig(finetune_epochs=1, scratch_epochs=1, n_folds=4, finetune_l2sp=(0.1, 1.0),
                                inner_folds=2, device="cpu")
    seen = []
    real = cal.station_samples

    def spy(fields_, stations_, which, patch):
        seen.append(np.asarray(which).copy())
        return real(fields_, stations_, which, patch)

    monkeypatch.setattr(cal, "station_samples", spy)
    preds, folds = cal.leave_stations_out(fields, stations, model, cfg)
    assert len(seen) == 4
    for f, trained_on in zip(np.unique(folds), seen):
        assert not set(trained_on) & set(np.where(folds == f)[0])
        assert set(trained_on) | set(np.where(folds == f)[0]) == set(range(8))
    for m in cal.METHODS:
        assert preds[m].shape == (8, 30, 2)
        assert np.isfinite(preds[m][:, 10:20]).all(), m


def test_held_out_prediction_independent_of_own_observations():
    fields, ref, actual = _fields(patch=5)
    st = _stations(actual, n=8)
    stations = cal.stations_from_dataset(st, fields, GRID)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    cfg = cal.CalibrationConfig(finetune_epochs=2, scratch_epochs=2, n_folds=4, finetune_l2sp=(0.1, 1.0),
                                inner_folds=2, device="cpu")
    methods = ("mean_bias", "cdf_pooled", "cnn_transfer", "cnn_scratch")
    p1, folds = cal.leave_stations_out(fields, stations, model, cfg, methods=methods)
    stations.obs[0] += 0.2  # corrupt station 0: its own held-out predictions must not move
    p2, _ = cal.leave_stations_out(fields, stations, model, cfg, methods=methods)
    for m in methods:
        np.testing.assert_array_equal(p1[m][0], p2[m][0], err_msg=m)
        assert not np.array_equal(p1[m][folds != folds[0]], p2[m][folds != folds[0]]), m


def test_transfer_removes_systematic_bias_at_held_out_stations():
    """A wet bias shared by all stations is learnt at training stations and removed at held-out ones."""
    fields, ref, actual = _fields(patch=5, nt=40, bias=(0.06, 0.04))
    ref_biased = ref + 0.03  # the gridded reference is itself biased: fine-tuning must fix the rest
    st = _stations(actual, n=12, noise_sd=0.01)
    stations = cal.stations_from_dataset(st, fields, GRID)
    model, _ = cal.pretrain(fields, ref_biased, n_samples=3000, epochs=8, lr=3e-3, seed=0, **CFG)
    cfg = cal.CalibrationConfig(finetune_epochs=30, finetune_lr=3e-3, scratch_epochs=30, n_folds=4,
                                finetune_l2sp=(0.01, 1.0), inner_folds=2, device="cpu")
    info = {}
    preds, _ = cal.leave_stations_out(fields, stations, model, cfg, info=info)
    assert len(info["l2sp"]) == 4 and set(info["l2sp"]) <= {0.01, 1.0}

    def rmse(p):
        return float(np.sqrt(np.nanmean((p - stations.obs) ** 2)))

    assert rmse(preds["cnn_transfer"]) < 0.5 * rmse(preds["source"])
    assert rmse(preds["mean_bias"]) < rmse(preds["source"])
    ds = cal.stations_dataset(preds["cnn_transfer"], stations)
    assert ds["ssm"].dims == ("station", "time") and "lat" in ds.coords and ds["rzsm"].attrs["units"] == "m3/m3"


# ------------------------------------------------------------------------------------- file inputs
def _write_run(tmp_path, with_source=True):
    source, cov, ref, actual = _scene()
    (tmp_path / "inputs").mkdir()
    (tmp_path / "products").mkdir()
    if with_source:
        source.to_netcdf(tmp_path / "products" / "lightgbm.nc")
    modis = cov[["ndvi", "lst_day"]].copy(deep=True)
    modis["lst_day"][::3, :5, :5] = np.nan  # clouds
    modis["ndvi"][1:, :, :] = np.where(np.arange(1, 30)[:, None, None] % 16 == 0, modis["ndvi"][1:], np.nan)
    modis.to_netcdf(tmp_path / "inputs" / "modis.nc")
    cov[["dem", "slope"]].to_netcdf(tmp_path / "inputs" / "static.nc")
    coarse = ref.coarsen(lat=5, lon=5).mean()
    coarse.to_netcdf(tmp_path / "inputs" / "model_era5land.nc")
    _stations(actual).to_netcdf(tmp_path / "inputs" / "stations.nc")
    return source


def test_load_from_run_dir_and_gap_fill(tmp_path):
    source = _write_run(tmp_path)
    src = cal.load_source(tmp_path, "lightgbm")
    cov, note = cal.load_covariates(tmp_path, src["lat"].values, src["lon"].values,
                                    pd.DatetimeIndex(src["time"].values))
    assert "modis" in note
    assert np.isfinite(cov["ndvi"].values).all() and np.isfinite(cov["lst_day"].values).all()
    ref, used = cal.reference_field(tmp_path, cal.DEFAULT_REFERENCE, "ssm", src["lat"].values, src["lon"].values,
                                    pd.DatetimeIndex(src["time"].values))
    assert used == ["model_era5land"] and ref.shape == source["ssm"].shape
    fields = cal.build_fields(src, cov, 5, note)
    stations = cal.load_stations(tmp_path, fields)
    assert len(stations) == 10 and stations.obs.shape == (10, 30, 2)


def test_gap_fill_time_rule():
    t = pd.date_range("2021-01-01", periods=5)
    a = np.full((5, 1, 3), np.nan)
    a[1, 0, 0], a[3, 0, 0] = 1.0, 3.0
    a[:, 0, 1] = 2.0
    da = xr.DataArray(a, dims=("time", "lat", "lon"), coords={"time": t, "lat": [1.0], "lon": [0.0, 0.1, 0.2]})
    out = cal.gap_fill_time(da).values[:, 0]
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 2.0, 3.0, 3.0])  # linear inside, held outside
    np.testing.assert_allclose(out[:, 2], 2.0)  # never valid: nearest pixel's time mean


def test_missing_source_product_is_a_clear_error(tmp_path):
    _write_run(tmp_path, with_source=False)
    with pytest.raises(InputError, match="source product 'lightgbm' not found"):
        cal.load_source(tmp_path, "lightgbm")
    with pytest.raises(InputError, match="none of the pre-training references"):
        cal.reference_field(tmp_path, ["model_noah"], "ssm", GRID.lat, GRID.lon,
                            pd.date_range("2021-05-01", periods=3))


def test_cached_frozen_features_give_the_same_fine_tuning():
    fields, ref, actual = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    stations = cal.stations_from_dataset(_stations(actual), fields, GRID)
    X, Y, _, _ = cal.station_samples(fields, stations, np.arange(len(stations)), 5)
    out = []
    for cache in (True, False):
        m = cal.copy.deepcopy(model)
        cal.freeze(m, 2)
        h = cal.train(m, X, Y + 0.03, epochs=3, seed=5, cache_features=cache)
        out.append((h, m.state_dict()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)
    for k in out[0][1]:
        torch.testing.assert_close(out[0][1][k], out[1][1][k], rtol=1e-5, atol=1e-6)


def test_shift_output_removes_mean_residual_and_l2sp_anchors_weights():
    fields, ref, actual = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    stations = cal.stations_from_dataset(_stations(actual), fields, GRID)
    X, Y, groups, _ = cal.station_samples(fields, stations, np.arange(len(stations)), 5)
    m = cal.copy.deepcopy(model)
    shift = cal.shift_output(m, X, Y + 0.04)
    assert shift.shape == (2,)
    np.testing.assert_allclose(np.nanmean(Y + 0.04 - cal.predict_patches(m, X), 0), 0.0, atol=1e-5)
    moved = {}
    for a in (0.0, 1000.0):
        mm = cal.copy.deepcopy(m)
        cal.freeze(mm, 2)
        start = {k: v.clone() for k, v in mm.state_dict().items()}
        cal.train(mm, X, Y + 0.08, epochs=5, lr=1e-2, l2sp=a, weight_decay=0.0)
        moved[a] = sum(float((mm.state_dict()[k] - start[k]).abs().sum()) for k in start if k.startswith("head."))
    assert moved[1000.0] < 0.2 * moved[0.0]


def test_select_l2sp_inner_split_and_fine_tune_needs_groups():
    fields, ref, actual = _fields(patch=5)
    model, _ = cal.pretrain(fields, ref, n_samples=300, epochs=1, seed=0, **CFG)
    stations = cal.stations_from_dataset(_stations(actual, noise_sd=0.01), fields, GRID)
    X, Y, groups, _ = cal.station_samples(fields, stations, np.arange(len(stations)), 5)
    cfg = cal.CalibrationConfig(finetune_epochs=2, finetune_l2sp=(0.01, 10.0), inner_folds=2, device="cpu")
    a, table = cal.select_l2sp(model, X, Y, groups, cfg)
    assert a in (0.01, 10.0) and list(table["l2sp"]) == [0.01, 10.0] and np.isfinite(table["inner_rmse"]).all()
    assert a == table["l2sp"][table["inner_rmse"].idxmin()]
    with pytest.raises(DataError, match="groups"):
        cal.fine_tune(model, X, Y, cfg)
    tuned, _ = cal.fine_tune(model, X, Y, cfg, groups=groups)
    assert tuned.l2sp == a


def test_coarse_difference_target_keeps_source_detail(tmp_path):
    source = _write_run(tmp_path)
    src = cal.load_source(tmp_path, "lightgbm")
    cov, note = cal.load_covariates(tmp_path, src["lat"].values, src["lon"].values,
                                    pd.DatetimeIndex(src["time"].values))
    fields = cal.build_fields(src, cov, 5, note)
    tgt, used = cal.pretraining_reference(tmp_path, fields, ["model_era5land"], target="coarse_difference")
    assert used == {"ssm": ["model_era5land"], "rzsm": ["model_era5land"]}
    # the coarse reference is the block mean of the unbiased field: the target removes the source's bias ...
    ref = xr.open_dataset(tmp_path / "inputs" / "model_era5land.nc")
    d = (tgt["ssm"] - source["ssm"]).values
    assert np.nanmean(d) == pytest.approx(float(ref["ssm"].mean() - source["ssm"].mean()), abs=0.01)
    # ... and keeps the source's 1-km detail: within-cell anomalies of target and source agree closely
    an_t = tgt["ssm"].values - tgt["ssm"].coarsen(lat=5, lon=5).mean().values.repeat(5, 1).repeat(5, 2)
    an_s = source["ssm"].values - source["ssm"].coarsen(lat=5, lon=5).mean().values.repeat(5, 1).repeat(5, 2)
    assert np.corrcoef(an_t.ravel(), an_s.ravel())[0, 1] > 0.8
    smooth, _ = cal.pretraining_reference(tmp_path, fields, ["model_era5land"], target="reference")
    assert np.isfinite(smooth["ssm"].values).all()
    with pytest.raises(DataError, match="pretrain_target"):
        cal.pretraining_reference(tmp_path, fields, ["model_era5land"], target="nonsense")


def test_station_error_floor_and_summary_text():
    floor = cal.station_error_floor({"error_sd": 0.03, "rz_error_sd": 0.0, "bias_sd": 0.04})
    assert floor["ssm"] == pytest.approx(0.05) and floor["rzsm"] == pytest.approx(0.04)
    assert np.isnan(cal.station_error_floor({})["ssm"])  # real stations record no error model
    rows = []
    for layer, src, cnn in (("ssm", 0.06, 0.04), ("rzsm", 0.04, 0.035)):
        rows += [{"method": "source", "layer": layer, "rmse": src, "r": 0.7},
                 {"method": "mean_bias", "layer": layer, "rmse": src - 0.005, "r": 0.7},
                 {"method": "cnn_transfer", "layer": layer, "rmse": cnn, "r": 0.71}]
    text = cal.summary_markdown(pd.DataFrame(rows), "lightgbm", target=0.3, floor=floor,
                                extra={"ssm": "EXTRA-SSM"})
    ssm, rz = [ln for ln in text.splitlines() if ln.startswith("- **")]
    assert "this meets the target" in ssm and "(0.042)" in ssm and "-33%" in ssm and "EXTRA-SSM" in ssm
    assert "does not meet" in rz and "0.050 m3/m3" in ssm
    assert "Lowest held-out station RMSE: `cnn_transfer`" in text
