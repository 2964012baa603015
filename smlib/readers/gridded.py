"""Generic gridded images (NetCDF, GeoTIFF, Zarr) with a variable-name and unit mapping.

For image products on a regular grid: ESA CCI SM daily images (``sm`` m3/m3, ``flag``), GLDAS-2.1
Noah NetCDF (``SoilMoi0_10cm_inst`` kg m-2), ERA5 / ERA5-Land NetCDF (``swvl1`` m3/m3, ``tp`` m,
longitudes 0-360), GLEAM NetCDF (``SMs``/``SMrz`` m3/m3), CGLS SSM/SWI 1 km (uint8 with
``scale_factor`` 0.5 and flag codes in the data layer), any GeoTIFF (rasterio) and Zarr stores.

The study file maps canonical names to the file's variables::

    variables:
      ssm: {name: sm, units: m3 m-3}      # units default to the file's 'units' attribute
      rzsm: {name: SMrz}
      precip: {name: tp, units: m, aggregate: sum}   # hourly ERA5 totals summed per day
    flags: {flag: [0]}                    # keep only where variable 'flag' is 0 (ESA CCI: no flag raised)

Decoding is explicit (:func:`smlib.readers._common.decode_cf`: ``_FillValue``, ``missing_value``,
valid range, flag codes inside packed layers, ``scale_factor``, ``add_offset``; GeoTIFF nodata, scales
and offsets from the raster's metadata). Longitudes in 0-360 are shifted to -180..180. Units are
converted with :func:`smlib.readers._common.to_canonical`. Several images of one UTC day (GLDAS
3-hourly) are averaged, or summed for a variable given ``aggregate: sum`` (accumulations such as
hourly ERA5 ``tp``; a day with a missing image is then NaN). Regridding to the study grid: block mean of the source pixels whose centres
fall in a cell when the source is at least twice as fine; otherwise the mean of ``k x k`` samples
per cell (nearest source pixel for each, :mod:`smlib.readers._regrid`).
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ._common import check_file, decode_cf, fail, to_canonical

EXPECTED = "gridded image (NetCDF, GeoTIFF or Zarr on a regular grid)"
LAT_NAMES = ("lat", "latitude", "y", "nav_lat")
LON_NAMES = ("lon", "longitude", "x", "nav_lon")


def nanmean0(arrays) -> np.ndarray:
    """NaN-aware mean over a list of equally shaped arrays (NaN where every one is NaN), no warnings."""
    a = np.stack(arrays)
    n = np.isfinite(a).sum(0)
    s = np.where(np.isfinite(a), a, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _spec(canon: str, spec) -> dict:
    if isinstance(spec, str):
        return {"name": spec}
    if isinstance(spec, dict):
        return dict(spec)
    raise InputError(f"variables.{canon}: must be a variable name or a mapping with 'name' (and 'units', 'band')")


def canonical_units(canon: str, product: str = "") -> str:
    """The canonical unit of ``canon`` (``ascat``'s ``ssm`` is in %)."""
    from ..catalog import lookup

    if product == "ascat" and canon == "ssm":
        return "%"
    try:
        return lookup(canon)[0]
    except KeyError:
        return "1"


def date_from_name(path) -> pd.Timestamp | None:
    """A date in a file name: ``YYYYMMDD`` (optionally followed by ``HHMM``) or ``doyYYYYDDD`` / ``AYYYYDDD``."""
    name = Path(path).name
    m = re.search(r"(?:doy|\.A)(\d{4})(\d{3})", name)
    if m:
        return pd.Timestamp(f"{m.group(1)}-01-01") + pd.Timedelta(days=int(m.group(2)) - 1)
    m = re.search(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?:T?(\d{2})(\d{2}))?", name)
    if m:
        try:
            ts = pd.Timestamp(f"{m.group(1)}-{m.group(2)}-{m.group(3)}")
            if m.group(4):
                ts = ts + pd.Timedelta(hours=int(m.group(4)), minutes=int(m.group(5)))
            return ts
        except ValueError:
            return None
    return None


def _times_netcdf(ds, path) -> np.ndarray | None:
    if "time" not in ds.variables:
        return None
    t = ds["time"]
    units = t.getncattr("units") if "units" in t.ncattrs() else ""
    if " since " not in units:
        return None
    unit, _, ref = units.strip().partition(" since ")
    scale = {"days": "D", "hours": "h", "minutes": "min", "seconds": "s"}.get(unit.strip().lower())
    if scale is None:
        raise fail(path, EXPECTED, f"unsupported time units {units!r}")
    ref = pd.Timestamp(ref.replace("UTC", "").strip().replace("T", " "))
    return (ref + pd.to_timedelta(np.asarray(t[:], dtype="float64"), unit=scale)).values


def _window(coord: np.ndarray, lo: float, hi: float, margin: float) -> slice:
    """The contiguous index range of ``coord`` within ``[lo - margin, hi + margin]`` (all if none)."""
    idx = np.nonzero((coord >= lo - margin) & (coord <= hi + margin))[0]
    if idx.size == 0:
        return slice(0, 0)
    return slice(int(idx.min()), int(idx.max()) + 1)


def read_netcdf(path, variables: dict, flags: dict | None = None, bbox=None) -> dict:
    """Read mapped variables of one NetCDF image: ``{"lat", "lon", "times", "fields": {canon: (t, y, x)},
    "units": {canon: units}}`` with CF decoding and flags applied. ``bbox`` (an object with west, east,
    south, north, e.g. a :class:`smlib.grid.Grid`) reads only the rows and columns around it (plus two
    source cells), so a global image costs only its window; longitudes 0-360 are matched too."""
    import netCDF4

    path = check_file(path, EXPECTED)
    try:
        ds = netCDF4.Dataset(path)
    except Exception as exc:  # noqa: BLE001
        raise fail(path, "NetCDF image", f"cannot be opened ({type(exc).__name__})") from None
    ds.set_auto_maskandscale(False)
    try:
        latn = next((n for n in LAT_NAMES if n in ds.variables), None)
        lonn = next((n for n in LON_NAMES if n in ds.variables), None)
        if latn is None or lonn is None or ds[latn].ndim != 1 or ds[lonn].ndim != 1:
            raise fail(path, "NetCDF image on a regular lat/lon grid", "no 1-D lat/lon coordinate variables")
        lat = np.asarray(ds[latn][:], dtype="float64")
        lon = np.asarray(ds[lonn][:], dtype="float64")
        rsl = csl = slice(None)
        if bbox is not None and lat.size > 1 and lon.size > 1:
            dlat = float(np.median(np.abs(np.diff(lat))))
            dlon = float(np.median(np.abs(np.diff(lon))))
            rsl = _window(lat, bbox.south, bbox.north, 2 * dlat)
            lon180 = np.where(lon > 180.0, lon - 360.0, lon)
            csl = _window(lon180, bbox.west, bbox.east, 2 * dlon)
            if csl.stop - csl.start != np.count_nonzero((lon180 >= bbox.west - 2 * dlon) &
                                                          (lon180 <= bbox.east + 2 * dlon)):
                csl = slice(None)  # the window wraps around the 0/360 seam: read every column
            lat, lon = lat[rsl], lon[csl]

        def read(var):
            key = tuple(rsl if d == latn else csl if d == lonn else slice(None) for d in var.dimensions)
            return var[key]

        times = _times_netcdf(ds, path)
        keep = None
        for fname, allowed in (flags or {}).items():
            if fname not in ds.variables:
                raise fail(path, "NetCDF image", f"flag variable {fname!r} is missing")
            fv = np.asarray(read(ds[fname]))
            k = np.isin(fv, np.asarray(allowed))
            keep = k if keep is None else keep & k
        fields, units = {}, {}
        for canon, spec in variables.items():
            spec = _spec(canon, spec)
            name = spec["name"]
            if name not in ds.variables:
                raise fail(path, f"file with variable {name!r} (for {canon})",
                           f"variables present: {', '.join(list(ds.variables)[:15])}")
            var = ds[name]
            attrs = {a: var.getncattr(a) for a in var.ncattrs()}
            vals = decode_cf(read(var), attrs)
            dims = var.dimensions
            if latn not in dims or lonn not in dims:
                raise fail(path, "NetCDF image", f"{name} is not on the {latn}/{lonn} grid (dims {dims})")
            order = [d for d in dims if d not in (latn, lonn)] + [latn, lonn]
            vals = np.transpose(vals, [dims.index(d) for d in order])
            vals = vals.reshape((-1, lat.size, lon.size))
            if keep is not None:
                kk = np.transpose(keep, [dims.index(d) for d in order]).reshape(vals.shape) if keep.ndim == \
                    len(dims) else np.broadcast_to(keep, vals.shape)
                vals = np.where(kk, vals, np.nan)
            fields[canon] = vals
            units[canon] = spec.get("units", attrs.get("units"))
            if isinstance(units[canon], bytes):
                units[canon] = units[canon].decode()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- truncated variables, bad attributes
        raise fail(path, EXPECTED, f"{type(exc).__name__}: {exc}") from None
    finally:
        ds.close()
    nt = next(iter(fields.values())).shape[0] if fields else 0
    if times is None or len(times) != nt:
        d = date_from_name(path)  # None -> NaT: a static field (land mask, soil map)
        times = np.array([d if d is not None else np.datetime64("NaT")] * nt, dtype="datetime64[ns]")
    return {"lat": lat, "lon": lon, "times": np.asarray(times, dtype="datetime64[ns]"), "fields": fields,
            "units": units, "crs": "EPSG:4326"}


def read_geotiff(path, variables: dict) -> dict:
    """Read mapped bands of a GeoTIFF: ``{"transform", "crs", "times", "fields", "units"}``.

    Each variable spec may give ``band`` (1-based, default 1), ``units``, and ``scale``/``offset``
    (default: the raster's own scales/offsets metadata); the raster's nodata value is missing.
    """
    import rasterio

    path = check_file(path, "GeoTIFF")
    try:
        src = rasterio.open(path)
    except Exception as exc:  # noqa: BLE001
        raise fail(path, "GeoTIFF", f"cannot be opened ({type(exc).__name__})") from None
    try:
        fields, units = {}, {}
        for canon, spec in variables.items():
            spec = _spec(canon, spec)
            band = int(spec.get("band", 1))
            if band < 1 or band > src.count:
                raise fail(path, f"GeoTIFF with band {band} (for {canon})", f"it has {src.count} band(s)")
            raw = src.read(band)
            vals = raw.astype("float64")
            bad = ~np.isfinite(vals)
            if src.nodata is not None and np.isfinite(src.nodata):
                bad |= raw == src.nodata
            for key in ("valid_min", "valid_max"):
                if key in spec:
                    bad |= (vals < spec[key]) if key == "valid_min" else (vals > spec[key])
            scale = float(spec.get("scale", src.scales[band - 1] if src.scales else 1.0))
            offset = float(spec.get("offset", src.offsets[band - 1] if src.offsets else 0.0))
            vals = vals * scale + offset
            vals[bad] = np.nan
            fields[canon] = vals[None]
            units[canon] = spec.get("units", src.units[band - 1] if src.units and src.units[band - 1] else None)
        transform, crs = src.transform, src.crs
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise fail(path, "GeoTIFF", f"{type(exc).__name__}: {exc}") from None
    finally:
        src.close()
    if crs is None:
        raise fail(path, "GeoTIFF", "it has no CRS")
    d = date_from_name(path)
    return {"transform": transform, "crs": crs, "times": np.array([d], dtype="datetime64[ns]") if d is not None
            else np.array([np.datetime64("NaT")]), "fields": fields, "units": units}


def read_zarr(path, variables: dict, flags=None) -> dict:
    """Read mapped variables of a Zarr store (through xarray, no automatic decoding) like :func:`read_netcdf`."""
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise InputError(f"{path}: reading Zarr stores needs the 'zarr' package (pip install zarr)") from None
    try:
        with warnings.catch_warnings():  # a store without consolidated metadata is fine, only slower
            warnings.simplefilter("ignore", RuntimeWarning)
            ds = xr.open_zarr(path, mask_and_scale=False, decode_times=True)
    except Exception as exc:  # noqa: BLE001
        raise fail(path, "Zarr store", f"{type(exc).__name__}: {exc}") from None
    latn = next((n for n in LAT_NAMES if n in ds.coords or n in ds.variables), None)
    lonn = next((n for n in LON_NAMES if n in ds.coords or n in ds.variables), None)
    if latn is None or lonn is None:
        raise fail(path, "Zarr store on a regular lat/lon grid", "no lat/lon coordinates")
    keep = None
    for fname, allowed in (flags or {}).items():
        k = np.isin(ds[fname].values, np.asarray(allowed))
        keep = k if keep is None else keep & k
    fields, units = {}, {}
    for canon, spec in variables.items():
        spec = _spec(canon, spec)
        var = ds[spec["name"]]
        enc = dict(var.encoding)
        attrs = {**var.attrs, **{k: enc[k] for k in ("_FillValue", "scale_factor", "add_offset") if k in enc}}
        other = [d for d in var.dims if d not in (latn, lonn)]
        vals = decode_cf(var.transpose(*other, latn, lonn).values, attrs).reshape((-1, ds[latn].size, ds[lonn].size))
        if keep is not None:
            vals = np.where(np.broadcast_to(keep.reshape(vals.shape) if keep.size == vals.size else keep, vals.shape),
                            vals, np.nan)
        fields[canon] = vals
        units[canon] = spec.get("units", attrs.get("units"))
    times = ds["time"].values if "time" in ds.coords else np.array([date_from_name(path)], dtype="datetime64[ns]")
    return {"lat": ds[latn].values.astype("float64"), "lon": ds[lonn].values.astype("float64"),
            "times": np.asarray(times, dtype="datetime64[ns]"), "fields": fields, "units": units, "crs": "EPSG:4326"}


def _latlon_to_grid(img: dict, vals: np.ndarray, grid) -> np.ndarray:
    """Regrid ``(t, nlat, nlon)`` values on 1-D ``img['lat']``/``img['lon']`` to ``grid`` -> ``(t, y, x)``."""
    from ..grid import Grid, block_mean
    from ._regrid import affine_indices, lookup_mean
    from affine import Affine

    lat, lon = img["lat"].copy(), img["lon"].copy()
    if lon.max() > 180.0:  # 0..360 -> -180..180, columns rolled into ascending order
        lon = np.where(lon > 180.0, lon - 360.0, lon)
    order = np.argsort(lon)
    lon = lon[order]
    vals = vals[..., order]
    if lat[0] < lat[-1]:
        lat = lat[::-1]
        vals = vals[..., ::-1, :]
    dlon = float(np.median(np.diff(lon))) if lon.size > 1 else grid.res
    dlat = float(np.median(-np.diff(lat))) if lat.size > 1 else grid.res
    # subset to the grid (with a margin of two source cells)
    rsel = np.nonzero((lat >= grid.south - 2 * dlat) & (lat <= grid.north + 2 * dlat))[0]
    csel = np.nonzero((lon >= grid.west - 2 * dlon) & (lon <= grid.east + 2 * dlon))[0]
    if rsel.size == 0 or csel.size == 0:
        return np.full((vals.shape[0], grid.nlat, grid.nlon), np.nan)
    lat, lon = lat[rsel], lon[csel]
    vals = vals[:, rsel[0]:rsel[-1] + 1, csel[0]:csel[-1] + 1]
    if max(dlon, dlat) * 2 <= grid.res:
        da = xr.DataArray(vals, dims=("t", "lat", "lon"), coords={"lat": lat, "lon": lon})
        inside = (da.lat >= grid.south) & (da.lat <= grid.north)
        da = da.where(inside, drop=True)
        da = da.where((da.lon >= grid.west) & (da.lon <= grid.east), drop=True)
        return block_mean(da, Grid(grid.res, grid.west, grid.east, grid.south, grid.north)).values
    transform = Affine(dlon, 0.0, lon[0] - dlon / 2, 0.0, -dlat, lat[0] + dlat / 2)
    k = int(min(12, max(1, math.ceil(2 * grid.res / min(dlon, dlat)))))
    r, c = affine_indices(transform, "EPSG:4326", grid, k)
    return lookup_mean(vals, r, c)


def image_to_grid(img: dict, canon: str, grid) -> np.ndarray:
    """One decoded image's field ``canon`` on ``grid``: ``(t, nlat, nlon)``."""
    from ._regrid import affine_indices, auto_k, lookup_mean

    vals = img["fields"][canon]
    if "transform" in img:
        tr = img["transform"]
        from pyproj import CRS

        crs = CRS.from_user_input(img["crs"])
        res_m = abs(tr.a) * (111320.0 if crs.is_geographic else 1.0)
        k = auto_k(grid.res, res_m, lat=(grid.south + grid.north) / 2)
        r, c = affine_indices(tr, crs, grid, k)
        return lookup_mean(vals, r, c)
    return _latlon_to_grid(img, vals, grid)


def read_to_grid(paths, grid, variables: dict, start=None, end=None, thickness_mm=None, flags=None,
                 product: str = "") -> xr.Dataset:
    """Read gridded images ``paths`` onto ``grid``: daily ``(time, lat, lon)`` (static ``(lat, lon)`` when
    the files carry no date) in canonical units."""
    per_day: dict = {}
    static: dict = {}
    for p in paths:
        p = Path(p)
        suffix = p.suffix.lower()
        if suffix in (".tif", ".tiff"):
            img = read_geotiff(p, variables)
        elif suffix == ".zarr" or (p.is_dir() and ((p / ".zgroup").exists() or (p / "zarr.json").exists())):
            img = read_zarr(p, variables, flags)
        else:
            img = read_netcdf(p, variables, flags, bbox=grid)
        for canon in img["fields"]:
            spec = _spec(canon, variables[canon])
            vals = image_to_grid(img, canon, grid)
            vals = to_canonical(vals, img["units"].get(canon), canonical_units(canon, product),
                                name=spec["name"] if "name" in spec else canon, where=str(p),
                                thickness_mm=spec.get("thickness_mm", thickness_mm))
            for i, t in enumerate(img["times"]):
                if np.isnat(t):
                    static.setdefault(canon, []).append(vals[i])
                    continue
                day = pd.Timestamp(t).normalize()
                if start is not None and not (pd.Timestamp(start) <= day <= pd.Timestamp(end)):
                    continue
                per_day.setdefault(day, {}).setdefault(canon, []).append(vals[i])
    coords = grid.coords()
    if per_day:
        days = pd.date_range(start, end, freq="D") if start is not None else pd.DatetimeIndex(sorted(per_day))
        data = {}
        for canon in variables:
            arr = np.full((len(days), grid.nlat, grid.nlon), np.nan)
            for i, d in enumerate(days):
                if d in per_day and canon in per_day[d]:
                    if _spec(canon, variables[canon]).get("aggregate", "mean") == "sum":
                        stack = np.stack(per_day[d][canon])
                        arr[i] = np.where(np.isfinite(stack).all(0), stack.sum(0), np.nan)
                    else:
                        arr[i] = nanmean0(per_day[d][canon])
            data[canon] = (("time", "lat", "lon"), arr)
        return xr.Dataset(data, coords={"time": days.values.astype("datetime64[ns]"), **coords})
    if static:
        return xr.Dataset({k: (("lat", "lon"), nanmean0(v)) for k, v in static.items()}, coords=coords)
    raise InputError(f"{paths[0] if paths else 'gridded'}: no image dated within {start}..{end}")
