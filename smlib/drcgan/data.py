"""Data preparation for the DrcGAN fusion of SMAP-like and Noah-like soil moisture (seed 001).

Everything here works on the 0.36 deg SMAP grid, in volumetric soil moisture (m3/m3):

- :func:`noah_to_smap_grid`: the gap-free 0.25 deg model field brought to the SMAP grid by bilinear
  interpolation to the fine (0.01 deg) grid of the region, then the block mean of the fine pixels whose
  centres fall inside each SMAP cell (:func:`smlib.grid.bilinear`, :func:`smlib.grid.block_mean`);
- :func:`static_to_smap_grid`: static covariates (elevation, slope, water fraction, soil texture,
  land-cover class fractions) as block means on the SMAP grid;
- :func:`usable_observations`, :func:`holdout_mask`: which SMAP pixel-days count as observed
  (finite ``ssm`` and, optionally, ``qc == 0``), and a seeded random hold-out of a fraction of them;
- :func:`neighbour_context`: for every pixel-day, the previous and next observation (strictly
  before / after the day), the model value on those days and an exponential weight of their
  distance in days: the temporal context the generator sees;
- :class:`FusionData` / :func:`prepare`: the standardized tensors the networks train on.

Reference: Jiang, M. et al. (2025) Seamless global daily soil moisture mapping using deep learning
based spatiotemporal fusion, Int. J. Appl. Earth Obs. Geoinf. 139, 104517.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import DataError
from ..grid import Grid, bilinear, block_mean, grid_of

#: Numeric static covariates taken from ``static.nc`` when present (block means on the SMAP grid).
STATIC_NUMERIC = ("dem", "slope", "water_fraction", "sand", "clay")


def noah_to_smap_grid(model: xr.DataArray, smap_grid: Grid, fine_res: float = 0.01,
                      region: Grid | None = None) -> xr.DataArray:
    """Bring a coarse gap-free model field ``(time, lat, lon)`` (m3/m3) to the SMAP grid.

    Method: bilinear interpolation between the model's cell centres onto the fine ``fine_res`` grid of
    the region (edge values held outwards), then the block mean of the fine pixels inside each SMAP
    cell. Where the 0.36 deg cells overhang the region, only the fine pixels inside the region count.
    ``region`` defaults to the extent of the model grid.
    """
    if model.ndim != 3 or set(model.dims) != {"time", "lat", "lon"}:
        raise DataError(f"model field must have dims (time, lat, lon), got {model.dims}")
    reg = region or grid_of(model)
    fine = Grid(res=fine_res, west=reg.west, east=reg.east, south=reg.south, north=reg.north)
    out = block_mean(bilinear(model.transpose("time", "lat", "lon"), fine.lat, fine.lon), smap_grid)
    out.name = model.name
    return out


def static_to_smap_grid(static: xr.Dataset | None, smap_grid: Grid, max_classes: int = 8) -> xr.Dataset:
    """Static covariates on the SMAP grid: block means of :data:`STATIC_NUMERIC` present in ``static``
    (dem m, slope degrees, fractions unitless) and, from ``landcover``, the fraction of each of the
    ``max_classes`` most common classes (``lc_<code>``). Returns an empty Dataset for ``None``."""
    out = {}
    if static is None:
        return xr.Dataset(coords={"lat": smap_grid.lat, "lon": smap_grid.lon})
    for name in STATIC_NUMERIC:
        if name in static.data_vars:
            out[name] = block_mean(static[name].astype("float64"), smap_grid)
    if "landcover" in static.data_vars:
        lc = static["landcover"].values
        codes, counts = np.unique(lc[np.isfinite(lc)], return_counts=True)
        for code in codes[np.argsort(counts)[::-1][:max_classes]]:
            frac = static["landcover"].copy(data=np.where(np.isfinite(lc), (lc == code).astype(float), np.nan))
            out[f"lc_{int(code)}"] = block_mean(frac, smap_grid)
    return xr.Dataset(out)


def usable_observations(ssm: np.ndarray, qc: np.ndarray | None = None, use_qc: bool = True) -> np.ndarray:
    """Boolean mask of usable SMAP pixel-days: finite ``ssm`` and, with ``use_qc``, ``qc == 0``
    (the recommended-quality flag of the canonical ``smap.nc``)."""
    ok = np.isfinite(ssm)
    if use_qc and qc is not None:
        q = np.asarray(qc)
        ok &= np.isfinite(q) & (q == 0)
    return ok


def holdout_mask(observed: np.ndarray, fraction: float = 0.15, seed: int = 0) -> np.ndarray:
    """A seeded random selection of ``fraction`` of the ``True`` pixel-days of ``observed``.

    These become artificial gaps: removed from every input and every loss, kept for scoring.
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"holdout_fraction must be in [0, 1), got {fraction}")
    idx = np.flatnonzero(observed.ravel())
    rng = np.random.default_rng(seed)
    pick = rng.choice(idx, size=int(round(fraction * idx.size)), replace=False)
    out = np.zeros(observed.size, dtype=bool)
    out[pick] = True
    return out.reshape(observed.shape)


def _last_index(avail: np.ndarray) -> np.ndarray:
    """For each (t, pixel), the index of the last available time ``< t``; -1 if none."""
    T = avail.shape[0]
    idx = np.where(avail, np.arange(T)[:, None, None], -1)
    last = np.maximum.accumulate(idx, axis=0)
    prev = np.full_like(last, -1)
    prev[1:] = last[:-1]
    return prev


def neighbour_context(values: np.ndarray, avail: np.ndarray, model: np.ndarray, tau: float = 5.0) -> dict:
    """Temporal context of every pixel-day from the neighbouring observations.

    For each ``(t, lat, lon)``: ``prev`` and ``next`` (the last observation strictly before ``t`` and
    the first strictly after, m3/m3), ``prev_model`` and ``next_model`` (the model on those days),
    ``w_prev`` and ``w_next`` (``exp(-lag / tau)``, ``lag`` in days; 0 where there is none) and
    ``interp`` (linear interpolation in time between them, the nearest one alone at the ends, NaN
    where the pixel has no observation at all). Arrays where the neighbour is absent hold NaN.
    """
    T = values.shape[0]
    t = np.arange(T)[:, None, None]
    prev_i = _last_index(avail)
    next_i = (T - 1) - _last_index(avail[::-1])[::-1]
    next_i = np.where(next_i >= T, -1, next_i)
    has_p, has_n = prev_i >= 0, next_i >= 0
    pi, ni = np.clip(prev_i, 0, T - 1), np.clip(next_i, 0, T - 1)
    take = lambda a, i: np.take_along_axis(a, i, axis=0)  # noqa: E731
    prev = np.where(has_p, take(values, pi), np.nan)
    nxt = np.where(has_n, take(values, ni), np.nan)
    prev_m = np.where(has_p, take(model, pi), np.nan)
    next_m = np.where(has_n, take(model, ni), np.nan)
    lag_p = np.where(has_p, t - prev_i, np.inf)
    lag_n = np.where(has_n, next_i - t, np.inf)
    w_p = np.exp(-lag_p / tau)
    w_n = np.exp(-lag_n / tau)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = lag_p / (lag_p + lag_n)
        interp = np.where(has_p & has_n, prev + a * (nxt - prev), np.where(has_p, prev, nxt))
    return {"prev": prev, "next": nxt, "prev_model": prev_m, "next_model": next_m,
            "w_prev": w_p, "w_next": w_n, "interp": interp}


@dataclass
class FusionData:
    """Standardized arrays for the networks (all ``float32`` NumPy, time first).

    Soil moisture is standardized with one pooled mean and standard deviation (``sm_mean``,
    ``sm_sd``, m3/m3) for both sources, so that the identity loss compares like with like.
    """

    x: np.ndarray             # (T, C, H, W) generator inputs (Noah window, context, statics, season)
    center: int               # channel index of the model value on the day itself
    model: np.ndarray         # (T, H, W) standardized model field on the SMAP grid
    target: np.ndarray        # (T, H, W) standardized SMAP-like ssm, 0 where not observed
    train_mask: np.ndarray    # (T, H, W) bool: observations the losses use
    val_mask: np.ndarray      # (T, H, W) bool: observations kept for model selection
    avail_mask: np.ndarray    # (T, H, W) bool: observations the inputs may use (hold-out removed)
    holdout: np.ndarray       # (T, H, W) bool: artificial gaps (scored, never used)
    filled: np.ndarray        # (T, H, W) SMAP-like field with gaps filled (temporal interp, then model)
    statics: np.ndarray       # (S, H, W) standardized static covariates
    sm_mean: float
    sm_sd: float
    channels: list = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.model.shape


def _standardize_static(arr: np.ndarray) -> np.ndarray:
    m = np.nanmean(arr)
    s = np.nanstd(arr)
    out = (arr - m) / (s if s > 0 else 1.0)
    return np.where(np.isfinite(out), out, 0.0)


def prepare(smap_ssm: np.ndarray, model_ssm: np.ndarray, usable: np.ndarray, statics: dict | None = None,
            doy: np.ndarray | None = None, holdout_fraction: float = 0.15, val_fraction: float = 0.1,
            window: int = 2, tau: float = 5.0, seed: int = 0) -> FusionData:
    """Build :class:`FusionData` from SMAP-like ``smap_ssm`` and model ``model_ssm`` ``(T, H, W)``
    arrays on the same grid (m3/m3), the ``usable`` observation mask, optional static covariates
    (name -> ``(H, W)``) and day of year.

    Generator input channels: the model on days ``t-window..t+window`` (edges repeated), the
    :func:`neighbour_context` (previous / next observation, the model on those days, their weights),
    the static covariates and ``sin``/``cos`` of the day of year. ``holdout_fraction`` of the usable
    observations become artificial gaps (seeded); ``val_fraction`` of the rest are kept out of the
    losses for model selection.
    """
    smap_ssm = np.asarray(smap_ssm, dtype="float64")
    model_ssm = np.asarray(model_ssm, dtype="float64")
    if smap_ssm.shape != model_ssm.shape or smap_ssm.ndim != 3:
        raise DataError(f"SMAP and model fields must share a (time, lat, lon) shape, got {smap_ssm.shape} "
                        f"and {model_ssm.shape}")
    if not np.isfinite(model_ssm).all():
        bad = int((~np.isfinite(model_ssm)).sum())
        raise DataError(f"the model field must be gap-free on the SMAP grid; it has {bad} missing values")
    usable = np.asarray(usable, bool) & np.isfinite(smap_ssm)
    if usable.sum() < 10:
        raise DataError(f"only {int(usable.sum())} usable SMAP observations: too few to train a fusion model")
    T, H, W = smap_ssm.shape
    hold = holdout_mask(usable, holdout_fraction, seed)
    avail = usable & ~hold
    val = holdout_mask(avail, val_fraction, seed + 1) if val_fraction > 0 else np.zeros_like(avail)
    train = avail & ~val

    pooled = np.concatenate([smap_ssm[avail], model_ssm.ravel()])
    mu, sd = float(pooled.mean()), float(pooled.std()) or 1.0
    z = lambda a: (a - mu) / sd  # noqa: E731
    zm = z(model_ssm)
    zs = np.where(avail, z(smap_ssm), np.nan)

    chans, names = [], []
    for k in range(-window, window + 1):
        idx = np.clip(np.arange(T) + k, 0, T - 1)
        chans.append(zm[idx])
        names.append(f"model[t{k:+d}]")
    center = window
    ctx = neighbour_context(zs, avail, zm, tau=tau)
    for key in ("prev", "next", "prev_model", "next_model"):
        w = ctx["w_prev"] if key.startswith("prev") else ctx["w_next"]
        chans.append(np.where(w > 0, ctx[key], 0.0))
        names.append(key)
    chans += [ctx["w_prev"], ctx["w_next"]]
    names += ["w_prev", "w_next"]
    st = []
    for name, arr in (statics or {}).items():
        st.append(_standardize_static(np.asarray(arr, dtype="float64")))
        chans.append(np.broadcast_to(st[-1], (T, H, W)))
        names.append(name)
    if doy is None:
        doy = np.arange(T) + 1
    ang = 2 * np.pi * np.asarray(doy, dtype="float64") / 365.25
    for f, nm in ((np.sin, "sin_doy"), (np.cos, "cos_doy")):
        chans.append(np.broadcast_to(f(ang)[:, None, None], (T, H, W)))
        names.append(nm)
    x = np.stack(chans, axis=1).astype("float32")
    filled = np.where(avail, zs, np.where(np.isfinite(ctx["interp"]), ctx["interp"], zm))
    statics_arr = np.stack(st).astype("float32") if st else np.zeros((0, H, W), "float32")
    return FusionData(x=x, center=center, model=zm.astype("float32"),
                      target=np.where(avail, zs, 0.0).astype("float32"), train_mask=train, val_mask=val,
                      avail_mask=avail, holdout=hold, filled=filled.astype("float32"), statics=statics_arr,
                      sm_mean=mu, sm_sd=sd, channels=names)
