"""Band selection (seed 003 Tables 3-5), its indices and metrics, and the 1-km NN downscaling on a small
hand-made run directory whose microwave signals are known functions of a hidden soil-moisture field."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from smlib import bandsel, grid, nn
from smlib.errors import DataError, InputError

NN_FAST = {"hidden": 3, "restarts": 1, "max_epochs": 30, "max_samples": 1500, "seed": 0}


def _da(arr, g, times=None):
    coords = g.coords()
    if times is None:
        return xr.DataArray(arr.astype("float32"), dims=("lat", "lon"), coords=coords)
    coords["time"] = times
    return xr.DataArray(arr.astype("float32"), dims=("time", "lat", "lon"), coords=coords)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1 x 1 deg run: fine 0.05 deg (20 x 20), coarse 0.25 (4 x 4), SMAP 0.36 (3 x 3), 60 days."""
    rd = tmp_path_factory.mktemp("nn_run")
    (rd / "inputs").mkdir()
    rng = np.random.default_rng(0)
    box = dict(west=100.0, east=101.0, south=36.0, north=37.0)
    fine, coarse, smapg = grid.Grid(0.05, **box), grid.Grid(0.25, **box), grid.Grid(0.36, **box)
    times = pd.date_range("2021-05-01", periods=60, freq="D")
    yy, xx = np.meshgrid(np.linspace(0, 1, 20), np.linspace(0, 1, 20), indexing="ij")
    dem = 3000 + 800 * yy + 200 * np.sin(6 * xx)
    wet = 0.08 * np.cos(5 * xx) * np.sin(4 * yy)
    t = np.arange(60)[:, None, None]
    sm = 0.22 + wet + 0.06 * np.sin(t / 6.0 + 2 * xx) - 0.00002 * (dem - 3400)
    sm_f = _da(sm, fine, times)
    ndvi = 0.2 + 0.4 * (sm - 0.1) + 0.02 * rng.normal(size=sm.shape)
    lst = 310 - 60 * sm + rng.normal(size=sm.shape)
    lst[rng.random(sm.shape) < 0.3] = np.nan  # clouds
    modis = xr.Dataset({"ndvi": _da(ndvi, fine, times), "evi": _da(0.8 * ndvi, fine, times),
                        "lst_day": _da(lst, fine, times), "nsdsi": _da(0.1 - 0.5 * sm, fine, times)})
    static = xr.Dataset({"dem": _da(dem, fine), "slope": _da(np.abs(np.gradient(dem, axis=1)) / 10, fine)})
    sm_c = grid.block_mean(sm_f, coarse)
    sm_s = grid.block_mean(sm_f, smapg)
    ts = 290.0
    smap = xr.Dataset({"tbv_asc": ts * (0.95 - 0.5 * sm_s) + rng.normal(0, 1, sm_s.shape),
                       "tbh_asc": ts * (0.90 - 0.9 * sm_s) + rng.normal(0, 1, sm_s.shape),
                       "tbv_des": ts * (0.95 - 0.5 * sm_s) + rng.normal(0, 4, sm_s.shape),
                       "tbh_des": ts * (0.90 - 0.9 * sm_s) + rng.normal(0, 4, sm_s.shape)})
    smap = smap.where(xr.DataArray(np.arange(60) % 3 != 0, dims="time", coords={"time": times}))
    a = {}
    for band, noise in (("c1", 3.0), ("c2", 3.0), ("x", 2.0)):
        for orbit in ("asc", "des"):
            a[f"tbv_{band}_{orbit}"] = ts * (0.96 - 0.3 * sm_c) + rng.normal(0, noise, sm_c.shape)
            a[f"tbh_{band}_{orbit}"] = ts * (0.92 - 0.7 * sm_c) + rng.normal(0, noise, sm_c.shape)
    amsr2 = xr.Dataset(a)
    ascat = xr.Dataset({"sig40": -16 + 20 * sm_c + rng.normal(0, 0.3, sm_c.shape)})
    fy3c = xr.Dataset({"tbv_x": ts * (0.96 - 0.3 * sm_c) + rng.normal(0, 5, sm_c.shape),
                       "tbh_x": ts * (0.92 - 0.7 * sm_c) + rng.normal(0, 5, sm_c.shape)})
    cldas = xr.Dataset({"ssm": sm_c + 0.02 + rng.normal(0, 0.005, sm_c.shape)})
    for name, ds in (("modis", modis), ("static", static), ("smap", smap), ("amsr2", amsr2), ("ascat", ascat),
                     ("fy3c", fy3c), ("model_cldas", cldas)):
        ds.astype("float32").to_netcdf(rd / "inputs" / f"{name}.nc")
    return {"dir": rd, "fine": fine, "coarse": coarse, "sm_fine": sm_f, "sm_coarse": sm_c}


@pytest.fixture(scope="module")
def feats(run):
    return bandsel.coarse_features(run["dir"], run["coarse"])


def test_mpdi_and_bti_formulas():
    assert bandsel.mpdi(260.0, 240.0) == pytest.approx(20 / 500)
    s = xr.DataArray(np.array([[-12.0, -10.0], [-8.0, -10.0], [-14.0, -10.0]]), dims=("time", "x"))
    b = bandsel.bti(s)
    np.testing.assert_allclose(b[:, 0], [1 / 3, 1.0, 0.0])
    assert b[:, 1].isnull().all()  # constant series: undefined, not 0


def test_quality_indices_known_answers():
    times = pd.date_range("2021-01-01", periods=30)
    g = grid.Grid(0.25, 100, 101, 36, 37)
    rng = np.random.default_rng(1)
    ref = _da(rng.random((30, 4, 4)), g, times)
    q = bandsel.quality_indices(2 * ref + 1, ref)
    assert q["rho_spatial"] == pytest.approx(1.0) and q["rho_temporal"] == pytest.approx(1.0)
    q = bandsel.quality_indices(ref + 0.03, ref)
    assert q["rmse"] == pytest.approx(0.03, abs=1e-6) and q["mae"] == pytest.approx(0.03, abs=1e-6)
    assert bandsel.quality_indices(-ref, ref)["rho_temporal"] == pytest.approx(-1.0)
    # pixels with fewer than min_days paired days are left out
    q = bandsel.quality_indices((ref + 0.03).where(ref["time"] < times[5]), ref, min_days=10)
    assert np.isnan(q["rmse"])


def test_coarse_features_hold_every_candidate(feats, run):
    for f in ("smap_tbv_l_asc", "smap_mpdi_l_des", "amsr2_tbh_x_des", "amsr2_mpdi_c1_asc", "fy3c_tbh_x_asc",
              "ascat_sig40", "ascat_bti", "lst", "ndvi", "evi", "nsdsi", "dem", "slope"):
        assert f in feats, f
    assert feats["smap_tbv_l_asc"].shape == (60, 4, 4)  # 0.36 deg -> 0.25 deg
    b = feats["ascat_bti"].values
    assert np.nanmin(b) == pytest.approx(0.0) and np.nanmax(b) == pytest.approx(1.0)
    # cloudy LST was gap-filled in time, and the static fields are 2-D
    assert feats["lst"].notnull().mean() > 0.95
    assert feats["dem"].dims == ("lat", "lon")
    assert bandsel.feature_label("amsr2_tbh_x_des") == "AMSR2 10.7 Tbh D"


def test_single_band_ranking_prefers_informative_bands(feats, run):
    target = bandsel.target_field(run["dir"], run["coarse"])
    cands = ["smap_tbh_l_asc", "smap_tbh_l_des", "amsr2_tbh_x_asc", "ascat_sig40"]
    t3 = bandsel.single_band_table(feats, target, candidates=cands, **NN_FAST)
    assert list(t3["feature"]) == cands
    by = t3.set_index("feature")
    # SMAP ascending (TB noise 1 K) beats descending (4 K): the known answer of this run
    assert by.loc["smap_tbh_l_asc", "rho_temporal"] > by.loc["smap_tbh_l_des", "rho_temporal"]
    assert by.loc["smap_tbh_l_asc", "rmse"] < by.loc["smap_tbh_l_des", "rmse"]
    assert (t3["rho_temporal"] > 0.5).all()


def test_tables_4_and_5_and_selection_file(feats, run):
    target = bandsel.target_field(run["dir"], run["coarse"])
    t3 = bandsel.single_band_table(feats, target, **NN_FAST)
    assert len(t3) == 6 * 1 + 18 + 3 + 2  # SMAP, AMSR2, FY3C (one orbit set), ASCAT
    combos = bandsel.combination_candidates(t3)
    assert len(combos) == 6 and all(c[0].startswith("smap_") for c in combos)
    assert not any(f.startswith("fy3c") for c in combos for f in c)
    t4 = bandsel.combination_table(feats, target, t3, **NN_FAST)
    mw = bandsel.select(t4)
    t5 = bandsel.auxiliary_table(feats, target, mw, **NN_FAST)
    assert t5["auxiliary"].iloc[0] == "-" and len(t5) == 15
    assert set(t5["group"]) == {"microwave only", "vegetation", "terrain", "land surface temperature",
                                "surface reflectance"}
    sel = bandsel.select(t5)
    bandsel.write_selection(run["dir"], sel)
    assert bandsel.read_selection(run["dir"]) == sel
    assert bandsel.read_selection(run["dir"], override=["ascat_bti"]) == ["ascat_bti"]


def test_missing_selection_and_bad_criterion_errors(tmp_path):
    with pytest.raises(InputError, match="band selection not found"):
        bandsel.read_selection(tmp_path)
    with pytest.raises(DataError, match="criterion"):
        bandsel.score(pd.DataFrame({"rho_spatial": [0.1]}), "best")
    with pytest.raises(DataError, match="not available"):
        bandsel.stack(xr.Dataset(), ["smap_tbv_l_asc"])


def test_downscale_to_fine_grid_adds_detail(feats, run):
    target = bandsel.target_field(run["dir"], run["coarse"])
    inputs = ["smap_tbv_l_asc", "amsr2_tbh_x_des", "ascat_bti", "ndvi", "lst"]
    _, model = bandsel.nn_retrieval(feats, target, inputs, hidden=4, restarts=2, max_epochs=60, seed=1)
    f = run["fine"]
    aux, src = nn.fine_auxiliary(run["dir"], ["ndvi", "lst"], f.lat, f.lon, coarse_aux=feats)
    assert "gaps filled" in src["lst"] and bool(aux["lst"].notnull().all())
    out = nn.downscale(model, feats, aux, f.lat, f.lon, chunk_days=7)
    assert out.shape == (60, 20, 20) and out.attrs["units"] == "m3/m3"
    hidden_sm = run["sm_fine"]
    ok = out.notnull()
    assert ok.any()
    # the 1-km fine detail (deviation from the 0.25-deg cell mean) correlates with the hidden field's detail
    a = grid.cell_mean_anomaly(out, run["coarse"]).values[ok.values]
    b = grid.cell_mean_anomaly(hidden_sm, run["coarse"]).values[ok.values]
    assert np.corrcoef(a, b)[0, 1] > 0.3


def test_random_and_block_cross_validation(feats, run):
    target = bandsel.target_field(run["dir"], run["coarse"])
    inputs = ["smap_tbv_l_asc", "ascat_bti"]
    pr, tr = nn.cross_validate(feats, target, inputs, scheme="random", k=4, **NN_FAST)
    pb, tb = nn.cross_validate(feats, target, inputs, scheme="block", k=4, block_deg=0.5, **NN_FAST)
    assert list(tr["fold"]) == ["0", "1", "2", "3", "all"] and (tb["scheme"] == "block").all()
    assert tr.iloc[-1]["n"] == tb.iloc[-1]["n"] == int(pr.notnull().sum())
    assert tr.iloc[-1]["r"] > 0.5
    with pytest.raises(DataError, match="scheme"):
        nn.cross_validate(feats, target, inputs, scheme="loo")


def test_fill_time_gaps_interpolates_short_gaps_only():
    v = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 7.0, np.nan])
    da = xr.DataArray(v[:, None], dims=("time", "x"), coords={"time": pd.date_range("2021-01-01", periods=8)})
    out = bandsel.fill_time_gaps(da, max_gap_days=2).values[:, 0]
    np.testing.assert_allclose(out[:3], [1, 2, 3])
    assert np.isnan(out[3:6]).all()  # a 3-day gap is longer than 2: left missing
    assert out[7] == 7.0  # held outwards for up to 2 days
    out3 = bandsel.fill_time_gaps(da, max_gap_days=3).values[:, 0]
    np.testing.assert_allclose(out3[3:6], [4, 5, 6])


def test_quality_indices_agree_with_smlib_validate():
    from smlib import validate

    times = pd.date_range("2021-01-01", periods=40)
    g = grid.Grid(0.25, 100, 101.5, 36, 37)
    rng = np.random.default_rng(3)
    ref = _da(rng.random((40, 4, 6)), g, times)
    pred = ref + 0.3 * _da(rng.random((40, 4, 6)), g, times)
    pred = pred.where(_da(rng.random((40, 4, 6)), g, times) > 0.2)
    q = bandsel.quality_indices(pred, ref, min_days=1)
    sc = validate.spatial_correlation(pred, ref)
    m = validate.pairwise(pred, ref, dim="time")
    assert q["rho_spatial"] == pytest.approx(float(sc["mean_r"]), abs=1e-9)
    assert q["rho_temporal"] == pytest.approx(float(validate.temporal_correlation(pred, ref)["mean_r"]), abs=1e-9)
    assert q["rmse"] == pytest.approx(float(m["rmse"].mean()), abs=1e-9)
    assert q["mae"] == pytest.approx(float(m["mae"].mean()), abs=1e-9)


def test_fill_microwave_fills_only_microwave_inputs(feats):
    filled = bandsel.fill_microwave(feats, 2)
    assert float(filled["smap_tbv_l_asc"].notnull().mean()) > float(feats["smap_tbv_l_asc"].notnull().mean())
    xr.testing.assert_identical(filled["lst"], feats["lst"])
    # observed values are kept as they were
    obs = feats["smap_tbv_l_asc"].notnull()
    np.testing.assert_array_equal(filled["smap_tbv_l_asc"].values[obs.values], feats["smap_tbv_l_asc"].values[obs.values])


def test_ranking_contrasts_and_paper_comparison():
    # a fake Table 3 equal to the paper's: every contrast agrees and the rank correlation is 1
    rows = [{"feature": f, **dict(zip(bandsel.METRICS, v))} for f, v in bandsel.PAPER_TABLE3.items()]
    t3 = pd.DataFrame(rows)
    c = bandsel.ranking_contrasts(t3)
    assert c["agree"].all() and np.allclose(c["ours"], c["paper"])
    # the paper: V below H at C/X band, BTI above sig40
    assert c.loc["V minus H polarization", "paper"] < 0 < c.loc["ASCAT BTI minus sig40", "paper"]
    tab, summ = bandsel.compare_with_paper(t3)
    assert summ["spearman_rank"] == pytest.approx(1.0) and summ["n_common"] == len(bandsel.PAPER_TABLE3)


def test_fine_auxiliary_prefers_the_estarfm_product(run, feats, tmp_path):
    import shutil

    rd = tmp_path / "run"
    shutil.copytree(run["dir"], rd)
    modis = xr.open_dataset(rd / "inputs" / "modis.nc")
    est = xr.Dataset({"ndvi": modis["ndvi"].fillna(0.5), "lst_day": modis["lst_day"].fillna(300.0)})
    (rd / "products").mkdir(exist_ok=True)
    est.to_netcdf(rd / "products" / "estarfm.nc")
    f = run["fine"]
    aux, src = nn.fine_auxiliary(rd, ["lst", "evi", "dem"], f.lat, f.lon, coarse_aux=feats)
    assert "estarfm" in src["lst"] and "modis.nc" in src["evi"] and src["dem"] == "static.nc"
    np.testing.assert_allclose(aux["lst"].values, est["lst_day"].values)
    aux2, src2 = nn.fine_auxiliary(rd, ["lst"], f.lat, f.lon, coarse_aux=feats, use_estarfm=False)
    assert "modis.nc" in src2["lst"]
