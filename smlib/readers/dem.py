"""A DEM GeoTIFF to ``dem`` (m) and ``slope`` (degrees) on the fine grid.

The DEM (SRTM, Copernicus GLO-30/90, HydroSHEDS, ASTER GDEM, or any GeoTIFF in any CRS) is read with
rasterio; the nodata value is missing; ``scale`` converts its units to metres (e.g. 0.01 for a DEM in
cm). Each fine-grid cell takes the mean of the DEM pixels sampled inside it (``k x k`` samples,
:mod:`smlib.readers._regrid`), i.e. the cell's mean elevation.

Slope is computed on the fine grid from the cell-mean elevations with centred differences
(:func:`numpy.gradient`), with the cell spacing in metres on the sphere of mean radius R = 6371008.8 m:
``dy = R * dlat``, ``dx = R * cos(lat) * dlon`` (radians), and
``slope = degrees(arctan(hypot(dz/dx, dz/dy)))`` (Horn-type finite differences, Burrough &
McDonnell 1998, Principles of GIS, ch. 8). It is the slope of the 1-km terrain, the scale the
downscaling predictors use, not the mean of the native-resolution slopes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from ._common import check_file, fail

EXPECTED = "DEM GeoTIFF (one band of elevations with a CRS)"
EARTH_RADIUS_M = 6371008.8


def slope_degrees(dem: np.ndarray, lat: np.ndarray, res_deg: float) -> np.ndarray:
    """Slope (degrees) of a ``(lat, lon)`` elevation grid (m) with cell size ``res_deg``, NaN-propagating."""
    dem = np.asarray(dem, dtype="float64")
    dy = EARTH_RADIUS_M * np.radians(res_deg)
    dx = EARTH_RADIUS_M * np.cos(np.radians(np.asarray(lat, dtype="float64"))) * np.radians(res_deg)
    if dem.shape[0] < 2 or dem.shape[1] < 2:
        return np.full(dem.shape, np.nan)
    dzdy = np.gradient(dem, axis=0) / dy
    dzdx = np.gradient(dem, axis=1) / dx[:, None]
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy)))


def read_dem(paths, grid, scale: float = 1.0, band: int = 1) -> xr.Dataset:
    """DEM GeoTIFF(s) -> ``dem`` (m) and ``slope`` (deg) on ``grid`` (several tiles are mosaicked)."""
    import rasterio

    from ._regrid import affine_indices, auto_k, lookup_mean
    from pyproj import CRS

    acc = np.zeros(grid.shape)
    cnt = np.zeros(grid.shape)
    for p in paths:
        p = check_file(p, EXPECTED)
        try:
            with rasterio.open(p) as src:
                if src.crs is None:
                    raise fail(p, EXPECTED, "it has no CRS")
                raw = src.read(band)
                nodata = src.nodata
                transform, crs = src.transform, CRS.from_user_input(src.crs)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 -- not a raster, truncated, no such band
            raise fail(p, EXPECTED, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        vals = raw.astype("float64")
        if nodata is not None and np.isfinite(nodata):
            vals[raw == nodata] = np.nan
        vals = vals * scale
        res_m = abs(transform.a) * (111320.0 if crs.is_geographic else 1.0)
        k = auto_k(grid.res, res_m, lat=(grid.south + grid.north) / 2)
        r, c = affine_indices(transform, crs, grid, k)
        z = lookup_mean(vals, r, c)
        ok = np.isfinite(z)
        acc[ok] += z[ok]
        cnt[ok] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        dem = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    slope = slope_degrees(dem, grid.lat, grid.res)
    ds = xr.Dataset({"dem": (("lat", "lon"), dem), "slope": (("lat", "lon"), slope)}, coords=grid.coords())
    ds.attrs["source"] = "DEM GeoTIFF: cell-mean elevation by sampling; slope by centred differences on the grid"
    return ds
