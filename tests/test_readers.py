"""Readers on files written here with the products' structure (h5py, rasterio, netCDF4): values,
scale factors, fill values, flags, regridding, clear errors, and the files-study product checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smlib.errors import InputError, StudyError
from smlib.grid import Grid
from smlib.readers import ease2


# ------------------------------------------------------------------------------------------ EASE2
def test_ease2_grid_definition_matches_published_corners():
    g = ease2.grid("M36")
    assert (g.nrows, g.ncols) == (406, 964)
    assert g.x_min == pytest.approx(-17367530.44516138, abs=1e-3)
    assert g.y_max == pytest.approx(7314540.83011475, abs=1.0)
    g9 = ease2.grid("9km")
    assert g9.shape == (1624, 3856) and g9.x_min == pytest.approx(g.x_min, abs=1e-3)
    # round trip cell centre -> lon/lat -> cell
    rows = np.array([0, 100, 203, 405])
    cols = np.array([0, 481, 600, 963])
    lon, lat = g.lonlat(rows, cols)
    r, c = g.rowcol(lat, lon)
    assert r.tolist() == rows.tolist() and c.tolist() == cols.tolist()
    # equator lies on the boundary between rows 202 and 203; 30 deg N is where the scale is true
    assert g.rowcol(0.01, 0.0)[0] == 202 and g.rowcol(-0.01, 0.0)[0] == 203
    with pytest.raises(ValueError, match="unknown EASE-Grid"):
        ease2.grid("M25")


# ---------------------------------------------------------------------------------------- SMAP L3
def _write_l3(path, shape, cells, am=True, pm=True):
    """Write an SPL3SMP-structured HDF5 granule: fill everywhere except ``cells`` {(row, col): dict}."""
    import h5py

    with h5py.File(path, "w") as f:
        for tag, group, suffix in (("am", "Soil_Moisture_Retrieval_Data_AM", ""),
                                   ("pm", "Soil_Moisture_Retrieval_Data_PM", "_pm")):
            if (tag == "am" and not am) or (tag == "pm" and not pm):
                continue
            g = f.create_group(group)
            for name, dtype, fill in (("soil_moisture", "f4", -9999.0), ("tb_v_corrected", "f4", -9999.0),
                                      ("tb_h_corrected", "f4", -9999.0), ("retrieval_qual_flag", "u2", 65534)):
                ds = g.create_dataset(name + suffix, shape=shape, dtype=dtype, fillvalue=fill, chunks=(203, 241),
                                      compression="gzip")
                ds.attrs["_FillValue"] = np.array(fill, dtype=dtype)
                if name == "soil_moisture":
                    ds.attrs["valid_min"] = np.float32(0.02)
                    ds.attrs["valid_max"] = np.float32(0.5)
                    ds.attrs["units"] = b"cm**3/cm**3"
                for (r, c), vals in cells.items():
                    if tag in vals:
                        ds[r, c] = vals[tag][name]


def _cell(sm, flag=0, tbv=250.0, tbh=230.0):
    return {"soil_moisture": sm, "retrieval_qual_flag": flag, "tb_v_corrected": tbv, "tb_h_corrected": tbh}


def test_smap_l3_values_fill_flags_and_regrid(tmp_path):
    from smlib.readers import smap

    g = ease2.grid("M36")
    target = Grid(0.36, 100.08, 101.52, 36.0, 37.44)  # 4 x 4 cells
    # EASE cells holding each target cell centre (independent: pyproj through ease2.rowcol)
    la, lo = np.meshgrid(target.lat, target.lon, indexing="ij")
    er, ec = g.rowcol(la, lo)
    cells = {}
    cells[(er[0, 0], ec[0, 0])] = {"am": _cell(0.25), "pm": _cell(0.30)}
    cells[(er[1, 1], ec[1, 1])] = {"am": _cell(0.20, flag=1), "pm": _cell(0.33, flag=8)}  # AM not recommended
    cells[(er[2, 2], ec[2, 2])] = {"am": _cell(0.60)}  # above valid_max 0.5 -> missing
    path = tmp_path / "SMAP_L3_SM_P_20210501_R18290_001.h5"
    _write_l3(path, (406, 964), cells)
    raw = smap.read_l3(path)
    assert raw["ease"].name == "M36" and raw["date"] == pd.Timestamp("2021-05-01")
    am, pm = raw["am"], raw["pm"]
    assert am["ssm"][er[0, 0], ec[0, 0]] == pytest.approx(0.25)
    assert pm["ssm"][er[0, 0], ec[0, 0]] == pytest.approx(0.30)
    assert np.isnan(am["ssm"][er[1, 1], ec[1, 1]])  # bit 0 set: not recommended
    assert np.isnan(am["ssm"][er[2, 2], ec[2, 2]])  # outside the valid range
    assert np.isnan(am["ssm"][0, 0])  # fill
    assert am["tbv"][er[0, 0], ec[0, 0]] == pytest.approx(250.0)
    ds = smap.l3_to_grid([path], target, start="2021-05-01", end="2021-05-02", quality="default")
    assert ds.sizes == {"time": 2, "lat": 4, "lon": 4}
    # 0.36-deg cells sample their EASE2 cells: cell (0,0) lies mostly inside the EASE cell at its centre
    v00 = float(ds.ssm.isel(time=0, lat=0, lon=0))
    assert v00 == pytest.approx(0.25)  # AM first
    assert float(ds.ssm.isel(time=0, lat=1, lon=1)) == pytest.approx(0.33)  # AM flagged -> PM
    assert float(ds.retrieval_qual_flag.isel(time=0, lat=1, lon=1)) == 8  # the PM retrieval kept
    assert float(ds.qc.isel(time=0, lat=1, lon=1)) == 0 and np.isnan(ds.qc.isel(time=0, lat=2, lon=2))
    assert float(ds.tbv_des.isel(time=0, lat=0, lon=0)) == pytest.approx(250.0)
    assert np.isnan(ds.ssm.isel(time=0, lat=2, lon=2))
    assert np.isnan(ds.ssm.isel(time=1)).all()  # no granule for the second day
    pm_only = smap.l3_to_grid([path], target, start="2021-05-01", end="2021-05-01", am_pm="pm")
    assert float(pm_only.ssm.isel(time=0, lat=0, lon=0)) == pytest.approx(0.30)
    kept = smap.l3_to_grid([path], target, start="2021-05-01", end="2021-05-01", quality="none")
    assert float(kept.ssm.isel(time=0, lat=1, lon=1)) == pytest.approx(0.20)


def test_smap_l3_enhanced_9km_grid_regrid_matches_independent_sampling(tmp_path):
    from pyproj import Transformer

    from smlib.readers import smap
    from smlib.readers._regrid import auto_k

    g9 = ease2.grid("M09")
    target = Grid(0.09, 10.0, 10.36, 45.0, 45.36)
    # every EASE2 9-km cell around the target gets value f(row, col)
    r0, c0 = (int(v) for v in g9.rowcol(45.18, 10.18))
    rows, cols = range(r0 - 8, r0 + 9), range(c0 - 8, c0 + 9)
    f = lambda r, c: 0.1 + 0.004 * (r - r0 + 8) + 0.001 * (c - c0 + 8)  # noqa: E731
    cells = {(r, c): {"am": _cell(f(r, c))} for r in rows for c in cols}
    path = tmp_path / "SMAP_L3_SM_P_E_20210502_R18290_001.h5"
    _write_l3(path, (1624, 3856), cells, pm=False)
    ds = smap.l3_to_grid([path], target, start="2021-05-02", end="2021-05-02")
    assert "tbv_asc" not in ds  # no PM group in this granule
    # independent: k x k samples per cell projected with pyproj onto the published EASE2 M09 geometry
    k = auto_k(0.09, 9008.055210146, lat=45.18)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)
    for i in range(4):
        for j in range(4):
            offs = (np.arange(k) + 0.5) / k - 0.5
            vals = []
            for a in offs:
                for b in offs:
                    x, y = tr.transform(target.lon[j] + b * 0.09, target.lat[i] - a * 0.09)
                    c = int(np.floor((x + 17367530.44516138) / 9008.055210146))
                    r = int(np.floor((7314540.83011475 - y) / 9008.055210146))
                    vals.append(f(r, c))
            assert float(ds.ssm.isel(time=0, lat=i, lon=j)) == pytest.approx(np.mean(vals), abs=1e-6)


# ----------------------------------------------------------------------------------------- errors
def test_corrupt_and_wrong_files_give_one_line_errors(tmp_path):
    from smlib.readers import dem, gridded, ismn, modis, smap, tuw

    junk = tmp_path / "SMAP_L3_SM_P_20210501_R1_001.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 50)
    with pytest.raises(InputError) as e:
        smap.read_l3(junk)
    assert str(junk) in str(e.value) and "SMAP L3" in str(e.value) and "\n" not in str(e.value)
    empty = tmp_path / "SMAP_L3_SM_P_20210502_R1_001.h5"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        smap.read_l3(empty)
    # an HDF5 file of another product
    import h5py

    other = tmp_path / "SMAP_L3_SM_P_20210503_R1_001.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("Analysis_Data/sm_surface_analysis", data=np.zeros((3, 3), "f4"))
    with pytest.raises(InputError, match="no group Soil_Moisture_Retrieval_Data_AM"):
        smap.read_l3(other)
    with pytest.raises(InputError, match="SMAP L2"):
        smap.read_l2(tmp_path / "SMAP_L2_SM_P_00001_A_20150811T013002_R1_001.h5")
    bad_nc = tmp_path / "0165.nc"
    bad_nc.write_bytes(b"CDF\x01" + b"\x00" * 20)
    with pytest.raises(InputError, match="TU Wien time-series cell"):
        tuw.locations([bad_nc])
    with pytest.raises(InputError, match="NetCDF image"):
        gridded.read_netcdf(bad_nc, {"ssm": "sm"})
    stm = tmp_path / "NET" / "ST" / "NET_NET_ST_sm_0.000000_0.050000_probe_20170101_20171231.stm"
    stm.parent.mkdir(parents=True)
    stm.write_text("this is not an ISMN file\n")
    with pytest.raises(InputError) as e:
        ismn.read_file(stm)
    assert str(stm) in str(e.value) and "ISMN" in str(e.value)
    hdf = tmp_path / "MOD11A1.A2019305.h14v09.061.2020001.hdf"
    hdf.write_bytes(b"not hdf4")
    with pytest.raises(InputError, match="MODIS HDF4"):
        modis.read_hdf(hdf)
    tif = tmp_path / "dem.tif"
    tif.write_bytes(b"II*\x00broken")
    with pytest.raises(InputError, match="DEM GeoTIFF"):
        dem.read_dem([tif], Grid(0.01, 0, 0.1, 0, 0.1))


# ---------------------------------------------------------------------------------------- gridded
def test_gridded_netcdf_scale_fill_flags_and_0360(tmp_path):
    import netCDF4

    from smlib.readers import gridded

    path = tmp_path / "image_20210501.nc"
    lat = np.arange(40.875, 39.0, -0.25)  # descending centres
    lon = np.arange(0.125, 360.0, 0.25)  # 0..360
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("lat", lat.size)
        f.createDimension("lon", lon.size)
        f.createVariable("lat", "f8", ("lat",))[:] = lat
        f.createVariable("lon", "f8", ("lon",))[:] = lon
        v = f.createVariable("sm", "i2", ("lat", "lon"), fill_value=-9999)
        v.scale_factor = 0.0001
        v.add_offset = 0.0
        v.units = "m3 m-3"
        v.valid_range = np.array([0, 10000], "i2")
        fl = f.createVariable("flag", "i1", ("lat", "lon"))
        v.set_auto_maskandscale(False)
        raw = (np.arange(lat.size * lon.size) % 5000).reshape(lat.size, lon.size).astype("i2")
        raw[0, 1432] = -9999
        v[:] = raw
        flags = np.zeros(raw.shape, "i1")
        flags[1, 1433] = 2
        fl[:] = flags
    grid = Grid(0.25, -2.0, -1.0, 40.0, 41.0)  # lon -2..-1 = 358..359 in the file
    ds = gridded.read_to_grid([path], grid, {"ssm": "sm"}, start="2021-05-01", end="2021-05-01", flags={"flag": [0]})
    assert ds.time.values[0] == np.datetime64("2021-05-01")
    for i in range(4):
        for j in range(4):
            r = int(np.argmin(np.abs(lat - grid.lat[i])))
            c = int(np.argmin(np.abs(lon - (grid.lon[j] + 360.0))))
            got = float(ds.ssm.isel(time=0, lat=i, lon=j))
            if raw[r, c] == -9999 or flags[r, c] != 0:
                assert np.isnan(got)
            else:
                assert got == pytest.approx(raw[r, c] * 0.0001, abs=1e-6)
    assert np.isnan(ds.ssm.isel(time=0, lat=0, lon=0))  # lon 358.125 is column 1432: the fill


def test_gridded_units_layer_water_and_percent():
    from smlib.readers._common import layer_thickness_mm, to_canonical

    assert layer_thickness_mm("SoilMoi10_40cm_inst") == 300.0
    assert to_canonical(np.array([25.0]), "kg m-2", "m3/m3", name="SoilMoi0_10cm_inst")[0] == pytest.approx(0.25)
    assert to_canonical(np.array([30.0]), "%", "m3/m3")[0] == pytest.approx(0.30)
    assert to_canonical(np.array([0.30]), "m3 m-3", "%")[0] == pytest.approx(30.0)
    assert to_canonical(np.array([10.0]), "degC", "K")[0] == pytest.approx(283.15)
    assert to_canonical(np.array([1e-4]), "kg m-2 s-1", "mm/day")[0] == pytest.approx(8.64)
    with pytest.raises(InputError, match="cannot convert"):
        to_canonical(np.array([1.0]), "furlongs", "m3/m3", where="x.nc")


# ------------------------------------------------------------------------------------- AppEEARS/DEM
def _write_tif(path, data, transform, crs="EPSG:4326", nodata=None, dtype=None):
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=dtype or data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)


def test_appeears_geotiffs_scaled_and_qc_filtered(tmp_path):
    from affine import Affine

    from smlib.readers import modis

    tr = Affine(0.01, 0, 10.0, 0, -0.01, 46.0)
    lst = np.full((20, 20), 15000, "uint16")
    lst[0, 0] = 0  # fill
    lst[5, 5] = 14000
    qc = np.zeros((20, 20), "uint8")
    qc[3, 3] = 2  # not produced (cloud)
    qc[4, 4] = 1 | (2 << 6)  # other quality, LST error <= 3 K: dropped
    qc[6, 6] = 1 | (1 << 6)  # other quality, LST error <= 2 K: kept
    _write_tif(tmp_path / "MOD11A1.061_LST_Day_1km_doy2021121_aid0001.tif", lst, tr, nodata=0)
    _write_tif(tmp_path / "MOD11A1.061_QC_Day_doy2021121_aid0001.tif", qc, tr)
    ndvi = np.full((20, 20), 5000, "int16")
    ndvi[2, 2] = -3000
    _write_tif(tmp_path / "MOD13A2.061__1_km_16_days_NDVI_doy2021121_aid0001.tif", ndvi, tr, nodata=-3000)
    grid = Grid(0.01, 10.0, 10.2, 45.8, 46.0)
    paths = sorted(tmp_path.glob("*.tif"))
    ds = modis.appeears_to_grid(paths, grid, start="2021-05-01", end="2021-05-01")
    v = ds.lst_day.isel(time=0).values
    assert v[1, 1] == pytest.approx(300.0) and v[5, 5] == pytest.approx(280.0) and v[6, 6] == pytest.approx(300.0)
    assert np.isnan(v[0, 0]) and np.isnan(v[3, 3]) and np.isnan(v[4, 4])
    n = ds.ndvi.isel(time=0).values
    assert n[1, 1] == pytest.approx(0.5) and np.isnan(n[2, 2])
    with pytest.raises(InputError, match="AppEEARS"):
        modis.read_appeears(tmp_path / "MOD11A1.061_QC_Day_doy2021121_aid0001.tif")


def test_dem_cell_mean_and_slope_of_a_plane(tmp_path):
    from affine import Affine

    from smlib.readers.dem import EARTH_RADIUS_M, read_dem

    # 0.001-deg DEM rising 50 m per 0.01 deg of latitude northwards, in cm (scale 0.01)
    n = 100
    tr = Affine(0.001, 0, 20.0, 0, -0.001, 40.1)
    lat_c = 40.1 - (np.arange(n) + 0.5) * 0.001
    z_m = (lat_c - 40.0) * 5000.0
    dem_cm = np.repeat((z_m * 100)[:, None], n, axis=1).astype("float32")
    dem_cm[0, 0] = -32768
    path = tmp_path / "dem.tif"
    _write_tif(path, dem_cm, tr, nodata=-32768)
    grid = Grid(0.01, 20.0, 20.1, 40.0, 40.1)
    ds = read_dem([path], grid, scale=0.01)
    # cell mean = elevation at the cell centre for a plane; nodata pixel left out of cell (0, 0)
    assert ds.dem.values[5, 5] == pytest.approx((grid.lat[5] - 40.0) * 5000.0, abs=0.01)
    assert np.isfinite(ds.dem.values[0, 0])
    dz_dy = 50.0 / (EARTH_RADIUS_M * np.radians(0.01))
    assert ds.slope.values[5, 5] == pytest.approx(np.degrees(np.arctan(dz_dy)), rel=1e-3)


# ----------------------------------------------------------------------------------- files studies
def _files_study(tmp_path, stages):
    from smlib.study import validate

    f = tmp_path / "x.stm"
    f.write_text("x")
    raw = {"name": "mine", "source": "files", "region": {"west": 0.0, "east": 1.0, "south": 0.0, "north": 1.0},
           "period": {"start": "2021-01-01", "end": "2021-01-31"},
           "files": {"stations": {"paths": "x.stm", "reader": "ismn"}}, "stages": {s: {} for s in stages}}
    return validate(raw, src=str(tmp_path / "mine.yml"), base_dir=tmp_path, check_stages=False,
                    path=tmp_path / "mine.yml")


def test_required_products_and_missing_product_error(tmp_path):
    from smlib.readers import ingest

    assert ingest.required_products("validation") == ["stations"]
    assert "modis" in ingest.required_products("fusion_estarfm")
    assert "fusion_estarfm" in ingest.stages_needing("modis")
    assert "assimilation" in ingest.stages_needing("model_gleam")  # any model product
    with pytest.raises(StudyError, match="unknown stage"):
        ingest.required_products("nope")
    st = _files_study(tmp_path, ["data_prep", "fusion_estarfm", "validation"])
    with pytest.raises(InputError) as e:
        ingest.write_inputs(st, tmp_path / "inputs")
    msg = str(e.value)
    assert "'modis' (needed by fusion_estarfm)" in msg and "'glass' (needed by fusion_estarfm)" in msg
    assert "mine.yml" in msg
    st = _files_study(tmp_path, ["validation"])
    st.files["stations"]["bogus"] = 1
    with pytest.raises(StudyError, match="files.stations.bogus: unknown key"):
        ingest.write_inputs(st, tmp_path / "inputs")


def test_gridded_zarr_store_scale_and_fill(tmp_path):
    zarr = pytest.importorskip("zarr", reason="reading Zarr stores needs the optional 'zarr' package")
    import xarray as xr

    from smlib.readers import gridded

    lat = np.arange(45.95, 45.0, -0.1)
    lon = np.arange(10.05, 11.0, 0.1)
    vals = np.linspace(0.05, 0.45, lat.size * lon.size).reshape(1, lat.size, lon.size)
    vals[0, 2, 3] = np.nan
    ds = xr.Dataset({"sm": (("time", "lat", "lon"), vals, {"units": "m3 m-3"})},
                    coords={"time": [np.datetime64("2021-05-01T06:00")], "lat": lat, "lon": lon})
    store = tmp_path / "sm.zarr"
    ds.to_zarr(store, encoding={"sm": {"dtype": "int16", "scale_factor": 0.001, "_FillValue": -9999}},
               consolidated=False)
    raw = np.asarray(zarr.open_array(store / "sm", mode="r")[:])  # stored integers, read independently
    out = gridded.read_to_grid([store], Grid(0.1, 10.0, 11.0, 45.0, 46.0), {"ssm": "sm"},
                               start="2021-05-01", end="2021-05-01")
    got = out.ssm.values[0]
    assert np.isnan(got[2, 3]) and raw[0, 2, 3] == -9999
    ok = raw[0] != -9999
    np.testing.assert_allclose(got[ok], raw[0][ok] * 0.001, rtol=1e-9)


def test_files_study_dispatches_readers_and_writes_the_layout(tmp_path):
    """SMAP L3 HDF5 + a gridded NetCDF model + a DEM GeoTIFF, readers detected from the files."""
    import netCDF4
    import xarray as xr
    from affine import Affine

    from smlib.readers import ingest
    from smlib.study import validate

    g = ease2.grid("M36")
    r0, c0 = (int(v) for v in g.rowcol(36.5, 100.5))
    cells = {(r, c): {"am": _cell(0.2), "pm": _cell(0.3)} for r in range(r0 - 4, r0 + 5) for c in range(c0 - 4, c0 + 5)}
    (tmp_path / "smap").mkdir()
    _write_l3(tmp_path / "smap/SMAP_L3_SM_P_20210501_R18290_001.h5", (406, 964), cells)
    lat = np.arange(36.95, 35.9, -0.1)
    lon = np.arange(100.05, 101.1, 0.1)
    with netCDF4.Dataset(tmp_path / "gleam_20210501.nc", "w") as f:
        f.createDimension("time", 1)
        f.createDimension("lat", lat.size)
        f.createDimension("lon", lon.size)
        t = f.createVariable("time", "f8", ("time",))
        t.units = "days since 2021-05-01 00:00:00"
        t[:] = [0.0]
        f.createVariable("lat", "f8", ("lat",))[:] = lat
        f.createVariable("lon", "f8", ("lon",))[:] = lon
        v = f.createVariable("SMs", "f4", ("time", "lat", "lon"), fill_value=-999.0)
        v.units = "m3/m3"
        v[:] = np.full((1, lat.size, lon.size), 0.31, "f4")
    dem = np.full((100, 100), 1500.0, "float32")
    _write_tif(tmp_path / "dem.tif", dem, Affine(0.01, 0, 100.0, 0, -0.01, 37.0))
    raw = {"name": "mine", "source": "files", "region": {"west": 100.0, "east": 101.0, "south": 36.0, "north": 37.0},
           "period": {"start": "2021-05-01", "end": "2021-05-02"},
           "files": {"smap": "smap/SMAP_L3_SM_P_*.h5",
                     "model_gleam": {"paths": "gleam_*.nc", "reader": "gridded", "variables": {"ssm": "SMs"}},
                     "static": {"paths": "dem.tif"}},
           "stages": {"data_prep": {}}}
    st = validate(raw, src="mine.yml", base_dir=tmp_path, check_stages=False, path=tmp_path / "mine.yml")
    paths = ingest.write_inputs(st, tmp_path / "inputs")
    assert sorted(p.name for p in paths) == ["model_gleam.nc", "smap.nc", "static.nc"]
    sm = xr.open_dataset(tmp_path / "inputs/smap.nc")
    assert sm.sizes == {"time": 2, "lat": 3, "lon": 3} and float(sm.ssm.isel(time=0).mean()) == pytest.approx(0.2)
    assert sm.ssm.attrs["units"] == "m3/m3" and float(sm.qc.isel(time=0).max()) == 0
    assert float(sm.tbv_asc.isel(time=0, lat=0, lon=0)) == pytest.approx(250.0)
    gl = xr.open_dataset(tmp_path / "inputs/model_gleam.nc")
    assert gl.sizes == {"time": 2, "lat": 4, "lon": 4} and float(gl.ssm.isel(time=0).mean()) == pytest.approx(0.31)
    assert np.isnan(gl.ssm.isel(time=1)).all()
    stt = xr.open_dataset(tmp_path / "inputs/static.nc")
    assert stt.sizes == {"lat": 100, "lon": 100} and float(stt.dem.mean()) == pytest.approx(1500.0)
    assert float(stt.slope.max()) == pytest.approx(0.0, abs=1e-9) and stt.dem.attrs["units"] == "m"


def test_gridded_hourly_accumulations_summed_per_day(tmp_path):
    import netCDF4

    from smlib.readers import gridded

    path = tmp_path / "era5_tp.nc"
    lat = np.array([0.875, 0.625, 0.375, 0.125])
    lon = np.array([0.125, 0.375, 0.625, 0.875])
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("time", 48)
        f.createDimension("latitude", 4)
        f.createDimension("longitude", 4)
        t = f.createVariable("time", "f8", ("time",))
        t.units = "hours since 2021-05-01 00:00:00"
        t[:] = np.arange(48)
        f.createVariable("latitude", "f8", ("latitude",))[:] = lat
        f.createVariable("longitude", "f8", ("longitude",))[:] = lon
        v = f.createVariable("tp", "i2", ("time", "latitude", "longitude"), fill_value=-32767)
        v.scale_factor = 1e-5
        v.add_offset = 0.0
        v.units = "m"
        v.set_auto_maskandscale(False)
        raw = np.full((48, 4, 4), 10, "i2")  # 0.1 mm per hour
        raw[30, 0, 0] = -32767  # one hour missing on day 2 in cell (0, 0)
        v[:] = raw
    ds = gridded.read_to_grid([path], Grid(0.25, 0.0, 1.0, 0.0, 1.0),
                              {"precip": {"name": "tp", "aggregate": "sum"}}, start="2021-05-01", end="2021-05-02")
    np.testing.assert_allclose(ds.precip.values[0], 24 * 0.1, rtol=1e-6)  # mm/day
    assert np.isnan(ds.precip.values[1, 0, 0]) and ds.precip.values[1, 1, 1] == pytest.approx(2.4)
