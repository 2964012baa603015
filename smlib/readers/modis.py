"""MODIS land products: HDF4-EOS tiles (pyhdf) and AppEEARS GeoTIFFs, reprojected to the fine grid.

Products and fields (NASA LP DAAC user guides):

- **MOD11A1 / MYD11A1** (Wan, Z. 2019, *MODIS Land Surface Temperature Products Users' Guide*, C6.1):
  ``LST_Day_1km`` uint16, ``_FillValue`` 0, valid range 7500-65535, scale 0.02 -> K. ``QC_Day``
  bits 0-1 (mandatory QA): 00 good, 01 other quality, 10/11 not produced; bits 6-7: LST error
  00 <= 1 K, 01 <= 2 K, 10 <= 3 K, 11 > 3 K. Kept (``quality="default"``): bits 0-1 = 00, or 01 with
  an LST error <= 2 K.
- **MOD13A2 / MYD13A2** (Didan, K. et al. 2015, *MODIS Vegetation Index User's Guide* C6, Table 4):
  ``1 km 16 days NDVI`` / ``EVI`` int16, fill -3000, valid range -2000..10000, value / 10000 (the HDF
  attribute ``scale_factor`` is 10000 and means *divide*, unlike MOD11/MOD09). ``1 km 16 days pixel
  reliability``: 0 good, 1 marginal (kept), 2 snow/ice, 3 cloudy, -1 fill (dropped).
- **MOD09A1 / MYD09A1** (Vermote, E. 2015, *MODIS Surface Reflectance User's Guide* C6): ``sur_refl_b06``
  (1628-1652 nm) and ``sur_refl_b07`` (2105-2155 nm), int16, fill -28672, valid -100..16000, scale
  0.0001. ``sur_refl_state_500m`` bits 0-1 cloud state (00 clear, 11 assumed clear kept), bit 2 cloud
  shadow (dropped), bit 10 internal cloud flag (dropped). NSDSI = (b6 - b7) / b6 (normalized
  shortwave-infrared difference soil-moisture index, Yue et al. 2019, ISPRS J. Photogramm. Remote
  Sens. 154, 216-230).

Geometry: the tiles are on the MODIS sinusoidal grid (sphere radius 6371007.181 m); the tile's
``UpperLeftPointMtrs``/``LowerRightMtrs`` and ``XDim``/``YDim`` are parsed from ``StructMetadata.0``
(HDF-EOS grid metadata) and every fine-grid cell takes the mean of ``k x k`` samples projected into
the tile (:mod:`smlib.readers._regrid`). Composites (MOD13A2 16-day, MOD09A1 8-day) are placed on the
composite's first day, the date in the file name (``AYYYYDDD``). ``.hdf.zip`` archives are read
from a temporary copy.

AppEEARS (https://appeears.earthdatacloud.nasa.gov) GeoTIFFs are named
``<product>.<version>_<layer>_doy<YYYYDDD>_aid0001.tif``; AppEEARS writes the stored (unscaled)
values with the fill value as nodata, so the same scale factors and QC rules apply.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ._common import check_file, fail, stack_daily

EXPECTED = "MODIS HDF4-EOS tile (MOD11A1, MOD13A2 or MOD09A1)"
#: MODIS sinusoidal projection (sphere of radius 6371007.181 m)
SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
APPEEARS_RE = re.compile(r"^(?P<product>M[OY]D\d\d[A-Z]\d)\.(?P<version>\d{3})_(?P<layer>.+)_doy(?P<year>\d{4})"
                         r"(?P<doy>\d{3})_aid\d+\.tif{1,2}$", re.IGNORECASE)
#: layer -> (canonical name, multiply-by scale, fill, valid range)
LAYERS = {
    "LST_Day_1km": ("lst_day", 0.02, 0, (7500, 65535)),
    "1 km 16 days NDVI": ("ndvi", 1e-4, -3000, (-2000, 10000)),
    "1 km 16 days EVI": ("evi", 1e-4, -3000, (-2000, 10000)),
    "sur_refl_b06": ("b06", 1e-4, -28672, (-100, 16000)),
    "sur_refl_b07": ("b07", 1e-4, -28672, (-100, 16000)),
}
QC_LAYERS = {"lst_day": "QC_Day", "ndvi": "1 km 16 days pixel reliability", "evi": "1 km 16 days pixel reliability",
             "b06": "sur_refl_state_500m", "b07": "sur_refl_state_500m"}
PRODUCT_LAYERS = {"MOD11A1": ("LST_Day_1km",), "MOD13A2": ("1 km 16 days NDVI", "1 km 16 days EVI"),
                  "MOD09A1": ("sur_refl_b06", "sur_refl_b07")}


def qc_keep(canon: str, qc: np.ndarray, quality: str = "default") -> np.ndarray:
    """True where the QC layer of ``canon`` passes the documented rule (see the module docstring)."""
    qc = np.asarray(qc).astype("int64")
    if quality == "none":
        return np.ones(qc.shape, dtype=bool)
    if canon == "lst_day":
        mandatory = qc & 0b11
        err = (qc >> 6) & 0b11
        return (mandatory == 0) | ((mandatory == 1) & (err <= 1))
    if canon in ("ndvi", "evi"):
        return (qc == 0) | (qc == 1)
    if canon in ("b06", "b07"):
        cloud = qc & 0b11
        return ((cloud == 0) | (cloud == 3)) & (((qc >> 2) & 1) == 0) & (((qc >> 10) & 1) == 0)
    return np.ones(qc.shape, dtype=bool)


def decode_layer(layer: str, raw: np.ndarray) -> np.ndarray:
    """Stored values of ``layer`` -> physical values (float64, NaN for fill / out of the valid range)."""
    canon, scale, fill, (lo, hi) = LAYERS[layer]
    raw = np.asarray(raw)
    v = raw.astype("float64")
    bad = (raw == fill) | (v < lo) | (v > hi)
    v = v * scale
    v[bad] = np.nan
    return v


def product_of(path, core_metadata: str | None = None) -> tuple[str, pd.Timestamp]:
    """Short product name (``MOD11A1``... with MYD mapped to MOD) and date, from the LP DAAC file name
    ``M?D*.AYYYYDDD.*`` or, for a renamed file, from the granule's ``CoreMetadata.0`` (ECS inventory
    metadata: ``SHORTNAME`` and ``RANGEBEGINNINGDATE``)."""
    m = re.match(r"^(M[OY]D\d\d[A-Z]\d)\.A(\d{4})(\d{3})\.", Path(path).name, re.IGNORECASE)
    if not m and core_metadata:
        sn = re.search(r'OBJECT\s*=\s*SHORTNAME.*?VALUE\s*=\s*"([^"]+)"', core_metadata, re.S)
        rb = re.search(r'OBJECT\s*=\s*RANGEBEGINNINGDATE.*?VALUE\s*=\s*"([^"]+)"', core_metadata, re.S)
        if sn and rb:
            d = pd.Timestamp(rb.group(1))
            m = re.match(r"(.*)", sn.group(1))
            prod = sn.group(1).upper().replace("MYD", "MOD")
            if prod not in PRODUCT_LAYERS:
                raise fail(path, EXPECTED, f"product {sn.group(1)} is not one of {', '.join(PRODUCT_LAYERS)}")
            return prod, d
    if not m:
        raise fail(path, EXPECTED, "the name is not <product>.AYYYYDDD.<tile>... as LP DAAC names MODIS files, "
                                   "and no CoreMetadata.0 names the product")
    prod = m.group(1).upper().replace("MYD", "MOD")
    if prod not in PRODUCT_LAYERS:
        raise fail(path, EXPECTED, f"product {m.group(1)} is not one of {', '.join(PRODUCT_LAYERS)}")
    return prod, pd.Timestamp(f"{m.group(2)}-01-01") + pd.Timedelta(days=int(m.group(3)) - 1)


def grid_geometry(struct_metadata: str, path="") -> tuple[object, tuple[int, int]]:
    """Affine transform and ``(rows, cols)`` of the first grid in an HDF-EOS ``StructMetadata.0``."""
    from affine import Affine

    def num(key):
        m = re.search(key + r"=\(([-\d.eE+]+),([-\d.eE+]+)\)", struct_metadata)
        if not m:
            raise fail(path, EXPECTED, f"StructMetadata.0 has no {key}")
        return float(m.group(1)), float(m.group(2))

    ulx, uly = num("UpperLeftPointMtrs")
    lrx, lry = num("LowerRightMtrs")
    nx = re.search(r"XDim=(\d+)", struct_metadata)
    ny = re.search(r"YDim=(\d+)", struct_metadata)
    if not nx or not ny or "GCTP_SNSOID" not in struct_metadata:
        raise fail(path, EXPECTED, "StructMetadata.0 lacks XDim/YDim or the sinusoidal projection")
    nx, ny = int(nx.group(1)), int(ny.group(1))
    return Affine((lrx - ulx) / nx, 0.0, ulx, 0.0, (lry - uly) / ny, uly), (ny, nx)


def read_hdf(path, quality: str = "default") -> dict:
    """Read one MODIS HDF4 tile (or ``.hdf.zip``): ``{"product", "date", "transform", "shape",
    "fields": {canon: 2-D float64, QC-masked}}``."""
    path = check_file(path, EXPECTED)
    if path.name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as z:
                members = [m for m in z.namelist() if m.lower().endswith(".hdf")]
                if not members:
                    raise fail(path, EXPECTED, "the zip archive holds no .hdf file")
                with tempfile.TemporaryDirectory() as tmp:
                    z.extract(members[0], tmp)
                    return read_hdf(Path(tmp) / members[0], quality)
        except zipfile.BadZipFile:
            raise fail(path, EXPECTED, "not a readable zip archive") from None
    from pyhdf.SD import SD, SDC
    from pyhdf.error import HDF4Error

    try:
        sd = SD(str(path), SDC.READ)
    except HDF4Error as exc:
        raise fail(path, EXPECTED, f"cannot be opened as HDF4 ({exc})") from None
    try:
        attrs = sd.attributes()
        prod, date = product_of(path, attrs.get("CoreMetadata.0"))
        meta = attrs.get("StructMetadata.0", "")
        transform, shape = grid_geometry(meta, path)
        names = sd.datasets()
        fields = {}
        for layer in PRODUCT_LAYERS[prod]:
            if layer not in names:
                raise fail(path, f"{prod} tile with {layer!r}", f"datasets: {', '.join(list(names)[:8])}")
            canon = LAYERS[layer][0]
            vals = decode_layer(layer, sd.select(layer).get())
            qname = QC_LAYERS[canon]
            if qname in names and quality != "none":
                vals[~qc_keep(canon, sd.select(qname).get(), quality)] = np.nan
            fields[canon] = vals
    except InputError:
        sd.end()
        raise
    except Exception as exc:  # noqa: BLE001 -- truncated SDS, bad metadata
        sd.end()
        raise fail(path, EXPECTED, f"{type(exc).__name__}: {exc}") from None
    sd.end()
    if prod == "MOD09A1":
        b6, b7 = fields.pop("b06"), fields.pop("b07")
        with np.errstate(invalid="ignore", divide="ignore"):
            fields["nsdsi"] = np.where(b6 > 0, (b6 - b7) / b6, np.nan)
    return {"product": prod, "date": date, "transform": transform, "shape": shape, "fields": fields}


def _to_grid(vals: np.ndarray, transform, crs, grid) -> np.ndarray:
    from ._regrid import affine_indices, auto_k, lookup_mean

    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    res_m = abs(transform.a) * (111320.0 if crs.is_geographic else 1.0)
    k = auto_k(grid.res, res_m, lat=(grid.south + grid.north) / 2)
    r, c = affine_indices(transform, crs, grid, k)
    return lookup_mean(np.asarray(vals, dtype="float64"), r, c)


def _assemble(per_day: dict, grid, start, end) -> xr.Dataset:
    from .gridded import nanmean0

    if not per_day:
        raise InputError(f"MODIS: no tile dated within {start}..{end}")
    # several tiles of a day: mosaic (mean where they overlap)
    return stack_daily(per_day, grid, start, end, combine=nanmean0)


def hdf_to_grid(paths, grid, start=None, end=None, quality: str = "default") -> xr.Dataset:
    """MODIS HDF4 tiles -> daily ``lst_day``, ``ndvi``, ``evi``, ``nsdsi`` on the (fine) ``grid``."""
    per_day: dict = {}
    for p in paths:
        t = read_hdf(p, quality)
        date = t["date"]
        if start is not None and not (pd.Timestamp(start) <= date <= pd.Timestamp(end)):
            continue
        for canon, vals in t["fields"].items():
            per_day.setdefault(date, {}).setdefault(canon, []).append(_to_grid(vals, t["transform"], SINUSOIDAL, grid))
    ds = _assemble(per_day, grid, start, end)
    ds.attrs["source"] = "MODIS HDF4 tiles (sinusoidal), reprojected by sampling; composites on their first day"
    return ds


def _norm(layer: str) -> str:
    """AppEEARS layer names: spaces become underscores and MOD13 layers gain a leading one
    (``MOD13A2.061__1_km_16_days_NDVI``): compare without them."""
    return layer.replace(" ", "_").strip("_").lower()


def read_appeears(path, quality: str = "default", qc_path=None) -> dict:
    """One AppEEARS GeoTIFF layer: ``{"canon", "date", "values" (2-D physical), "transform", "crs"}``."""
    import rasterio

    path = check_file(path, "AppEEARS MODIS GeoTIFF")
    m = APPEEARS_RE.match(path.name)
    if not m:
        raise fail(path, "AppEEARS MODIS GeoTIFF", "the name is not <product>.<version>_<layer>_doy<YYYYDDD>_aid*.tif")
    layer = m.group("layer")
    key = next((k for k in LAYERS if _norm(k) == _norm(layer)), None)
    if key is None:
        raise fail(path, "AppEEARS MODIS GeoTIFF", f"layer {layer!r} is not one of "
                                                   f"{', '.join(k.replace(' ', '_') for k in LAYERS)}")
    try:
        with rasterio.open(path) as src:
            raw = src.read(1)
            transform, crs = src.transform, src.crs
    except Exception as exc:  # noqa: BLE001
        raise fail(path, "AppEEARS MODIS GeoTIFF", f"{type(exc).__name__}: {exc}") from None
    vals = decode_layer(key, raw)
    canon = LAYERS[key][0]
    if qc_path is not None and quality != "none":
        with rasterio.open(qc_path) as q:
            vals[~qc_keep(canon, q.read(1), quality)] = np.nan
    date = pd.Timestamp(f"{m.group('year')}-01-01") + pd.Timedelta(days=int(m.group("doy")) - 1)
    return {"canon": canon, "date": date, "values": vals, "transform": transform, "crs": crs}


def appeears_to_grid(paths, grid, start=None, end=None, quality: str = "default") -> xr.Dataset:
    """AppEEARS GeoTIFF layers (LST_Day_1km, NDVI, EVI, sur_refl_b06/b07, with their QC layers when they
    are among ``paths``) -> daily ``lst_day``, ``ndvi``, ``evi``, ``nsdsi`` on ``grid``."""
    paths = [Path(p) for p in paths]
    by_key = {}
    for p in paths:
        m = APPEEARS_RE.match(p.name)
        if m:
            by_key[(_norm(m.group("layer")), m.group("year") + m.group("doy"))] = p
    per_day: dict = {}
    bands: dict = {}
    for p in paths:
        m = APPEEARS_RE.match(p.name)
        if m is None:
            raise fail(p, "AppEEARS MODIS GeoTIFF", "the name is not <product>.<version>_<layer>_doy<YYYYDDD>_aid*.tif")
        layer = m.group("layer")
        if not any(_norm(k) == _norm(layer) for k in LAYERS):
            continue  # a QC layer: used with its data layer
        canon = LAYERS[next(k for k in LAYERS if _norm(k) == _norm(layer))][0]
        qc = by_key.get((_norm(QC_LAYERS[canon]), m.group("year") + m.group("doy")))
        t = read_appeears(p, quality, qc)
        if start is not None and not (pd.Timestamp(start) <= t["date"] <= pd.Timestamp(end)):
            continue
        if canon in ("b06", "b07"):
            bands.setdefault(t["date"], {})[canon] = t
            continue
        per_day.setdefault(t["date"], {}).setdefault(canon, []).append(_to_grid(t["values"], t["transform"],
                                                                               t["crs"], grid))
    for date, b in bands.items():
        if "b06" in b and "b07" in b:
            b6, b7 = b["b06"]["values"], b["b07"]["values"]
            with np.errstate(invalid="ignore", divide="ignore"):
                ns = np.where(b6 > 0, (b6 - b7) / b6, np.nan)
            per_day.setdefault(date, {}).setdefault("nsdsi", []).append(
                _to_grid(ns, b["b06"]["transform"], b["b06"]["crs"], grid))
    ds = _assemble(per_day, grid, start, end)
    ds.attrs["source"] = "MODIS layers from AppEEARS GeoTIFFs, scaled and QC-filtered, reprojected by sampling"
    return ds
