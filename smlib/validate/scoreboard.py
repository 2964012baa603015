"""The scoreboard: one row per product x layer x reference (DESIGN.md section 7, a contract).

``build(run_dir)`` scores whatever exists in a run and writes ``<run_dir>/scoreboard.csv`` with the
columns ``product, layer, reference, n, r, bias, rmse, ubrmse, mae``:

- products: the inputs ``smap``, ``amsr2``, ``ascat``, ``fy3c`` (``ssm``) and every
  ``model_<name>`` (``ssm`` and ``rzsm``), then every ``products/<name>.nc`` (``ssm`` -> surface,
  ``rzsm`` -> rootzone); a ``products/<name>_stations.nc`` (dims station, time, from
  cross-validation) replaces the gridded product for the ``stations`` reference;
- references: ``truth`` (synthetic studies only; pooled pixel-days at the product's own grid),
  ``truth_fine`` (synthetic, 1-km products only; anomalies from 0.25-deg cell means) and
  ``stations`` (median of per-station metrics over stations with >= 30 paired days; n = stations).

Rules stated here once:

- SMAP-like retrievals are used where ``qc == 0`` (recommended quality) when ``qc`` is present;
- a variable not in m3/m3 (ASCAT-like ``ssm`` in % of saturation) gets only ``n`` and ``r``:
  its bias, rmse, ubrmse and mae are NaN, because a difference between % saturation and m3/m3
  has no meaning without a porosity the validation does not have for every product and station
  (correlation is unaffected by the linear scale). With ``percent="meanstd"`` it is instead
  rescaled per pixel / station to the reference's mean and standard deviation over the paired
  days (then bias is 0 by construction and ubRMSE measures only the timing of the anomalies).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, InputError
from .match import LAYERS, MIN_DAYS, at_stations, by_landcover, read_stations, score_stations, summarize_stations
from .truth import has_truth, read_truth, score_truth

#: exact scoreboard columns (contract)
COLUMNS = ["product", "layer", "reference", "n", "r", "bias", "rmse", "ubrmse", "mae"]
#: product names of DESIGN.md section 7, in scoreboard order
PRODUCT_ORDER = ["smap", "amsr2", "ascat", "fy3c", "bilinear", "lightgbm", "nn", "lightgbm_calibrated", "drcgan",
                 "mlda_openloop", "mlda", "tcr_merged"]
SATELLITE_INPUTS = ("smap", "amsr2", "ascat", "fy3c")
REFERENCES = ("truth", "truth_fine", "stations")
#: units treated as volumetric soil moisture
SM_UNITS = ("m3/m3", "m3 m-3", "m^3/m^3", "m3m-3", "cm3/cm3", "1")


def _sort_key(name: str) -> tuple:
    if name in PRODUCT_ORDER:
        return (PRODUCT_ORDER.index(name) if PRODUCT_ORDER.index(name) < 4 else 10 + PRODUCT_ORDER.index(name), name)
    if name.startswith("model_"):
        return (5, name)
    return (100, name)  # other inputs and method outputs not named in DESIGN.md, alphabetically


def is_volumetric(da: xr.DataArray) -> bool:
    """True when ``da`` is volumetric soil moisture (units m3/m3 or no units given)."""
    u = str(da.attrs.get("units", "m3/m3")).strip()
    return u in SM_UNITS or u == ""


def rescale_meanstd(x: xr.DataArray, ref: xr.DataArray, dim="time") -> xr.DataArray:
    """Linear (mean / standard deviation) rescaling of ``x`` to ``ref`` over their paired samples
    along ``dim``: ``(x - mean x) * sd(ref) / sd(x) + mean(ref)`` (Gruber et al. 2020, the usual
    rescaling before comparing products in different units)."""
    x, ref = xr.align(x, ref, join="inner")
    both = np.isfinite(x) & np.isfinite(ref)
    xs, rs = x.where(both), ref.where(both)
    sx = xs.std(dim)
    return (x - xs.mean(dim)) * rs.std(dim) / sx.where(sx > 0) + rs.mean(dim)


def gridded_items(run_dir) -> list[dict]:
    """Every scoreable (product, layer) of a run: ``{"product", "layer", "var", "source", "path"}``
    with ``source`` ``inputs`` or ``products``; ``station_path`` when a ``_stations`` file exists."""
    from ..io import inputs_dir, products_dir

    run_dir = Path(run_dir)
    items = []
    cands = [(n, inputs_dir(run_dir) / f"{n}.nc", "inputs") for n in SATELLITE_INPUTS]
    cands += [(p.stem, p, "inputs") for p in sorted(inputs_dir(run_dir).glob("model_*.nc"))]
    # any other input holding soil moisture (e.g. esacci in a files study), never the truth or stations
    cands += [(p.stem, p, "inputs") for p in sorted(inputs_dir(run_dir).glob("*.nc"))
              if p.stem not in SATELLITE_INPUTS + ("truth", "stations") and not p.stem.startswith("model_")]
    prod = sorted(p for p in products_dir(run_dir).glob("*.nc") if not p.stem.endswith("_stations"))
    cands += [(p.stem, p, "products") for p in prod]
    stn_only = sorted(p for p in products_dir(run_dir).glob("*_stations.nc")
                      if not (products_dir(run_dir) / f"{p.stem[:-len('_stations')]}.nc").exists())
    names = set()
    for name, path, source in cands:
        if not path.exists():
            continue
        with xr.open_dataset(path) as ds:
            present = [v for v in LAYERS if v in ds.data_vars]
        for v in present:
            st = products_dir(run_dir) / f"{name}_stations.nc"
            items.append({"product": name, "layer": LAYERS[v], "var": v, "source": source, "path": path,
                          "station_path": st if st.exists() else None})
        names.add(name)
    for p in stn_only:
        name = p.stem[:-len("_stations")]
        with xr.open_dataset(p) as ds:
            present = [v for v in LAYERS if v in ds.data_vars]
        for v in present:
            items.append({"product": name, "layer": LAYERS[v], "var": v, "source": "products", "path": None,
                          "station_path": p})
    return sorted(items, key=lambda it: (_sort_key(it["product"]), it["layer"] != "surface"))


def _load_var(path: Path, var: str, use_qc: bool) -> xr.DataArray:
    from ..io import open_dataset

    ds = open_dataset(path, what=f"soil moisture variable {var}")
    da = ds[var]
    if use_qc and "qc" in ds.data_vars and set(ds["qc"].dims) == set(da.dims):
        da = da.where(ds["qc"] == 0)
    return da


def _na_metrics(m: dict, keep=("n", "r")) -> dict:
    return {k: (v if k in keep else float("nan")) for k, v in m.items()}


def score_item(run_dir, item: dict, truth: dict, stations: xr.Dataset | None, min_days: int = MIN_DAYS,
               method: str = "nearest", use_qc: bool = True, percent: str = "r_only") -> tuple[list, pd.DataFrame]:
    """Scoreboard rows (dicts) and the per-station table of one (product, layer)."""
    from ..grid import grid_of

    rows, stn = [], pd.DataFrame()
    var = item["var"]
    da = _load_var(item["path"], var, use_qc) if item["path"] is not None else None
    base = {"product": item["product"], "layer": item["layer"]}
    vol = is_volumetric(da) if da is not None else True
    if da is not None and var in truth:
        t = truth[var]
        if percent == "meanstd" and not vol:
            from .truth import truth_on_grid

            tg = truth_on_grid(t, da)
            da_t = rescale_meanstd(da, tg)
        else:
            da_t = da
        m = score_truth(run_dir, da_t, var=var, truth=t)
        rows.append({**base, "reference": "truth", **(m if vol or percent == "meanstd" else _na_metrics(m))})
        if item["source"] == "products" and abs(grid_of(da).res - grid_of(t).res) <= 1e-6 * grid_of(t).res:
            m = score_truth(run_dir, da_t, var=var, fine_detail=True, truth=t)
            rows.append({**base, "reference": "truth_fine",
                         **(m if vol or percent == "meanstd" else _na_metrics(m))})
    if stations is not None and var in stations.data_vars:
        if item["station_path"] is not None:
            src = _load_var(item["station_path"], var, use_qc)
            vol_s = is_volumetric(src)
        else:
            src, vol_s = da, vol
        if not vol_s and percent == "meanstd":
            pts = at_stations(src, stations, method=method)
            src = rescale_meanstd(pts, stations[var].sel(station=pts["station"].values))
        stn = score_stations(run_dir, src, var=var, min_days=min_days, method=method, stations=stations)
        if not vol_s and percent != "meanstd":
            for k in ("bias", "rmse", "ubrmse", "mae"):
                stn[k] = np.nan
        rows.append({**base, "reference": "stations", **summarize_stations(stn)})
        stn.insert(0, "layer", item["layer"])
        stn.insert(0, "product", item["product"])
    return rows, stn


def build_details(run_dir: str | os.PathLike, min_days: int = MIN_DAYS, method: str = "nearest",
                  use_qc: bool = True, percent: str = "r_only") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score everything in a run; returns ``(scoreboard, per-station table)`` without writing.
    A product that cannot be scored (a grid finer than the truth, no station inside its grid...) is
    left out with a one-line reason in ``scoreboard.attrs["notes"]``."""
    if method not in ("nearest", "bilinear"):
        raise DataError(f"method: must be 'nearest' or 'bilinear', got {method!r}")
    if percent not in ("r_only", "meanstd"):
        raise DataError(f"percent: must be 'r_only' or 'meanstd', got {percent!r}")
    run_dir = Path(run_dir)
    truth = {}
    if has_truth(run_dir):
        t = read_truth(run_dir)
        truth = {v: t[v] for v in LAYERS if v in t.data_vars}
    stations = read_stations(run_dir) if (run_dir / "inputs" / "stations.nc").exists() else None
    rows, tables, notes = [], [], []
    for item in gridded_items(run_dir):
        try:
            r, s = score_item(run_dir, item, truth, stations, min_days, method, use_qc, percent)
        except (DataError, InputError) as exc:  # one unusable product must not sink the scoreboard
            notes.append(f"{item['product']} ({item['layer']}) not scored: {exc}")
            continue
        rows.extend(r)
        if not s.empty:
            tables.append(s)
    board = pd.DataFrame(rows, columns=COLUMNS)
    board.attrs["notes"] = notes
    if not board.empty:
        board["n"] = board["n"].astype("int64")
    stn = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["product", "layer", "station", "lat", "lon", "landcover", "n", "r", "bias", "rmse", "ubrmse",
                 "mae"])
    return board, stn


def build(run_dir: str | os.PathLike, min_days: int = MIN_DAYS, method: str = "nearest", use_qc: bool = True,
          percent: str = "r_only") -> pd.DataFrame:
    """Build the scoreboard of a run from whatever exists and write ``<run_dir>/scoreboard.csv``
    (and the per-station metrics to ``<run_dir>/tables/08_stations.csv``, the land-cover medians to
    ``tables/08_stations_by_landcover.csv``). Returns the scoreboard DataFrame with exactly the
    columns :data:`COLUMNS` (empty with those columns when nothing can be scored)."""
    board, stn = build_details(run_dir, min_days=min_days, method=method, use_qc=use_qc, percent=percent)
    write(run_dir, board, stn)
    return board


def write(run_dir: str | os.PathLike, board: pd.DataFrame, stn: pd.DataFrame) -> Path:
    """Write a scoreboard and its per-station table (see :func:`build`); returns the scoreboard path.
    Raises :class:`~smlib.errors.DataError` if ``board`` lacks the contract's columns."""
    from ..io import write_table

    if list(board.columns) != COLUMNS:
        raise DataError(f"scoreboard: columns must be exactly {', '.join(COLUMNS)}, got {', '.join(board.columns)}")
    run_dir = Path(run_dir)
    path = write_table(board, run_dir / "scoreboard.csv")
    write_table(stn, run_dir / "tables" / "08_stations.csv")
    write_table(by_landcover(stn, group=["product", "layer", "landcover"]),
                run_dir / "tables" / "08_stations_by_landcover.csv")
    return path
