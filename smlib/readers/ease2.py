"""The EASE-Grid 2.0 global grids (Brodzik et al. 2012), defined with pyproj, and regridding to lat/lon.

EASE-Grid 2.0 "global" uses the Lambert cylindrical equal-area projection on WGS 84 with true scale at
30 deg N/S (EPSG:6933). Grid parameters are those published by NSIDC for the SMAP products
(Brodzik, M. J., Billingsley, B., Haran, T., Raup, B., Savoie, M. H. (2012): EASE-Grid 2.0:
Incremental but Significant Improvements for Earth-Gridded Data Sets, ISPRS Int. J. Geo-Inf. 1(1),
32-45, doi:10.3390/ijgi1010032, Table 3; and the SMAP L3 product specification, O'Neill et al. 2021,
SMAP L3 Radiometer Global Daily 36 km EASE-Grid Soil Moisture, Version 8, section "Grid"):

=====  ============  =====  =====
grid   cell (m)      cols   rows
=====  ============  =====  =====
M36    36032.220840584   964    406
M09    9008.055210146    3856   1624
M03    3002.6850700487   11568  4872
M01    1000.89502334956  34704  14616
=====  ============  =====  =====

The grid is centred on (0, 0): the upper-left corner is at x = -cols/2 * cell, y = +rows/2 * cell,
so that x_min = -17367530.44516138 m and y_max = 7314540.83011475 m for every resolution.
Row 0 is the northernmost row; cell centres are at half-cell offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: EPSG code of the EASE-Grid 2.0 global projection.
EPSG = 6933
#: name -> (cell size in m, columns, rows)
GRIDS: dict[str, tuple[float, int, int]] = {
    "M36": (36032.220840584, 964, 406),
    "M09": (9008.055210146, 3856, 1624),
    "M03": (3002.6850700487, 11568, 4872),
    "M01": (1000.89502334956, 34704, 14616),
}


@dataclass(frozen=True)
class EASE2Grid:
    """One EASE-Grid 2.0 global grid: ``name`` (M36, M09, M03, M01), cell size, shape, corner."""

    name: str
    res: float
    ncols: int
    nrows: int

    @property
    def x_min(self) -> float:
        return -self.ncols / 2.0 * self.res

    @property
    def y_max(self) -> float:
        return self.nrows / 2.0 * self.res

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrows, self.ncols)

    @property
    def transform(self):
        """The rasterio ``Affine`` of the full global grid."""
        from affine import Affine

        return Affine(self.res, 0.0, self.x_min, 0.0, -self.res, self.y_max)

    def x(self, col) -> np.ndarray:
        """Projected x (m) of the centre of column(s) ``col``."""
        return self.x_min + (np.asarray(col, dtype="float64") + 0.5) * self.res

    def y(self, row) -> np.ndarray:
        """Projected y (m) of the centre of row(s) ``row``."""
        return self.y_max - (np.asarray(row, dtype="float64") + 0.5) * self.res

    def lonlat(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude (deg) of the centres of cells ``(row, col)``."""
        lon, lat = _transformer(inverse=True).transform(self.x(col), self.y(row))
        return np.asarray(lon), np.asarray(lat)

    def rowcol(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells containing ``(lat, lon)``; -1 outside the grid."""
        x, y = _transformer().transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
        col = np.floor((np.asarray(x) - self.x_min) / self.res).astype(np.int64)
        row = np.floor((self.y_max - np.asarray(y)) / self.res).astype(np.int64)
        bad = (~np.isfinite(x)) | (~np.isfinite(y)) | (row < 0) | (row >= self.nrows) | (col < 0) | \
              (col >= self.ncols)
        return np.where(bad, -1, row), np.where(bad, -1, col)

    def window(self, grid, margin: int = 2) -> tuple[slice, slice]:
        """Row and column slices of this grid covering the lat/lon ``grid`` (plus ``margin`` cells)."""
        lats = np.array([grid.north, grid.north, grid.south, grid.south, (grid.north + grid.south) / 2])
        lons = np.array([grid.west, grid.east, grid.west, grid.east, (grid.west + grid.east) / 2])
        lats = np.clip(lats, -85.0, 85.0)
        r, c = self.rowcol(lats, lons)
        r0 = max(0, int(r.min()) - margin)
        r1 = min(self.nrows, int(r.max()) + margin + 1)
        c0 = max(0, int(c.min()) - margin)
        c1 = min(self.ncols, int(c.max()) + margin + 1)
        return slice(r0, r1), slice(c0, c1)


def _transformer(inverse: bool = False):
    from pyproj import Transformer

    if inverse:
        return Transformer.from_crs(f"EPSG:{EPSG}", "EPSG:4326", always_xy=True)
    return Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)


def grid(name: str) -> EASE2Grid:
    """The EASE-Grid 2.0 global grid ``name``: ``M36``, ``M09``, ``M03`` or ``M01`` (also ``36km``, ``9km``)."""
    key = name.upper().replace("KM", "")
    key = {"36": "M36", "9": "M09", "09": "M09", "3": "M03", "03": "M03", "1": "M01", "01": "M01"}.get(key, key)
    if key not in GRIDS:
        raise ValueError(f"unknown EASE-Grid 2.0 grid {name!r}; known: {', '.join(GRIDS)}")
    res, nc, nr = GRIDS[key]
    return EASE2Grid(key, res, nc, nr)


def grid_from_shape(shape: tuple[int, int]) -> EASE2Grid | None:
    """The global grid whose (rows, cols) equal ``shape``, or None."""
    for name, (_, nc, nr) in GRIDS.items():
        if tuple(shape) == (nr, nc):
            return grid(name)
    return None


def to_latlon(values: np.ndarray, ease: EASE2Grid, target, row0: int = 0, col0: int = 0,
              k: int | None = None, how: str = "mean") -> np.ndarray:
    """Regrid EASE2 data ``values[..., rows, cols]`` (a window starting at ``row0``, ``col0`` of the
    global grid ``ease``) onto the lat/lon :class:`smlib.grid.Grid` ``target``.

    ``how="mean"``: NaN-aware mean of ``k x k`` samples per target cell (``k`` from the cell and pixel
    sizes when not given, see :mod:`smlib.readers._regrid`); ``how="nearest"``: the EASE2 cell
    containing the target cell centre (for flags). Returns ``(..., nlat, nlon)`` float64.
    """
    from ._regrid import auto_k, lookup_mean, lookup_mode, sample_points

    if k is None:
        k = auto_k(target.res, ease.res, lat=float(np.mean([target.south, target.north])))
    if how == "nearest":
        k = 1
    lat, lon = sample_points(target, k)
    r, c = ease.rowcol(lat, lon)
    r = np.where(r >= 0, r - row0, -1)
    c = np.where(c >= 0, c - col0, -1)
    values = np.asarray(values, dtype="float64")
    return lookup_mode(values, r, c) if how == "nearest" else lookup_mean(values, r, c)
