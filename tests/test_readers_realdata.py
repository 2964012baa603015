"""Readers on the real samples in ../shared/realdata (see its MANIFEST.md), each checked against an
independent read of the same file (h5py, netCDF4, pyhdf, rasterio, pandas), and the Hawaii study."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smlib.errors import InputError
from smlib.grid import Grid

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not REAL.exists(), reason=f"real-data samples not found at {REAL} "
                                                           "(../shared/realdata beside the repository)")]
QA = REAL / "awst-austria+qa4sm-testdata"
HAWAII = QA / "input_data"


# ------------------------------------------------------------------------------------------ EASE2
def test_ease2_m36_matches_the_smap_land_grid_file():
    import netCDF4

    from smlib.readers import ease2

    with netCDF4.Dataset(REAL / "TUW-GEO+smap_io/src/smap_io/grids/ease36land.nc") as f:
        gpi = np.asarray(f["gpi"][:])[::997]
        lat = np.asarray(f["lat"][:])[::997]
        lon = np.asarray(f["lon"][:])[::997]
    g = ease2.grid("M36")
    row = g.nrows - 1 - gpi // g.ncols  # smap_io numbers grid points from the south-west
    col = gpi % g.ncols
    glon, glat = g.lonlat(row, col)
    assert np.abs(glon - lon).max() < 1e-6 and np.abs(glat - lat).max() < 1e-6
    r, c = g.rowcol(lat, lon)
    assert (r == row).all() and (c == col).all()


# -------------------------------------------------------------------------------------------- SMAP
L2 = sorted((QA / "preprocessing/SMAP_L2").glob("*/*.h5")) if QA.exists() else []
L4 = REAL / "nasa+harmony-maskfill/tests/data/SMAP_L4_SM_aup_input.h5"


def test_smap_l2_matches_h5py_and_regrids_to_its_cells():
    import h5py

    from smlib.readers import ease2, smap

    d = smap.read_l2(L2[0], quality="default")
    with h5py.File(L2[0]) as f:
        g = f["Soil_Moisture_Retrieval_Data"]
        sm = g["soil_moisture"][:]
        flag = g["retrieval_qual_flag"][:]
        lat = g["latitude"][:]
        lon = g["longitude"][:]
    good = np.nonzero((sm != -9999) & ((flag & 1) == 0))[0]
    flagged = np.nonzero((sm != -9999) & ((flag & 1) == 1))[0]
    fill = np.nonzero(sm == -9999)[0]
    assert good.size > 50 and flagged.size > 0 and fill.size > 0
    np.testing.assert_allclose(d["ssm"][good[::25]], sm[good[::25]], rtol=1e-6)
    assert np.isnan(d["ssm"][flagged]).all() and np.isnan(d["ssm"][fill]).all()
    assert d["direction"] == "A" and d["date"] == pd.Timestamp("2015-08-11")
    # on a 0.05-deg grid (one sample per cell) the cell holding a swath point's centre takes its value
    i = good[len(good) // 2]
    grid = Grid(0.05, float(np.floor(lon[i])) - 1, float(np.floor(lon[i])) + 2, float(np.floor(lat[i])) - 1,
                float(np.floor(lat[i])) + 2)
    ds = smap.l2_to_grid([L2[0]], grid, start="2015-08-11", end="2015-08-11")
    r, c = grid.index_of(lat[i], lon[i])
    assert float(ds.ssm.isel(time=0, lat=int(r), lon=int(c))) == pytest.approx(float(sm[i]), rel=1e-6)
    assert float(ds.retrieval_qual_flag.isel(time=0, lat=int(r), lon=int(c))) == float(flag[i])
    assert float(ds.qc.isel(time=0, lat=int(r), lon=int(c))) == 0
    # the EASE row/col stored in the file agree with the grid definition at the point's centre
    er, ec = ease2.grid("M36").rowcol(lat[good], lon[good])
    with h5py.File(L2[0]) as f:
        assert (er == f["Soil_Moisture_Retrieval_Data/EASE_row_index"][:][good]).all()
        assert (ec == f["Soil_Moisture_Retrieval_Data/EASE_column_index"][:][good]).all()


def test_smap_l4_matches_h5py_at_cells():
    import h5py

    from smlib.readers import ease2, smap

    with h5py.File(L4) as f:
        sm = f["Analysis_Data/sm_surface_analysis"][:]
        x = f["x"][:]
        y = f["y"][:]
        cols = f["cell_column"][0, :]
    g9 = ease2.grid("M09")
    assert np.abs(g9.x(cols) - x).max() < 1.0  # the file's x are EASE2 M09 centres
    d = smap.read_l4(L4)
    assert d["time"].normalize() == pd.Timestamp("2020-01-28")
    # pick cells with data and one with fill, regrid to a 0.02-deg grid (one sample per cell)
    rows, cls = np.nonzero(sm != -9999)
    picks = [(rows[k], cls[k]) for k in np.linspace(0, rows.size - 1, 5).astype(int)]
    for (r, c) in picks:
        lon, lat = g9.lonlat(d["row0"] + r, d["col0"] + c)
        grid = Grid(0.02, float(lon) - 0.2, float(lon) + 0.2, float(lat) - 0.2, float(lat) + 0.2)
        ds = smap.l4_to_grid([L4], grid, start="2020-01-28", end="2020-01-28")
        i, j = grid.index_of(lat, lon)
        assert float(ds.ssm.isel(time=0, lat=int(i), lon=int(j))) == pytest.approx(float(sm[r, c]), rel=1e-6)
    fr, fc = np.argwhere(sm == -9999)[0]
    assert np.isnan(d["ssm"][fr, fc])


def test_truncated_and_wrong_smap_files(tmp_path):
    from smlib.readers import smap

    cut = tmp_path / L2[0].name
    cut.write_bytes(L2[0].read_bytes()[: L2[0].stat().st_size // 3])
    with pytest.raises(InputError) as e:
        smap.read_l2(cut)
    assert str(cut) in str(e.value) and "SMAP L2" in str(e.value)
    wrong = tmp_path / "SMAP_L3_SM_P_20200128_R1_001.h5"
    shutil.copy(L4, wrong)
    with pytest.raises(InputError, match="not a valid SMAP L3.*no group Soil_Moisture_Retrieval_Data_AM"):
        smap.read_l3(wrong)
    with pytest.raises(InputError, match="SMAP L4"):
        smap.read_l4(L2[0])


# --------------------------------------------------------------------------------------- TU Wien
def test_tuw_orthogonal_contiguous_and_indexed_cells_match_netcdf4():
    import netCDF4

    from smlib.readers import tuw

    lat, lon = [19.9, 19.5], [-155.6, -155.9]
    # orthogonal (ERA5-Land, 06 UTC daily)
    files = sorted((HAWAII / "ERA5_LAND/ERA5_LAND_V20190904").glob("01*.nc"))
    ds = tuw.read_at(files, lat, lon, variables={"ssm": "swvl1"}, start="2017-01-01", end="2018-12-31")
    with netCDF4.Dataset(files[0]) as f:
        j = int(np.nonzero(f["location_id"][:] == ds.location_id.values[0])[0][0])
        raw = np.asarray(f["swvl1"][j, :])
        t = pd.Timestamp("1858-11-17") + pd.to_timedelta(np.asarray(f["time"][:]), "D")
    for k in (0, 100, 729):
        assert t[k].floor("D") == pd.Timestamp(ds.time.values[k])
        assert float(ds.ssm.values[0, k]) == pytest.approx(float(raw[k]), rel=1e-6)
    assert ds.distance_km.values.max() < 10
    # contiguous ragged (ASCAT H119: sm % with scale 0.01, sigma40 dB with scale 0.001, flags)
    files = sorted((HAWAII / "ASCAT/ASCAT_H119/data").glob("*.nc"))
    ds = tuw.read_at(files, [19.8], [-155.45], start="2017-01-01", end="2018-12-31", product="ascat")
    with netCDF4.Dataset(files[0]) as f:
        loc = np.asarray(f["location_id"][:])
        j = int(np.nonzero(loc == ds.location_id.values[0])[0][0])
        rs = np.asarray(f["row_size"][:].filled(0))
        s0 = int(rs[:j].sum())
        sl = slice(s0, s0 + int(rs[j]))
        sm = np.asarray(f["sm"][sl])  # netCDF4 applies scale_factor and missing_value itself
        sig = np.asarray(f["sigma40"][sl])
        ok = (np.asarray(f["proc_flag"][sl]) == 0) & (np.asarray(f["conf_flag"][sl]) == 0) & \
            np.isin(np.asarray(f["ssf"][sl]), (0, 1))
        t = pd.Timestamp("1900-01-01") + pd.to_timedelta(np.asarray(f["time"][sl]), "D")
    frame = pd.DataFrame({"sm": np.where(ok, sm, np.nan), "sig": np.where(ok, sig, np.nan)}, index=t)
    daily = frame.groupby(frame.index.floor("D")).mean().reindex(pd.DatetimeIndex(ds.time.values))
    np.testing.assert_allclose(ds.ssm.values[0], daily["sm"].values, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(ds.sig40.values[0], daily["sig"].values, rtol=1e-5, equal_nan=True)
    assert 0 < np.nanmax(ds.ssm.values) <= 100 and -30 < np.nanmean(ds.sig40.values) < 0
    # indexed ragged (SMAP L3 V9 AM+PM with Overpass)
    files = sorted((HAWAII / "SMAP_L3/SMAP_V9_AM_PM/netcdf").glob("01*.nc"))
    ds = tuw.read_at(files, [19.72], [-155.54], start="2017-01-01", end="2018-12-31", quality="none", am_pm="am")
    with netCDF4.Dataset(files[0]) as f:
        f.set_auto_maskandscale(False)
        j = int(np.nonzero(np.asarray(f["location_id"][:]) == ds.location_id.values[0])[0][0])
        sel = np.asarray(f["locationIndex"][:]) == j
        sm = np.asarray(f["soil_moisture"][:])[sel]
        op = np.asarray(f["Overpass"][:])[sel]
        t = pd.Timestamp("2000-01-01 12:00") + pd.to_timedelta(np.asarray(f["time"][:])[sel], "s")
    am = pd.Series(np.where((op == 1) & (sm != -9999), sm, np.nan), index=t).dropna()
    am = am.groupby(am.index.floor("D")).mean().reindex(pd.DatetimeIndex(ds.time.values))
    np.testing.assert_allclose(ds.ssm.values[0], am.values, rtol=1e-6, equal_nan=True)
    assert np.isfinite(ds.ssm.values[0]).sum() > 50


def test_tuw_rejects_an_image_file():
    from smlib.readers import tuw

    img = REAL / "TUW-GEO+esa_cci_sm-test-data/esa_cci_sm_dailyImages/v03.3/combined/2016" / \
        "ESACCI-SOILMOISTURE-L3S-SSMV-COMBINED-20160101000000-fv03.3.nc"
    with pytest.raises(InputError, match="no 'locations' dimension"):
        tuw.locations([img])


# ------------------------------------------------------------------------------------------- ISMN
def _raw_stm(path):
    """Independent parse of a CEOP-format or header+values .stm file with pandas."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    first = lines[0].split()
    if len(first) > 8 and "/" in first[2]:  # CEOP: date time date time ... value flag orig
        rows = [(ln.split()[0] + " " + ln.split()[1], float(ln.split()[-3]), ln.split()[-2]) for ln in lines]
    else:  # header + values
        rows = [(ln.split()[0] + " " + ln.split()[1], float(ln.split()[2]), ln.split()[3]) for ln in lines[1:]]
    df = pd.DataFrame(rows, columns=["t", "v", "flag"])
    df.index = pd.to_datetime(df.pop("t"), format="%Y/%m/%d %H:%M")
    return df


def test_ismn_ceop_and_header_values_match_raw_files():
    from smlib.readers import ismn

    folder = HAWAII / "ISMN/ISMN_TESTDATA_HAWAII"
    ds = ismn.read_stations([folder], "2017-01-01", "2018-12-31")
    assert ds.ssm.dims == ("station", "time") and ds.sizes["time"] == 730
    assert "COSMOS.SilverSword" not in ds.station.values  # 0-17 cm probe is outside 0-10 cm
    assert {"lat", "lon", "network", "landcover", "elevation", "depth_from", "depth_to"} <= set(ds.coords)
    st = "SCAN.Kainaliu"  # two sensors (A, B) averaged, G flags only
    files = sorted((folder / "SCAN/Kainaliu").glob("*_sm_*.stm"))
    raws = [_raw_stm(f) for f in files]
    good = pd.concat([r.loc[r.flag == "G", "v"] for r in raws])
    daily = good.groupby(good.index.floor("D")).mean().reindex(pd.DatetimeIndex(ds.time.values))
    np.testing.assert_allclose(ds.ssm.sel(station=st).values, daily.values, rtol=1e-5, equal_nan=True)
    assert float(ds.lat.sel(station=st)) == pytest.approx(19.533)
    assert int(ds.landcover.sel(station=st)) == 50 and float(ds.depth_to.sel(station=st)) == pytest.approx(0.0508)
    # precipitation: daily sums of complete days
    p = _raw_stm(next((folder / "SCAN/Kainaliu").glob("*_p_*.stm")))
    g = p.loc[p.flag == "G", "v"]
    tot = g.groupby(g.index.floor("D")).agg(["sum", "count"])
    day = pd.Timestamp("2017-03-05")
    if tot.loc[day, "count"] >= 22:
        assert float(ds.precip.sel(station=st, time=day)) == pytest.approx(tot.loc[day, "sum"], rel=1e-5)
    # header+values format (ISMN test data): COSMOS ARM-1, 0-19 cm
    hv = REAL / "TUW-GEO+ismn/tests/test_data/Data_seperate_files_header_20170810_20180809"
    ds2 = ismn.read_stations([hv], "2017-08-10", "2018-08-09", ssm_depth=(0.0, 0.2))
    raw = _raw_stm(next((hv / "COSMOS/ARM-1").glob("*.stm")))
    g = raw.loc[raw.flag == "G", "v"]
    daily = g.groupby(g.index.floor("D")).mean().reindex(pd.DatetimeIndex(ds2.time.values))
    np.testing.assert_allclose(ds2.ssm.sel(station="COSMOS.ARM-1").values, daily.values, rtol=1e-5, equal_nan=True)


# ---------------------------------------------------------------------------------------- gridded
def test_gridded_images_match_netcdf4_and_rasterio():
    import netCDF4
    import rasterio

    from smlib.readers import gridded

    cci = REAL / "TUW-GEO+esa_cci_sm-test-data/esa_cci_sm_dailyImages/v03.3/combined/2016" / \
        "ESACCI-SOILMOISTURE-L3S-SSMV-COMBINED-20160101000000-fv03.3.nc"
    grid = Grid(0.25, -100.0, -95.0, 35.0, 40.0)  # same 0.25-deg cells as the CCI image
    ds = gridded.read_to_grid([cci], grid, {"ssm": "sm"}, start="2016-01-01", end="2016-01-01", flags={"flag": [0]})
    with netCDF4.Dataset(cci) as f:
        lat, lon = f["lat"][:], f["lon"][:]
        sm = f["sm"][0]  # masked where fill
        flag = f["flag"][0]
        checked = 0
        for i in range(0, 20, 3):
            for j in range(0, 20, 3):
                r = int(np.argmin(np.abs(lat - grid.lat[i])))
                c = int(np.argmin(np.abs(lon - grid.lon[j])))
                got = float(ds.ssm.isel(time=0, lat=i, lon=j))
                if np.ma.is_masked(sm[r, c]) or flag[r, c] != 0:
                    assert np.isnan(got)
                else:
                    assert got == pytest.approx(float(sm[r, c]), rel=1e-6)
                    checked += 1
    assert checked > 5
    # GLDAS Noah: kg m-2 in a 100 mm layer -> m3/m3; several 3-hourly images averaged
    gl = sorted((REAL / "TUW-GEO+rs_data_readers-test-data/img2ts_test/netcdf/2016/001").glob("*.nc4"))
    ds = gridded.read_to_grid(gl[:2], grid, {"ssm": "SoilMoi0_10cm_inst"}, start="2016-01-01", end="2016-01-01")
    vals = []
    for p in gl[:2]:
        with netCDF4.Dataset(p) as f:
            r = int(np.argmin(np.abs(f["lat"][:] - grid.lat[4])))
            c = int(np.argmin(np.abs(f["lon"][:] - grid.lon[4])))
            vals.append(float(f["SoilMoi0_10cm_inst"][0, r, c]))
    assert float(ds.ssm.isel(time=0, lat=4, lon=4)) == pytest.approx(np.mean(vals) / 100.0, rel=1e-6)
    # ERA5 land mask on longitudes 0..360, read on a grid whose centres are ERA5's (x.00, x.25...)
    lm = REAL / "TUW-GEO+ecmwf_models/src/ecmwf_models/era5/land_definition_files/landmask_0.25_0.25.nc"
    g2 = Grid(0.25, -156.125, -154.625, 18.875, 20.375)
    ds = gridded.read_to_grid([lm], g2, {"water_fraction": {"name": "land", "units": "1"}})
    with netCDF4.Dataset(lm) as f:
        la, lo, land = f["latitude"][:], f["longitude"][:], f["land"][:]
    for i, j in ((0, 0), (2, 3), (5, 5)):
        r = int(np.argmin(np.abs(la - g2.lat[i])))
        c = int(np.argmin(np.abs(lo - (g2.lon[j] + 360.0))))
        assert float(ds.water_fraction.values[i, j]) == pytest.approx(float(land[r, c]))
    # CGLS SSM 1 km: uint8, scale 0.5, fill 255 and flag codes (251 water...) in the data layer
    cg = QA / "preprocessing/CGLS_SSM1km_V1.1_img/c_gls_SSM1km_201706010000_CEURO_S1CSAR_V1.1.1.nc"
    img = gridded.read_netcdf(cg, {"ssm": "ssm"})
    with netCDF4.Dataset(cg) as f:
        f.set_auto_maskandscale(False)
        raw = f["ssm"][0]
    v = img["fields"]["ssm"][0]
    ok = np.argwhere(raw <= 200)[::997]
    for r, c in ok:
        assert v[r, c] == pytest.approx(raw[r, c] * 0.5)
    for code in (251, 252, 253, 255):
        w = np.argwhere(raw == code)
        if w.size:
            assert np.isnan(v[w[0][0], w[0][1]])
    # GeoTIFF (MODIS LST resampled to 0.001 deg, K): a grid on the raster's own pixels returns them
    tif = REAL / "yuyi13+ubESTARFM/1_test_data/MOD11A1_LST_cloudrm_20160205.tif"
    with rasterio.open(tif) as src:
        arr = src.read(1)
        b = src.bounds
    g3 = Grid(0.001, b.left, b.left + 0.05, b.top - 0.05, b.top)
    ds = gridded.read_to_grid([tif], g3, {"lst_day": {"band": 1, "units": "K"}})
    assert ds.time.values[0] == np.datetime64("2016-02-05")
    np.testing.assert_allclose(ds.lst_day.values[0], arr[:50, :50], rtol=1e-6)


# ------------------------------------------------------------------------------------------- MODIS
def test_modis_hdf4_lst_and_nsdsi_match_pyhdf():
    from pyhdf.SD import SD, SDC
    from pyproj import Transformer

    from smlib.readers import modis

    path = REAL / "RichardLemoine+LSTtools/data/MOD11A1.hdf"
    d = modis.read_hdf(path)
    sd = SD(str(path), SDC.READ)
    raw = sd.select("LST_Day_1km").get()
    qc = sd.select("QC_Day").get()
    sd.end()
    assert d["product"] == "MOD11A1" and d["date"] == pd.Timestamp("2019-11-01")
    lst = d["fields"]["lst_day"]
    good = np.argwhere((raw > 0) & ((qc & 3) == 0))[::5000]
    for r, c in good:
        assert lst[r, c] == pytest.approx(raw[r, c] * 0.02)
    assert np.isnan(lst[np.argwhere(raw == 0)[0][0], np.argwhere(raw == 0)[0][1]])
    bad = np.argwhere((raw > 0) & ((qc & 3) >= 2))
    if bad.size:
        assert np.isnan(lst[bad[0][0], bad[0][1]])
    # regrid to a 0.002-deg grid (one sample per cell): the pixel under each cell centre (pyproj)
    grid = Grid(0.002, -37.5, -37.4, -5.6, -5.5)
    ds = modis.hdf_to_grid([path], grid)
    tr = Transformer.from_crs("EPSG:4326", modis.SINUSOIDAL, always_xy=True)
    t = d["transform"]
    for i, j in ((0, 0), (10, 20), (49, 49)):
        x, y = tr.transform(grid.lon[j], grid.lat[i])
        c = int((x - t.c) // t.a)
        r = int((y - t.f) // t.e)
        assert float(ds.lst_day.values[0, i, j]) == pytest.approx(float(lst[r, c]), nan_ok=True)
    # MOD09A1 (zipped): NSDSI = (b6 - b7) / b6 on clear pixels
    z = REAL / "ropensci+MODIStsp/inst/testdata/MOD09A1.A2017193.h18v04.006.2017202035302.hdf.zip"
    d = modis.read_hdf(z)
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(z).extractall(tmp)
        sd = SD(str(next(Path(tmp).glob("*.hdf"))), SDC.READ)
        b6 = sd.select("sur_refl_b06").get() * 1e-4
        b7 = sd.select("sur_refl_b07").get() * 1e-4
        state = sd.select("sur_refl_state_500m").get()
        sd.end()
    clear = np.argwhere((state & 3 == 0) & ((state >> 2) & 1 == 0) & ((state >> 10) & 1 == 0) & (b6 > 0))[::300]
    assert clear.size
    for r, c in clear:
        assert d["fields"]["nsdsi"][r, c] == pytest.approx((b6[r, c] - b7[r, c]) / b6[r, c], rel=1e-9)


# --------------------------------------------------------------------------------------------- DEM
def test_dem_matches_rasterio_cell_means():
    import rasterio

    from smlib.readers.dem import read_dem

    path = REAL / "mdbartos+pysheds/data/dem.tif"
    grid = Grid(0.01, -97.45, -97.25, 32.55, 32.8)
    ds = read_dem([path], grid)
    with rasterio.open(path) as src:
        arr = src.read(1).astype(float)
        nod = src.nodata
        if nod is not None:
            arr[arr == nod] = np.nan
        t = src.transform
    rows = (t.f - (np.arange(arr.shape[0]) + 0.5) * -t.e)
    cols = t.c + (np.arange(arr.shape[1]) + 0.5) * t.a
    for i, j in ((0, 0), (7, 11), (24, 19)):
        rin = (rows <= grid.lat[i] + 0.005) & (rows > grid.lat[i] - 0.005)
        cin = (cols >= grid.lon[j] - 0.005) & (cols < grid.lon[j] + 0.005)
        expect = np.nanmean(arr[np.ix_(rin, cin)])
        assert float(ds.dem.values[i, j]) == pytest.approx(expect, abs=1.0)
    assert 0 <= float(ds.slope.min()) and float(ds.slope.max()) < 10  # gentle Texas plain


# ------------------------------------------------------------------------------------------ Hawaii
def test_hawaii_study_writes_the_canonical_layout(tmp_path):
    import netCDF4
    import xarray as xr

    import smlib.inputs
    import smlib.study
    from smlib.readers import ingest

    root = Path(__file__).resolve().parents[1]
    st = smlib.study.load(root / "data/studies/hawaii.yml")
    paths = smlib.inputs.make_inputs(st, tmp_path)
    names = sorted(p.stem for p in paths)
    assert names == ["ascat", "model_era5land", "model_noah", "smap", "stations"]
    stations = xr.open_dataset(tmp_path / "inputs/stations.nc")
    assert stations.sizes["station"] == 8 and stations.ssm.dims == ("station", "time")
    coarse = st.grid("coarse")
    for name in ("ascat", "model_era5land", "model_noah", "smap"):
        ds = xr.open_dataset(tmp_path / f"inputs/{name}.nc")
        g = st.grid(ingest.grid_name(name))
        assert ds.ssm.dims == ("time", "lat", "lon") and ds.sizes["time"] == 730
        assert (np.diff(ds.lat.values) < 0).all() and np.allclose(ds.lat.values, g.lat)
        assert (pd.DatetimeIndex(ds.time.values) == pd.DatetimeIndex(ds.time.values).normalize()).all()
        r, c = g.index_of(stations.lat.values, stations.lon.values)
        mask = np.zeros(g.shape, bool)
        mask[r, c] = True
        have = np.isfinite(ds.ssm.values).any(0)
        assert not (have & ~mask).any()  # NaN away from the stations' cells
        assert have[mask].sum() >= 1
        assert ds.ssm.attrs["units"] == ("%" if name == "ascat" else "m3/m3")
        assert "study" in ds.attrs and ds.attrs["study"] == "hawaii"
    # independent: ERA5-Land at the station cell of Kukuihaele = mean of swvl1 at the locations inside it
    e5 = xr.open_dataset(tmp_path / "inputs/model_era5land.nc")
    k = list(stations.station.values).index("SCAN.Kukuihaele")
    r, c = coarse.index_of(stations.lat.values[k], stations.lon.values[k])
    vals = []
    for f in sorted((HAWAII / "ERA5_LAND/ERA5_LAND_V20190904").glob("01*.nc")):
        with netCDF4.Dataset(f) as nc:
            la, lo = np.asarray(nc["lat"][:]), np.asarray(nc["lon"][:])
            rr, cc = coarse.index_of(la, lo)
            sel = np.nonzero((rr == r) & (cc == c))[0]
            for s in sel:
                vals.append(np.asarray(nc["swvl1"][s, :]))
    assert len(vals) >= 2
    np.testing.assert_allclose(e5.ssm.values[:, int(r), int(c)], np.mean(vals, axis=0), rtol=1e-5)
