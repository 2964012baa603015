"""The synthetic study region (issue 3; DESIGN.md sections 4 and 5).

The demo profile is generated once per session (about 40 s); determinism and the block-wise
(large-profile) path are checked on a small custom region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from smlib import study as study_mod
from smlib.errors import StudyError
from smlib.grid import block_mean
from smlib.synth import diagnostics, land, sensors, terrain, weather
from smlib.synth.generate import PRODUCTS, blocks, write_inputs
from smlib.synth.params import DEFAULTS, validate_params

ROOT = Path(__file__).resolve().parents[1]

CONTRACT = {
    "static": {"dem", "slope", "landcover", "water_fraction", "sand", "clay"},
    "modis": {"ndvi", "evi", "lst_day", "nsdsi"},
    "glass": {"ndvi", "lst_day"},
    "smap": {"ssm", "tbv_asc", "tbh_asc", "tbv_des", "tbh_des", "qc"},
    "amsr2": {"ssm"} | {f"tb{p}_{b}_{o}" for p in "vh" for b in ("c1", "c2", "x") for o in ("asc", "des")},
    "ascat": {"sig40", "ssm"},
    "fy3c": {"ssm", "tbv_x", "tbh_x"},
    "forcing": {"precip", "precip_mswep", "t2m", "ssrd", "vpd", "wind"},
    "stations": {"ssm", "rzsm", "precip"},
    "truth": {"ssm", "rzsm", "ndvi", "lst_day", "precip", "porosity"},
    **{f"model_{m}": {"ssm", "rzsm"} for m in ("gleam", "noah", "cldas", "geos5", "era5land")},
}


def mini_study(seed: int = 3, **synthetic):
    raw = {"name": "mini", "source": "synthetic", "profile": "custom", "seed": seed,
           "region": {"west": 100.0, "east": 100.5, "south": 36.0, "north": 36.5},
           "period": {"start": "2021-06-20", "end": "2021-07-25"},
           "synthetic": {"spinup_days": 10, "n_stations": 8, **synthetic}}
    return study_mod.validate(raw, check_stages=False)


def open_all(d: Path) -> dict:
    out = {}
    for p in sorted(d.glob("*.nc")):
        with xr.open_dataset(p) as ds:
            out[p.stem] = ds.load()
    return out


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    st = study_mod.load(ROOT / "data" / "studies" / "demo.yml")
    out = tmp_path_factory.mktemp("synth_demo") / "inputs"
    paths = write_inputs(st, out)
    return {"study": st, "dir": out, "paths": paths, "ds": open_all(out)}


@pytest.fixture(scope="session")
def mini(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth_mini")
    a = write_inputs(mini_study(3), base / "a")
    write_inputs(mini_study(3), base / "b")
    write_inputs(mini_study(4), base / "c")
    write_inputs(mini_study(3, block_days=16), base / "blocks")
    return {k: open_all(base / k) for k in ("a", "b", "c", "blocks")} | {"paths": a}


# ------------------------------------------------------------------------------------- contract
def test_every_canonical_file_with_contract_variables(demo):
    names = {p.stem for p in demo["paths"]}
    assert names == set(PRODUCTS) == set(CONTRACT)
    st = demo["study"]
    grids = {"static": "fine", "modis": "fine", "truth": "fine", "glass": "glass", "smap": "smap",
             "amsr2": "coarse", "ascat": "coarse", "fy3c": "coarse", "forcing": "coarse"}
    for name, ds in demo["ds"].items():
        assert CONTRACT[name] <= set(ds.data_vars), name
        for v in CONTRACT[name]:
            assert ds[v].attrs.get("units"), f"{name}.{v} has no units"
        if name == "stations":
            assert ds["ssm"].dims == ("station", "time")
            for c in ("station", "lat", "lon", "network", "landcover", "elevation", "depth_from", "depth_to"):
                assert c in ds.coords, c
            continue
        g = st.grid(grids.get(name, "coarse"))
        assert ds.sizes["lat"] == g.nlat and ds.sizes["lon"] == g.nlon, name
        np.testing.assert_allclose(ds["lat"].values, g.lat)
        assert (np.diff(ds["lat"].values) < 0).all(), "lat must descend"
        if "time" in ds.dims:
            t = ds["time"].values
            assert t.dtype == np.dtype("datetime64[ns]")
            assert (t == t.astype("datetime64[D]").astype("datetime64[ns]")).all(), "times at 00:00"
            assert len(t) == len(st.dates) and t[0] == np.datetime64(st.dates[0])
            assert ds["ssm" if "ssm" in ds else next(iter(CONTRACT[name]))].dims == ("time", "lat", "lon")
        for key in ("parameter_hash", "study", "created"):
            assert key in ds.attrs, f"{name} lacks provenance {key}"
    lc = demo["ds"]["static"]["landcover"]
    assert lc.attrs["flag_meanings"].split() == ["water", "bare", "grassland", "cropland", "forest"]
    assert set(np.unique(lc.values)) <= {0, 1, 2, 3, 4}


def test_error_parameters_recorded_in_attrs(demo):
    for name in ("smap", "amsr2", "fy3c", "ascat", "stations", "model_gleam"):
        a = demo["ds"][name].attrs
        for key in ("revisit_days", "realised_error_sd", "realised_bias", "gap_fraction"):
            assert key in a, f"{name} lacks {key}"
    a = demo["ds"]["smap"].attrs
    assert a["error_sd"] == 0.04 and a["bias"] == DEFAULTS["smap_bias"]
    assert demo["ds"]["amsr2"].attrs["error_sd"] == 0.06 and demo["ds"]["fy3c"].attrs["error_sd"] == 0.06


def test_modis_composites_on_their_dates(demo):
    m = demo["ds"]["modis"]
    t = m["time"].values.astype("datetime64[D]")
    has = {v: np.isfinite(m[v].values).any(axis=(1, 2)) for v in ("ndvi", "evi", "nsdsi", "lst_day")}
    starts16 = sensors.composite_windows(t, 16) == t
    starts8 = sensors.composite_windows(t, 8) == t
    assert (has["ndvi"] == starts16).all() and (has["evi"] == starts16).all()
    assert (has["nsdsi"] <= starts8).all() and has["nsdsi"].sum() >= starts8.sum() - 1
    assert has["lst_day"].mean() > 0.9


def test_clouds_follow_the_storms(demo):
    lst = demo["ds"]["modis"]["lst_day"].values
    p = demo["ds"]["truth"]["precip"].values
    cloudy_wet = np.isnan(lst[p > 5]).mean()
    cloudy_dry = np.isnan(lst[p == 0]).mean()
    assert cloudy_wet > 0.9 and cloudy_dry < cloudy_wet - 0.3


# ----------------------------------------------------------------------------------- determinism
def test_same_seed_identical_other_seed_different(mini):
    a, b, c = mini["a"], mini["b"], mini["c"]
    for name in a:
        for v in a[name].data_vars:
            np.testing.assert_array_equal(a[name][v].values, b[name][v].values, err_msg=f"{name}.{v}")
    assert not np.allclose(a["static"]["dem"].values, c["static"]["dem"].values)
    assert not np.allclose(np.nan_to_num(a["truth"]["ssm"].values), np.nan_to_num(c["truth"]["ssm"].values))
    assert not np.allclose(np.nan_to_num(a["smap"]["ssm"].values), np.nan_to_num(c["smap"]["ssm"].values))


def test_blockwise_generation_equals_one_block(mini):
    """The large profile's chunked path writes the same arrays as the one-block path."""
    st = mini_study(3, block_days=16)
    assert len(blocks(st.dates, 16)) == 2
    a, blk = mini["a"], mini["blocks"]
    for name in a:
        for v in a[name].data_vars:
            np.testing.assert_allclose(blk[name][v].values, a[name][v].values, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{name}.{v}")
        if "realised_error_sd" in a[name].attrs:
            assert blk[name].attrs["realised_error_sd"] == pytest.approx(a[name].attrs["realised_error_sd"], rel=1e-6)


# ------------------------------------------------------------------------------------- physics
def test_soil_moisture_within_zero_and_porosity(demo):
    t = demo["ds"]["truth"]
    por = t["porosity"].values
    for v in ("ssm", "rzsm"):
        a = t[v].values
        ok = np.isfinite(a)
        assert ok.mean() > 0.95
        assert (a[ok] >= 0).all()
        assert (a <= por[None] + 1e-6)[ok].all(), v
    lake = demo["ds"]["static"]["landcover"].values == 0
    assert np.isnan(t["ssm"].values[:, lake]).all(), "no soil moisture over open water"


def test_root_zone_smoother_than_surface(demo):
    t = demo["ds"]["truth"]
    d_s = np.nanmean(np.abs(np.diff(t["ssm"].values, axis=0)))
    d_r = np.nanmean(np.abs(np.diff(t["rzsm"].values, axis=0)))
    assert d_r < 0.4 * d_s
    land = np.isfinite(t["ssm"].values).all(axis=0)
    sd_s = np.mean(np.std(t["ssm"].values[:, land], axis=0))
    sd_r = np.mean(np.std(t["rzsm"].values[:, land], axis=0))
    assert sd_r < sd_s


def test_rises_after_rain_and_dries_down_after(demo):
    t = demo["ds"]["truth"].sel(time=slice("2021-06-01", "2021-09-30"))   # snow-free months
    s = t["ssm"].values
    p = t["precip"].values
    ds = s[1:] - s[:-1]
    wet = (p[1:] > 10) & np.isfinite(ds)
    assert wet.sum() > 1000
    assert (ds[wet] > 0).mean() > 0.9
    dry = (p[1:] == 0) & (p[:-1] == 0) & np.isfinite(ds)
    assert dry.sum() > 1000
    assert (ds[dry] <= 0).mean() > 0.9
    assert np.nanmean(ds[dry]) < -0.002


def test_vegetation_and_temperature_respond_to_water(demo):
    t = demo["ds"]["truth"]
    lst_anom = diagnostics.cell_anomaly(t["lst_day"], demo["study"].grid("coarse")).values
    ssm_anom = diagnostics.cell_anomaly(t["ssm"], demo["study"].grid("coarse")).values
    ok = np.isfinite(lst_anom) & np.isfinite(ssm_anom)
    assert np.corrcoef(lst_anom[ok], ssm_anom[ok])[0, 1] < -0.3, "drier pixels must be warmer"
    nd = t["ndvi"].sel(time="2021-07-15").values
    assert np.nanpercentile(nd, 90) > 0.5 and np.nanpercentile(nd, 10) < 0.3


# ------------------------------------------------------------------------------ realised errors
def _truth_on(ds_truth, grid):
    return block_mean(ds_truth["ssm"], grid).values


def test_smap_error_matches_contract(demo):
    st = demo["study"]
    truth = _truth_on(demo["ds"]["truth"], st.grid("smap"))
    d = demo["ds"]["smap"]["ssm"].values - truth
    d = d[np.isfinite(d)]
    assert d.size > 500
    assert np.std(d) == pytest.approx(0.04, abs=0.005)
    assert np.mean(d) == pytest.approx(DEFAULTS["smap_bias"], abs=0.006)
    assert demo["ds"]["smap"].attrs["realised_error_sd"] == pytest.approx(np.std(d), rel=1e-4)
    # revisit 2-3 days: the descending pass (ssm) observes a cell on 30-50% of its days
    obs = np.isfinite(demo["ds"]["smap"]["qc"].values).mean()
    assert 0.3 < obs < 0.5


@pytest.mark.parametrize("name", ["amsr2", "fy3c"])
def test_amsr2_fy3c_error_matches_contract(demo, name):
    truth = _truth_on(demo["ds"]["truth"], demo["study"].grid("coarse"))
    d = demo["ds"][name]["ssm"].values - truth
    d = d[np.isfinite(d)]
    assert np.std(d) == pytest.approx(0.06, abs=0.006)
    assert np.mean(d) == pytest.approx(demo["ds"][name].attrs["bias"], abs=0.008)


def test_ascat_error_matches_stated_noise(demo):
    st = demo["study"]
    t = demo["ds"]["truth"]
    sat = block_mean(100 * t["ssm"] / t["porosity"], st.grid("coarse")).values
    a = demo["ds"]["ascat"]
    d = a["ssm"].values - sat
    ok = np.isfinite(d) & (sat > 15) & (sat < 85)          # away from the clipping at 0 and 100 %
    assert np.std(d[ok]) == pytest.approx(a.attrs["error_sd"], rel=0.1)
    assert -30 < np.nanmin(a["sig40"].values) and np.nanmax(a["sig40"].values) < 0


def test_models_biased_smooth_and_independent_of_satellites(demo):
    st = demo["study"]
    truth = _truth_on(demo["ds"]["truth"], st.grid("coarse"))
    rz_truth = block_mean(demo["ds"]["truth"]["rzsm"], st.grid("coarse")).values
    amsr2_err = demo["ds"]["amsr2"]["ssm"].values - truth
    for m, nominal in DEFAULTS["model_bias"].items():
        ds = demo["ds"][f"model_{m}"]
        assert np.isfinite(ds["ssm"].values).all() and np.isfinite(ds["rzsm"].values).all(), "gap-free"
        err = ds["ssm"].values - truth
        bias = np.mean(err)
        assert 0.02 <= abs(bias) <= 0.05 and np.sign(bias) == np.sign(nominal), (m, bias)
        assert ds.attrs["realised_bias"] == pytest.approx(bias, abs=1e-4)
        rz_bias = np.mean(ds["rzsm"].values - rz_truth)
        assert 0.02 <= abs(rz_bias) <= 0.05 and np.sign(rz_bias) == np.sign(nominal), (m, rz_bias)
        ok = np.isfinite(amsr2_err)
        e1 = err[ok] - err[ok].mean()
        e2 = amsr2_err[ok] - amsr2_err[ok].mean()
        assert abs(np.corrcoef(e1, e2)[0, 1]) < 0.15, f"{m} errors correlate with AMSR2's"
    # the models' errors are not all the same error
    e = {m: (demo["ds"][f"model_{m}"]["ssm"].values - truth).ravel() for m in ("noah", "cldas", "geos5")}
    for x, y in (("noah", "cldas"), ("cldas", "geos5")):
        assert np.corrcoef(e[x] - e[x].mean(), e[y] - e[y].mean())[0, 1] < 0.9


def test_stations_match_contract(demo):
    s = demo["ds"]["stations"]
    t = demo["ds"]["truth"]
    static = demo["ds"]["static"]
    n = s.sizes["station"]
    assert 20 <= n <= 40
    assert (static["water_fraction"].sel(lat=s["lat"], lon=s["lon"], method="nearest").values == 0).all()
    pix = t["ssm"].sel(lat=s["lat"], lon=s["lon"], method="nearest").transpose("station", "time").values
    d = s["ssm"].values - pix
    within = np.nanmean(np.nanstd(d, axis=1))              # representativeness error, per station
    assert 0.015 < within < 0.035
    biases = np.nanmean(d, axis=1)
    assert np.std(biases) > 0.005, "per-station sensor biases"
    gaps = np.isnan(s["ssm"].values).mean()
    assert 0.05 < gaps < 0.5
    lag1 = np.nanmean([np.corrcoef(x[1:][np.isfinite(x[1:]) & np.isfinite(x[:-1])],
                                   x[:-1][np.isfinite(x[1:]) & np.isfinite(x[:-1])])[0, 1]
                       for x in d - biases[:, None]])
    assert lag1 > 0.5, "AR(1) representativeness error"
    assert set(np.unique(s["network"].values)) == {"SYN-W", "SYN-E"}


def test_forcing_and_glass_errors(demo):
    st = demo["study"]
    t = demo["ds"]["truth"]
    f = demo["ds"]["forcing"]
    p_true = block_mean(t["precip"], st.grid("coarse")).values
    e_era = np.nanstd(f["precip"].values - p_true)
    e_msw = np.nanstd(f["precip_mswep"].values - p_true)
    assert e_msw < e_era, "MSWEP-like has the smaller error"
    g = demo["ds"]["glass"]
    nd = block_mean(t["ndvi"], st.grid("glass")).values
    assert np.isfinite(g["ndvi"].values).all()
    assert np.mean(g["ndvi"].values - nd) == pytest.approx(DEFAULTS["glass_ndvi_bias"], abs=0.01)


# ------------------------------------------------------------------------------- fine-scale realism
def test_fine_scale_realism(demo):
    r = diagnostics.fine_scale_realism(demo["dir"], demo["study"].grids["coarse"])
    assert 0.3 <= r["variance_fraction_ssm"] <= 0.7, r
    assert 0.3 <= r["r2_ssm"] <= 0.7, r


# ---------------------------------------------------------------------------------------- params
@pytest.mark.parametrize("key, value, rule", [
    ("n_stations", 0, "n_stations: must be an integer"),
    ("smap_error_sd", -0.1, "smap_error_sd: must lie in"),
    ("smap_error_sd", "big", "smap_error_sd: must be a number"),
    ("block_days", 10, "block_days: must be 0 or a multiple of 16"),
    ("model_bias", {"jules": 0.1}, "model_bias.jules: unknown model"),
    ("model_bias", {"noah": 0.5}, "model_bias.noah: must be a number in"),
    ("compress", "yes", "compress: must be true or false"),
])
def test_bad_generator_parameters(key, value, rule):
    p = dict(DEFAULTS)
    p[key] = value
    with pytest.raises(ValueError, match=rule.replace(".", r"\.")):
        validate_params(p)


def test_bad_parameter_in_study_file_names_the_key():
    raw = {"name": "x", "source": "synthetic", "region": {"west": 100.0, "east": 100.5, "south": 36.0, "north": 36.5},
           "period": {"start": "2021-06-01", "end": "2021-06-10"}, "synthetic": {"amsr2_error_sd": -1}}
    with pytest.raises(StudyError, match=r"synthetic\.amsr2_error_sd: must lie in \[0\.0, 0\.3\]"):
        study_mod.validate(raw, check_stages=False)
    raw["synthetic"] = {"smap_eror_sd": 0.04}
    with pytest.raises(StudyError, match="did you mean 'smap_error_sd'"):
        study_mod.validate(raw, check_stages=False)


def test_model_bias_override_keeps_the_other_models():
    p = validate_params({**DEFAULTS, "model_bias": {"noah": -0.02}})
    assert p["model_bias"]["noah"] == -0.02 and p["model_bias"]["gleam"] == DEFAULTS["model_bias"]["gleam"]


# -------------------------------------------------------------------------------- formula checks
def test_fao56_extraterrestrial_radiation():
    # FAO-56 example 8: 20 deg S on 3 September (day 246): Ra = 32.2 MJ m-2 day-1
    assert weather.extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.2, abs=0.1)


def test_fao56_vapour_pressure_and_psychrometric_constant():
    assert weather.saturation_vapour_pressure(273.15 + 25.0) == pytest.approx(3.168, abs=0.002)  # FAO-56 table
    assert weather.psychrometric_constant(1800.0) == pytest.approx(0.054, abs=0.001)             # FAO-56 ex. 2


def test_cosby_and_campbell_for_a_sandy_loam():
    s, c = np.array(0.60), np.array(0.10)
    assert terrain.cosby_porosity(s, c) == pytest.approx(0.4161, abs=1e-4)
    assert terrain.cosby_b(s, c) == pytest.approx(4.49, abs=1e-3)
    soil = terrain.derived_soil(s, c, np.array(0.0))
    assert soil["wp"] < soil["fc"] < soil["porosity"]
    assert soil["fc"] == pytest.approx(0.206, abs=0.003)
    assert terrain.campbell_conductivity(soil["porosity"], soil["porosity"], 10.0, 4.0) == pytest.approx(10.0)


def test_fresnel_and_tau_omega():
    rh, rv = sensors.fresnel(np.array(1.0), 40.0)
    assert rh == pytest.approx(0.0) and rv == pytest.approx(0.0)
    rh, rv = sensors.fresnel(np.array(20.0), 0.0)
    assert rh == pytest.approx(rv) == pytest.approx(((1 - np.sqrt(20)) / (1 + np.sqrt(20))) ** 2)
    rh, rv = sensors.fresnel(np.array(20.0), 40.0)
    assert rv < rh, "V reflects less than H off nadir"
    assert sensors.tau_omega(300.0, 0.3, 0.0, 0.05, 40.0) == pytest.approx(300.0 * 0.7)
    # a thick canopy hides the soil: TB -> T (1 - omega)
    assert sensors.tau_omega(300.0, 0.3, 50.0, 0.05, 40.0) == pytest.approx(285.0, rel=1e-6)
    wet = sensors.soil_permittivity(0.35, 0.45, 1.41)
    dry = sensors.soil_permittivity(0.05, 0.45, 1.41)
    assert 3 < dry < 6 < 15 < wet < 30
    assert sensors.water_permittivity(10.7) < sensors.water_permittivity(1.41)


def test_d8_accumulation_on_a_tilted_plane():
    dem = np.add.outer(np.arange(5.0)[::-1], np.zeros(4)) * 10.0   # rows fall to the south
    acc = terrain.d8_accumulation(dem)
    np.testing.assert_array_equal(acc[:, 0], [1, 2, 3, 4, 5])


def test_composite_windows_restart_each_year():
    d = np.array(["2021-01-01", "2021-01-16", "2021-01-17", "2021-12-31", "2022-01-01"], dtype="datetime64[D]")
    w = sensors.composite_windows(d, 16)
    assert list(w.astype(str)) == ["2021-01-01", "2021-01-01", "2021-01-17", "2021-12-19", "2022-01-01"]


def test_water_balance_conserves_water():
    shape = (3, 4)
    soil = terrain.derived_soil(np.full(shape, 0.5), np.full(shape, 0.2), np.zeros(shape))
    static = {"drain_factor": np.ones(shape), "gw_factor": np.zeros(shape), "kt": np.ones(shape)}
    state = {"theta1": soil["fc"] * 0.9, "theta2": soil["fc"] * 0.9, "snow": np.zeros(shape)}
    before = land.Z1 * state["theta1"] + land.Z2 * state["theta2"]
    p = np.full(shape, 12.0)
    f = land.step(state, soil, static, p, np.full(shape, 290.0), np.full(shape, 4.0), np.full(shape, 0.4))
    after = land.Z1 * state["theta1"] + land.Z2 * state["theta2"]
    np.testing.assert_allclose(after - before, p - f["runoff"] - f["drainage"] - f["es"] - f["tr"], atol=1e-9)


# ------------------------------------------------------------------------------ stage-01 report
def test_product_table_measures_grid_revisit_and_states_errors(demo):
    from smlib.synth import report

    t = report.product_table(demo["dir"]).set_index("product")
    assert "truth" not in t.index and len(t) == 14
    assert t.loc["smap", "grid (deg)"] == pytest.approx(0.36)
    assert t.loc["static", "grid (deg)"] == pytest.approx(0.01)
    assert 2.0 < t.loc["smap", "revisit (days)"] < 4.0
    assert t.loc["model_noah", "revisit (days)"] == pytest.approx(1.0)
    assert t.loc["smap", "error sd"] == 0.04 and t.loc["amsr2", "error sd"] == 0.06
    assert t.loc["smap", "realised error sd"] == pytest.approx(0.04, abs=0.005)
    assert t.loc["ascat", "error units"] == "%"
    assert t.loc["stations", "cells"].endswith("stations")


def test_read_if_returns_none_for_what_a_study_lacks(demo, tmp_path):
    from smlib.synth import report

    run = demo["dir"].parent
    assert report.read_if(run, "smap", ["ssm", "qc"]) is not None
    assert report.read_if(run, "smap", ["ssm", "no_such_band"]) is None
    assert report.read_if(tmp_path, "smap") is None
    q = report.qc_summary(report.read_if(run, "smap"))
    assert set(q["flag"]) >= {"frozen ground", "open water > 10%"} and (q["share of observations (%)"] >= 0).all()
