"""Band and auxiliary-variable selection for NN soil-moisture retrieval (seed 003, Tables 3-5).

Zhao et al. (2021) Remote Sens. 13, 1583 ("Lv et al." on the journal page), sections 2.1.5, 2.2.2, 3.1, 3.2:
every candidate input set is fed to the one-hidden-layer Levenberg-Marquardt network of
:mod:`smlib.nn`, trained against the model soil moisture (``cldas``) at 0.25 deg, and scored against it
with four indices: spatial correlation (per day, mean over days with p < 0.05), temporal correlation
(per pixel, mean of the map), RMSE and MAE (per pixel, mean of the maps).

Features on the 0.25-deg grid (:func:`coarse_features`), resampled as in section 2.1.5 where our
grids differ from the paper's:

- SMAP TBV/TBH ascending/descending (0.36 deg): **bilinear** to the 0.25-deg cell centres
  (:func:`smlib.grid.bilinear`);
- AMSR2 TBV/TBH at 6.9 (``c1``), 7.3 (``c2``) and 10.7 GHz (``x``), FY3C 10.7 GHz, ASCAT ``sig40``: already
  on the 0.25-deg grid (bilinear when their cell centres differ);
- MPDI per band and orbit (:func:`mpdi`), ASCAT BTI (:func:`bti`);
- MODIS LST, NDVI, EVI, NSDSI (1 km, cloud gaps) and DEM, SLOPE: **block-mean aggregation**
  (:func:`smlib.grid.block_mean`); cloudy cells (fewer than ``min_valid`` of their pixels clear)
  are left out and the daily series is filled by linear interpolation in time over gaps of at most
  ``max_gap_days`` (16-day composites and 8-day NSDSI are held between their dates the same way).

The selection made here is written to ``<run_dir>/tables/band_selection_selected.csv``
(:func:`write_selection`) and read by stage 05 (:func:`read_selection`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from . import grid as _grid
from . import io as _io
from .errors import DataError, InputError

#: Passive-microwave bands: feature key -> (sensor, frequency label GHz)
SMAP_BANDS = {"l": 1.41}
AMSR2_BANDS = {"c1": 6.9, "c2": 7.3, "x": 10.7}
FY3C_BANDS = {"x": 10.7}
ORBITS = {"asc": "A", "des": "D"}
#: Auxiliary variables: feature name -> (source product, variable)
AUXILIARY = {"lst": ("modis", "lst_day"), "ndvi": ("modis", "ndvi"), "evi": ("modis", "evi"),
             "nsdsi": ("modis", "nsdsi"), "dem": ("static", "dem"), "slope": ("static", "slope")}
SELECTION_TABLE = "band_selection_selected.csv"
CRITERIA = ("balanced", "spatial", "temporal", "rmse", "mae")
METRICS = ("rho_spatial", "rho_temporal", "rmse", "mae")


# ------------------------------------------------------------------------------------------ indices
def mpdi(tbv, tbh):
    """Microwave polarization difference index ``(Tbv - Tbh) / (Tbv + Tbh)`` (unitless).

    Brightness temperatures in K. Reference: Zhao et al. (2021) section 2.1.5, after Ghulam et al. (2007).
    """
    return (tbv - tbh) / (tbv + tbh)


def bti(sig40, dim: str = "time"):
    """Backscatter temporal index: ``sig40`` renormalised per pixel to [0, 1] over its own time series.

    ``(s - min_t s) / (max_t s - min_t s)`` with ``s`` in dB; the highest backscatter of a pixel's
    series becomes 1 and the lowest 0 (NaN where the series is constant). Reference: Zhao et al.
    (2021) section 2.1.5, after Kolassa et al. (2016).
    """
    lo = sig40.min(dim)
    hi = sig40.max(dim)
    rng = hi - lo
    return (sig40 - lo) / rng.where(rng > 0)


# ------------------------------------------------------------------------------------------ metrics
def _pearson_along(x: np.ndarray, y: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and the number of jointly finite pairs along ``axis`` (NaN where fewer than 3 pairs)."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(ok, x, 0.0).sum(axis=axis, keepdims=True) / np.expand_dims(n, axis)
        my = np.where(ok, y, 0.0).sum(axis=axis, keepdims=True) / np.expand_dims(n, axis)
        dx = np.where(ok, x - mx, 0.0)
        dy = np.where(ok, y - my, 0.0)
        r = (dx * dy).sum(axis=axis) / np.sqrt((dx * dx).sum(axis=axis) * (dy * dy).sum(axis=axis))
    return np.where(n >= 3, r, np.nan), n


def quality_indices(pred: xr.DataArray, ref: xr.DataArray, min_days: int = 10, alpha: float = 0.05) -> dict:
    """The paper's four quality indices of ``pred`` against ``ref`` (Zhao et al. 2021, section 2.2.2):

    ``rho_spatial``: Pearson r over the pixels of each day, mean over the days with p < ``alpha``
    (two-sided t-test, n-2 degrees of freedom); ``rho_temporal``: Pearson r over time at each pixel, mean
    of the map; ``rmse`` and ``mae`` (m3/m3): per pixel over time, mean of the maps. Pixels with fewer than
    ``min_days`` paired days are left out of the three per-pixel indices. The definitions are those of
    :func:`smlib.validate.spatial_correlation`, :func:`smlib.validate.temporal_correlation` and
    :func:`smlib.validate.pairwise` (a test checks they agree); this NumPy version is ~50 times faster on
    the small 0.25-deg cubes that the selection tables score hundreds of times.
    """
    from scipy import stats

    p_, r_ = xr.align(pred, ref, join="inner")
    a = p_.transpose("time", "lat", "lon").values.astype(float)
    b = r_.transpose("time", "lat", "lon").values.astype(float)
    nt = a.shape[0]
    rd, nd = _pearson_along(a.reshape(nt, -1), b.reshape(nt, -1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = rd * np.sqrt((nd - 2) / np.clip(1.0 - rd * rd, 1e-300, None))
        pval = 2.0 * stats.t.sf(np.abs(t), np.maximum(nd - 2, 1))
    sig = np.isfinite(rd) & (pval < alpha)
    rt, nt_ = _pearson_along(a, b, axis=0)
    keep = nt_ >= max(int(min_days), 1)
    d = a - b
    ok = np.isfinite(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(np.where(ok, d * d, 0.0).sum(0) / nt_)
        mae = np.where(ok, np.abs(d), 0.0).sum(0) / nt_

    def mean(m):
        m = m[keep & np.isfinite(m)]
        return float(m.mean()) if m.size else float("nan")

    return {"rho_spatial": float(rd[sig].mean()) if sig.any() else float("nan"), "rho_temporal": mean(rt),
            "rmse": mean(rmse), "mae": mean(mae)}


# ------------------------------------------------------------------------------------------ features
def to_grid(da: xr.DataArray, coarse: _grid.Grid, method: str = "bilinear") -> xr.DataArray:
    """Bring a coarse field onto the ``coarse`` grid (identity when the centres already match)."""
    lat, lon = coarse.lat, coarse.lon
    if da.sizes["lat"] == lat.size and da.sizes["lon"] == lon.size and \
            np.allclose(da["lat"].values, lat, atol=1e-6) and np.allclose(da["lon"].values, lon, atol=1e-6):
        return da.assign_coords(lat=lat, lon=lon)
    if method == "bilinear":
        return _grid.bilinear(da, lat, lon)
    if method == "idw":
        return _grid.idw(da, lat, lon)
    if method == "block_mean":
        return _grid.block_mean(da, coarse)
    raise DataError(f"resampling method must be bilinear, idw or block_mean, got {method!r}")


def fill_time_gaps(da: xr.DataArray, max_gap_days: int = 16) -> xr.DataArray:
    """Fill NaN days of each pixel by linear interpolation in time over gaps of at most ``max_gap_days``
    missing days, and hold the first/last valid value outwards for at most ``max_gap_days`` days.

    Vectorised over pixels (previous/next valid day found by cumulative maxima); daily steps assumed.
    """
    if max_gap_days <= 0 or "time" not in da.dims:
        return da
    other = [d for d in da.dims if d != "time"]
    arr = da.transpose("time", *other).values
    nt = arr.shape[0]
    flat = arr.reshape(nt, -1).astype("float64")
    valid = np.isfinite(flat)
    t = np.arange(nt)[:, None]
    prev = np.maximum.accumulate(np.where(valid, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, t, nt)[::-1], axis=0)[::-1]
    has_p, has_n = prev >= 0, nxt < nt
    cols = np.arange(flat.shape[1])[None, :]
    vp = flat[np.clip(prev, 0, nt - 1), cols]
    vn = flat[np.clip(nxt, 0, nt - 1), cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (t - prev) / np.maximum(nxt - prev, 1)
    interp = np.where(has_p & has_n & (nxt - prev - 1 <= max_gap_days), vp + w * (vn - vp), np.nan)
    hold_f = np.where(has_p & ~has_n & (t - prev <= max_gap_days), vp, np.nan)
    hold_b = np.where(~has_p & has_n & (nxt - t <= max_gap_days), vn, np.nan)
    filled = np.where(valid, flat, np.fmax(np.fmax(interp, hold_f), hold_b))
    out = da.transpose("time", *other).copy(data=filled.reshape(arr.shape).astype(arr.dtype))
    return out.transpose(*da.dims)


def fill_microwave(features: xr.Dataset, max_gap_days: int) -> xr.Dataset:
    """``features`` with every microwave input (``smap_*``, ``amsr2_*``, ``fy3c_*``, ``ascat_*``) gap-filled in
    time over at most ``max_gap_days`` days (:func:`fill_time_gaps`); auxiliaries unchanged.

    Our extension, not the paper's: a network needs all its inputs on a day, and the swaths of three
    sensors rarely coincide, so applying it to inputs carried over a revisit gap (1-3 days) turns a
    product covering a fifth of the days into a near-daily one. Training still uses observed inputs only.
    """
    out = features.copy()
    for v in features.data_vars:
        if v.split("_")[0] in ("smap", "amsr2", "fy3c", "ascat") and "time" in features[v].dims:
            out[v] = fill_time_gaps(features[v], max_gap_days)
    return out


def microwave_features(run_dir, coarse: _grid.Grid, smap_resampling: str = "bilinear",
                       include_fy3c: bool = True) -> xr.Dataset:
    """All candidate microwave inputs on the 0.25-deg grid: TBV, TBH and MPDI per sensor, band and orbit;
    ASCAT sig40 and BTI. Names: ``<sensor>_<tbv|tbh|mpdi>_<band>_<asc|des>``, ``ascat_sig40``, ``ascat_bti``.
    Brightness temperatures in K, sig40 in dB, MPDI and BTI unitless."""
    out = {}
    smap = _io.read_input(run_dir, "smap")
    amsr2 = _io.read_input(run_dir, "amsr2")
    sources = [("smap", smap, SMAP_BANDS, smap_resampling), ("amsr2", amsr2, AMSR2_BANDS, "bilinear")]
    if include_fy3c and _io.has_input(run_dir, "fy3c"):
        sources.append(("fy3c", _io.read_input(run_dir, "fy3c"), FY3C_BANDS, "idw"))
    for sensor, ds, bands, method in sources:
        for band in bands:
            for orbit in ORBITS:
                for suffix in ([f"_{band}_{orbit}", f"_{orbit}"] if sensor == "smap" else
                               [f"_{band}_{orbit}", f"_{band}"]):
                    v, h = f"tbv{suffix}", f"tbh{suffix}"
                    if v in ds and h in ds:
                        break
                else:
                    continue
                if suffix == f"_{band}" and orbit == "des":
                    continue  # a product without orbits: one set, labelled ascending
                tv = to_grid(ds[v].astype("float32"), coarse, method)
                th = to_grid(ds[h].astype("float32"), coarse, method)
                out[f"{sensor}_tbv_{band}_{orbit}"] = tv
                out[f"{sensor}_tbh_{band}_{orbit}"] = th
                out[f"{sensor}_mpdi_{band}_{orbit}"] = mpdi(tv, th)
    if not any(k.startswith("smap_") for k in out) and not any(k.startswith("amsr2_") for k in out):
        raise InputError(f"{run_dir}: smap.nc / amsr2.nc hold none of the brightness temperatures "
                         "tbv_asc, tbh_asc, tbv_c1_asc... that band selection needs")
    if _io.has_input(run_dir, "ascat"):
        sig = to_grid(_io.read_input(run_dir, "ascat", ["sig40"])["sig40"].astype("float32"), coarse, "idw")
        out["ascat_sig40"] = sig
        out["ascat_bti"] = bti(sig)
    ds = xr.Dataset({k: v.drop_vars([c for c in v.coords if c not in ("time", "lat", "lon")])
                     for k, v in out.items()})
    return ds


def auxiliary_coarse(run_dir, coarse: _grid.Grid, min_valid: float = 0.5, max_gap_days: int = 16,
                     variables=None) -> xr.Dataset:
    """LST, NDVI, EVI, NSDSI (MODIS, 1 km, gappy) and DEM, SLOPE aggregated to the 0.25-deg grid by block mean.

    Cells with fewer than ``min_valid`` of their fine pixels clear are dropped for that day, then each cell's
    series is gap-filled in time over at most ``max_gap_days`` days (:func:`fill_time_gaps`).
    """
    names = list(variables or AUXILIARY)
    out = {}
    modis = None
    static = None
    for name in names:
        src, var = AUXILIARY[name]
        if src == "modis":
            if modis is None:
                modis = _io.read_input(run_dir, "modis")
            if var not in modis:
                continue
            agg = _grid.block_mean(modis[var].astype("float32"), coarse, min_valid=min_valid)
            out[name] = fill_time_gaps(agg, max_gap_days)
        else:
            if static is None:
                static = _io.read_input(run_dir, "static")
            if var not in static:
                continue
            out[name] = _grid.block_mean(static[var].astype("float32"), coarse)
    return xr.Dataset(out)


def coarse_features(run_dir, coarse: _grid.Grid, min_valid: float = 0.5, max_gap_days: int = 16,
                    smap_resampling: str = "bilinear", include_fy3c: bool = True) -> xr.Dataset:
    """Every candidate input (microwave and auxiliary) on the 0.25-deg grid, daily (static ones broadcast)."""
    mw = microwave_features(run_dir, coarse, smap_resampling=smap_resampling, include_fy3c=include_fy3c)
    aux = auxiliary_coarse(run_dir, coarse, min_valid=min_valid, max_gap_days=max_gap_days)
    ds = xr.merge([mw, aux.reindex(time=mw["time"]) if "time" in aux.dims else aux], join="left",
                  compat="override")
    return ds


def target_field(run_dir, coarse: _grid.Grid, model: str = "cldas", var: str = "ssm") -> xr.DataArray:
    """The training target: ``model_<model>.nc`` ``var`` (m3/m3) on the 0.25-deg grid (block mean or bilinear)."""
    da = _io.read_input(run_dir, f"model_{model}", [var])[var].astype("float32")
    g = _grid.grid_of(da)
    method = "block_mean" if g.res < coarse.res - 1e-9 else "bilinear"
    return to_grid(da, coarse, method)


def feature_label(name: str) -> str:
    """Paper-style label: ``smap_tbv_l_asc`` -> ``SMAP 1.41 Tbv A``; ``ascat_bti`` -> ``ASCAT BTI``."""
    parts = name.split("_")
    if parts[0] in ("smap", "amsr2", "fy3c") and len(parts) == 4:
        sensor, kind, band, orbit = parts
        freq = {"smap": SMAP_BANDS, "amsr2": AMSR2_BANDS, "fy3c": FY3C_BANDS}[sensor].get(band, band)
        kind = {"tbv": "Tbv", "tbh": "Tbh", "mpdi": "MPDI"}[kind]
        return f"{sensor.upper()} {freq} {kind} {ORBITS.get(orbit, orbit)}"
    if name == "ascat_sig40":
        return "ASCAT sig40"
    if name == "ascat_bti":
        return "ASCAT BTI"
    return name.upper()


def combo_label(inputs) -> str:
    """``SMAP 1.41 Tbv A + AMSR2 10.7 Tbh D + ASCAT BTI`` for a list of feature names."""
    return " + ".join(feature_label(f) for f in inputs)


# ------------------------------------------------------------------------------------------ experiments
def stack(features: xr.Dataset, inputs, target: xr.DataArray | None = None):
    """Rows of ``(time, lat, lon)`` as ``X [n, len(inputs)]`` (and ``y [n]``) in C order; static inputs broadcast."""
    missing = [f for f in inputs if f not in features]
    if missing:
        raise DataError(f"feature(s) {', '.join(missing)} not available; have {', '.join(features.data_vars)}")
    ref = target if target is not None else features[inputs[0]]
    shape = (ref.sizes["time"], ref.sizes["lat"], ref.sizes["lon"])
    cols = []
    for f in inputs:
        da = features[f]
        if "time" not in da.dims:
            da = da.expand_dims(time=ref["time"])
        cols.append(np.broadcast_to(da.transpose("time", "lat", "lon").values, shape).reshape(-1))
    X = np.stack(cols, axis=1).astype(float)
    y = None if target is None else target.transpose("time", "lat", "lon").values.reshape(-1).astype(float)
    return X, y


def nn_retrieval(features: xr.Dataset, target: xr.DataArray, inputs, solver: str = "lm", **nn_kwargs):
    """Train an NN from ``inputs`` to ``target`` (0.25 deg) and retrieve SM on every pixel-day with all inputs.

    Training uses a random subset of rows (``max_samples``) with the validation split for early stopping;
    retrieval and scoring use the whole dataset, as in Zhao et al. (2021) section 3.1. Returns
    ``(pred DataArray, model)``.
    """
    from . import nn

    inputs = list(inputs)
    X, y = stack(features, inputs, target)
    tgt = target.transpose("time", "lat", "lon")
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    model = nn.fit(X[ok], y[ok], solver=solver, features=inputs, **nn_kwargs)
    pred = model.predict(X).reshape(tgt.shape).astype("float32")
    da = xr.DataArray(pred, dims=("time", "lat", "lon"), coords={d: tgt[d] for d in ("time", "lat", "lon")},
                      name="ssm")
    return da, model


def evaluate_inputs(features: xr.Dataset, target: xr.DataArray, inputs, min_days: int = 10, **nn_kwargs) -> dict:
    """One table row: train an NN on ``inputs`` and score its retrieval against ``target`` (paper indices)."""
    pred, model = nn_retrieval(features, target, inputs, **nn_kwargs)
    row = {"inputs": "+".join(inputs), "label": combo_label(inputs), "n_inputs": len(inputs)}
    row.update(quality_indices(pred, target, min_days=min_days))
    row["n_pixel_days"] = int((pred.notnull() & target.notnull()).sum())
    row["val_mse"] = float(model.history[model.best_restart]["best_val_mse"])
    return row


def score(table: pd.DataFrame, criterion: str = "balanced") -> pd.Series:
    """Ranking score of table rows (higher is better): ``balanced`` = rho_spatial + rho_temporal (the paper's
    "most balanced" choice), ``spatial``, ``temporal``, or ``rmse`` / ``mae`` (negated)."""
    if criterion not in CRITERIA:
        raise DataError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if criterion == "balanced":
        return table["rho_spatial"].fillna(-1) + table["rho_temporal"].fillna(-1)
    if criterion == "spatial":
        return table["rho_spatial"].fillna(-1)
    if criterion == "temporal":
        return table["rho_temporal"].fillna(-1)
    return -table[criterion].fillna(np.inf)


def single_band_candidates(features: xr.Dataset) -> list[str]:
    """Every single microwave input present (Table 3 rows), in the paper's order."""
    order = []
    for sensor, bands in (("smap", SMAP_BANDS), ("amsr2", AMSR2_BANDS), ("fy3c", FY3C_BANDS)):
        for orbit in ORBITS:
            for band in bands:
                for kind in ("tbv", "tbh", "mpdi"):
                    name = f"{sensor}_{kind}_{band}_{orbit}"
                    if name in features:
                        order.append(name)
    order += [f for f in ("ascat_sig40", "ascat_bti") if f in features]
    return order


def single_band_table(features, target, candidates=None, progress=None, **nn_kwargs) -> pd.DataFrame:
    """Table 3: one NN per single microwave input, scored against the target."""
    rows = []
    for f in (candidates or single_band_candidates(features)):
        row = evaluate_inputs(features, target, [f], **nn_kwargs)
        s = f.split("_")
        row.update({"feature": f, "sensor": s[0].upper(),
                    "variable": {"tbv": "Tbv", "tbh": "Tbh", "mpdi": "MPDI"}.get(s[1], s[1]),
                    "band_ghz": {"smap": SMAP_BANDS, "amsr2": AMSR2_BANDS, "fy3c": FY3C_BANDS}.get(s[0], {}).get(
                        s[2] if len(s) > 2 else "", 5.3),
                    "orbit": ORBITS.get(s[-1], "-")})
        rows.append(row)
        if progress:
            progress(row)
    cols = ["feature", "sensor", "band_ghz", "variable", "orbit", *METRICS, "n_pixel_days", "val_mse", "label"]
    return pd.DataFrame(rows)[cols]


def best_of(table: pd.DataFrame, mask, criterion: str = "balanced") -> str | None:
    """The ``feature`` of the best-scoring row among ``mask`` (None if none)."""
    sub = table[mask]
    if sub.empty:
        return None
    return str(sub.loc[score(sub, criterion).idxmax(), "feature"])


def combination_candidates(single: pd.DataFrame, criterion: str = "balanced") -> list[list[str]]:
    """Table 4 rows, built like the paper's: best L-band (SMAP) input + best AMSR2 brightness temperature
    or best AMSR2 MPDI, each alone, with ASCAT sig40 or with BTI (FY3C kept out: it is the independent
    product of the triple collocation)."""
    s = single
    lband = best_of(s, s["sensor"] == "SMAP", criterion)
    tb = best_of(s, (s["sensor"] == "AMSR2") & s["variable"].isin(["Tbv", "Tbh"]), criterion)
    pd_ = best_of(s, (s["sensor"] == "AMSR2") & (s["variable"] == "MPDI"), criterion)
    active = [f for f in ("ascat_sig40", "ascat_bti") if f in set(s["feature"])]
    combos = []
    for second in (tb, pd_):
        base = [f for f in (lband, second) if f]
        if len(base) < 1:
            continue
        combos.append(base)
        combos += [base + [a] for a in active]
    if not combos:
        raise DataError("no SMAP or AMSR2 rows in the single-band table: cannot form band combinations")
    return combos


def combination_table(features, target, single, criterion: str = "balanced", progress=None,
                      **nn_kwargs) -> pd.DataFrame:
    """Table 4: NNs on the band combinations of :func:`combination_candidates`."""
    rows = []
    for combo in combination_candidates(single, criterion):
        row = evaluate_inputs(features, target, combo, **nn_kwargs)
        rows.append(row)
        if progress:
            progress(row)
    return pd.DataFrame(rows)[["inputs", "label", "n_inputs", *METRICS, "n_pixel_days", "val_mse"]]


def auxiliary_candidates(features: xr.Dataset, vi: str = "ndvi") -> list[tuple[str, list[str]]]:
    """Table 5's groups and auxiliary sets (added to the selected microwave inputs), as in the paper;
    ``vi`` is the vegetation index carried into the combinations (the better of NDVI and EVI)."""
    groups = [("microwave only", []),
              ("vegetation", ["ndvi"]), ("vegetation", ["evi"]),
              ("terrain", ["slope"]), ("terrain", ["dem"]), ("terrain", ["slope", vi]), ("terrain", ["dem", vi]),
              ("terrain", ["dem", "slope", vi]),
              ("land surface temperature", ["lst"]), ("land surface temperature", ["lst", vi]),
              ("land surface temperature", ["lst", vi, "dem", "slope"]),
              ("surface reflectance", ["nsdsi"]), ("surface reflectance", ["nsdsi", vi]),
              ("surface reflectance", ["nsdsi", vi, "dem", "slope"]),
              ("surface reflectance", ["nsdsi", vi, "dem", "slope", "lst"])]
    out, seen = [], set()
    for g, aux in groups:
        if all(a in features for a in aux) and tuple(aux) not in seen:
            seen.add(tuple(aux))
            out.append((g, aux))
    return out


def auxiliary_table(features, target, microwave, criterion: str = "balanced", progress=None,
                    **nn_kwargs) -> pd.DataFrame:
    """Table 5: the selected microwave inputs plus each auxiliary set; NDVI vs EVI decided by the data."""
    rows = []
    cands = auxiliary_candidates(features)
    done = {}
    for g, aux in cands[:3]:
        done[tuple(aux)] = (g, evaluate_inputs(features, target, list(microwave) + aux, **nn_kwargs))
    vi_rows = {a[0]: r for a, (_, r) in done.items() if a in (("ndvi",), ("evi",))}
    vi = "ndvi"
    if len(vi_rows) == 2:
        t = pd.DataFrame(vi_rows.values(), index=list(vi_rows))
        vi = str(score(t, criterion).idxmax())
    elif vi_rows:
        vi = next(iter(vi_rows))
    for g, aux in auxiliary_candidates(features, vi=vi):
        if tuple(aux) in done:
            _, row = done[tuple(aux)]
        else:
            row = evaluate_inputs(features, target, list(microwave) + aux, **nn_kwargs)
        row = dict(row, group=g, auxiliary="+".join(aux) if aux else "-")
        rows.append(row)
        if progress:
            progress(row)
    return pd.DataFrame(rows)[["group", "auxiliary", "inputs", *METRICS, "n_pixel_days", "val_mse", "label"]]


def select(table: pd.DataFrame, criterion: str = "balanced") -> list[str]:
    """Inputs (feature names) of the best row of a combination or auxiliary table."""
    best = table.loc[score(table, criterion).idxmax()]
    return str(best["inputs"]).split("+")


# ------------------------------------------------------------------------------------------ selection file
def write_selection(run_dir, inputs, table: str = "auxiliary", criterion: str = "balanced") -> None:
    """Write the selected inputs to ``<run_dir>/tables/band_selection_selected.csv`` (one row per input)."""
    kind = ["auxiliary" if f in AUXILIARY else "microwave" for f in inputs]
    df = pd.DataFrame({"feature": list(inputs), "kind": kind, "label": [feature_label(f) for f in inputs],
                       "from_table": table, "criterion": criterion})
    path = _io.tables_dir(run_dir) / SELECTION_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    _io.write_table(df, path)


def read_selection(run_dir, override=None) -> list[str]:
    """The inputs stage 05 uses: ``override`` (a list of feature names) if given, else the file stage 02 wrote."""
    if override:
        return [str(f) for f in override]
    path = _io.tables_dir(run_dir) / SELECTION_TABLE
    if not path.exists():
        raise InputError(f"{path}: band selection not found; run stage 02_band_selection first or pass the "
                         "inputs explicitly (parameter nn_inputs)")
    df = pd.read_csv(path)
    if "feature" not in df.columns or df.empty:
        raise InputError(f"{path}: expected a non-empty 'feature' column")
    return [str(f) for f in df["feature"]]


# ------------------------------------------------------------------------------------------ the paper's numbers
#: Zhao et al. (2021) Table 3 (Qinghai, 2017-2018, against CLDAS): feature -> (rho_spatial, rho_temporal, RMSE, MAE).
PAPER_TABLE3 = {
    "smap_tbv_l_asc": (0.388, 0.322, 0.065, 0.053), "smap_tbv_l_des": (0.374, 0.235, 0.066, 0.055),
    "smap_tbh_l_asc": (0.254, 0.333, 0.067, 0.055), "smap_tbh_l_des": (0.306, 0.260, 0.068, 0.056),
    "smap_mpdi_l_asc": (0.186, 0.291, 0.069, 0.057), "smap_mpdi_l_des": (0.121, 0.259, 0.070, 0.058),
    "amsr2_tbv_c1_asc": (0.159, 0.158, 0.070, 0.058), "amsr2_tbv_c1_des": (0.250, 0.182, 0.068, 0.056),
    "amsr2_tbh_c1_asc": (0.396, 0.187, 0.064, 0.052), "amsr2_tbh_c1_des": (0.474, 0.182, 0.062, 0.050),
    "amsr2_mpdi_c1_asc": (0.486, 0.186, 0.063, 0.051), "amsr2_mpdi_c1_des": (0.509, 0.214, 0.061, 0.050),
    "amsr2_tbv_c2_asc": (0.171, 0.176, 0.069, 0.057), "amsr2_tbv_c2_des": (0.275, 0.166, 0.067, 0.056),
    "amsr2_tbh_c2_asc": (0.406, 0.191, 0.063, 0.052), "amsr2_tbh_c2_des": (0.488, 0.194, 0.061, 0.050),
    "amsr2_mpdi_c2_asc": (0.491, 0.186, 0.062, 0.051), "amsr2_mpdi_c2_des": (0.511, 0.217, 0.061, 0.050),
    "amsr2_tbv_x_asc": (0.186, 0.201, 0.069, 0.057), "amsr2_tbv_x_des": (0.312, 0.216, 0.066, 0.054),
    "amsr2_tbh_x_asc": (0.459, 0.202, 0.062, 0.050), "amsr2_tbh_x_des": (0.525, 0.205, 0.059, 0.048),
    "amsr2_mpdi_x_asc": (0.513, 0.182, 0.061, 0.050), "amsr2_mpdi_x_des": (0.529, 0.214, 0.060, 0.049),
    "fy3c_tbv_x_asc": (0.249, 0.183, 0.067, 0.055), "fy3c_tbv_x_des": (0.182, 0.232, 0.067, 0.055),
    "fy3c_tbh_x_asc": (0.471, 0.188, 0.061, 0.049), "fy3c_tbh_x_des": (0.428, 0.233, 0.060, 0.049),
    "fy3c_mpdi_x_asc": (0.511, 0.177, 0.060, 0.049), "fy3c_mpdi_x_des": (0.470, 0.185, 0.060, 0.049),
    "ascat_sig40": (0.259, 0.334, 0.066, 0.054), "ascat_bti": (0.269, 0.336, 0.064, 0.053),
}
#: The paper's final selection (section 3.1, 3.2): microwave inputs and auxiliary inputs.
PAPER_SELECTION = (["smap_tbv_l_asc", "amsr2_tbh_x_des", "ascat_bti"], ["nsdsi", "ndvi", "dem", "slope", "lst"])


def compare_with_paper(single: pd.DataFrame, criterion: str = "balanced") -> tuple[pd.DataFrame, dict]:
    """Our Table 3 beside the paper's for the features both have, with the ranks under ``criterion`` and the
    Spearman rank correlation of the two rankings (and of each index). Returns ``(table, summary)``."""
    from scipy import stats

    ours = single.set_index("feature")
    common = [f for f in ours.index if f in PAPER_TABLE3]
    paper = pd.DataFrame({f: PAPER_TABLE3[f] for f in common}, index=list(METRICS)).T
    tab = pd.DataFrame({"label": [feature_label(f) for f in common]}, index=common)
    for m in METRICS:
        tab[f"{m}_ours"] = ours.loc[common, m].values
        tab[f"{m}_paper"] = paper.loc[common, m].values
    tab["rank_ours"] = score(ours.loc[common], criterion).rank(ascending=False).values
    tab["rank_paper"] = score(paper, criterion).rank(ascending=False).values
    summary = {"n_common": len(common)}
    if len(common) >= 3:
        summary["spearman_rank"] = float(stats.spearmanr(tab["rank_ours"], tab["rank_paper"])[0])
        for m in METRICS:
            summary[f"spearman_{m}"] = float(stats.spearmanr(tab[f"{m}_ours"], tab[f"{m}_paper"],
                                                             nan_policy="omit")[0])
    tab.index.name = "feature"
    return tab.sort_values("rank_ours"), summary


def ranking_contrasts(single: pd.DataFrame, criterion: str = "balanced") -> pd.DataFrame:
    """What drives the Table-3 ranking, ours and the paper's: the mean ranking score (:func:`score`) of one group
    of single inputs minus another's, over the inputs both tables have. Rows: V minus H polarization, MPDI
    minus brightness temperatures, ascending minus descending orbits, 10.7 minus 6.9 GHz (AMSR2), SMAP L-band
    minus AMSR2, BTI minus sig40. Columns ``ours``, ``paper`` and ``agree`` (same sign)."""
    ours = single.set_index("feature")
    common = [f for f in ours.index if f in PAPER_TABLE3]
    paper = pd.DataFrame({f: PAPER_TABLE3[f] for f in common}, index=list(METRICS)).T
    s_ours = score(ours.loc[common], criterion)
    s_paper = score(paper, criterion)
    parts = {f: f.split("_") for f in common}
    groups = {
        "V minus H polarization": (lambda p: p[1] == "tbv", lambda p: p[1] == "tbh"),
        "MPDI minus brightness temperatures": (lambda p: p[1] == "mpdi", lambda p: p[1] in ("tbv", "tbh")),
        "ascending minus descending": (lambda p: p[-1] == "asc", lambda p: p[-1] == "des"),
        "AMSR2 10.7 minus 6.9 GHz": (lambda p: p[0] == "amsr2" and p[2] == "x",
                                     lambda p: p[0] == "amsr2" and p[2] == "c1"),
        "SMAP L-band minus AMSR2": (lambda p: p[0] == "smap", lambda p: p[0] == "amsr2"),
        "ASCAT BTI minus sig40": (lambda p: p == ["ascat", "bti"], lambda p: p == ["ascat", "sig40"]),
    }
    rows = []
    for name, (a, b) in groups.items():
        fa = [f for f in common if a(parts[f])]
        fb = [f for f in common if b(parts[f])]
        if not fa or not fb:
            continue
        o = float(s_ours[fa].mean() - s_ours[fb].mean())
        p = float(s_paper[fa].mean() - s_paper[fb].mean())
        rows.append({"contrast": name, "ours": o, "paper": p, "agree": bool(np.sign(o) == np.sign(p))})
    return pd.DataFrame(rows).set_index("contrast")
