"""Pairwise metrics against pytesmo, grid = per pixel, seed-003 correlations, truth/station scores,
and the scoreboard on a small hand-made run directory."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
import xarray as xr

import pytesmo.metrics as pm
from pytesmo.metrics.pairwise import pearson_r_ci

from smlib.errors import DataError, InputError
from smlib.validate import (pairwise, read_truth, score_stations, score_truth, spatial_correlation, spearman,
                            temporal_correlation)
from smlib.validate import scoreboard
from smlib.validate.match import by_landcover, summarize_stations

TOL = 1e-6


def _pytesmo_all(x, y):
    """pytesmo's metrics on the jointly finite samples."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pm.pearson_r(x, y)
        lo, hi = pearson_r_ci(x, y, r)
        p = ss.pearsonr(x, y).pvalue
        rho = pm.spearman_r(x, y)
    return {"n": x.size, "bias": pm.bias(x, y), "rmse": pm.rmsd(x, y), "ubrmse": pm.ubrmsd(x, y),
            "mae": pm.aad(x, y), "r": r, "r_lo": lo, "r_hi": hi, "p": p, "rho": rho}


def _check_against_pytesmo(x, y):
    m = pairwise(x, y)
    ref = _pytesmo_all(x, y)
    assert int(m["n"]) == ref["n"]
    for k in ("bias", "rmse", "ubrmse", "mae", "r", "r_lo", "r_hi", "p"):
        assert float(m[k]) == pytest.approx(ref[k], abs=TOL, rel=TOL), k
    assert float(spearman(x, y)["rho"]) == pytest.approx(ref["rho"], abs=TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_matches_pytesmo_random(seed):
    rng = np.random.default_rng(seed)
    n = 150 + 50 * seed
    truth = 0.25 + 0.08 * rng.standard_normal(n)
    x = truth + 0.03 + 0.04 * rng.standard_normal(n)
    y = truth + 0.02 * rng.standard_normal(n)
    _check_against_pytesmo(x, y)


def test_pairwise_with_nans_matches_pytesmo_on_complete_pairs():
    rng = np.random.default_rng(5)
    x = rng.normal(0.3, 0.05, 300)
    y = x + rng.normal(0.0, 0.03, 300)
    x[rng.random(300) < 0.2] = np.nan
    y[rng.random(300) < 0.2] = np.nan
    _check_against_pytesmo(x, y)
    assert int(pairwise(x, y)["n"]) == int((np.isfinite(x) & np.isfinite(y)).sum())


def test_ties_spearman_matches_pytesmo():
    rng = np.random.default_rng(9)
    x = np.round(rng.normal(0.3, 0.05, 100), 2)
    y = np.round(x + rng.normal(0, 0.02, 100), 2)
    assert float(spearman(x, y)["rho"]) == pytest.approx(pm.spearman_r(x, y), abs=TOL)
    assert float(spearman(x, y)["p"]) == pytest.approx(ss.spearmanr(x, y).pvalue, abs=TOL)


def test_constant_series_gives_nan_r_and_exact_errors():
    y = np.linspace(0.1, 0.3, 40)
    x = np.full(40, 0.2)
    m = pairwise(x, y)
    assert np.isnan(float(m["r"])) and np.isnan(float(m["p"])) and np.isnan(float(m["r_lo"]))
    assert float(m["bias"]) == pytest.approx(pm.bias(x, y), abs=TOL)
    assert float(m["rmse"]) == pytest.approx(pm.rmsd(x, y), abs=TOL)
    assert float(m["ubrmse"]) == pytest.approx(pm.ubrmsd(x, y), abs=TOL)
    assert np.isnan(float(spearman(x, y)["rho"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(pm.pearson_r(x, y))  # pytesmo agrees: no correlation for a constant series


def test_minimum_sample_rules():
    # n = 2: errors defined, r NaN (pytesmo would give +-1 from two points)
    x, y = np.array([0.1, 0.2, np.nan]), np.array([0.15, 0.22, 0.3])
    m = pairwise(x, y)
    assert int(m["n"]) == 2
    assert float(m["bias"]) == pytest.approx(pm.bias(x[:2], y[:2]), abs=TOL)
    assert float(m["rmse"]) == pytest.approx(pm.rmsd(x[:2], y[:2]), abs=TOL)
    assert np.isnan(float(m["r"])) and np.isnan(float(m["p"]))
    # n = 3: r and p defined, no Fisher interval (needs n >= 4)
    x3, y3 = np.array([0.1, 0.2, 0.25]), np.array([0.12, 0.18, 0.3])
    m3 = pairwise(x3, y3)
    assert float(m3["r"]) == pytest.approx(pm.pearson_r(x3, y3), abs=TOL)
    assert float(m3["p"]) == pytest.approx(ss.pearsonr(x3, y3).pvalue, abs=TOL)
    assert np.isnan(float(m3["r_lo"]))
    # n = 0: everything NaN, n = 0
    m0 = pairwise(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))
    assert int(m0["n"]) == 0
    assert all(np.isnan(float(m0[k])) for k in ("r", "bias", "rmse", "ubrmse", "mae"))


def test_identity_ubrmse_and_bias_sign():
    rng = np.random.default_rng(3)
    y = rng.normal(0.3, 0.05, 500)
    x = y + 0.05 + rng.normal(0, 0.01, 500)
    m = pairwise(x, y)
    assert float(m["bias"]) > 0.04  # product wetter than the reference -> positive
    assert float(m["ubrmse"]) ** 2 == pytest.approx(float(m["rmse"]) ** 2 - float(m["bias"]) ** 2, abs=1e-12)


def _grid(seed=0, nt=60, ny=4, nx=5):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-05-01", periods=nt, freq="D")
    coords = {"time": t, "lat": 36.9 - 0.25 * np.arange(ny), "lon": 100.1 + 0.25 * np.arange(nx)}
    truth = 0.25 + 0.06 * rng.standard_normal((nt, ny, nx))
    x = truth + 0.02 + 0.03 * rng.standard_normal(truth.shape)
    y = truth + 0.01 * rng.standard_normal(truth.shape)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 0, 0] = np.nan  # an empty pixel
    x[:58, 1, 1] = np.nan  # a pixel with n = 2
    y[:, 2, 2] = 0.3  # a constant reference pixel
    dims = ("time", "lat", "lon")
    return (xr.DataArray(x, dims=dims, coords=coords, attrs={"units": "m3/m3"}),
            xr.DataArray(y, dims=dims, coords=coords, attrs={"units": "m3/m3"}))


def test_gridded_equals_per_pixel():
    x, y = _grid()
    g = pairwise(x, y, dim="time")
    assert set(g.data_vars) == {"n", "r", "p", "r_lo", "r_hi", "bias", "rmse", "ubrmse", "mae"}
    assert g["r"].dims == ("lat", "lon")
    for i in range(x.sizes["lat"]):
        for j in range(x.sizes["lon"]):
            one = pairwise(x.values[:, i, j], y.values[:, i, j])
            for k in g.data_vars:
                np.testing.assert_allclose(float(g[k][i, j]), float(one[k]), rtol=1e-12, atol=1e-12, equal_nan=True)
    assert int(g["n"][0, 0]) == 0 and np.isnan(float(g["r"][1, 1])) and np.isnan(float(g["r"][2, 2]))


def test_pairwise_dask_lazy_equals_eager():
    x, y = _grid(1)
    eager = pairwise(x, y)
    lazy = pairwise(x.chunk({"lat": 2, "lon": 2}), y.chunk({"lat": 2, "lon": 2}))
    assert lazy["r"].chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute())


def test_numpy_and_dataarray_inputs_and_errors():
    x, y = _grid(2)
    a = pairwise(x.values, y.values)  # dim = first axis
    b = pairwise(x, y)
    np.testing.assert_allclose(a["rmse"].values, b["rmse"].values, equal_nan=True)
    c = pairwise(x.values, y)  # NumPy takes the DataArray's dims
    assert c["rmse"].dims == ("lat", "lon")
    with pytest.raises(DataError, match="reduced over"):
        pairwise(x, y, dim="day")
    with pytest.raises(DataError, match="share no 'time'"):
        pairwise(x, y.assign_coords(time=y["time"] + pd.Timedelta(days=365)))


def test_seed003_spatial_and_temporal_correlation():
    x, y = _grid(4)
    sp = spatial_correlation(x, y)
    # per day: r over the map, as the per-day pytesmo value
    d = 7
    xv, yv = x.isel(time=d).values.ravel(), y.isel(time=d).values.ravel()
    ok = np.isfinite(xv) & np.isfinite(yv)
    assert float(sp["daily_r"][d]) == pytest.approx(pm.pearson_r(xv[ok], yv[ok]), abs=TOL)
    sig = sp["daily_p"] < 0.05
    assert float(sp["mean_r"]) == pytest.approx(float(sp["daily_r"].where(sig).mean()), abs=1e-12)
    assert int(sp["n_days"]) == int(sig.sum())
    tp = temporal_correlation(x, y)
    assert tp["r"].dims == ("lat", "lon")
    assert float(tp["mean_r"]) == pytest.approx(float(np.nanmean(tp["r"].values)), abs=1e-12)


# ----------------------------------------------------------------------- a hand-made run directory
FINE = 0.05  # a coarse "fine" grid keeps the test small; the code reads resolutions from the files


def _coords(res, west=100.0, east=100.5, south=36.0, north=36.5):
    nlat = int(round((north - south) / res))
    nlon = int(round((east - west) / res))
    return (np.round(north - (np.arange(nlat) + 0.5) * res, 8), np.round(west + (np.arange(nlon) + 0.5) * res, 8))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from smlib.grid import Grid, block_mean
    from smlib.io import write_dataset

    rd = tmp_path_factory.mktemp("val_run")
    rng = np.random.default_rng(11)
    t = pd.date_range("2021-05-01", periods=60, freq="D")
    lat, lon = _coords(FINE)
    shape = (t.size, lat.size, lon.size)
    base = 0.2 + 0.1 * np.sin(np.arange(t.size) / 9.0)[:, None, None]
    detail = 0.04 * np.sin(lat[:, None] * 40) * np.cos(lon[None, :] * 40)
    ssm = base + detail + 0.03 * rng.standard_normal(shape)
    rzsm = 0.8 * base + 0.05 + detail / 2 + 0.01 * rng.standard_normal(shape)
    c = {"time": t, "lat": lat, "lon": lon}
    truth = xr.Dataset({"ssm": (("time", "lat", "lon"), ssm), "rzsm": (("time", "lat", "lon"), rzsm)}, coords=c)
    write_dataset(truth, rd / "inputs" / "truth.nc")
    coarse = Grid(res=0.25, west=100.0, east=100.5, south=36.0, north=36.5)
    agg = block_mean(truth["ssm"], coarse)
    amsr2 = agg + 0.06 * rng.standard_normal(agg.shape)
    amsr2 = amsr2.where(rng.random(agg.shape) > 0.2)
    amsr2.attrs["units"] = "m3/m3"
    write_dataset(xr.Dataset({"ssm": amsr2}), rd / "inputs" / "amsr2.nc")
    ascat = 100 * agg / 0.45
    ascat.attrs["units"] = "%"
    write_dataset(xr.Dataset({"ssm": ascat}), rd / "inputs" / "ascat.nc")
    mdl = xr.Dataset({"ssm": agg + 0.03, "rzsm": block_mean(truth["rzsm"], coarse) - 0.02})
    for v in mdl.data_vars:
        mdl[v].attrs["units"] = "m3/m3"
    write_dataset(mdl, rd / "inputs" / "model_gleam.nc")
    fine = truth["ssm"] + 0.02 * rng.standard_normal(shape)
    write_dataset(xr.Dataset({"ssm": fine}), rd / "products" / "lightgbm.nc")
    # stations: truth at the pixel + representativeness error
    ns = 6
    slat = np.array([36.41, 36.33, 36.22, 36.14, 36.07, 36.46])
    slon = np.array([100.06, 100.18, 100.27, 100.31, 100.44, 100.48])
    st_ssm = truth["ssm"].sel(lat=xr.DataArray(slat, dims="station"), lon=xr.DataArray(slon, dims="station"),
                              method="nearest").values + 0.02 * rng.standard_normal((t.size, ns))
    st_ssm[:40, 5] = np.nan  # a station with only 20 days
    st = xr.Dataset({"ssm": (("time", "station"), st_ssm),
                     "rzsm": (("time", "station"), st_ssm * 0.8 + 0.05),
                     "precip": (("time", "station"), rng.gamma(0.5, 4, (t.size, ns)))},
                    coords={"time": t, "station": [f"S{i}" for i in range(ns)], "lat": ("station", slat),
                            "lon": ("station", slon), "landcover": ("station", [1, 1, 2, 2, 3, 3])})
    write_dataset(st.transpose("station", "time"), rd / "inputs" / "stations.nc")
    cv = xr.Dataset({"ssm": (("station", "time"), st_ssm.T[:3] + 0.01)},
                    coords={"station": ["S0", "S1", "S2"], "time": t})
    write_dataset(cv, rd / "products" / "lightgbm_calibrated_stations.nc")
    return rd


def _load(path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def test_read_truth_and_errors(run_dir, tmp_path):
    t = read_truth(run_dir, ["ssm"])
    assert list(t.data_vars) == ["ssm"]
    with pytest.raises(InputError, match="only for synthetic"):
        read_truth(tmp_path)
    (tmp_path / "study.yml").write_text("name: hawaii\nsource: files\n")
    with pytest.raises(InputError, match="no truth"):
        read_truth(tmp_path)
    with pytest.raises(InputError, match="lacks truth variable"):
        read_truth(run_dir, ["soil_temp"])


def test_score_truth_fine_coarse_and_detail(run_dir):
    from smlib.grid import Grid, block_mean, cell_mean_anomaly

    truth = read_truth(run_dir)["ssm"]
    prod = _load(run_dir / "products" / "lightgbm.nc")["ssm"]
    s = score_truth(run_dir, prod, "ssm")
    ref = pairwise(prod.values.ravel(), truth.values.ravel())
    assert s["n"] == int(ref["n"]) and s["rmse"] == pytest.approx(float(ref["rmse"]), abs=1e-6)
    # coarse product: truth block-averaged onto its cells
    amsr2 = _load(run_dir / "inputs" / "amsr2.nc")["ssm"]
    s2 = score_truth(run_dir, amsr2, "ssm")
    agg = block_mean(truth, Grid(0.25, 100.0, 100.5, 36.0, 36.5))
    ref2 = pairwise(amsr2.values.ravel(), agg.values.ravel())
    assert s2["n"] == int(ref2["n"]) and s2["ubrmse"] == pytest.approx(float(ref2["ubrmse"]), abs=1e-6)
    assert 0.045 < s2["ubrmse"] < 0.075  # the 0.06 error we put in
    # truth_fine: anomalies from 0.25-deg cell means
    s3 = score_truth(run_dir, prod, "ssm", fine_detail=True, coarse_res=0.25)
    g = Grid(0.25, 100.0, 100.5, 36.0, 36.5)
    ref3 = pairwise(cell_mean_anomaly(prod, g).values.ravel(), cell_mean_anomaly(truth, g).values.ravel())
    assert s3["r"] == pytest.approx(float(ref3["r"]), abs=1e-6)
    assert abs(s3["bias"]) < 1e-6
    with pytest.raises(DataError, match="1-km products only"):
        score_truth(run_dir, amsr2, "ssm", fine_detail=True)
    with pytest.raises(DataError, match="var"):
        score_truth(run_dir, amsr2, "soil")


def test_score_stations_nearest_bilinear_and_cv(run_dir):
    prod = _load(run_dir / "products" / "lightgbm.nc")
    df = score_stations(run_dir, prod, "ssm")
    assert list(df.columns) == ["station", "lat", "lon", "landcover", "n", "r", "bias", "rmse", "ubrmse", "mae"]
    assert "S5" not in set(df["station"])  # only 20 paired days < 30
    assert len(df) == 5 and (df["n"] >= 30).all()
    # the nearest-cell series for S0 scored by hand
    st = _load(run_dir / "inputs" / "stations.nc")
    v = prod["ssm"].sel(lat=36.41, lon=100.06, method="nearest").values
    ref = pairwise(v, st["ssm"].sel(station="S0").values)
    row = df.set_index("station").loc["S0"]
    assert row["r"] == pytest.approx(float(ref["r"]), abs=1e-6)
    assert row["bias"] == pytest.approx(float(ref["bias"]), abs=1e-6)
    bl = score_stations(run_dir, prod, "ssm", method="bilinear")
    assert len(bl) == 5 and not np.allclose(bl["r"], df["r"])
    cv = _load(run_dir / "products" / "lightgbm_calibrated_stations.nc")
    dcv = score_stations(run_dir, cv, "ssm")
    assert list(dcv["station"]) == ["S0", "S1", "S2"]
    assert np.allclose(dcv["bias"], 0.01, atol=1e-6)
    lc = by_landcover(df)
    assert set(lc.columns) >= {"landcover", "stations", "r", "ubrmse"}
    assert lc["stations"].sum() == len(df)
    summ = summarize_stations(df)
    assert summ["n"] == 5 and summ["r"] == pytest.approx(float(np.median(df["r"])))



def test_station_headroom_oracles(run_dir):
    from smlib.validate.headroom import HEADROOM_COLUMNS, split_scales, station_headroom
    from smlib.grid import Grid

    truth = _load(run_dir / "inputs" / "truth.nc")["ssm"]
    # split_scales: the two parts add back to the field, the detail averages to zero over each cell
    cm, det = split_scales(truth, Grid(res=0.25, west=100.0, east=100.5, south=36.0, north=36.5))
    xr.testing.assert_allclose(cm + det, truth)
    assert abs(float(det.isel(time=0, lat=slice(0, 5), lon=slice(0, 5)).mean())) < 1e-6  # float32 truth
    # a source that is the truth plus a constant: its detail is the truth's detail, so the
    # "source detail + truth cell mean" oracle is the truth itself, and the source scores like the truth
    # shifted by the constant
    src = truth + 0.05
    hr = station_headroom(run_dir, src, "ssm", name="src").set_index("field")
    assert list(hr.reset_index().columns) == list(HEADROOM_COLUMNS)
    ref = summarize_stations(score_stations(run_dir, truth, "ssm"))
    assert hr.loc["truth (1 km)", "rmse"] == pytest.approx(ref["rmse"], abs=1e-6)
    assert hr.loc["truth (1 km)", "stations"] == 5
    for k in ("r", "rmse", "bias"):
        assert hr.loc["src detail + truth cell mean", k] == pytest.approx(hr.loc["truth (1 km)", k], abs=1e-6)
    assert hr.loc["src", "bias"] == pytest.approx(hr.loc["truth (1 km)", "bias"] + 0.05, abs=1e-6)
    assert hr.loc["src", "r"] == pytest.approx(hr.loc["truth (1 km)", "r"], abs=1e-6)
    # removing the mean bias cannot change r and brings the bias near zero
    assert hr.loc["truth detail + src cell mean, bias removed", "r"] == pytest.approx(
        hr.loc["truth detail + src cell mean", "r"], abs=1e-12)
    assert abs(hr.loc["truth detail + src cell mean, bias removed", "bias"]) < 0.01
    # the cell mean alone loses the 1-km detail that the stations see
    assert hr.loc["truth cell mean", "rmse"] > hr.loc["truth (1 km)", "rmse"]
    with pytest.raises(DataError, match="truth's grid"):
        station_headroom(run_dir, _load(run_dir / "inputs" / "model_gleam.nc")["ssm"], "ssm")


def test_compare_medians_known_answers(run_dir):
    from smlib.validate import compare_medians

    a = score_stations(run_dir, _load(run_dir / "products" / "lightgbm.nc"), "ssm")
    b = a.assign(r=a["r"] - 0.1)
    out = compare_medians(a, b, n_boot=500)
    assert out["stations"] == 5 and out["share_better"] == 1.0
    for k in ("diff", "diff_lo", "diff_hi", "median_paired"):
        assert out[k] == pytest.approx(0.1, abs=1e-12)
    # antisymmetric, and the interval holds the observed difference
    c = a.assign(r=a["r"] + np.linspace(-0.05, 0.05, len(a)))
    ab, ba = compare_medians(a, c, seed=3), compare_medians(c, a, seed=3)
    assert ab["diff"] == pytest.approx(-ba["diff"]) and ab["diff_lo"] <= ab["diff"] <= ab["diff_hi"]
    with pytest.raises(DataError, match="share no station"):
        compare_medians(a, b.assign(station="X" + b["station"]))
    with pytest.raises(DataError, match="not a column"):
        compare_medians(a, b, metric="kge")

def test_scoreboard_build(run_dir):
    board = scoreboard.build(run_dir)
    assert list(board.columns) == scoreboard.COLUMNS
    back = pd.read_csv(run_dir / "scoreboard.csv")
    assert list(back.columns) == scoreboard.COLUMNS and len(back) == len(board)
    keys = set(zip(board["product"], board["layer"], board["reference"]))
    assert ("amsr2", "surface", "truth") in keys and ("amsr2", "surface", "stations") in keys
    assert ("model_gleam", "rootzone", "truth") in keys and ("model_gleam", "rootzone", "stations") in keys
    assert ("lightgbm", "surface", "truth_fine") in keys
    assert not any(ref == "truth_fine" for p, _, ref in keys if p != "lightgbm")
    # the CV file replaces the gridded product at the stations; it has no gridded rows
    cal = board[board["product"] == "lightgbm_calibrated"]
    assert list(cal["reference"]) == ["stations"] and int(cal["n"].iloc[0]) == 3
    # ASCAT in % saturation: r only
    asc = board[(board["product"] == "ascat") & (board["reference"] == "truth")].iloc[0]
    assert np.isfinite(asc["r"]) and np.isnan(asc["bias"]) and np.isnan(asc["ubrmse"])
    # the model's +0.03 bias comes out
    mb = board[(board["product"] == "model_gleam") & (board["layer"] == "surface") & (board["reference"] == "truth")]
    assert float(mb["bias"].iloc[0]) == pytest.approx(0.03, abs=1e-4)
    assert (run_dir / "tables" / "08_stations.csv").exists()
    # ascat rescaled instead of r-only
    b2, _ = scoreboard.build_details(run_dir, percent="meanstd")
    asc2 = b2[(b2["product"] == "ascat") & (b2["reference"] == "truth")].iloc[0]
    assert abs(asc2["bias"]) < 1e-6 and np.isfinite(asc2["ubrmse"])


def test_scoreboard_empty_run(tmp_path):
    board = scoreboard.build(tmp_path)
    assert board.empty and list(board.columns) == scoreboard.COLUMNS
    assert (tmp_path / "scoreboard.csv").exists()


def test_scoreboard_real_data_study_has_no_truth_rows(run_dir, tmp_path):
    import shutil

    rd = tmp_path / "real"
    shutil.copytree(run_dir / "inputs", rd / "inputs")
    (rd / "inputs" / "truth.nc").unlink()
    (rd / "study.yml").write_text("name: real\nsource: files\n")
    board = scoreboard.build(rd)
    assert set(board["reference"]) == {"stations"}
    assert {"amsr2", "ascat", "model_gleam"} <= set(board["product"])


def test_report_tc_table_taylor_series_and_summary(run_dir):
    from smlib.grid import Grid
    from smlib.validate import report

    grid = Grid(0.25, 100.0, 100.5, 36.0, 36.5)
    triplets, skipped = report.resolve_triplets(run_dir, [["amsr2", "ascat", "model_gleam"], ["amsr2", "smap", "x"]],
                                                auto_products_with=["amsr2", "model_gleam"])
    assert ["amsr2", "ascat", "model_gleam"] in triplets and ["lightgbm", "amsr2", "model_gleam"] in triplets
    assert any("smap" in m for m in skipped)
    tcs = report.tc_triplets(run_dir, triplets, grid=grid, min_n=10, min_pair_r=None)
    t = tcs["amsr2/ascat/model_gleam"]
    assert list(t["units"].values) == ["m3/m3", "%", "m3/m3"]
    table = report.tc_vs_recorded(run_dir, tcs, grid=grid)
    assert list(table.columns[:6]) == ["triplet", "product", "tc_err_sd", "tc_r", "snr_db", "pixels"]
    row = table[(table["triplet"] == "amsr2/ascat/model_gleam") & (table["product"] == "amsr2")].iloc[0]
    # the ubRMSE against the block-averaged truth is the amsr2 noise we put in (0.06)
    assert 0.045 < row["truth_ubrmse"] < 0.075
    tp, ref = report.taylor_points(run_dir)
    assert ref == "truth" and "ascat" not in set(tp["product"])
    g = tp.set_index("product").loc["model_gleam"]
    assert g["r"] > 0.99 and abs(g["sd_ratio"] - 1) < 1e-6  # the model is truth + a constant
    s = report.station_series(run_dir)
    assert s["station"] in {f"S{i}" for i in range(5)} and "model_gleam" in s["products"]
    assert len(s["products"]["model_gleam"]) == len(s["time"])
    board, _ = scoreboard.build_details(run_dir)
    text = report.summary_text(board, table, synthetic=True)
    best = board[(board["layer"] == "surface") & (board["reference"] == "truth")].dropna(subset=["ubrmse"])
    assert f"`{best.loc[best['ubrmse'].idxmin(), 'product']}`" in text
    assert "Triple collocation" in text
    assert "Nothing could be scored" in report.summary_text(board.iloc[0:0], table.iloc[0:0], synthetic=False)


def test_plots_have_units_and_colour_bars(run_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smlib.grid import Grid
    from smlib.validate import plots, report

    grid = Grid(0.25, 100.0, 100.5, 36.0, 36.5)
    tcs = report.tc_triplets(run_dir, [["amsr2", "ascat", "model_gleam"]], grid=grid, min_n=10, min_pair_r=None)
    fig = plots.tc_maps(tcs, "err_sd")
    labels = [a.get_ylabel() for a in fig.axes]
    assert any("m3/m3" in lab for lab in labels)  # the shared colour bar
    assert sum(a.get_visible() and a.get_title() != "" for a in fig.axes) == 2  # ascat's % error sd left out
    _, stn = scoreboard.build_details(run_dir)
    fig = plots.station_boxplots(stn)
    assert [a.get_ylabel() for a in fig.axes] == ["Pearson r [-]", "ubRMSE [m3/m3]"]
    assert plots.station_boxplots(stn.iloc[0:0]) is None
    tp, ref = report.taylor_points(run_dir)
    ax = plots.taylor_diagram(tp, ref)
    assert len(ax.get_legend().get_texts()) == len(tp) + 1
    ax = plots.station_timeseries(report.station_series(run_dir))
    assert "m3/m3" in ax.get_ylabel()
    plt.close("all")


def test_scoreboard_skips_an_unusable_product_with_a_note(run_dir, tmp_path):
    import shutil

    from smlib.io import write_dataset

    rd = tmp_path / "run"
    shutil.copytree(run_dir, rd)
    t = _load(rd / "inputs" / "truth.nc")["ssm"]
    finer = t.interp(lat=np.linspace(36.49, 36.01, 49), lon=np.linspace(100.01, 100.49, 49))  # 0.01 < 0.05 deg
    write_dataset(xr.Dataset({"ssm": finer}), rd / "products" / "too_fine.nc")
    board, _ = scoreboard.build_details(rd)
    assert "too_fine" not in set(board["product"]) and "lightgbm" in set(board["product"])
    assert any(n.startswith("too_fine (surface) not scored") and "finer than the truth" in n
               for n in board.attrs["notes"])


def test_blocked_core_equals_one_call():
    from smlib.validate.metrics import blocked, pairwise_core

    x, y = _grid(6)
    xa = np.moveaxis(x.values, 0, -1)
    ya = np.moveaxis(y.values, 0, -1)
    one = pairwise_core(xa, ya)
    parts = blocked(pairwise_core, xa, ya, block_values=3 * xa.shape[-1])  # blocks of 3 pixels
    for k in one:
        np.testing.assert_array_equal(parts[k], one[k])
