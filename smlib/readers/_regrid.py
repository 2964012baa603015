"""Regridding of projected rasters (EASE-Grid 2.0, MODIS sinusoidal, any affine raster) to a study grid.

Method: each target cell of the lat/lon :class:`smlib.grid.Grid` is sampled at ``k x k`` points spread
evenly inside it; each point is projected into the source raster's CRS (pyproj) and takes the value of
the source pixel that contains it; the cell value is the NaN-aware mean of its samples. With ``k = 1``
this is nearest-neighbour (the source pixel containing the cell centre); with ``k`` chosen so that the
sample spacing is at most half the source pixel size (:func:`auto_k`) it approximates the
area-weighted mean of the source pixels the cell overlaps, for target cells coarser or finer than the
source. No spacing is guessed: the source geometry comes from the product's grid definition.
"""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_M = 6371008.8  # IUGG mean radius, used only to size the sampling


def auto_k(target_res_deg: float, source_res_m: float, lat: float = 0.0, kmax: int = 12) -> int:
    """Samples per cell side so that the sample spacing is <= half a source pixel."""
    cell_m = math.radians(target_res_deg) * EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 0.05)
    cell_m = max(cell_m, math.radians(target_res_deg) * EARTH_RADIUS_M)  # the longer (north-south) side
    return int(min(kmax, max(1, math.ceil(2.0 * cell_m / source_res_m))))


def sample_points(grid, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes of ``k x k`` sample points in every cell: arrays ``(nlat, nlon, k*k)``."""
    off = (np.arange(k) + 0.5) / k - 0.5  # offsets in cell units around the centre
    dlat, dlon = np.meshgrid(off, off, indexing="ij")
    lat = grid.lat[:, None, None] - dlat.ravel()[None, None, :] * grid.res
    lon = grid.lon[None, :, None] + dlon.ravel()[None, None, :] * grid.res
    lat = np.broadcast_to(lat, (grid.nlat, grid.nlon, k * k))
    lon = np.broadcast_to(lon, (grid.nlat, grid.nlon, k * k))
    return np.ascontiguousarray(lat), np.ascontiguousarray(lon)


def lookup_mean(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean over the last axis of ``values[..., rows, cols]`` ignoring NaN and out-of-range indices.

    ``values``: ``(..., ny, nx)`` float array; ``rows``/``cols``: integer arrays ``(nlat, nlon, s)``
    (``-1`` = outside the source). Returns ``(..., nlat, nlon)``.
    """
    ny, nx = values.shape[-2:]
    ok = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    r = np.where(ok, rows, 0)
    c = np.where(ok, cols, 0)
    samp = values[..., r, c]  # (..., nlat, nlon, s)
    samp = np.where(ok, samp, np.nan)
    cnt = np.isfinite(samp).sum(-1)
    tot = np.where(np.isfinite(samp), samp, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = tot / cnt
    out[cnt == 0] = np.nan
    return out


def lookup_mode(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The source value at the centre sample of each cell (for flags and classes, which must not be
    averaged). Uses the sample nearest the cell centre."""
    s = rows.shape[-1]
    mid = s // 2
    ny, nx = values.shape[-2:]
    r = rows[..., mid]
    c = cols[..., mid]
    ok = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
    out = values[..., np.where(ok, r, 0), np.where(ok, c, 0)].astype("float64")
    return np.where(ok, out, np.nan)


def affine_indices(transform, crs, grid, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices in a raster with affine ``transform`` (rasterio ``Affine``, no rotation)
    and ``crs`` (anything :class:`pyproj.CRS` accepts) of the ``k x k`` samples of every grid cell."""
    from pyproj import CRS, Transformer

    lat, lon = sample_points(grid, k)
    crs = CRS.from_user_input(crs)
    if crs.is_geographic and crs.to_epsg() in (4326, None):
        x, y = lon, lat
    else:
        tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = tr.transform(lon, lat)
    col = np.floor((np.asarray(x) - transform.c) / transform.a).astype(np.int64)
    row = np.floor((np.asarray(y) - transform.f) / transform.e).astype(np.int64)
    bad = ~np.isfinite(np.asarray(x)) | ~np.isfinite(np.asarray(y))
    return np.where(bad, -1, row), np.where(bad, -1, col)
