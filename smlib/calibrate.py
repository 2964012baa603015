"""CNN bias correction with transfer learning: point-to-area calibration of 1-km soil moisture (seed 000).

The downscaled 1-km surface (``ssm``, 0-5 cm) and root-zone (``rzsm``, 0-100 cm) soil moisture of stage 05
(product ``lightgbm`` by default) carries the errors of the coarse model it came from. Seed 000 corrects it
with a convolutional neural network that looks at a patch of the downscaled field and its covariates around a
pixel and predicts the corrected value at the patch centre, trained in two steps:

1. **pre-training on plentiful gridded pairs**: every pixel-day of the region gives a patch (input) and the
   value of a reference field at its centre (target). The reference is a consensus of gridded products whose
   errors are independent of the source's (the mean of the listed inputs, each interpolated bilinearly to
   1 km; by default the model products other than GLEAM, from which ``lightgbm`` is made, and SMAP for the
   surface layer). Tens of thousands of pairs teach the convolutional layers how soil moisture relates to
   vegetation, temperature and terrain in patches;
2. **fine-tuning at station points**: the convolutional feature extractor is frozen and only the last layers
   (the head) are re-trained on patches centred on station pixels with the station observations as targets:
   the transfer learning. The fine-tuned network is then applied to every pixel: point-to-area.

The network is residual: it outputs a correction (in m3/m3) added to the source value at the patch centre,
so that the 1-km detail of the source is kept unless the data argue otherwise. It is fully convolutional
(``valid`` convolutions whose receptive field is exactly ``patch_size``, then 1x1 convolutions), so one
forward pass over a padded day image gives the correction at every pixel, identical to patch-by-patch
prediction.

Evaluation is leave-stations-out k-fold (:func:`leave_stations_out`): each fold fine-tunes on the other
folds' stations and predicts the held-out stations, so every station's calibrated series comes from a model
that never saw it. Baselines on the same folds: mean-bias removal (:func:`mean_bias`), linear CDF matching
pooled over training stations (:func:`linear_cdf_params`) and per station with temporal blocks
(:func:`station_cdf_match_cv`), the pre-trained network without fine-tuning, and the same CNN trained on the
stations only, from random weights (no transfer).

What a correction learnt at stations can transfer: station observations are the 1-km value plus a point-scale
representativeness error (AR(1) in time) and a sensor bias of each station. Neither is shared between stations,
so neither can be predicted at a station the model never saw: what transfers is the systematic error of the
source product (its bias, gain and the dependence of its error on vegetation, temperature and terrain).

Units: soil moisture m3/m3; LST K; elevation m; slope degrees; NDVI unitless.

References: seed 000 (JSTARS 18, 17405-17421, 2025); Yosinski et al. (2014) How transferable are features in
deep neural networks? NeurIPS 27; Brocca et al. (2011) for linear CDF matching (mean/standard-deviation
rescaling) of soil moisture.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError, InputError
from .device import resolve_device  # noqa: F401  (re-exported: cal.resolve_device)

#: Soil-moisture layers the network predicts (output channels in this order).
LAYERS = ("ssm", "rzsm")
#: Input channels of the network, in order. ``doy_sin``/``doy_cos`` encode the day of year.
CHANNELS = ("ssm", "rzsm", "ndvi", "lst_day", "dem", "slope", "doy_sin", "doy_cos")
#: Default pre-training reference: the model products other than GLEAM, and SMAP (surface layer only).
DEFAULT_REFERENCE = ("model_era5land", "model_noah", "model_cldas", "model_geos5", "smap")
#: Output clipped to this range (m3/m3): physically possible volumetric water content.
SM_RANGE = (0.0, 0.7)


# ------------------------------------------------------------------------------------------- utilities


def _seed_all(seed: int) -> None:
    import torch

    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))


def kernel_sizes(patch_size: int, n_layers: int) -> list[int]:
    """Odd kernel sizes of ``n_layers`` valid convolutions whose receptive field is ``patch_size`` pixels.

    The half-width ``(patch_size - 1) / 2`` is dealt out over the layers, larger kernels first
    (``patch_size=9``, 4 layers -> ``[3, 3, 3, 3]``; 15, 4 -> ``[5, 5, 5, 3]``; 5, 4 -> ``[3, 3, 1, 1]``).
    """
    if not isinstance(patch_size, (int, np.integer)) or patch_size < 1 or patch_size % 2 == 0:
        raise DataError(f"patch_size must be a positive odd integer (pixels), got {patch_size!r}")
    if n_layers < 1:
        raise DataError(f"the CNN needs at least one convolutional layer (widths), got {n_layers}")
    half = (patch_size - 1) // 2
    base, extra = divmod(half, n_layers)
    return [2 * (base + (1 if i < extra else 0)) + 1 for i in range(n_layers)]


# ------------------------------------------------------------------------------------------- the model
def _torch_model_class():
    import torch
    from torch import nn

    class CalibrationCNN(nn.Module):
        """Residual, fully convolutional patch CNN (see the module docstring).

        Input ``(N, C, H, W)`` with ``H, W >= patch_size`` in physical units (channels :data:`CHANNELS`);
        output ``(N, 2, H - patch_size + 1, W - patch_size + 1)``: corrected ``ssm`` and ``rzsm`` (m3/m3) at
        each patch centre. Channel standardization (``mean``, ``std``) and the output scale are buffers,
        saved with the weights.
        """

        def __init__(self, n_channels: int = len(CHANNELS), widths=(16, 32, 32), patch_size: int = 7,
                     head_width: int = 32, n_out: int = len(LAYERS), source_index=(0, 1)):
            super().__init__()
            widths = [int(w) for w in widths]
            if any(w < 1 for w in widths):
                raise DataError(f"widths must be positive integers, got {widths}")
            ks = kernel_sizes(int(patch_size), len(widths))
            self.config = {"n_channels": int(n_channels), "widths": widths, "patch_size": int(patch_size),
                           "head_width": int(head_width), "n_out": int(n_out),
                           "source_index": [int(i) for i in source_index]}
            layers, cin = [], n_channels
            for w, k in zip(widths, ks):
                layers += [nn.Conv2d(cin, w, kernel_size=k), nn.ReLU()]
                cin = w
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Conv2d(cin, head_width, 1), nn.ReLU(), nn.Conv2d(head_width, n_out, 1))
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
            self.register_buffer("mean", torch.zeros(n_channels))
            self.register_buffer("std", torch.ones(n_channels))
            self.register_buffer("out_scale", torch.full((n_out,), 0.05))
            self.half = (int(patch_size) - 1) // 2

        def standardize(self, x):
            z = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
            return torch.nan_to_num(z, nan=0.0)

        def centre_source(self, x):
            """The source layers of ``x`` cropped to the output pixels (the patch centres)."""
            h = self.half
            src = x[:, list(self.config["source_index"])]
            return src[:, :, h:-h, h:-h] if h else src

        def from_features(self, feats, src):
            """Output from the feature maps ``feats`` and the centre source values ``src``."""
            return src + self.head(feats) * self.out_scale[None, :, None, None]

        def forward(self, x):
            return self.from_features(self.features(self.standardize(x)), self.centre_source(x))

        def layers(self) -> list:
            """The parameterized layers in order (conv layers, then the two head layers)."""
            return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    return CalibrationCNN


def build_model(widths=(16, 32, 32), patch_size: int = 7, head_width: int = 32, n_channels: int = len(CHANNELS),
                seed: int = 0):
    """A new :class:`CalibrationCNN` with weights drawn from ``seed`` (the last layer starts at zero, so an
    untrained network returns the source unchanged)."""
    _seed_all(seed)
    return _torch_model_class()(n_channels=n_channels, widths=widths, patch_size=patch_size, head_width=head_width)


def set_normalization(model, mean, std, out_scale) -> None:
    """Set the channel standardization (physical units) and the output scale (m3/m3) of ``model``."""
    import torch

    mean = np.nan_to_num(np.asarray(mean, dtype=np.float32), nan=0.0)
    std = np.asarray(std, dtype=np.float32)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0).astype(np.float32)
    scale = np.asarray(out_scale, dtype=np.float32)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 0.05).astype(np.float32)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(mean))
        model.std.copy_(torch.from_numpy(std))
        model.out_scale.copy_(torch.from_numpy(scale))


def freeze(model, n_trainable: int = 2) -> list[str]:
    """Freeze every parameterized layer of ``model`` except the last ``n_trainable`` (the transfer step).

    With the default 2 the convolutional feature extractor is frozen and the two-layer 1x1 head is
    fine-tuned. Returns the names of the frozen parameters.
    """
    layers = model.layers()
    if not 0 <= n_trainable <= len(layers):
        raise DataError(f"n_trainable must be between 0 and {len(layers)} (the network's layers), got {n_trainable}")
    keep = {id(p) for m in layers[len(layers) - n_trainable:] for p in m.parameters()}
    frozen = []
    for name, p in model.named_parameters():
        p.requires_grad_(id(p) in keep)
        if id(p) not in keep:
            frozen.append(name)
    return frozen


def save_model(model, path: str | os.PathLike) -> Path:
    """Save weights, buffers and architecture to ``path`` (atomic), loadable with ``weights_only=True``."""
    import tempfile

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": copy.deepcopy(model.config)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(path: str | os.PathLike, device: str = "cpu"):
    """Load a model written by :func:`save_model` (``torch.load(..., weights_only=True)``)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model weights not found; they are written by stage 07 (07_calibration)")
    blob = torch.load(path, map_location=device, weights_only=True)
    cfg = blob["config"]
    model = _torch_model_class()(n_channels=cfg["n_channels"], widths=cfg["widths"], patch_size=cfg["patch_size"],
                                 head_width=cfg["head_width"], n_out=cfg["n_out"], source_index=cfg["source_index"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device)


# -------------------------------------------------------------------------------------------- inputs
def gap_fill_time(da: xr.DataArray) -> xr.DataArray:
    """Fill gaps of a ``(time, lat, lon)`` field: linear interpolation in time at each pixel between its valid
    days (the nearest valid day held constant before the first and after the last), then pixels with no
    valid day at all from the nearest valid pixel (:func:`smlib.grid.fill_nearest` on the time mean)."""
    from .grid import fill_nearest

    arr = da.transpose("time", "lat", "lon").values.astype("float64")
    nt = arr.shape[0]
    flat = arr.reshape(nt, -1)
    t = np.arange(nt, dtype=float)
    ok = np.isfinite(flat)
    out = flat.copy()
    for j in np.where((~ok).any(0) & ok.any(0))[0]:
        good = ok[:, j]
        out[:, j] = np.interp(t, t[good], flat[good, j])
    out = out.reshape(arr.shape)
    filled = da.copy(data=out.astype(da.dtype if da.dtype.kind == "f" else "float32")).transpose("time", "lat", "lon")
    empty = ~np.isfinite(out).any(0)
    if empty.any() and (~empty).any():
        mean = fill_nearest(filled.mean("time"))
        filled = filled.where(~xr.DataArray(empty, dims=("lat", "lon")), mean)
    return filled


def _align(da: xr.DataArray, lat, lon, times=None) -> xr.DataArray:
    """``da`` on exactly these coordinates (nearest cell within half a pixel; days matched exactly)."""
    res = float(abs(lat[1] - lat[0])) if len(lat) > 1 else 0.01
    da = da.reindex(lat=lat, lon=lon, method="nearest", tolerance=res / 2)
    if times is not None and "time" in da.dims:
        da = da.assign_coords(time=pd.DatetimeIndex(da["time"].values).normalize()).reindex(time=times)
    return da


def load_source(run_dir, source_product: str = "lightgbm") -> xr.Dataset:
    """The 1-km product to correct (``products/<source_product>.nc``), variables ``ssm`` and ``rzsm`` (m3/m3)."""
    from .io import products_dir, read_product

    path = products_dir(run_dir) / f"{source_product}.nc"
    if not path.exists():
        have = sorted(p.stem for p in products_dir(run_dir).glob("*.nc") if not p.stem.endswith("_stations"))
        raise InputError(f"{path}: source product {source_product!r} not found (products present: "
                         f"{', '.join(have) or 'none'}); run stage 05 first or set source_product")
    ds = read_product(run_dir, source_product)
    missing = [v for v in LAYERS if v not in ds.data_vars]
    if missing:
        raise InputError(f"{path}: lacks {', '.join(missing)}; the calibration needs both ssm and rzsm (m3/m3)")
    ds = ds[list(LAYERS)].transpose("time", "lat", "lon")
    return ds.assign_coords(time=pd.DatetimeIndex(ds["time"].values).normalize())


def load_covariates(run_dir, lat, lon, times, covariate_product: str = "estarfm") -> tuple[xr.Dataset, str]:
    """Daily 1-km NDVI and LST (K) and static DEM (m) and slope (degrees) on the source grid.

    NDVI/LST come from ``products/<covariate_product>.nc`` (ESTARFM, gap-free) when it is present, else from
    ``inputs/modis.nc`` gap-filled by :func:`gap_fill_time`. Returns the dataset and a sentence saying which.
    """
    from .io import products_dir, read_input, read_product

    ppath = products_dir(run_dir) / f"{covariate_product}.nc"
    if covariate_product and ppath.exists():
        opt = read_product(run_dir, covariate_product)
        missing = [v for v in ("ndvi", "lst_day") if v not in opt.data_vars]
        if missing:
            raise InputError(f"{ppath}: lacks {', '.join(missing)} needed as covariates")
        opt = opt[["ndvi", "lst_day"]]
        how = f"NDVI and LST from products/{covariate_product}.nc"
    else:
        opt = read_input(run_dir, "modis", ["ndvi", "lst_day"])
        how = ("NDVI and LST from inputs/modis.nc, gaps filled by linear interpolation in time at each pixel "
               "(nearest pixel where a pixel never has a valid day)")
    out = {}
    for v in ("ndvi", "lst_day"):
        da = _align(opt[v].transpose("time", "lat", "lon"), lat, lon, times)
        if not np.isfinite(da.values).all():
            da = gap_fill_time(da)
        out[v] = da
    static = read_input(run_dir, "static", ["dem", "slope"])
    for v in ("dem", "slope"):
        out[v] = _align(static[v], lat, lon)
    return xr.Dataset(out), how


def reference_field(run_dir, references, var: str, lat, lon, times) -> tuple[xr.DataArray, list[str]]:
    """Pre-training target for layer ``var``: the mean of the listed gridded inputs that have ``var``, each
    interpolated bilinearly (:func:`smlib.grid.bilinear`) to the 1-km pixels; NaN-aware (a day a product
    lacks is averaged over the others). Returns the field (m3/m3) and the names used."""
    from .grid import bilinear
    from .io import has_input, read_input

    used, stack = [], []
    for name in references:
        if not has_input(run_dir, name):
            continue
        ds = read_input(run_dir, name)
        if var not in ds.data_vars:
            continue
        da = ds[var].transpose("time", "lat", "lon").astype("float32")
        da = da.assign_coords(time=pd.DatetimeIndex(da["time"].values).normalize()).reindex(time=times)
        stack.append(bilinear(da, lat, lon).transpose("time", "lat", "lon").values)
        used.append(name)
    if not stack:
        raise InputError(f"none of the pre-training references {list(references)} is present with variable "
                         f"{var!r} under {Path(run_dir) / 'inputs'}")
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.stack(stack), axis=0)
    da = xr.DataArray(mean.astype("float32"), dims=("time", "lat", "lon"),
                      coords={"time": times, "lat": lat, "lon": lon}, name=var)
    return da, used


@dataclass
class Fields:
    """Everything the network reads, on the source's 1-km grid.

    ``stack``: ``(time, channel, lat + 2h, lon + 2h)`` float32 in physical units, reflect-padded by the
    patch half-width ``h``; ``source``: the unpadded source (ssm, rzsm); ``valid``: ``(time, lat, lon)``
    where the source has both layers.
    """

    stack: np.ndarray
    half: int
    source: xr.Dataset
    covariate_note: str
    times: pd.DatetimeIndex
    lat: np.ndarray
    lon: np.ndarray
    valid: np.ndarray = field(repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.times), len(self.lat), len(self.lon))


def build_fields(source: xr.Dataset, covariates: xr.Dataset, patch_size: int, covariate_note: str = "") -> Fields:
    """Stack the channels :data:`CHANNELS` and reflect-pad them by half a patch (see :class:`Fields`)."""
    kernel_sizes(patch_size, 1)
    times = pd.DatetimeIndex(source["time"].values)
    lat, lon = source["lat"].values, source["lon"].values
    nt, ny, nx = len(times), len(lat), len(lon)
    doy = times.day_of_year.values.astype(float)
    ang = 2 * math.pi * doy / 365.25
    chans = []
    for c in CHANNELS:
        if c in LAYERS:
            a = source[c].values
        elif c in ("ndvi", "lst_day"):
            a = covariates[c].transpose("time", "lat", "lon").values
        elif c in ("dem", "slope"):
            a = np.broadcast_to(covariates[c].values, (nt, ny, nx))
        elif c == "doy_sin":
            a = np.broadcast_to(np.sin(ang)[:, None, None], (nt, ny, nx))
        else:
            a = np.broadcast_to(np.cos(ang)[:, None, None], (nt, ny, nx))
        chans.append(np.asarray(a, dtype=np.float32))
    stack = np.stack(chans, axis=1)
    h = (patch_size - 1) // 2
    if h:
        if min(ny, nx) <= h:
            raise DataError(f"the grid ({ny} x {nx} pixels) is too small for patch_size {patch_size}")
        stack = np.pad(stack, ((0, 0), (0, 0), (h, h), (h, h)), mode="reflect")
    valid = np.isfinite(source["ssm"].values) & np.isfinite(source["rzsm"].values)
    return Fields(stack=stack, half=h, source=source, covariate_note=covariate_note, times=times, lat=lat,
                  lon=lon, valid=valid)


def extract_patches(fields: Fields, t_idx, rows, cols, patch_size: int) -> np.ndarray:
    """Patches ``(N, C, patch_size, patch_size)`` centred on pixels ``(rows, cols)`` of days ``t_idx``."""
    t_idx, rows, cols = (np.asarray(a, dtype=np.int64) for a in (t_idx, rows, cols))
    if patch_size > 2 * fields.half + 1:
        raise DataError(f"patch_size {patch_size} is larger than the padding of the fields "
                        f"({2 * fields.half + 1}); rebuild the fields with this patch size")
    off = fields.half - (patch_size - 1) // 2
    d = np.arange(patch_size)
    r = (rows + off)[:, None, None] + d[None, :, None]
    c = (cols + off)[:, None, None] + d[None, None, :]
    out = fields.stack[t_idx[:, None, None], :, r, c]  # (N, P, P, C)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------- training
def train(model, X: np.ndarray, Y: np.ndarray, epochs: int = 20, lr: float = 1e-3, batch_size: int = 256,
          weight_decay: float = 1e-4, seed: int = 0, device: str = "cpu", cache_features: bool = True,
          l2sp: float = 0.0) -> list[float]:
    """Train ``model`` on patches ``X (N, C, P, P)`` and targets ``Y (N, 2)`` (m3/m3; NaN = no target for
    that layer) with Adam on the mean squared error (in units of the output scale) over the finite targets.
    Only parameters with ``requires_grad`` change. When the whole feature extractor is frozen and
    ``cache_features`` is set, its output is computed once and only the head runs per batch (the same
    result, faster). ``l2sp`` > 0 adds ``l2sp * sum((w - w_start)^2)`` over the trainable parameters, the
    L2-SP penalty towards the starting (pre-trained) weights (Li, Grandvalet and Davoine 2018, ICML).
    Deterministic for a given ``seed``. Returns the mean data loss of each epoch."""
    import torch

    if len(X) == 0:
        raise DataError("no training samples: no finite target at any sample")
    device = resolve_device(device)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise DataError("every layer is frozen: nothing to train (raise n_trainable)")
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    anchor = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(int(seed))
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    Yt = torch.from_numpy(np.ascontiguousarray(Y, dtype=np.float32))
    scale = model.out_scale.detach().to(device)
    # frozen feature extractor: its output is computed once (identical result, much faster fine-tuning)
    cached = cache_features and not any(p.requires_grad for p in model.features.parameters())
    if cached:
        with torch.no_grad():
            feats, srcs = [], []
            for i in range(0, len(Xt), 4096):
                xb = Xt[i:i + 4096].to(device)
                feats.append(model.features(model.standardize(xb)))
                srcs.append(model.centre_source(xb))
            Ft, St = torch.cat(feats), torch.cat(srcs)
    hist = []
    for _ in range(int(epochs)):
        order = torch.randperm(len(Xt), generator=gen)
        tot, cnt = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yb = Yt[idx].to(device)
            if cached:
                pred = model.from_features(Ft[idx.to(Ft.device)], St[idx.to(St.device)])[:, :, 0, 0]
            else:
                pred = model(Xt[idx].to(device))[:, :, 0, 0]
            m = torch.isfinite(yb)
            if not m.any():
                continue
            err = ((pred - torch.nan_to_num(yb)) / scale) ** 2
            loss = err[m].mean()
            total = loss
            if l2sp > 0:
                total = loss + l2sp * sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))
            opt.zero_grad()
            total.backward()
            opt.step()
            tot += float(loss.detach()) * int(m.sum())
            cnt += int(m.sum())
        hist.append(tot / max(cnt, 1))
    model.eval()
    return hist


def predict_patches(model, X: np.ndarray, batch_size: int = 2048, device: str = "cpu") -> np.ndarray:
    """Corrected ``(N, 2)`` (m3/m3) at the centres of patches ``X``, clipped to :data:`SM_RANGE`."""
    import torch

    device = resolve_device(device)
    model.to(device).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32)).to(device)
            out.append(model(xb)[:, :, 0, 0].cpu().numpy())
    res = np.concatenate(out) if out else np.zeros((0, len(LAYERS)), np.float32)
    return np.clip(res, *SM_RANGE)


def predict_map(model, fields: Fields, days_per_batch: int = 4, device: str = "cpu") -> xr.Dataset:
    """Apply ``model`` to every pixel and day of ``fields`` in one convolution per day batch (point-to-area).

    Returns a Dataset ``ssm``, ``rzsm`` (m3/m3, ``(time, lat, lon)``), NaN where the source is missing,
    clipped to :data:`SM_RANGE`.
    """
    import torch

    from .catalog import attrs

    device = resolve_device(device)
    model.to(device).eval()
    p = model.config["patch_size"]
    off = fields.half - (p - 1) // 2
    stack = fields.stack
    if off:
        stack = stack[:, :, off:-off, off:-off]
    nt, ny, nx = fields.shape
    out = np.empty((nt, len(LAYERS), ny, nx), dtype=np.float32)
    with torch.no_grad():
        for i in range(0, nt, days_per_batch):
            xb = torch.from_numpy(np.ascontiguousarray(stack[i:i + days_per_batch])).to(device)
            out[i:i + days_per_batch] = model(xb).cpu().numpy()
    out = np.clip(out, *SM_RANGE)
    out[~np.broadcast_to(fields.valid[:, None], out.shape)] = np.nan
    coords = {"time": fields.times, "lat": fields.lat, "lon": fields.lon}
    return xr.Dataset({v: xr.DataArray(out[:, k], dims=("time", "lat", "lon"), coords=coords, attrs=attrs(v))
                       for k, v in enumerate(LAYERS)})


def normalization_stats(fields: Fields, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (physical units) over ``n`` random valid pixel-days."""
    rng = np.random.default_rng(seed)
    t, r, c = np.nonzero(fields.valid)
    if t.size == 0:
        raise DataError("the source product has no valid pixel-day (ssm and rzsm both finite)")
    pick = rng.choice(t.size, size=min(n, t.size), replace=False)
    h = fields.half
    vals = fields.stack[t[pick], :, r[pick] + h, c[pick] + h]
    return np.nanmean(vals, axis=0), np.nanstd(vals, axis=0)


def pretraining_samples(fields: Fields, reference: xr.Dataset, n_samples: int = 20000, patch_size: int = 7,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` random gridded pairs: patches ``X`` and reference values ``Y (N, 2)`` (ssm, rzsm) at their
    centres, drawn uniformly from pixel-days where the source is valid and the reference has a value."""
    ref = np.stack([reference[v].transpose("time", "lat", "lon").values for v in LAYERS], axis=-1)
    ok = fields.valid & np.isfinite(ref).any(-1)
    t, r, c = np.nonzero(ok)
    if t.size == 0:
        raise DataError("no pixel-day has both the source and a pre-training reference value")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(t.size, size=min(int(n_samples), t.size), replace=False))
    t, r, c = t[pick], r[pick], c[pick]
    return extract_patches(fields, t, r, c, patch_size), ref[t, r, c].astype(np.float32)


def pretrain(fields: Fields, reference: xr.Dataset, widths=(16, 32, 32), patch_size: int = 7, head_width: int = 32,
             n_samples: int = 20000, epochs: int = 10, lr: float = 1e-3, batch_size: int = 256,
             weight_decay: float = 1e-4, seed: int = 0, device: str = "cpu"):
    """Pre-train a :func:`build_model` network on gridded pairs (source patch -> reference at its centre).

    Channel standardization from the source grid; the output scale (m3/m3) is the standard deviation of
    the reference-minus-source differences of each layer. Returns ``(model, loss history)``.
    """
    X, Y = pretraining_samples(fields, reference, n_samples=n_samples, patch_size=patch_size, seed=seed)
    model = build_model(widths=widths, patch_size=patch_size, head_width=head_width, seed=seed)
    mean, std = normalization_stats(fields, seed=seed)
    h = (patch_size - 1) // 2
    centre = X[:, :len(LAYERS), h, h]
    scale = np.nanstd(Y - centre, axis=0)
    set_normalization(model, mean, std, scale)
    hist = train(model, X, Y, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
                 device=device)
    return model, hist


# ---------------------------------------------------------------------------------------- stations
@dataclass
class StationSet:
    """Station observations matched to the source grid: ``obs (station, time, 2)`` (m3/m3, NaN = gap),
    pixel ``rows``/``cols`` and the station ids and coordinates."""

    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    obs: np.ndarray
    times: pd.DatetimeIndex

    def __len__(self) -> int:
        return len(self.ids)


def load_stations(run_dir, fields: Fields) -> StationSet:
    """``inputs/stations.nc`` ``ssm``/``rzsm`` aligned to the source's days and pixels (nearest pixel).

    Stations outside the grid or on pixels where the source is never valid are dropped (their ids are
    in :func:`dropped_stations`); raises :class:`DataError` if none is left.
    """
    from .grid import grid_of
    from .io import read_input

    st = read_input(run_dir, "stations", list(LAYERS))
    st = st.assign_coords(time=pd.DatetimeIndex(st["time"].values).normalize()).reindex(time=fields.times)
    return stations_from_dataset(st, fields, grid_of(fields.source))


def stations_from_dataset(st: xr.Dataset, fields: Fields, grid) -> StationSet:
    """Match a ``(station, time)`` dataset with ``ssm``/``rzsm`` to the pixels of ``fields`` (see
    :func:`load_stations`)."""
    lat = np.asarray(st["lat"].values, dtype=float)
    lon = np.asarray(st["lon"].values, dtype=float)
    rows, cols = grid.index_of(lat, lon)
    inside = rows >= 0
    ever = np.zeros(len(lat), bool)
    ever[inside] = fields.valid[:, rows[inside], cols[inside]].any(0)
    keep = inside & ever
    if not keep.any():
        raise DataError("no station lies on a valid pixel of the source product")
    obs = np.stack([st[v].transpose("station", "time").values for v in LAYERS], axis=-1).astype(np.float32)
    return StationSet(ids=np.asarray(st["station"].values)[keep], lat=lat[keep], lon=lon[keep], rows=rows[keep],
                      cols=cols[keep], obs=obs[keep], times=fields.times)


def station_samples(fields: Fields, stations: StationSet, which, patch_size: int):
    """Patches and observations of stations ``which`` (indices) on the days they have any observation and
    the source is valid. Returns ``(X, Y, station_index, day_index)``."""
    which = np.asarray(which, dtype=int)
    s_idx, t_idx = np.nonzero(np.isfinite(stations.obs[which]).any(-1))
    s = which[s_idx]
    ok = fields.valid[t_idx, stations.rows[s], stations.cols[s]]
    s, t_idx = s[ok], t_idx[ok]
    X = extract_patches(fields, t_idx, stations.rows[s], stations.cols[s], patch_size)
    return X, stations.obs[s, t_idx], s, t_idx


def station_patches_all_days(fields: Fields, stations: StationSet, which, patch_size: int):
    """Patches for every day at stations ``which``: ``(X, station_index, day_index)`` (for predicting)."""
    which = np.asarray(which, dtype=int)
    nt = len(fields.times)
    s = np.repeat(which, nt)
    t = np.tile(np.arange(nt), len(which))
    return extract_patches(fields, t, stations.rows[s], stations.cols[s], patch_size), s, t


def source_at_stations(fields: Fields, stations: StationSet) -> np.ndarray:
    """The source product at the station pixels: ``(station, time, 2)`` m3/m3."""
    return np.stack([fields.source[v].values[:, stations.rows, stations.cols].T for v in LAYERS], axis=-1)


def station_folds(n_stations: int, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold id of each station for leave-stations-out k-fold (shuffled, folds of equal size +-1)."""
    from .cv import random_kfold

    if n_stations < 2:
        raise DataError(f"leave-stations-out needs at least 2 stations, got {n_stations}")
    return random_kfold(n_stations, k=min(int(k), n_stations), seed=seed)


# ---------------------------------------------------------------------------------------- baselines
def mean_bias(x, y) -> float:
    """Mean of ``y - x`` over finite pairs (m3/m3): the offset that mean-bias removal adds to ``x``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise DataError("mean-bias removal: no finite pair of product and observation")
    return float(np.mean(y[ok] - x[ok]))


def linear_cdf_params(x, y) -> tuple[float, float]:
    """Linear CDF matching (mean / standard-deviation rescaling): ``(a, b)`` with ``a + b * x`` having the
    mean and standard deviation of ``y`` over the finite pairs (Brocca et al. 2011)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        raise DataError("linear CDF matching needs at least 2 finite pairs of product and observation")
    sx, sy = np.std(x[ok]), np.std(y[ok])
    b = float(sy / sx) if sx > 0 else 1.0
    return float(np.mean(y[ok]) - b * np.mean(x[ok])), b


def station_cdf_match_cv(x, y, n_blocks: int = 4, min_pairs: int = 10) -> np.ndarray:
    """Per-station linear CDF matching, cross-validated in time: the series is cut into ``n_blocks``
    contiguous blocks; each block is rescaled with :func:`linear_cdf_params` fitted on the station's other
    blocks. ``x``, ``y``: ``(time,)`` product and observations. NaN where fewer than ``min_pairs`` pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.full_like(x, np.nan)
    blocks = np.array_split(np.arange(x.size), n_blocks)
    for b in blocks:
        train_mask = np.ones(x.size, bool)
        train_mask[b] = False
        ok = train_mask & np.isfinite(x) & np.isfinite(y)
        if ok.sum() < min_pairs:
            continue
        a, s = linear_cdf_params(x[ok], y[ok])
        out[b] = a + s * x[b]
    return out


# --------------------------------------------------------------------------------- leave-stations-out
#: The methods :func:`leave_stations_out` evaluates (keys of its result) and their descriptions.
METHODS = {
    "source": "the source product at the station pixel (no correction)",
    "mean_bias": "mean-bias removal: source + mean(observation - source) over the training stations",
    "cdf_pooled": "linear CDF matching fitted on the training stations pooled, applied to the held-out ones",
    "cdf_station": "per-station linear CDF matching, fitted on the station's own other time blocks (point only)",
    "cnn_pretrained": "the CNN pre-trained on gridded pairs, not fine-tuned",
    "cnn_scratch": "the same CNN trained on the training stations only, from random weights (no transfer)",
    "cnn_transfer": "the pre-trained CNN fine-tuned on the training stations with its feature layers frozen",
}


@dataclass
class CalibrationConfig:
    """Parameters of the calibration (the notebook's parameters of the same names)."""

    widths: tuple = (16, 32, 32)
    patch_size: int = 7
    head_width: int = 32
    pretrain_samples: int = 20000
    pretrain_epochs: int = 10
    pretrain_lr: float = 1e-3
    finetune_epochs: int = 60
    finetune_lr: float = 1e-3
    n_trainable: int = 2
    scratch_epochs: int = 60
    scratch_lr: float = 1e-3
    batch_size: int = 256
    station_batch_size: int = 64
    finetune_l2sp: tuple = (0.01, 0.1, 1.0, 10.0)
    inner_folds: int = 3
    shift_init: bool = True
    weight_decay: float = 1e-4
    n_folds: int = 5
    cdf_blocks: int = 4
    seed: int = 0
    device: str = "auto"


def shift_output(model, X, Y, device: str = "cpu") -> np.ndarray:
    """Add to the last layer's bias the mean residual ``Y - model(X)`` of each output layer (m3/m3), so that
    the model is unbiased on these samples. Returns the shift (m3/m3). Used to start fine-tuning from the
    pre-trained network corrected for the mean bias of the training stations."""
    import torch

    pred = predict_patches(model, X, device=device)
    shift = np.array([np.nanmean(Y[:, k] - pred[:, k]) if np.isfinite(Y[:, k]).any() else 0.0
                      for k in range(Y.shape[1])], dtype=np.float32)
    with torch.no_grad():
        last = model.head[-1]
        last.bias += torch.from_numpy(shift).to(last.bias.device) / model.out_scale
    return shift


def _fine_tune_once(pretrained, X, Y, cfg: CalibrationConfig, l2sp: float, seed: int):
    model = copy.deepcopy(pretrained)
    freeze(model, cfg.n_trainable)
    if cfg.shift_init:
        shift_output(model, X, Y, device=cfg.device)
    hist = train(model, X, Y, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, batch_size=cfg.station_batch_size,
                 weight_decay=0.0 if l2sp > 0 else cfg.weight_decay, l2sp=float(l2sp), seed=seed, device=cfg.device)
    return model, hist


def select_l2sp(pretrained, X, Y, groups, cfg: CalibrationConfig, seed: int = 0) -> tuple[float, pd.DataFrame]:
    """Choose the L2-SP strength among ``cfg.finetune_l2sp`` by an inner leave-stations-out split of the
    *training* stations only (``groups``: the station of each sample; ``cfg.inner_folds`` folds): the
    strength with the lowest pooled RMSE (in units of the output scale) on the inner held-out stations.
    Returns ``(strength, table of inner scores)``."""
    cands = [float(a) for a in np.atleast_1d(cfg.finetune_l2sp)]
    uniq = np.unique(groups)
    if len(cands) == 1 or len(uniq) < 3:
        return cands[-1], pd.DataFrame({"l2sp": cands, "inner_rmse": np.nan})
    fold_of = dict(zip(uniq, station_folds(len(uniq), cfg.inner_folds, seed)))
    inner = np.array([fold_of[g] for g in groups])
    scale = pretrained.out_scale.cpu().numpy()
    scores = []
    for a in cands:
        err, cnt = 0.0, 0
        for f in np.unique(inner):
            tr, te = inner != f, inner == f
            model, _ = _fine_tune_once(pretrained, X[tr], Y[tr], cfg, a, seed)
            d = (predict_patches(model, X[te], device=cfg.device) - Y[te]) / scale
            ok = np.isfinite(d)
            err += float((d[ok] ** 2).sum())
            cnt += int(ok.sum())
        scores.append(math.sqrt(err / max(cnt, 1)))
    return cands[int(np.argmin(scores))], pd.DataFrame({"l2sp": cands, "inner_rmse": scores})


def fine_tune(pretrained, X, Y, cfg: CalibrationConfig, seed: int | None = None, groups=None):
    """The transfer step: a copy of ``pretrained`` with all but its last ``cfg.n_trainable`` layers frozen,
    trained on station patches ``X`` and observations ``Y`` (m3/m3). Its output is first shifted by the mean
    residual at the training stations (:func:`shift_output`, when ``cfg.shift_init``); the trainable layers are
    then trained with an L2-SP penalty pulling them towards their pre-trained values (Li et al. 2018), whose
    strength is chosen among ``cfg.finetune_l2sp`` by inner leave-stations-out on these stations
    (:func:`select_l2sp`; ``groups`` = station of each sample, needed when several strengths are given).
    Returns ``(model, loss history)``; ``model.l2sp`` holds the strength used."""
    seed = cfg.seed if seed is None else seed
    cands = np.atleast_1d(cfg.finetune_l2sp)
    if len(cands) > 1 and groups is None:
        raise DataError("fine_tune: several finetune_l2sp strengths need the station of each sample (groups)")
    a = select_l2sp(pretrained, X, Y, groups, cfg, seed)[0] if len(cands) > 1 else float(cands[0])
    model, hist = _fine_tune_once(pretrained, X, Y, cfg, a, seed)
    model.l2sp = a
    return model, hist


def train_scratch(like, X, Y, cfg: CalibrationConfig, seed: int | None = None):
    """The same architecture as ``like`` from random weights (same input standardization and output scale),
    every layer trained on station patches only: the no-transfer baseline. Returns ``(model, history)``."""
    c = like.config
    model = build_model(widths=c["widths"], patch_size=c["patch_size"], head_width=c["head_width"],
                        n_channels=c["n_channels"], seed=cfg.seed if seed is None else seed)
    set_normalization(model, like.mean.cpu().numpy(), like.std.cpu().numpy(), like.out_scale.cpu().numpy())
    hist = train(model, X, Y, epochs=cfg.scratch_epochs, lr=cfg.scratch_lr, batch_size=cfg.station_batch_size,
                 weight_decay=cfg.weight_decay, seed=cfg.seed if seed is None else seed, device=cfg.device)
    return model, hist


def _predict_stations(model, fields, stations, which, patch_size, device) -> np.ndarray:
    X, _, t = station_patches_all_days(fields, stations, which, patch_size)
    pred = predict_patches(model, X, device=device)
    out = np.full((len(which), len(fields.times), len(LAYERS)), np.nan, np.float32)
    out[np.repeat(np.arange(len(which)), len(fields.times)), t] = pred
    out[~fields.valid[:, stations.rows[which], stations.cols[which]].T] = np.nan
    return out


def leave_stations_out(fields: Fields, stations: StationSet, pretrained, cfg: CalibrationConfig,
                       methods=tuple(METHODS), progress=None, info: dict | None = None) -> tuple[dict, np.ndarray]:
    """Leave-stations-out k-fold: for each fold, every method is fitted on the other folds' stations only
    and predicts the held-out stations on every day.

    Returns ``(predictions, folds)``: ``predictions[method]`` is ``(station, time, 2)`` (m3/m3), each
    station's values from the fold that held it out (``cdf_station`` from its own other time blocks);
    ``folds[i]`` the fold of station ``i``. ``info``, when given, receives ``"l2sp"``: the L2-SP strength
    each fold's fine-tuning chose.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise DataError(f"unknown method(s) {unknown}; valid: {', '.join(METHODS)}")
    n, nt = len(stations), len(fields.times)
    folds = station_folds(n, cfg.n_folds, cfg.seed)
    src = source_at_stations(fields, stations)
    preds = {m: np.full((n, nt, len(LAYERS)), np.nan, np.float32) for m in methods}
    P = pretrained.config["patch_size"]
    chosen: list[float] = []
    if "source" in methods:
        preds["source"][:] = src
    if "cdf_station" in methods:
        for i in range(n):
            for k in range(len(LAYERS)):
                preds["cdf_station"][i, :, k] = station_cdf_match_cv(src[i, :, k], stations.obs[i, :, k],
                                                                     n_blocks=cfg.cdf_blocks)
    if "cnn_pretrained" in methods:
        preds["cnn_pretrained"][:] = _predict_stations(pretrained, fields, stations, np.arange(n), P, cfg.device)
    for f in np.unique(folds):
        test = np.where(folds == f)[0]
        trn = np.where(folds != f)[0]
        for k in range(len(LAYERS)):
            x, y = src[trn, :, k], stations.obs[trn, :, k]
            if "mean_bias" in methods:
                preds["mean_bias"][test, :, k] = src[test, :, k] + mean_bias(x, y)
            if "cdf_pooled" in methods:
                a, b = linear_cdf_params(x, y)
                preds["cdf_pooled"][test, :, k] = a + b * src[test, :, k]
        if "cnn_transfer" in methods or "cnn_scratch" in methods:
            X, Y, groups, _ = station_samples(fields, stations, trn, P)
            if "cnn_transfer" in methods:
                model, _ = fine_tune(pretrained, X, Y, cfg, seed=cfg.seed + 1 + int(f), groups=groups)
                chosen.append(model.l2sp)
                preds["cnn_transfer"][test] = _predict_stations(model, fields, stations, test, P, cfg.device)
            if "cnn_scratch" in methods:
                model, _ = train_scratch(pretrained, X, Y, cfg, seed=cfg.seed + 1 + int(f))
                preds["cnn_scratch"][test] = _predict_stations(model, fields, stations, test, P, cfg.device)
        if progress is not None:
            progress(int(f))
    for m in ("mean_bias", "cdf_pooled", "cdf_station"):
        if m in preds:
            preds[m] = np.clip(preds[m], *SM_RANGE)
    if info is not None:
        info["l2sp"] = chosen
    return preds, folds


def stations_dataset(pred: np.ndarray, stations: StationSet, folds=None, description: str = "") -> xr.Dataset:
    """A ``(station, time)`` Dataset with ``ssm`` and ``rzsm`` (m3/m3) from ``(station, time, 2)`` predictions,
    with the stations' ``lat``/``lon`` coordinates and (optionally) the fold that held each station out."""
    from .catalog import attrs

    coords = {"station": stations.ids, "time": stations.times, "lat": ("station", stations.lat),
              "lon": ("station", stations.lon)}
    if folds is not None:
        coords["fold"] = ("station", np.asarray(folds, dtype=np.int32))
    ds = xr.Dataset({v: xr.DataArray(pred[:, :, k].astype(np.float32), dims=("station", "time"), coords=coords,
                                     attrs=attrs(v)) for k, v in enumerate(LAYERS)})
    if description:
        ds.attrs["description"] = description
    return ds


def corrected_offset_map(fields: Fields, offset) -> xr.Dataset:
    """The source plus a constant ``offset`` per layer (m3/m3): the mean-bias-removal map, clipped."""
    from .catalog import attrs

    return xr.Dataset({v: (fields.source[v] + float(offset[k])).clip(*SM_RANGE).assign_attrs(attrs(v))
                       for k, v in enumerate(LAYERS)})


def distance_to_stations(fields: Fields, stations: StationSet) -> xr.DataArray:
    """Distance (km, equirectangular) from each 1-km pixel to the nearest station."""
    lat = np.deg2rad(fields.lat)[:, None, None]
    lon = np.deg2rad(fields.lon)[None, :, None]
    slat = np.deg2rad(stations.lat)[None, None, :]
    slon = np.deg2rad(stations.lon)[None, None, :]
    x = (lon - slon) * np.cos((lat + slat) / 2)
    d = 6371.0 * np.sqrt(x ** 2 + (lat - slat) ** 2)
    return xr.DataArray(d.min(-1), dims=("lat", "lon"), coords={"lat": fields.lat, "lon": fields.lon},
                        name="distance", attrs={"units": "km", "long_name": "distance to the nearest station"})


# ------------------------------------------------------------------------------------ stage helpers
def prepare(run_dir, source_product: str = "lightgbm", covariate_product: str = "estarfm",
            patch_size: int = 7) -> tuple[Fields, StationSet]:
    """Read the source product, covariates and stations of a run: ``(fields, stations)`` for the CNN."""
    src = load_source(run_dir, source_product)
    times = pd.DatetimeIndex(src["time"].values)
    cov, note = load_covariates(run_dir, src["lat"].values, src["lon"].values, times, covariate_product)
    fields = build_fields(src, cov, patch_size, note)
    return fields, load_stations(run_dir, fields)


def coarse_difference_target(run_dir, fields: Fields, references=DEFAULT_REFERENCE) -> tuple[xr.Dataset, dict]:
    """Pre-training targets that compare source and references *at the references' own scale*: for each
    listed product, the difference product minus the source aggregated onto the product's grid
    (:func:`smlib.grid.block_mean`), interpolated bilinearly to 1 km; the targets are the source plus the mean
    of these differences (NaN-aware). The 1-km detail of the source is kept and only its coarse-scale
    departure from the references is to be learnt. Returns the targets (m3/m3) and the names used per layer."""
    import warnings

    from .grid import bilinear, block_mean, grid_of
    from .io import has_input, read_input

    out, used = {}, {}
    for v in LAYERS:
        diffs, names = [], []
        for name in references:
            if not has_input(run_dir, name):
                continue
            ds = read_input(run_dir, name)
            if v not in ds.data_vars:
                continue
            ref = ds[v].transpose("time", "lat", "lon").astype("float32")
            ref = ref.assign_coords(time=pd.DatetimeIndex(ref["time"].values).normalize()).reindex(time=fields.times)
            src_c = block_mean(fields.source[v], grid_of(ref))
            diffs.append(bilinear(ref - src_c.values, fields.lat, fields.lon).transpose("time", "lat", "lon").values)
            names.append(name)
        if not diffs:
            raise InputError(f"none of the pre-training references {list(references)} is present with variable "
                             f"{v!r} under {Path(run_dir) / 'inputs'}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = np.nanmean(np.stack(diffs), axis=0)
        out[v] = fields.source[v] + d.astype("float32")
        used[v] = names
    return xr.Dataset(out), used


def pretraining_reference(run_dir, fields: Fields, references=DEFAULT_REFERENCE,
                          target: str = "coarse_difference") -> tuple[xr.Dataset, dict]:
    """The gridded pre-training targets ``ssm``/``rzsm`` on the 1-km grid and, per layer, the names of the
    products used. ``target``: ``"coarse_difference"`` (:func:`coarse_difference_target`: source plus its
    coarse-scale difference from the references) or ``"reference"`` (:func:`reference_field`: the references
    themselves, interpolated bilinearly, smooth at 1 km)."""
    if target == "coarse_difference":
        return coarse_difference_target(run_dir, fields, references)
    if target != "reference":
        raise DataError(f"pretrain_target must be 'coarse_difference' or 'reference', got {target!r}")
    out, used = {}, {}
    for v in LAYERS:
        out[v], used[v] = reference_field(run_dir, references, v, fields.lat, fields.lon, fields.times)
    return xr.Dataset(out), used


def score_methods(run_dir, preds: dict, stations: StationSet, min_days: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score each method's held-out ``(station, time, 2)`` predictions against the stations with
    :func:`smlib.validate.score_stations`.

    Returns ``(summary, per_station)``: ``summary`` one row per method x layer with the median over stations
    of ``r, bias, rmse, ubrmse, mae`` (m3/m3) and ``stations`` (the number scored); ``per_station`` the long
    table of every station's metrics.
    """
    from .validate import score_stations, summarize_stations

    rows, per = [], []
    for m, p in preds.items():
        ds = stations_dataset(p, stations)
        for v in LAYERS:
            df = score_stations(run_dir, ds[v], var=v, min_days=min_days)
            s = summarize_stations(df)
            rows.append({"method": m, "layer": v, "stations": s.pop("n"), **s})
            per.append(df.assign(method=m, layer=v))
    return pd.DataFrame(rows), pd.concat(per, ignore_index=True)



# --------------------------------------------------------------------------------- chapter summaries


def station_error_floor(attrs: dict) -> dict:
    """RMSE (m3/m3) that the stations' own documented errors alone give, per layer: the hypotenuse of
    the representativeness error sd and the sensor-bias sd recorded in ``inputs/stations.nc``'s attrs by
    the synthetic generator (NaN for real stations, which record neither)."""
    bias = attrs.get("bias_sd", np.nan)
    return {"ssm": float(np.hypot(attrs.get("error_sd", np.nan), bias)),
            "rzsm": float(np.hypot(attrs.get("rz_error_sd", np.nan), bias))}


def _pick(tab: pd.DataFrame, method: str, layer: str, col: str) -> float:
    sel = (tab["method"] == method) & (tab["layer"] == layer)
    return float(tab.loc[sel, col].iloc[0]) if sel.any() else float("nan")


def summary_markdown(summary: pd.DataFrame, source: str, target: float = 0.3, floor: dict | None = None,
                     extra: dict | None = None) -> str:
    """The chapter's computed summary, one bullet per layer, from the held-out station table
    (:func:`score_methods`) and the station error floor (:func:`station_error_floor`). ``target``: the
    required fractional RMSE reduction (0.3, with r at least that of the source); ``extra``: further text
    per layer (e.g. the validation's scores of the maps) appended to its bullet."""
    lines = []
    for layer in LAYERS:
        r0, r1 = _pick(summary, "source", layer, "rmse"), _pick(summary, "cnn_transfer", layer, "rmse")
        c0, c1 = _pick(summary, "source", layer, "r"), _pick(summary, "cnn_transfer", layer, "r")
        need = (1 - target) * r0
        met = "meets" if (r1 <= need and c1 >= c0) else "does not meet"
        text = (f"- **{layer}**: at held-out stations the median RMSE goes from {r0:.3f} ({source}) to {r1:.3f} "
                f"m3/m3 ({100 * (r1 / r0 - 1):+.0f}%) and r from {c0:.3f} to {c1:.3f}: this {met} the target of "
                f"an RMSE {100 * target:.0f}% lower ({need:.3f}) with r at least as high (the paper: 0.053-0.055 "
                f"to 0.028-0.031). Mean-bias removal alone reaches {_pick(summary, 'mean_bias', layer, 'rmse'):.3f}.")
        if floor is not None and np.isfinite(floor.get(layer, np.nan)):
            text += (f" The stations' own documented errors (representativeness and sensor bias) alone give about "
                     f"{floor[layer]:.3f} m3/m3.")
        if extra and extra.get(layer):
            text += " " + extra[layer]
        best = summary[summary["layer"] == layer].sort_values("rmse").iloc[0]["method"]
        lines += [text, f"  Lowest held-out station RMSE: `{best}`."]
    return "\n".join(lines)
