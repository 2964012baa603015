"""Grids and the seed-003 resampling methods: known answers and properties."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from smlib import grid
from smlib.errors import DataError


def _field(g: grid.Grid, values=None, times=0):
    v = values if values is not None else np.random.default_rng(0).random(g.shape)
    if times:
        v = np.stack([v + t for t in range(times)])
        return xr.DataArray(v, dims=("time", "lat", "lon"), coords={"time": np.arange(times), "lat": g.lat, "lon": g.lon})
    return xr.DataArray(v, dims=("lat", "lon"), coords={"lat": g.lat, "lon": g.lon})


def test_grid_geometry():
    g = grid.Grid(0.25, 100, 102, 36, 38)
    assert g.shape == (8, 8)
    assert g.lat[0] == pytest.approx(37.875) and g.lat[-1] == pytest.approx(36.125)
    assert np.all(np.diff(g.lat) < 0) and np.all(np.diff(g.lon) > 0)
    s = grid.Grid(0.36, 100, 102, 36, 38)
    assert s.shape == (6, 6)  # 2 / 0.36 = 5.6 -> 6 cells, the last overhangs


def test_index_of_and_outside():
    g = grid.Grid(0.25, 100, 101, 36, 37)
    r, c = g.index_of([36.9, 36.1, 40.0], [100.1, 100.9, 100.5])
    assert list(r) == [0, 3, -1] and list(c) == [0, 3, -1]


def test_block_mean_known_answer():
    f = grid.Grid(0.5, 0, 1, 0, 1)
    c = grid.Grid(1.0, 0, 1, 0, 1)
    da = _field(f, np.array([[1.0, 2.0], [3.0, np.nan]]))
    out = grid.block_mean(da, c)
    assert out.shape == (1, 1) and out.values.item() == pytest.approx(2.0)
    assert np.isnan(grid.block_mean(da, c, min_valid=0.9).values.item())


def test_block_mean_equals_reshape_mean_when_nesting():
    f = grid.Grid(0.01, 100, 101, 36, 37)
    c = grid.Grid(0.25, 100, 101, 36, 37)
    da = _field(f, times=3)
    out = grid.block_mean(da, c)
    ref = da.values.reshape(3, 4, 25, 4, 25).mean(axis=(2, 4))
    np.testing.assert_allclose(out.values, ref, rtol=1e-12)
    assert list(out.lat.values) == list(c.lat)


def test_block_mean_partial_cells_smap():
    f = grid.Grid(0.01, 100, 101, 36, 37)
    s = grid.Grid(0.36, 100, 101, 36, 37)
    da = _field(f, np.ones(f.shape))
    out = grid.block_mean(da, s)
    assert out.shape == (3, 3) and np.allclose(out.values, 1.0)


def test_replicate_and_block_mean_roundtrip():
    c = grid.Grid(0.25, 100, 101, 36, 37)
    f = grid.Grid(0.01, 100, 101, 36, 37)
    coarse = _field(c)
    fine = grid.replicate(coarse, f.lat, f.lon)
    assert fine.shape == f.shape
    np.testing.assert_allclose(grid.block_mean(fine, c).values, coarse.values)


def test_bilinear_reproduces_linear_field():
    c = grid.Grid(0.25, 100, 101, 36, 37)
    la, lo = np.meshgrid(c.lat, c.lon, indexing="ij")
    coarse = _field(c, 2.0 * la + 3.0 * lo)
    f = grid.Grid(0.05, 100.25, 100.75, 36.25, 36.75)  # strictly inside the outer centres
    fine = grid.bilinear(coarse, f.lat, f.lon)
    fla, flo = np.meshgrid(f.lat, f.lon, indexing="ij")
    np.testing.assert_allclose(fine.values, 2.0 * fla + 3.0 * flo, rtol=1e-10)


def test_idw_exact_at_centres_and_bounded():
    c = grid.Grid(0.25, 100, 101, 36, 37)
    coarse = _field(c)
    out = grid.idw(coarse, c.lat, c.lon)
    np.testing.assert_allclose(out.values, coarse.values, rtol=1e-9)
    f = grid.Grid(0.05, 100, 101, 36, 37)
    fine = grid.idw(coarse, f.lat, f.lon, k=4)
    assert fine.min() >= coarse.min() - 1e-12 and fine.max() <= coarse.max() + 1e-12


def test_cell_mean_anomaly_has_zero_cell_means():
    f = grid.Grid(0.01, 100, 101, 36, 37)
    c = grid.Grid(0.25, 100, 101, 36, 37)
    an = grid.cell_mean_anomaly(_field(f), c)
    np.testing.assert_allclose(grid.block_mean(an, c).values, 0.0, atol=1e-12)


def test_fill_nearest():
    c = grid.Grid(1.0, 0, 3, 0, 1)
    da = _field(c, np.array([[1.0, np.nan, 3.0]]))
    out = grid.fill_nearest(da)
    assert np.isfinite(out.values).all() and out.values[0, 0] == 1.0


def test_point_values_and_outside_error():
    c = grid.Grid(0.25, 100, 101, 36, 37)
    da = _field(c)
    v = grid.point_values(da, [36.9], [100.1])
    assert float(v[0]) == pytest.approx(float(da.values[0, 0]))
    with pytest.raises(DataError, match="outside the grid"):
        grid.point_values(da, [40.0], [100.1])


def test_factor():
    assert grid.factor(0.01, 0.25) == 25
    with pytest.raises(DataError, match="not a whole multiple"):
        grid.factor(0.01, 0.255)
