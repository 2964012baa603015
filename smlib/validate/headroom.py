"""How far can a map correction go at stations? Oracle fields built from the synthetic truth.

A station reads the truth at its pixel plus a point-scale representativeness error and a sensor bias
of its own (DESIGN.md section 5). Scoring fields made partly or wholly of the truth against the
stations tells how much of a product's station error any correction of the *map* can remove, and
which part of the map (its coarse-cell mean or its 1-km detail) the remaining error lives in:

- ``truth (1 km)``: the perfect map; what remains is the stations' own error, a floor;
- ``truth cell mean``: the truth averaged over each coarse cell, no 1-km detail;
- ``<source> detail + truth cell mean``: the product's own 1-km detail (product minus its coarse-cell
  mean) on the perfect coarse field: a correction that fixes everything at the coarse scale (bias,
  timing, amplitude; what gridded references and a few stations can teach) and keeps the detail;
- ``truth detail + <source> cell mean``: the perfect 1-km detail on the product's coarse field;
- the same two with the regional mean bias of the composite removed (``, bias removed``), since
  mean-bias removal is the cheapest correction of all.

These read the truth, so they live in validation (DESIGN.md section 5: truth is read only by
validation). Cell means follow :func:`smlib.grid.cell_mean_anomaly` (NaN-aware block means on the
study's coarse grid, replicated back to 1 km).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError

#: Columns of :func:`station_headroom`'s table.
HEADROOM_COLUMNS = ("field", "stations", "r", "bias", "rmse", "ubrmse")


def _coarse_grid(run_dir, truth: xr.DataArray, coarse_res: float | None):
    from ..grid import Grid, grid_of
    from .truth import _coarse_res

    gt = grid_of(truth)
    return Grid(res=_coarse_res(run_dir, coarse_res), west=gt.west, east=gt.east, south=gt.south, north=gt.north)


def split_scales(da: xr.DataArray, coarse) -> tuple[xr.DataArray, xr.DataArray]:
    """``(cell_mean, detail)`` of a 1-km field: the mean of its coarse cell replicated to 1 km and the
    remainder (m3/m3), so that ``cell_mean + detail == da`` wherever ``da`` is present."""
    from ..grid import block_mean, replicate

    cm = replicate(block_mean(da, coarse), da["lat"].values, da["lon"].values)
    return cm, da - cm


def station_headroom(run_dir: str | os.PathLike, source: xr.DataArray, var: str = "ssm", name: str = "source",
                     stations: xr.Dataset | None = None, truth: xr.DataArray | None = None,
                     min_days: int = 30, coarse_res: float | None = None) -> pd.DataFrame:
    """Median station scores of ``source`` and of the oracle fields of this module's docstring.

    ``source``: a 1-km ``(time, lat, lon)`` product on the truth's grid, m3/m3; ``var``: ``ssm`` or
    ``rzsm``; ``name`` labels its rows. Stations are matched to their pixel (nearest); a station needs
    ``min_days`` paired days. The coarse grid is the study's ``grids.coarse`` (else ``coarse_res``,
    else 0.25 deg). Returns a DataFrame with :data:`HEADROOM_COLUMNS` (``stations`` = stations scored;
    the metrics are medians over stations of each station's value; bias = field minus station).
    """
    from ..grid import grid_of
    from .match import read_stations, score_stations
    from .truth import read_truth

    if truth is None:
        truth = read_truth(run_dir, [var])[var]
    if stations is None:
        stations = read_stations(run_dir)
    gs, gt = grid_of(source), grid_of(truth)
    if abs(gs.res - gt.res) > 1e-6 * gt.res or source.sizes["lat"] != truth.sizes["lat"] \
            or source.sizes["lon"] != truth.sizes["lon"]:
        raise DataError(f"station_headroom needs the product on the truth's grid ({gt.res} deg, "
                        f"{truth.sizes['lat']} x {truth.sizes['lon']}); got {gs.res} deg, "
                        f"{source.sizes['lat']} x {source.sizes['lon']}")
    source, truth = xr.align(source.astype("float64"), truth.astype("float64"), join="inner", exclude=("lat", "lon"))
    if source.sizes.get("time", 0) == 0:
        raise DataError("product and truth share no dates")
    truth = truth.assign_coords(lat=source["lat"].values, lon=source["lon"].values)
    both = np.isfinite(source) & np.isfinite(truth)
    source, truth = source.where(both), truth.where(both)
    coarse = _coarse_grid(run_dir, truth, coarse_res)
    s_cm, s_det = split_scales(source, coarse)
    t_cm, t_det = split_scales(truth, coarse)
    fields = {name: source, "truth (1 km)": truth, "truth cell mean": t_cm,
              f"{name} detail + truth cell mean": s_det + t_cm,
              f"truth detail + {name} cell mean": t_det + s_cm}
    rows = []
    for label, da in fields.items():
        df = score_stations(run_dir, da, var=var, min_days=min_days, stations=stations)
        rows.append(_median_row(label, df))
        if label.endswith("cell mean") and "+" in label:
            bias = float(df["bias"].mean()) if len(df) else 0.0
            df = score_stations(run_dir, da - bias, var=var, min_days=min_days, stations=stations)
            rows.append(_median_row(f"{label}, bias removed", df))
    return pd.DataFrame(rows, columns=list(HEADROOM_COLUMNS))


def _median_row(label: str, df: pd.DataFrame) -> dict:
    med = df[["r", "bias", "rmse", "ubrmse"]].median() if len(df) else pd.Series(np.nan, ["r", "bias", "rmse", "ubrmse"])
    return {"field": label, "stations": int(len(df)), **{k: float(med[k]) for k in ("r", "bias", "rmse", "ubrmse")}}


def score_maps(run_dir: str | os.PathLike, maps: dict, layers=("ssm", "rzsm"), far: xr.DataArray | None = None,
               far_km: float | None = None) -> pd.DataFrame:
    """Score 1-km maps (name -> Dataset holding ``layers``) against the truth with
    :func:`smlib.validate.score_truth`: pooled over all pixel-days (``truth``), over the pixels where the
    boolean ``(lat, lon)`` mask ``far`` is true (``truth_far``: e.g. farther than ``far_km`` km from every
    station; skipped when ``far`` is None) and on the 1-km detail (``truth_fine``). Returns a long table
    ``method, layer, reference, n, r, bias, rmse, ubrmse, mae`` (m3/m3)."""
    from .truth import read_truth, score_truth

    rows = []
    for layer in layers:
        tr = read_truth(run_dir, layer)[layer]
        for name, ds in maps.items():
            cases = [("truth", ds[layer], False), ("truth_fine", ds[layer], True)]
            if far is not None:
                cases.insert(1, ("truth_far", ds[layer].where(far), False))
            for ref, da, fine in cases:
                s = score_truth(run_dir, da, var=layer, fine_detail=fine, truth=tr)
                rows.append({"method": name, "layer": layer, "reference": ref, **s})
    out = pd.DataFrame(rows)
    if far_km is not None:
        out.attrs["far_km"] = float(far_km)
    return out


def calibration_text(layer: str, source: str, station_rmse: float, truth_tab: pd.DataFrame | None = None,
                     headroom: pd.DataFrame | None = None, method: str = "cnn_transfer", far_km: float = 5.0) -> str:
    """Sentences on one layer of a station calibration for its chapter summary: where the oracle fields of
    :func:`station_headroom` put the limits (``station_rmse``: the source's held-out median station RMSE,
    m3/m3) and how ``method``'s map scores against the truth (:func:`score_maps`'s table)."""
    out = []
    if headroom is not None and len(headroom):
        h = headroom.set_index("field")["rmse"]
        coarse_fix = h[f"{source} detail + truth cell mean"]
        fine_fix = h[f"truth detail + {source} cell mean, bias removed"]
        out.append(f"A perfect map scores {h['truth (1 km)']:.3f} at the stations; the source's own 1-km detail on "
                   f"the perfect coarse-cell field {coarse_fix:.3f} ({100 * (coarse_fix / station_rmse - 1):+.0f}%), "
                   f"the perfect 1-km detail on the source's coarse field with its bias removed {fine_fix:.3f} "
                   f"({100 * (fine_fix / station_rmse - 1):+.0f}%).")
    if truth_tab is not None and len(truth_tab):
        def t(m, ref):
            sel = (truth_tab["method"] == m) & (truth_tab["layer"] == layer) & (truth_tab["reference"] == ref)
            return float(truth_tab.loc[sel, "rmse"].iloc[0]) if sel.any() else float("nan")
        out.append(f"Against the truth the RMSE goes from {t(source, 'truth'):.3f} to {t(method, 'truth'):.3f} m3/m3 "
                   f"everywhere and from {t(source, 'truth_far'):.3f} to {t(method, 'truth_far'):.3f} more than "
                   f"{far_km:g} km from any station (`mean_bias` {t('mean_bias', 'truth'):.3f}, the CNN without "
                   f"transfer {t('cnn_scratch', 'truth'):.3f}); on the 1-km detail (`truth_fine`) from "
                   f"{t(source, 'truth_fine'):.3f} to {t(method, 'truth_fine'):.3f}.")
        tt = truth_tab[(truth_tab["layer"] == layer) & (truth_tab["reference"] == "truth")].set_index("method")
        if len(tt.drop(index=source, errors="ignore")):
            out.append(f"Lowest RMSE against the truth: `{tt.drop(index=source, errors='ignore')['rmse'].idxmin()}`.")
    return " ".join(out)
