"""Tests of smlib.mlda (seed 002): labels, simulator, nudging, cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from smlib import mlda
from smlib.errors import DataError
from smlib.grid import Grid, block_mean


# ------------------------------------------------------------------------------------ fixtures
def _cube(signal: np.ndarray, lat, lon, start="2021-04-01", name="ssm") -> xr.DataArray:
    t = pd.date_range(start, periods=signal.shape[0], freq="D")
    return xr.DataArray(signal.astype("float32"), dims=("time", "lat", "lon"),
                        coords={"time": t, "lat": lat, "lon": lon}, name=name)


def _bucket(rain: np.ndarray, k: float = 0.9, a: float = 0.01, base: float = 0.1) -> np.ndarray:
    """A toy linear-reservoir soil moisture driven by ``rain`` (T, ...)."""
    s = np.empty_like(rain, dtype=float)
    s[0] = base
    for t in range(1, rain.shape[0]):
        s[t] = base + k * (s[t - 1] - base) + a * rain[t]
    return np.clip(s, 0.02, 0.6)


@pytest.fixture(scope="module")
def world():
    """A small gridded world: rain, a hidden soil-moisture signal and products of known quality."""
    rng = np.random.default_rng(1)
    T, ny, nx = 150, 4, 4
    g = Grid(res=0.25, west=100.0, east=101.0, south=36.0, north=37.0)
    rain = rng.gamma(0.4, 8.0, size=(T, ny, nx)) * (rng.random((T, 1, 1)) < 0.3)
    sig = _bucket(rain)
    prods = {
        "good": sig + rng.normal(0, 0.01, sig.shape),
        "mid": 0.8 * sig + 0.05 + rng.normal(0, 0.03, sig.shape),
        "poor": 1.3 * sig - 0.02 + rng.normal(0, 0.06, sig.shape),
    }
    stack = xr.concat([_cube(v, g.lat, g.lon) for v in prods.values()], dim="product")
    stack = stack.assign_coords(product=list(prods))
    return dict(grid=g, rain=rain, sig=sig, stack=stack, T=T)


# ------------------------------------------------------------------------------------ nudging
def test_nudge_gain_zero_keeps_forecast_and_one_takes_observation():
    f = np.array([0.10, 0.20, 0.30])
    o = np.array([0.40, np.nan, 0.00])
    np.testing.assert_allclose(mlda.nudge(f, o, 0.0), f)
    np.testing.assert_allclose(mlda.nudge(f, o, 1.0), [0.40, 0.20, 0.00])
    np.testing.assert_allclose(mlda.nudge(f, o, 0.25), [0.10 + 0.25 * 0.30, 0.20, 0.30 - 0.25 * 0.30])


def test_nudge_rejects_gain_outside_unit_interval():
    with pytest.raises(DataError, match="gain"):
        mlda.nudge([0.1], [0.2], 1.5)


# ------------------------------------------------------------------------------------ features
def test_api_matches_explicit_recursion():
    rng = np.random.default_rng(0)
    p = rng.gamma(0.5, 5.0, size=(40, 2, 3))
    da = _cube(p, [1.0, 0.0], [0.0, 1.0, 2.0], name="precip")
    api = mlda.antecedent_precip_index(da, 0.85).values
    ref = np.empty_like(p)
    ref[0] = p[0]
    for t in range(1, 40):
        ref[t] = 0.85 * ref[t - 1] + p[t]
    np.testing.assert_allclose(api, ref, rtol=1e-5)
    with pytest.raises(DataError, match="recession"):
        mlda.antecedent_precip_index(da, 1.0)


def test_precip_sum_window():
    p = _cube(np.arange(1, 11, dtype=float)[:, None, None] * np.ones((10, 1, 2)), [0.0], [0.0, 1.0])
    s = mlda.precip_sum(p, 3).values[:, 0, 0]
    np.testing.assert_allclose(s, [1, 3, 6, 9, 12, 15, 18, 21, 24, 27])


def test_static_features_block_means_and_landcover_fractions():
    fine = Grid(res=0.05, west=100.0, east=100.5, south=36.0, north=36.5)
    coarse = Grid(res=0.25, west=100.0, east=100.5, south=36.0, north=36.5)
    dem = fine.template(0.0) + np.arange(fine.nlon)[None, :] * 10.0
    lc = fine.template(1.0)
    lc.values[:, :5] = 3.0  # left half class 3
    st = xr.Dataset({"dem": dem, "landcover": lc})
    out = mlda.static_features(st, coarse)
    np.testing.assert_allclose(out["dem"].values, block_mean(dem, coarse).values)
    np.testing.assert_allclose(out["lc_frac_3"].values, [[1, 0], [1, 0]])
    np.testing.assert_allclose(out["lc_frac_1"].values + out["lc_frac_3"].values, 1.0)


# ------------------------------------------------------------------------------------ regridding
def test_conservative_regrid_keeps_constants_and_matches_block_mean_when_nested():
    src = Grid(res=0.05, west=100.0, east=100.5, south=36.0, north=36.5)
    dst = Grid(res=0.25, west=100.0, east=100.5, south=36.0, north=36.5)
    rng = np.random.default_rng(2)
    da = src.template(0.0).copy(data=rng.random(src.shape).astype("float32"))
    out = mlda.conservative_regrid(da, dst)
    # nested grids: the area weights within one 0.25 deg cell differ only by cos(lat) (< 0.1 %)
    np.testing.assert_allclose(out.values, block_mean(da, dst).values, rtol=2e-3)
    const = mlda.conservative_regrid(src.template(0.3), dst)
    np.testing.assert_allclose(const.values, 0.3, rtol=1e-6)


def test_conservative_regrid_non_nesting_smap_grid_and_gaps():
    smap = Grid(res=0.36, west=100.0, east=101.0, south=36.0, north=37.0)  # 3 x 3 cells, overhanging
    dst = Grid(res=0.25, west=100.0, east=101.0, south=36.0, north=37.0)
    da = smap.template(0.2)
    da.values[0, 0] = 0.4
    out = mlda.conservative_regrid(da, dst)
    assert out.shape == dst.shape
    assert out.values[0, 0] == pytest.approx(0.4, rel=1e-6)  # inside the first SMAP cell
    # cell (lat 36.875, lon 100.375) straddles lon 100.36: overlap 0.11 of 0.25 with the 0.4 cell
    assert out.values[0, 1] == pytest.approx((0.11 * 0.4 + 0.14 * 0.2) / 0.25, rel=1e-4)
    da.values[0, 1] = np.nan
    # the valid 0.4 cell now covers 0.11 / 0.25 = 44 % of the target cell
    assert np.isnan(mlda.conservative_regrid(da, dst, min_valid=0.5).values[0, 1])
    out = mlda.conservative_regrid(da, dst, min_valid=0.4)
    assert out.values[0, 1] == pytest.approx(0.4, rel=1e-6)  # NaN left out, weights renormalised
    assert np.isnan(out.values[0, 2])  # 88 % in the NaN cell
    with pytest.raises(DataError):
        mlda.conservative_regrid(da, dst, min_valid=2.0)


# ------------------------------------------------------------------------------------ rescaling
def test_rescale_meanstd_matches_reference_moments(world):
    st = world["stack"]
    ref = st.sel(product="good", drop=True)
    out = mlda.rescale_meanstd(st.sel(product="poor", drop=True), ref)
    np.testing.assert_allclose(out.mean("time").values, ref.mean("time").values, atol=1e-5)
    np.testing.assert_allclose(out.std("time").values, ref.std("time").values, rtol=1e-4)


def test_rescale_meanstd_uses_common_days_only(world):
    st = world["stack"]
    ref = st.sel(product="good", drop=True)
    gappy = ref.where(ref["time"].dt.day % 3 == 0)
    out = mlda.rescale_meanstd(st.sel(product="mid", drop=True), gappy)
    both = out.where(gappy.notnull())
    np.testing.assert_allclose(both.mean("time").values, gappy.mean("time").values, atol=1e-5)
    assert out.notnull().all()  # every day of x is rescaled, not only the common ones


def test_rescale_cdf_inverts_a_monotone_transform():
    rng = np.random.default_rng(3)
    ref = _cube(rng.uniform(0.05, 0.45, size=(300, 2, 2)), [1.0, 0.0], [0.0, 1.0])
    x = np.exp(4 * ref) * 10  # monotone, nonlinear, other units
    out = mlda.rescale_cdf(x, ref, n_quantiles=51)
    assert float(np.abs(out - ref).max()) < 0.02
    with pytest.raises(DataError):
        mlda.rescale(x, ref, "quantile")


# ------------------------------------------------------------------------------------ TC-R merging
def test_tc_triplets_need_independent_groups():
    names = ["smap", "ascat", "model_a", "model_b"]
    trip = mlda.tc_triplets(names)
    assert trip == [("smap", "ascat", "model_a"), ("smap", "ascat", "model_b")]
    with pytest.raises(DataError, match="independent"):
        mlda.tc_triplets(["smap", "model_a", "model_b"])


def test_tcr_weights_sum_to_one_and_favour_the_better_product():
    r = xr.DataArray(np.array([[0.9, 0.9], [0.6, np.nan], [0.3, 0.3]]), dims=("product", "x"),
                     coords={"product": ["a", "b", "c"]})
    for scheme in ("optimal", "r2", "r"):
        w = mlda.tcr_weights(r, scheme=scheme)
        np.testing.assert_allclose(w.sum("product").values, 1.0)
        assert (w.sel(product="a") > w.sel(product="b")).all()
        assert (w.sel(product="b") > w.sel(product="c")).all()
    w = mlda.tcr_weights(r.isel(x=[0]), scheme="optimal").values[:, 0]
    raw = np.array([0.9 / (1 - 0.81), 0.6 / (1 - 0.36), 0.3 / (1 - 0.09)])
    np.testing.assert_allclose(w, raw / raw.sum())
    wz = mlda.tcr_weights(r, fill="zero")
    assert float(wz.sel(product="b", x=1)) == 0.0
    none = mlda.tcr_weights(r * np.nan, fill="zero")
    np.testing.assert_allclose(none.values, 1 / 3)  # no information: equal weights


def test_weighted_merge_renormalises_over_gaps():
    st = xr.DataArray(np.array([[0.2, 0.2], [0.4, np.nan]]), dims=("product", "time"),
                      coords={"product": ["a", "b"]})
    w = xr.DataArray([0.25, 0.75], dims="product", coords={"product": ["a", "b"]})
    m = mlda.weighted_merge(st, w).values
    np.testing.assert_allclose(m, [0.25 * 0.2 + 0.75 * 0.4, 0.2], rtol=1e-6)


def test_product_tcr_ranks_products_and_merge_beats_inputs(world):
    st = world["stack"]
    groups = {"good": "g", "mid": "m", "poor": "p"}
    tcr, n = mlda.product_tcr(st, groups=groups)
    assert n.max() == 1 and float((n == 1).mean()) > 0.5  # sampling noise can make a pixel inadmissible
    assert tcr.where(n == 0).isnull().all()
    med = tcr.median(("lat", "lon"))
    assert float(med.sel(product="good")) > float(med.sel(product="mid")) > float(med.sel(product="poor"))
    res = mlda.merge_labels(st, reference="good", groups=groups)
    np.testing.assert_allclose(res.weights.sum("product").values, 1.0, rtol=1e-6)
    sig = world["sig"]

    def corr(a):
        return np.corrcoef(np.asarray(a).ravel(), sig.ravel())[0, 1]

    r_tcr, r_eq = corr(res.merged), corr(res.equal)
    assert r_tcr > r_eq  # TC-R weights beat the equal-weight mean
    assert r_tcr > corr(st.sel(product="mid")) and r_tcr > corr(st.sel(product="poor"))


# ------------------------------------------------------------------------------------ simulator
class _Halver:
    """A stand-in simulator: tomorrow = half of today's state + the first feature."""

    def predict(self, X):
        return 0.5 * X[:, -1] + X[:, 0]


def test_forward_run_uses_its_own_previous_state_and_continues_from_analysis():
    T, P = 5, 2
    cube = np.zeros((T, P, 1), dtype="float32")
    cube[:, :, 0] = 0.1
    a, f = mlda.forward_run(_Halver(), cube, np.array([0.4, 0.0]))
    exp = [np.array([0.4, 0.0])]
    for _ in range(1, T):
        exp.append(0.5 * exp[-1] + 0.1)
    np.testing.assert_allclose(a, np.array(exp), rtol=1e-6)
    np.testing.assert_allclose(f[1:], a[1:])
    obs = np.full((T, P), np.nan)
    obs[2, 0] = 0.5
    a2, f2 = mlda.forward_run(_Halver(), cube, np.array([0.4, 0.0]), obs, gain=1.0)
    assert a2[2, 0] == pytest.approx(0.5)
    assert f2[2, 0] == pytest.approx(exp[2][0])
    assert a2[3, 0] == pytest.approx(0.5 * 0.5 + 0.1)  # the run continues from the analysed state
    np.testing.assert_allclose(a2[:, 1], a[:, 1], rtol=1e-6)  # the unobserved pixel is untouched
    # members: several gains in one call equal separate runs
    am, _ = mlda.forward_run(_Halver(), cube, np.tile([0.4, 0.0], (2, 1)), obs, gain=[0.0, 1.0])
    np.testing.assert_allclose(am[:, 0], a, rtol=1e-6)
    np.testing.assert_allclose(am[:, 1], a2, rtol=1e-6)


def _sim_world(world):
    g = world["grid"]
    rain = _cube(world["rain"], g.lat, g.lon, name="precip_mswep")
    forcing = xr.Dataset({"precip_mswep": rain, "precip": rain * 1.2})
    feats = mlda.build_features(forcing, api_k=(0.5, 0.9), sum_days=(3,))
    cube, names = mlda.feature_cube(feats)
    label = _cube(world["sig"], g.lat, g.lon)
    return cube, names, label


def test_build_features_names_and_shapes(world):
    cube, names, label = _sim_world(world)
    assert names == ["precip", "precip_mswep", "api_0.5", "api_0.9", "psum_3d", "doy_sin", "doy_cos"]
    assert cube.shape == (world["T"], 16, len(names))
    with pytest.raises(Exception, match="precip_mswep"):
        mlda.build_features(xr.Dataset({"t2m": label}))


def test_simulator_learns_the_dynamics_and_runs_open_loop(world):
    cube, names, label = _sim_world(world)
    lab = label.values.reshape(world["T"], -1)
    X, y, t, pix = mlda.training_samples(cube, lab)
    assert X.shape == (len(y), len(names) + 1)
    np.testing.assert_allclose(X[:, -1], lab[t - 1, pix])
    for target in ("level", "delta"):
        sim = mlda.Simulator(n_estimators=150, target=target).fit(X, y, names + [mlda.STATE])
        one = sim.predict(X)
        assert np.corrcoef(one, y)[0, 1] > 0.95
        a, _ = mlda.forward_run(sim, cube, lab[0])
        assert np.corrcoef(a.ravel(), lab.ravel())[0, 1] > 0.8  # open loop follows the rain
    imp = sim.importance()
    assert imp.sum() == pytest.approx(1.0)
    with pytest.raises(DataError, match="target"):
        mlda.Simulator(target="ratio").fit(X, y)


def test_cross_validate_random_and_spatial(world):
    cube, names, label = _sim_world(world)
    kw = dict(n_estimators=60)
    rnd = mlda.cross_validate(kw, cube, label, scheme="random", k=10)
    assert set(np.unique(rnd["folds"])) == set(range(10))
    assert int(rnd["onestep"].notnull().sum()) == label.size - 16  # every sample but day 0
    sp = mlda.cross_validate(kw, cube, label, scheme="spatial", k=4, block_deg=0.5)
    # whole 0.5 deg blocks share a fold: 4 blocks of 2 x 2 pixels
    lab = label.values.reshape(world["T"], -1)
    _, _, t, pix = mlda.training_samples(cube, lab)
    fold_of_pix = pd.Series(sp["folds"]).groupby(pix).nunique()
    assert (fold_of_pix == 1).all()
    assert sp["openloop"].notnull().all()
    r = np.corrcoef(sp["openloop"].values.ravel(), label.values.ravel())[0, 1]
    assert r > 0.7


def test_select_gain_prefers_informative_observations(world):
    cube, names, label = _sim_world(world)
    lab = label.values.reshape(world["T"], -1)
    X, y, _, _ = mlda.training_samples(cube, lab)
    rng = np.random.default_rng(5)
    # a simulator trained on a degraded label (rain response halved): its open loop is poor
    degraded = mlda.Simulator(n_estimators=80).fit(X, 0.5 * y + 0.5 * X[:, -1].mean())
    obs = lab + rng.normal(0, 0.01, lab.shape)
    obs[rng.random(lab.shape) < 0.6] = np.nan
    best, table = mlda.select_gain(degraded, cube, lab[0], obs, k=5)
    assert best >= 0.5
    assert list(table.columns) == ["gain", "rmse", "ubrmse", "r", "n"]
    # a good simulator and observations whose error (sd 0.2) is three times the signal's sd:
    # nudging should be (nearly) switched off
    good = mlda.Simulator(n_estimators=80).fit(X, y)
    noise = np.where(np.isfinite(obs), lab + rng.normal(0, 0.2, lab.shape), np.nan)
    best0, _ = mlda.select_gain(good, cube, lab[0], noise, k=5)
    assert best0 <= 0.2


def test_rescale_meanstd_fills_pixels_the_reference_never_observes(world):
    st = world["stack"]
    ref = st.sel(product="good", drop=True).copy()
    ref[:, 0, 0] = np.nan  # e.g. a QC-flagged forest pixel
    x = st.sel(product="mid", drop=True)
    out = mlda.rescale_meanstd(x, ref)
    assert out.notnull().all()
    # the empty pixel takes the reference climatology of a nearest observed neighbour
    m0, s0 = float(out.isel(lat=0, lon=0).mean()), float(out.isel(lat=0, lon=0).std())
    nbs = [ref.isel(lat=0, lon=1), ref.isel(lat=1, lon=0)]
    assert any(abs(m0 - float(n.mean())) < 1e-5 and abs(s0 / float(n.std()) - 1) < 1e-3 for n in nbs)
    assert mlda.rescale_meanstd(x, ref, fill=False).isel(lat=0, lon=0).isnull().all()


def _stations_at(signal_cube: xr.DataArray, rng, noise=0.02):
    """Stations at every pixel centre: the signal plus independent noise."""
    la, lo = np.meshgrid(signal_cube["lat"].values, signal_cube["lon"].values, indexing="ij")
    vals = signal_cube.values.reshape(signal_cube.sizes["time"], -1).T
    ssm = vals + rng.normal(0, noise, vals.shape)
    return xr.Dataset({"ssm": (("station", "time"), ssm.astype("float32"))},
                      coords={"station": [f"s{i}" for i in range(ssm.shape[0])], "time": signal_cube["time"],
                              "lat": ("station", la.ravel()), "lon": ("station", lo.ravel())})


def test_select_gain_stations_cross_validates_and_picks_the_informative_gain(world):
    cube, names, label = _sim_world(world)
    rng = np.random.default_rng(7)
    st = _stations_at(label, rng)
    # candidate runs: G = 0 is the label plus a large error, larger G moves towards the label
    err = rng.normal(0, 0.05, label.shape)
    runs = xr.concat([label + (1 - g) * err for g in (0.0, 0.5, 1.0)], dim="gain").assign_coords(gain=[0.0, 0.5, 1.0])
    best, table, cv = mlda.select_gain_stations(runs, st, k=4, min_days=30)
    assert best == 1.0
    assert table["r_median"].is_monotonic_increasing
    assert set(cv["fold"]) == {0, 1, 2, 3} and len(cv) == 16
    assert (cv["gain"] == 1.0).all()
    _, _, loso = mlda.select_gain_stations(runs, st, min_days=30)  # k = 0: leave-one-station-out
    assert loso["fold"].nunique() == 16 and (loso["gain"] == 1.0).all()
    with pytest.raises(DataError, match="too few"):
        mlda.select_gain_stations(runs, st.isel(station=[0, 1]), k=4)


def test_assimilate_open_loop_and_nudged_run_with_every_gain_method(world):
    cube, names, label = _sim_world(world)
    g = world["grid"]
    rain = _cube(world["rain"], g.lat, g.lon, name="precip_mswep")
    feats = mlda.build_features(xr.Dataset({"precip_mswep": rain}), api_k=(0.5, 0.9), sum_days=(3,))
    rng = np.random.default_rng(11)
    # the simulator learns from a degraded label; observations and stations see the real signal
    lab = label.values.reshape(world["T"], -1)
    X, y, _, _ = mlda.training_samples(cube[..., :len(feats.data_vars)], lab)
    sim = mlda.Simulator(n_estimators=60, target="delta").fit(X, 0.6 * y + 0.4 * X[:, -1])
    obs = (label + rng.normal(0, 0.01, label.shape)).where(rng.random(label.shape) < 0.5)
    third = label * 2 + rng.normal(0, 0.03, label.shape)
    st = _stations_at(label, rng)
    res = mlda.assimilate(sim, feats, label, obs, gains=[0.0, 0.3, 0.6, 0.9], stations=st, gain_folds=4,
                          third=third)
    assert res.gain >= 0.6
    assert res.station_series.sizes["station"] == 16
    assert {"obs_rmse", "r_median"} <= set(res.gain_table.columns)
    assert 0.5 < res.tc_gain <= 1.0  # accurate observations: TC puts most weight on them
    def r(a):
        return np.corrcoef(a.values.ravel(), label.values.ravel())[0, 1]

    assert r(res.analysis) > r(res.openloop)
    np.testing.assert_allclose(res.analysis.isel(time=0), np.where(np.isfinite(res.obs.isel(time=0)),
                               res.openloop.isel(time=0) + res.gain * (res.obs.isel(time=0) - res.openloop.isel(time=0)),
                               res.openloop.isel(time=0)), rtol=1e-5)
    res_obs = mlda.assimilate(sim, feats, label, obs, gains=[0.0, 0.3, 0.6, 0.9], gain_method="obs", gain_folds=4)
    assert res_obs.station_series is None and res_obs.gain >= 0.3
    res_tc = mlda.assimilate(sim, feats, label, obs, gains=[0.0, 0.5], gain_method="tc", third=third)
    assert res_tc.gain == pytest.approx(round(res.tc_gain, 3))
    with pytest.raises(DataError, match="stations"):
        mlda.assimilate(sim, feats, label, obs, gain_method="stations")
    with pytest.raises(DataError, match="gain_method"):
        mlda.assimilate(sim, feats, label, obs, gain_method="kalman")


def test_point_mode_load_stack_and_simulate_at_stations(tmp_path, world):
    """Real-data studies hold products only around stations: ML-DA runs on (time, station) series."""
    from smlib.io import write_dataset

    g = world["grid"]
    label = _cube(world["sig"], g.lat, g.lon)
    rng = np.random.default_rng(3)
    inp = tmp_path / "inputs"
    write_dataset(xr.Dataset({"ssm": label, "qc": xr.zeros_like(label).where(label > 0.12, 4)}), inp / "smap.nc")
    write_dataset(xr.Dataset({"ssm": label + 0.02}), inp / "model_a.nc")
    st = _stations_at(label, rng).isel(station=[0, 5, 10])
    st["precip"] = (("station", "time"), world["rain"].reshape(world["T"], -1)[:, [0, 5, 10]].T)
    write_dataset(st, inp / "stations.nc")
    stack = mlda.load_point_stack(tmp_path, ["smap", "model_a"], st)
    assert stack.dims == ("product", "time", "station") and stack.sizes["station"] == 3
    np.testing.assert_allclose(stack.sel(product="model_a").values,
                               label.values.reshape(world["T"], -1)[:, [0, 5, 10]] + 0.02, rtol=1e-6)
    assert stack.sel(product="smap").isnull().any()  # qc > 0 dropped
    feats = mlda.build_features(xr.Dataset({"precip": st["precip"].transpose("time", "station")}),
                                precip_var="precip", api_k=(0.8,), sum_days=(3,))
    lab = stack.sel(product="model_a", drop=True)
    sim = mlda.fit_simulator(dict(n_estimators=50), feats, lab)
    res = mlda.assimilate(sim, feats, lab, stack.sel(product="smap", drop=True), gains=[0.0, 0.5],
                          gain_method="obs", gain_folds=2)
    assert res.analysis.dims == ("time", "station") and res.openloop.notnull().all()
    with pytest.raises(Exception, match="ssm"):
        mlda.load_point_stack(tmp_path, ["stations"], st, var="rzsm")


def test_point_run_skips_with_a_reason(tmp_path):
    run = mlda.point_run(tmp_path / "hawaii.yml", tmp_path / "no_samples", tmp_path / "out", {"n_estimators": 10})
    assert run.table is None and "absent on this machine" in run.note
    (tmp_path / "samples").mkdir()
    run = mlda.point_run(tmp_path / "missing.yml", tmp_path / "samples", tmp_path / "out", {"n_estimators": 10})
    assert run.table is None and "missing.yml is absent" in run.note


def test_point_run_on_the_hawaii_samples(tmp_path):
    from smlib.study import REPO_ROOT

    realdata = REPO_ROOT.parent / "shared" / "realdata"
    if not realdata.exists():
        pytest.skip("real-data samples absent")
    run = mlda.point_run(REPO_ROOT / "data/studies/hawaii.yml", realdata, tmp_path / "hw",
                         {"n_estimators": 50, "n_jobs": 1}, gains=[0.0, 0.3, 1.0], min_days=30)
    assert run.table is not None, run.note
    prods = set(run.table.index.get_level_values("product"))
    assert {"smap", "tcr_merged", "mlda_openloop", "mlda (CV)"} <= prods
    assert run.stations.sizes["station"] >= 1 and "gauged stations" in run.note
    r = run.table["r"].dropna()
    assert ((r >= -1) & (r <= 1)).all()
