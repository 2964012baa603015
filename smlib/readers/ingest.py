"""The ``source: files`` front end of stage 01: real files -> the canonical inputs (DESIGN.md section 4).

A files study maps canonical products to files (:func:`smlib.study.load` resolves the globs)::

    files:
      stations: {paths: ../ismn/, reader: ismn}
      smap: {paths: [SMAP_L3/SMAP_V8_AM/netcdf/0*.nc, SMAP_L3/SMAP_V8_PM/netcdf/0*.nc], reader: tuw}
      model_era5land: {paths: ERA5_LAND/*/0*.nc, reader: tuw, variables: {ssm: swvl1}}

:func:`write_inputs` picks a reader per product (``reader:`` or detected from the files), puts the
product on its canonical grid (``static``/``modis``: fine; ``glass``: glass; ``smap``: smap; the rest:
coarse), and writes ``<out_dir>/<product>.nc`` through :func:`smlib.io.write_dataset`.

Readers (key -> module): ``ismn`` (:mod:`.ismn`), ``tuw`` (:mod:`.tuw`: time-series cells, placed on
the grid cells that hold stations, or on every cell with ``cells: all``), ``smap_l3``, ``smap_l2``,
``smap_l4`` (:mod:`.smap`), ``gridded`` (:mod:`.gridded`: NetCDF / GeoTIFF / Zarr images),
``modis`` (:mod:`.modis`: HDF4 tiles), ``appeears`` (:mod:`.modis`: AppEEARS GeoTIFFs), ``dem``
(:mod:`.dem`).

Per-product options (besides ``paths``, ``reader``, ``variables``): ``quality`` (``default``,
``retrieved`` for SMAP, ``none``), ``am_pm`` (SMAP: ``am_first``, ``am``, ``pm``, ``mean``),
``cells`` (``stations`` or ``all``), ``max_dist_km`` (how far a cell centre may be from the nearest
time-series location), ``ssm_depth`` / ``rzsm_depth`` (ISMN, metres), ``scale`` (DEM units to m),
``thickness_mm`` (layer thickness for kg m-2 soil water).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, StudyError

#: What each stage reads from the canonical inputs (``required``) and uses when present (``optional``),
#: from DESIGN.md sections 2 and 6 and the stage modules (bandsel, estarfm, drcgan, downscale, mlda,
#: calibrate, validate). ``model_*`` means at least one model product.
STAGE_INPUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "data_prep": {"required": (), "optional": ("static", "modis", "glass", "smap", "amsr2", "ascat", "fy3c",
                                               "model_*", "forcing", "stations")},
    "band_selection": {"required": ("smap", "amsr2", "model_cldas", "static", "modis"),
                       "optional": ("ascat", "fy3c")},
    "fusion_estarfm": {"required": ("modis", "glass"), "optional": ()},
    "fusion_seamless": {"required": ("smap", "model_noah"), "optional": ("static",)},
    "downscaling": {"required": ("model_gleam", "static", "modis"), "optional": ("glass", "stations")},
    "assimilation": {"required": ("forcing", "smap", "model_*", "stations"), "optional": ("ascat", "amsr2")},
    "calibration": {"required": ("stations", "static", "modis", "model_gleam"), "optional": ()},
    "validation": {"required": ("stations",), "optional": ("smap", "amsr2", "ascat", "fy3c", "model_*")},
}
#: Canonical grid of each product (a key of ``study.grids``; ``None`` = points).
PRODUCT_GRID = {"static": "fine", "modis": "fine", "glass": "glass", "smap": "smap", "amsr2": "coarse",
                "ascat": "coarse", "fy3c": "coarse", "forcing": "coarse", "stations": None}
COMMON_KEYS = {"paths", "resolved", "reader", "variables"}
READER_KEYS = {
    "ismn": {"ssm_depth", "rzsm_depth", "min_per_day"},
    "tuw": {"quality", "am_pm", "cells", "max_dist_km"},
    "smap_l3": {"quality", "am_pm"},
    "smap_l2": {"quality"},
    "smap_l4": set(),
    "gridded": {"thickness_mm", "flags"},
    "modis": {"quality"},
    "appeears": {"quality"},
    "dem": {"scale"},
}


def grid_name(product: str) -> str | None:
    """The study grid a product is written on (``model_*``: coarse)."""
    return PRODUCT_GRID.get(product, "coarse")


def required_products(stage: str) -> list[str]:
    """Canonical inputs stage ``stage`` cannot run without (``model_*`` = any model product)."""
    if stage not in STAGE_INPUTS:
        raise StudyError(f"unknown stage {stage!r}; stages: {', '.join(STAGE_INPUTS)}")
    return list(STAGE_INPUTS[stage]["required"])


def stages_needing(product: str) -> list[str]:
    """The stages that require canonical input ``product``."""
    out = []
    for stage, spec in STAGE_INPUTS.items():
        for need in spec["required"]:
            if need == product or (need == "model_*" and product.startswith("model_")):
                out.append(stage)
    return out


def missing_products(available, stages) -> dict[str, list[str]]:
    """``{product: [stages needing it]}`` for the products ``stages`` require but ``available`` lacks."""
    available = set(available)
    missing: dict[str, list[str]] = {}
    for stage in stages:
        for need in required_products(stage):
            ok = any(a.startswith("model_") for a in available) if need == "model_*" else need in available
            if not ok:
                missing.setdefault(need, []).append(stage)
    return missing


def check_products(study, stages=None) -> None:
    """Raise :class:`InputError` naming every product the study's stages need and its ``files`` lacks.

    ``stages``: stage keys to check; default: the stages listed in the study's ``stages:`` section
    (all stages when it has none).
    """
    from ..study import STAGE_KEYS

    stages = list(stages) if stages is not None else (list(study.stages) or list(STAGE_KEYS))
    miss = missing_products(study.files, stages)
    if miss:
        where = study.path or study.name
        parts = [f"'{p}' (needed by {', '.join(s)})" for p, s in miss.items()]
        raise InputError(f"{where}: files: no {'; no '.join(parts)}: add the product under 'files:' "
                         "(see book/own_data.md) or leave those stages out of 'stages:'")


# ------------------------------------------------------------------------------------ reader choice
def detect_reader(product: str, files: list[str]) -> str:
    """The reader for ``files`` of canonical ``product`` when the study does not name one."""
    first = Path(files[0])
    name = first.name.lower()
    if product == "stations" or first.is_dir() or name.endswith(".stm"):
        return "ismn"
    if name.endswith((".h5", ".he5")):
        if "l3_sm_p" in name or "spl3smp" in name:
            return "smap_l3"
        if "l2_sm" in name or "spl2smp" in name:
            return "smap_l2"
        if "l4_sm" in name or "spl4sm" in name:
            return "smap_l4"
        raise InputError(f"{first}: an HDF5 file that is not a SMAP L2/L3/L4 granule by name; set reader: in the "
                         "study file")
    if name.endswith((".hdf", ".hdf.zip")):
        return "modis"
    if name.endswith((".tif", ".tiff")):
        if product == "static":
            return "dem"
        from .modis import APPEEARS_RE

        return "appeears" if APPEEARS_RE.match(first.name) else "gridded"
    if name.endswith((".nc", ".nc4")):
        from .tuw import _open

        try:
            ds = _open(first)
            ds.close()
            return "tuw"
        except InputError:
            return "gridded"
    return "gridded"


def _check_keys(study, product, spec, reader):
    valid = COMMON_KEYS | READER_KEYS.get(reader, set())
    for k in spec:
        if k not in valid:
            raise StudyError(f"{study.path or study.name}: files.{product}.{k}: unknown key for reader {reader!r}; "
                             f"valid keys: {', '.join(sorted(valid))}")


# ------------------------------------------------------------------------------------- products
def _attrs_for(product: str, var: str) -> dict:
    from ..catalog import attrs

    if var == "retrieval_qual_flag":
        return {}
    if product == "ascat" and var == "ssm":
        a = attrs("ssm_pct")
        a["long_name"] = "surface soil moisture, degree of saturation"
        return a
    try:
        return attrs(var)
    except KeyError:
        return {}


def _finish(ds: xr.Dataset, product: str) -> xr.Dataset:
    """float32 data, catalogue attrs, daily time, lat descending."""
    for v in list(ds.data_vars):
        ds[v] = ds[v].astype("float32")
        ds[v].attrs.update(_attrs_for(product, v))
    if "lat" in ds.dims and ds["lat"].size > 1 and ds["lat"].values[0] < ds["lat"].values[-1]:
        ds = ds.isel(lat=slice(None, None, -1))
    if "time" in ds.dims:
        ds = ds.assign_coords(time=pd.DatetimeIndex(ds["time"].values).floor("D").values.astype("datetime64[ns]"))
    return ds


def _station_cells(stations: xr.Dataset | None, grid) -> list[tuple[int, int]]:
    if stations is None:
        return []
    r, c = grid.index_of(stations["lat"].values, stations["lon"].values)
    return sorted({(int(a), int(b)) for a, b in zip(r, c) if a >= 0})


def points_to_cells(paths, grid, cells, study, product: str, variables=None, max_dist_km: float = 50.0,
                    quality: str = "default", am_pm: str = "am_first") -> xr.Dataset:
    """Put TU Wien time-series locations onto grid cells.

    Each cell in ``cells`` (``(row, col)`` pairs, e.g. the cells holding stations) gets the mean of
    the daily series of the locations inside it; a cell without a location inside takes the location
    nearest its centre if that is within ``max_dist_km``. Every other cell is NaN. Returns
    ``(time, lat, lon)`` on ``grid`` with attrs recording the locations used per cell.
    """
    from . import tuw

    locs = tuw.locations(paths).table
    if locs.empty:
        raise InputError(f"{paths[0]}: no valid locations in the time-series cell files")
    llat = locs["lat"].to_numpy()
    llon = locs["lon"].to_numpy()
    rr, cc = grid.index_of(llat, llon)
    picks: list[list[int]] = []
    for (r, c) in cells:
        inside = np.nonzero((rr == r) & (cc == c))[0].tolist()
        if not inside:
            d = tuw.haversine_km(grid.lat[r], grid.lon[c], llat, llon)
            j = int(np.argmin(d))
            inside = [j] if d[j] <= max_dist_km else []
        picks.append(inside)
    used = sorted({j for p in picks for j in p})
    times = study.dates
    if not used:
        raise InputError(f"{paths[0]}: no {product} location within {max_dist_km} km of the {len(cells)} cell(s) "
                         f"to fill (grid {grid.res} deg)")
    series = tuw.read_series(paths, locs.iloc[used].reset_index(drop=True), variables=variables,
                             start=times[0], end=times[-1], product=product, quality=quality, am_pm=am_pm)
    pos = {j: k for k, j in enumerate(used)}
    data = {}
    for v in series.data_vars:
        arr = np.full((len(times), grid.nlat, grid.nlon), np.nan, dtype="float64")
        vals = series[v].values  # (point, time)
        for (r, c), p in zip(cells, picks):
            if not p:
                continue
            block = vals[[pos[j] for j in p]]
            if v == "qc":  # the best (lowest) flag among the cell's locations
                lowest = np.where(np.isfinite(block), block, np.inf).min(0)
                arr[:, r, c] = np.where(np.isfinite(lowest), lowest, np.nan)
            else:
                cnt = np.isfinite(block).sum(0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    arr[:, r, c] = np.where(cnt > 0, np.nansum(block, 0) / np.maximum(cnt, 1), np.nan)
        data[v] = (("time", "lat", "lon"), arr)
    ds = xr.Dataset(data, coords={"time": times.values.astype("datetime64[ns]"), **grid.coords()})
    if "qc" in ds and "ssm" in ds:  # SMAP: canonical qc (0 = kept) beside the raw bit flags
        from .smap import canonical_qc

        ds = canonical_qc(ds, quality)
    ds.attrs["cells_filled"] = "; ".join(
        f"({grid.lat[r]:.3f},{grid.lon[c]:.3f})<-" + ",".join(str(int(locs['location_id'].iloc[j])) for j in p)
        for (r, c), p in zip(cells, picks))
    ds.attrs["placement"] = ("time-series locations averaged per cell (nearest location to the cell centre "
                             f"within {max_dist_km} km where none lies inside); other cells NaN")
    return ds


def read_product(study, product: str, spec: dict, stations: xr.Dataset | None = None) -> xr.Dataset:
    """Read one product of a files study onto its canonical grid (or the stations layout)."""
    files = spec["resolved"]
    reader = spec.get("reader") or detect_reader(product, files)
    if reader not in READER_KEYS:
        raise StudyError(f"{study.path or study.name}: files.{product}.reader: unknown reader {reader!r}; "
                         f"readers: {', '.join(READER_KEYS)}")
    _check_keys(study, product, spec, reader)
    variables = spec.get("variables")
    gname = grid_name(product)
    grid = study.grid(gname) if gname else None
    if reader == "ismn":
        from .ismn import read_stations

        return read_stations(files, study.start, study.end, ssm_depth=tuple(spec.get("ssm_depth", (0.0, 0.10))),
                             rzsm_depth=tuple(spec.get("rzsm_depth", (0.0, 1.0))),
                             min_per_day=int(spec.get("min_per_day", 1)), region=study.region)
    if product == "stations":
        raise StudyError(f"{study.path or study.name}: files.stations: reader {reader!r} cannot make stations; "
                         "use reader: ismn")
    if reader == "tuw":
        mode = spec.get("cells", "stations" if stations is not None else "all")
        if mode == "stations":
            if stations is None:
                raise InputError(f"{study.path or study.name}: files.{product}: cells: stations needs a 'stations' "
                                 "product in the same study")
            cells = _station_cells(stations, grid)
        elif mode == "all":
            cells = [(r, c) for r in range(grid.nlat) for c in range(grid.nlon)]
        else:
            raise StudyError(f"{study.path or study.name}: files.{product}.cells: must be 'stations' or 'all', "
                             f"got {mode!r}")
        return points_to_cells(files, grid, cells, study, product, variables=variables,
                               max_dist_km=float(spec.get("max_dist_km", 50.0)),
                               quality=spec.get("quality", "default"), am_pm=spec.get("am_pm", "am_first"))
    if reader in ("smap_l3", "smap_l2", "smap_l4"):
        from . import smap

        fn = {"smap_l3": smap.l3_to_grid, "smap_l2": smap.l2_to_grid, "smap_l4": smap.l4_to_grid}[reader]
        kw = {k: spec[k] for k in ("quality", "am_pm") if k in spec and reader != "smap_l4"}
        if reader == "smap_l2":
            kw.pop("am_pm", None)
        return fn(files, grid, start=study.start, end=study.end, **kw)
    if reader == "gridded":
        from .gridded import read_to_grid

        if not variables:
            raise StudyError(f"{study.path or study.name}: files.{product}.variables: the gridded reader needs a "
                             "mapping such as {ssm: {name: sm, units: m3 m-3}}")
        return read_to_grid(files, grid, variables, start=study.start, end=study.end,
                            thickness_mm=spec.get("thickness_mm"), flags=spec.get("flags"),
                            product=product)
    if reader in ("modis", "appeears"):
        from . import modis

        fn = modis.hdf_to_grid if reader == "modis" else modis.appeears_to_grid
        return fn(files, grid, start=study.start, end=study.end, quality=spec.get("quality", "default"))
    if reader == "dem":
        from .dem import read_dem

        return read_dem(files, grid, scale=float(spec.get("scale", 1.0)))
    raise StudyError(f"files.{product}: no reader {reader!r}")  # unreachable: readers checked above


def write_inputs(study, out_dir, stages=None, products=None) -> list[Path]:
    """Write the canonical inputs of a ``source: files`` study into ``out_dir`` and return their paths.

    Checks first that every product the study's stages need is mapped (:func:`check_products`; the
    error names the product and the stages). ``stations`` is read first: ``tuw`` products are placed
    on the cells that hold stations. ``products`` restricts the products written.
    """
    from ..io import write_dataset

    if study.source != "files":
        raise StudyError(f"{study.path or study.name}: write_inputs reads real files; this study has "
                         f"source: {study.source}")
    check_products(study, stages)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(study.files)
    if products is not None:
        names = [p for p in names if p in set(products)]
    order = sorted(names, key=lambda p: (p != "stations", p))
    stations = None
    written = []
    for product in order:
        spec = study.files[product]
        ds = read_product(study, product, spec, stations=stations)
        if product == "stations":
            stations = ds
        else:
            ds = _finish(ds, product)
        params = {k: v for k, v in spec.items() if k != "resolved"}
        params["files"] = [str(f) for f in spec["resolved"]]
        ds.attrs.setdefault("source_files", "; ".join(Path(f).name for f in spec["resolved"][:20]))
        written.append(write_dataset(ds, out_dir / f"{product}.nc", study=study.name, params=params))
    return written
