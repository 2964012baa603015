"""Regular lat/lon grids and the resampling methods of seed 003.

Grids are cell-centred, ``lat`` descending (north up), EPSG:4326 (DESIGN.md section 3). Resampling:

- :func:`block_mean`: aggregation of a fine field onto a coarser grid (NaN-aware mean of the fine
  pixels whose centres fall inside each coarse cell; works when the coarse cell is not a whole
  number of fine pixels across the region edge, as for the 0.36 deg SMAP grid);
- :func:`replicate`: nearest replication of coarse values onto a fine grid;
- :func:`bilinear`: bilinear interpolation between coarse cell centres (edge cells held constant
  outwards);
- :func:`idw`: inverse-distance weighting of the ``k`` nearest coarse cells.

References: Zhao et al. (2021) Remote Sens. 13, 1583 (seed 003), section 2.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .errors import DataError


@dataclass(frozen=True)
class Grid:
    """A regular grid of resolution ``res`` degrees covering [west, east] x [south, north].

    When ``res`` does not divide the region (SMAP 0.36 deg on a 2 deg box), the last row / column
    of cells overhangs the region; aggregation then uses only the fine pixels inside the region.
    """

    res: float
    west: float
    east: float
    south: float
    north: float

    @property
    def nlon(self) -> int:
        return max(1, int(math.ceil((self.east - self.west) / self.res - 1e-6)))

    @property
    def nlat(self) -> int:
        return max(1, int(math.ceil((self.north - self.south) / self.res - 1e-6)))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nlat, self.nlon)

    @property
    def lat(self) -> np.ndarray:
        """Cell-centre latitudes, descending (north first)."""
        return np.round(self.north - (np.arange(self.nlat) + 0.5) * self.res, 8)

    @property
    def lon(self) -> np.ndarray:
        """Cell-centre longitudes, ascending."""
        return np.round(self.west + (np.arange(self.nlon) + 0.5) * self.res, 8)

    def coords(self) -> dict:
        return {"lat": ("lat", self.lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", self.lon, {"units": "degrees_east", "standard_name": "longitude"})}

    def template(self, value: float = np.nan, dtype="float32") -> xr.DataArray:
        """A ``(lat, lon)`` DataArray on this grid filled with ``value``."""
        return xr.DataArray(np.full(self.shape, value, dtype=dtype), dims=("lat", "lon"), coords=self.coords())

    def index_of(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells containing points ``(lat, lon)``; -1 where outside the grid."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        row = np.floor((self.north - lat) / self.res).astype(int)
        col = np.floor((lon - self.west) / self.res).astype(int)
        bad = (row < 0) | (row >= self.nlat) | (col < 0) | (col >= self.nlon)
        return np.where(bad, -1, row), np.where(bad, -1, col)


def grid_of(da: xr.DataArray | xr.Dataset) -> Grid:
    """Infer the :class:`Grid` of an array with regular ``lat``/``lon`` cell-centre coordinates."""
    lat = np.asarray(da["lat"].values, dtype=float)
    lon = np.asarray(da["lon"].values, dtype=float)
    if lat.size < 2 and lon.size < 2:
        raise DataError("cannot infer a grid's resolution from a single cell")
    res = float(abs(lon[1] - lon[0])) if lon.size > 1 else float(abs(lat[1] - lat[0]))
    return Grid(res=res, west=float(lon.min() - res / 2), east=float(lon.max() + res / 2),
                south=float(lat.min() - res / 2), north=float(lat.max() + res / 2))


def factor(fine_res: float, coarse_res: float) -> int:
    """Integer ratio ``coarse_res / fine_res``; raises :class:`DataError` if it is not whole."""
    q = coarse_res / fine_res
    if abs(q - round(q)) > 1e-6 or round(q) < 1:
        raise DataError(f"resolution {coarse_res} deg is not a whole multiple of {fine_res} deg "
                        f"(ratio {q:.4f}): the grids must nest")
    return int(round(q))


def _cell_index(fine: np.ndarray, edge: float, res: float, n: int, descending: bool) -> np.ndarray:
    idx = np.floor(((edge - fine) if descending else (fine - edge)) / res + 1e-9).astype(int)
    return np.clip(idx, 0, n - 1)


def block_mean(da: xr.DataArray, target: Grid, min_valid: float = 0.0) -> xr.DataArray:
    """Aggregate a fine ``(..., lat, lon)`` field to ``target`` by the NaN-aware mean of its pixels.

    Each fine pixel is assigned to the target cell containing its centre. ``min_valid`` is the
    minimum fraction of a cell's fine pixels that must be finite for the cell to get a value
    (0 = any one pixel is enough). Vectorized: one ``bincount``-style reduction per call via
    reshaping when the grids nest exactly, a sparse group-by otherwise.
    """
    lat = np.asarray(da["lat"].values, dtype=float)
    lon = np.asarray(da["lon"].values, dtype=float)
    rows = _cell_index(lat, target.north, target.res, target.nlat, True)
    cols = _cell_index(lon, target.west, target.res, target.nlon, False)
    other = [d for d in da.dims if d not in ("lat", "lon")]
    arr = da.transpose(*other, "lat", "lon").values.astype("float64")
    lead = arr.shape[:-2]
    flat = arr.reshape((-1, lat.size, lon.size))
    valid = np.isfinite(flat)
    vals = np.where(valid, flat, 0.0)
    # sum over fine rows into target rows, then over columns: two dense matrix products
    R = np.zeros((target.nlat, lat.size))
    R[rows, np.arange(lat.size)] = 1.0
    C = np.zeros((lon.size, target.nlon))
    C[np.arange(lon.size), cols] = 1.0
    s = np.einsum("rl,tlm,mc->trc", R, vals, C, optimize=True)
    n = np.einsum("rl,tlm,mc->trc", R, valid.astype(float), C, optimize=True)
    tot = np.einsum("rl,lm,mc->rc", R, np.ones((lat.size, lon.size)), C, optimize=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / n
    out[(n == 0) | (n < min_valid * tot[None])] = np.nan
    out = out.reshape(lead + target.shape).astype(da.dtype if da.dtype.kind == "f" else "float32")
    coords = {d: da[d] for d in other if d in da.coords}
    coords.update({"lat": target.lat, "lon": target.lon})
    res = xr.DataArray(out, dims=(*other, "lat", "lon"), coords=coords, attrs=dict(da.attrs), name=da.name)
    return res


def cell_mean_anomaly(da: xr.DataArray, coarse: Grid) -> xr.DataArray:
    """``da`` minus the mean of its own coarse cell (broadcast back to the fine grid).

    The fine-detail score of DESIGN.md section 7 compares these anomalies.
    """
    cm = block_mean(da, coarse)
    return da - replicate(cm, da["lat"].values, da["lon"].values)


def replicate(da: xr.DataArray, lat, lon) -> xr.DataArray:
    """Nearest replication of a coarse field onto fine cell centres ``lat``/``lon`` (each fine pixel
    takes the value of the coarse cell containing it)."""
    g = grid_of(da)
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    rows = _cell_index(lat, g.north, g.res, g.nlat, True)
    cols = _cell_index(lon, g.west, g.res, g.nlon, False)
    out = da.isel(lat=xr.DataArray(rows, dims="lat"), lon=xr.DataArray(cols, dims="lon"))
    return out.assign_coords(lat=lat, lon=lon)


def bilinear(da: xr.DataArray, lat, lon) -> xr.DataArray:
    """Bilinear interpolation of a coarse field to points ``lat``/``lon`` between cell centres.

    Outside the outermost centres the edge value is held (no extrapolation). NaN cells propagate
    to the fine pixels that depend on them; use :func:`fill_nearest` first if that is unwanted.
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    src_lat = da["lat"].values
    src_lon = da["lon"].values
    la = np.clip(lat, src_lat.min(), src_lat.max())
    lo = np.clip(lon, src_lon.min(), src_lon.max())
    out = da.interp(lat=xr.DataArray(la, dims="lat"), lon=xr.DataArray(lo, dims="lon"), method="linear")
    return out.assign_coords(lat=lat, lon=lon)


def idw(da: xr.DataArray, lat, lon, k: int = 4, power: float = 2.0) -> xr.DataArray:
    """Inverse-distance weighting from the ``k`` nearest coarse cell centres (distance in degrees,
    weights ``d**-power``; a fine pixel on a centre takes that centre's value). NaN-aware."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    src_lat = da["lat"].values
    src_lon = da["lon"].values
    SLa, SLo = np.meshgrid(src_lat, src_lon, indexing="ij")
    FLa, FLo = np.meshgrid(lat, lon, indexing="ij")
    d = np.hypot(FLa.reshape(-1, 1) - SLa.reshape(1, -1), FLo.reshape(-1, 1) - SLo.reshape(1, -1))
    k = min(k, d.shape[1])
    nn = np.argsort(d, axis=1)[:, :k]
    dn = np.take_along_axis(d, nn, axis=1)
    exact = dn < 1e-12
    w = 1.0 / np.maximum(dn, 1e-12) ** power
    # a pixel on a centre takes that centre's value alone
    w = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), w)
    other = [dim for dim in da.dims if dim not in ("lat", "lon")]
    arr = da.transpose(*other, "lat", "lon").values
    flat = arr.reshape(arr.shape[:-2] + (-1,))
    vals = flat[..., nn]  # (..., npix, k)
    ok = np.isfinite(vals)
    ww = np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.where(ok, vals, 0.0) * ww).sum(-1) / ww.sum(-1)
    out = out.reshape(arr.shape[:-2] + (lat.size, lon.size)).astype(arr.dtype if arr.dtype.kind == "f" else "float32")
    coords = {dim: da[dim] for dim in other if dim in da.coords}
    coords.update({"lat": lat, "lon": lon})
    return xr.DataArray(out, dims=(*other, "lat", "lon"), coords=coords, attrs=dict(da.attrs), name=da.name)


def fill_nearest(da: xr.DataArray) -> xr.DataArray:
    """Fill NaN cells of each ``(lat, lon)`` slice with the nearest finite cell (grid distance)."""
    from scipy import ndimage

    other = [d for d in da.dims if d not in ("lat", "lon")]
    arr = da.transpose(*other, "lat", "lon").values.copy()
    flat = arr.reshape((-1,) + arr.shape[-2:])
    for i in range(flat.shape[0]):
        bad = ~np.isfinite(flat[i])
        if bad.all() or not bad.any():
            continue
        _, (ri, ci) = ndimage.distance_transform_edt(bad, return_indices=True)
        flat[i] = flat[i][ri, ci]
    return da.copy(data=flat.reshape(arr.shape)).transpose(*da.dims)


def point_values(da: xr.DataArray, lat, lon, method: str = "nearest") -> xr.DataArray:
    """Sample a gridded field at station points: ``nearest`` cell or ``bilinear`` between centres.

    Returns an array with a ``station`` dimension in place of ``lat``/``lon``. Raises
    :class:`DataError` naming the points that lie outside the grid.
    """
    g = grid_of(da)
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    r, c = g.index_of(lat, lon)
    if (r < 0).any():
        bad = [(float(a), float(b)) for a, b, x in zip(lat, lon, r) if x < 0]
        raise DataError(f"{len(bad)} point(s) lie outside the grid [{g.west}, {g.east}] x [{g.south}, {g.north}]: "
                        f"{bad[:5]}")
    if method == "nearest":
        return da.isel(lat=xr.DataArray(r, dims="station"), lon=xr.DataArray(c, dims="station"))
    if method == "bilinear":
        la = np.clip(lat, da["lat"].values.min(), da["lat"].values.max())
        lo = np.clip(lon, da["lon"].values.min(), da["lon"].values.max())
        return da.interp(lat=xr.DataArray(la, dims="station"), lon=xr.DataArray(lo, dims="station"))
    raise ValueError(f"method must be 'nearest' or 'bilinear', got {method!r}")
