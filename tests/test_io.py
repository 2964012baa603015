"""The run layout: atomic writes with provenance, clear errors for missing inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from smlib import catalog, io
from smlib.errors import InputError


def _ds():
    t = pd.date_range("2021-05-01", periods=3)
    return xr.Dataset({"ssm": (("time", "lat", "lon"), np.random.default_rng(0).random((3, 2, 2)))},
                      coords={"time": t, "lat": [36.5, 36.25], "lon": [100.0, 100.25]})


def test_write_dataset_provenance_crs_float32(tmp_path):
    p = io.write_dataset(_ds(), tmp_path / "a" / "x.nc", study="tiny", params={"k": 1})
    ds = xr.open_dataset(p)
    for k in ("smlib_version", "git_commit", "study", "parameter_hash", "created"):
        assert k in ds.attrs
    assert ds.attrs["study"] == "tiny"
    assert ds["ssm"].dtype == np.float32
    assert "spatial_ref" in ds.coords
    ds.close()


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = io.write_dataset(_ds(), tmp_path / "x.nc")
    before = p.read_bytes()
    bad = _ds()
    bad["obj"] = ("time", np.array([object(), object(), object()]))
    with pytest.raises(Exception):
        io.write_dataset(bad, p)
    assert p.read_bytes() == before
    assert not list(tmp_path.glob(".x.nc.*"))


def test_read_input_errors(tmp_path):
    with pytest.raises(InputError, match="smap.nc: file not found; it should contain"):
        io.read_input(tmp_path, "smap")
    io.write_dataset(_ds(), tmp_path / "inputs" / "smap.nc")
    with pytest.raises(InputError, match="lacks variable"):
        io.read_input(tmp_path, "smap", ["tbv_asc"])
    assert "ssm" in io.read_input(tmp_path, "smap", "ssm")
    with pytest.raises(InputError, match="not a canonical method input"):
        io.read_input(tmp_path, "truth")


def test_unreadable_file(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "static.nc").write_text("not netcdf")
    with pytest.raises(InputError, match="cannot be read as NetCDF"):
        io.read_input(tmp_path, "static")


def test_products_and_tables(tmp_path):
    io.write_product(tmp_path, "lightgbm", _ds())
    assert io.list_products(tmp_path) == ["lightgbm"]
    with pytest.raises(InputError, match="written by stage 05"):
        io.read_product(tmp_path, "nn")
    p = io.write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.csv")
    assert pd.read_csv(p)["a"].tolist() == [1, 2]


def test_catalog():
    a = catalog.attrs("ssm")
    assert a["units"] == "m3/m3" and "standard_name" in a
    assert catalog.label("tbv_c1_asc").endswith("[K]")
    catalog.check_range([0.1, np.nan, 0.3], "ssm")
    with pytest.raises(ValueError, match="outside the valid range"):
        catalog.check_range([0.1, 1.5], "ssm")
    with pytest.raises(KeyError, match="not in the catalogue"):
        catalog.lookup("banana")
