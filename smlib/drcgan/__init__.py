"""DrcGAN: seamless daily soil moisture by fusing SMAP-like and Noah-like fields (seed 001, stage 04).

Jiang, M., Qiu, T., Wang, T., Zeng, C., Zhang, B., Shen, H. (2025) Seamless global daily soil moisture
mapping using deep learning based spatiotemporal fusion. Int. J. Appl. Earth Obs. Geoinf. 139, 104517.

A deep residual cycle GAN learns the mapping from the gap-free land-surface model (Noah-like, 0.25 deg,
brought to the 0.36 deg SMAP grid) to the SMAP-like retrievals and back; the generated SMAP-like field
fills SMAP's swath and quality gaps, the observations are kept where present. Modules:

- :mod:`.data`: regridding, observation masks, the seeded hold-out, temporal context, standardization;
- :mod:`.model`: residual generators and PatchGAN discriminators;
- :mod:`.train`: the losses, the training loop, prediction, checkpoints (``weights_only=True``);
- :mod:`.baselines`: temporal interpolation and CDF matching.

:func:`run_fusion` does the whole stage on a run directory; :func:`write_outputs` writes the product
``drcgan`` (``ssm``, m3/m3), the checkpoint and the loss table through :mod:`smlib.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .baselines import cdf_match, temporal_interpolation
from .data import (FusionData, holdout_mask, neighbour_context, noah_to_smap_grid, prepare, static_to_smap_grid,
                   usable_observations)
from .train import DrcGAN, DrcGANConfig, build, load_checkpoint, predict, resolve_device, save_checkpoint, train

__all__ = ["DrcGANConfig", "DrcGAN", "FusionData", "FusionRun", "build", "cdf_match", "holdout_mask",
           "load_checkpoint", "load_fields", "neighbour_context", "noah_to_smap_grid", "predict", "prepare",
           "resolve_device", "run_fusion", "save_checkpoint", "score_subsets", "static_to_smap_grid",
           "temporal_interpolation", "train", "usable_observations", "write_outputs"]


def load_fields(run_dir, model: str = "noah", fine_res: float = 0.01, region=None) -> tuple[xr.Dataset, dict]:
    """Read ``smap.nc``, ``model_<model>.nc`` and (if present) ``static.nc`` of a run and put them on
    the SMAP grid: returns ``(fields, statics)`` where ``fields`` holds ``smap`` (ssm, m3/m3), ``qc``
    (if present) and ``model`` (the model ssm by :func:`noah_to_smap_grid`), and ``statics`` maps
    covariate names to ``(lat, lon)`` arrays (:func:`static_to_smap_grid`)."""
    from .. import io
    from ..grid import grid_of

    smap = io.read_input(run_dir, "smap", ["ssm"] + (["qc"] if _has_var(run_dir, "smap", "qc") else []))
    mdl = io.read_input(run_dir, f"model_{model}", ["ssm"])["ssm"]
    sgrid = grid_of(smap)
    times = smap["time"].values
    missing = np.setdiff1d(times, mdl["time"].values)
    if missing.size:
        from ..errors import DataError

        raise DataError(f"model_{model}.nc lacks {missing.size} of the SMAP days (first {str(missing[0])[:10]})")
    model_s = noah_to_smap_grid(mdl.sel(time=times), sgrid, fine_res=fine_res, region=region)
    fields = xr.Dataset({"smap": smap["ssm"], "model": model_s.assign_coords(time=times)})
    if "qc" in smap:
        fields["qc"] = smap["qc"]
    statics = {}
    if io.has_input(run_dir, "static"):
        st = static_to_smap_grid(io.read_input(run_dir, "static"), sgrid)
        statics = {k: st[k].values for k in st.data_vars}
    return fields, statics


def _has_var(run_dir, name: str, var: str) -> bool:
    from .. import io

    return var in io.read_input(run_dir, name, load=False).data_vars


@dataclass
class FusionRun:
    """Everything :func:`run_fusion` makes (fields ``(time, lat, lon)`` on the SMAP grid, m3/m3)."""

    product: xr.DataArray                # the seamless product (observations kept if asked)
    generated: xr.DataArray              # the generator's field everywhere
    smap: xr.DataArray                   # usable SMAP observations (NaN elsewhere), hold-out included
    model: xr.DataArray                  # the model on the SMAP grid
    masks: xr.Dataset                    # observed, holdout, gap (bool)
    baselines: dict = field(default_factory=dict)   # name -> field
    gan: DrcGAN | None = None
    supervised: DrcGAN | None = None
    data: FusionData | None = None


def run_fusion(run_dir, model: str = "noah", config: DrcGANConfig | None = None, holdout_fraction: float = 0.15,
               val_fraction: float = 0.1, window: int = 2, tau: float = 5.0, keep_observed: bool = True,
               use_qc: bool = True, device="auto", progress: bool = True, supervised_baseline: bool = True,
               fine_res: float = 0.01) -> FusionRun:
    """The stage: load the fields, hold out ``holdout_fraction`` of the observations (seed
    ``config.seed``), train DrcGAN (and, with ``supervised_baseline``, the same generator without the
    adversarial and cycle terms), compute the interpolation and CDF-matching baselines, and assemble
    the seamless product (observations kept where ``keep_observed``; held-out days are generated).

    Masks returned: ``observed`` (usable observations the method saw), ``holdout`` (artificial gaps),
    ``gap`` (pixel-days without a usable observation: swath, quality and never-observed cells).
    """
    cfg = config or DrcGANConfig()
    fields, statics = load_fields(run_dir, model, fine_res=fine_res)
    smap = fields["smap"].transpose("time", "lat", "lon")
    qc = fields["qc"].transpose("time", "lat", "lon").values if "qc" in fields else None
    usable = usable_observations(smap.values, qc, use_qc)
    doy = pd.DatetimeIndex(smap["time"].values).dayofyear.values
    data = prepare(smap.values, fields["model"].transpose("time", "lat", "lon").values, usable, statics, doy,
                   holdout_fraction, val_fraction, window, tau, cfg.seed)
    dev = resolve_device(device)
    gan = train(data, cfg, dev, progress, desc="DrcGAN")
    gen = predict(gan, data)
    sup = None
    like = lambda a, name: smap.copy(data=np.asarray(a, dtype="float32")).rename(name)  # noqa: E731
    obs = np.where(usable, smap.values, np.nan)
    avail = data.avail_mask
    base = {"interpolation": like(temporal_interpolation(np.where(avail, obs, np.nan), avail), "ssm"),
            "noah_cdf": like(cdf_match(fields["model"].values, obs, avail), "ssm")}
    if supervised_baseline:
        sup = train(data, replace(cfg, lambda_adv=0.0, lambda_cyc=0.0), dev, progress, desc="supervised")
        base["supervised"] = like(predict(sup, data), "ssm")
    kept = np.where(avail, obs, gen) if keep_observed else gen
    product = like(np.clip(kept, 0.0, None), "ssm")
    masks = xr.Dataset({"observed": (smap.dims, avail), "holdout": (smap.dims, data.holdout),
                        "gap": (smap.dims, ~usable)}, coords=smap.coords)
    return FusionRun(product=product, generated=like(gen, "ssm"), smap=like(obs, "ssm"),
                     model=fields["model"].rename("ssm"), masks=masks, baselines=base, gan=gan, supervised=sup,
                     data=data)


def score_subsets(fields: dict, masks: dict, scorer) -> pd.DataFrame:
    """Score every field in ``fields`` (name -> DataArray) on every subset in ``masks`` (name -> bool
    DataArray of the same shape) with ``scorer(da) -> dict`` (e.g. a validation function that
    compares ``da`` with a reference, ignoring NaN). Returns one row per field x subset."""
    rows = []
    for sname, m in masks.items():
        for fname, da in fields.items():
            rows.append({"subset": sname, "product": fname, **scorer(da.where(m))})
    return pd.DataFrame(rows)


def write_outputs(run_dir, res: FusionRun, study: str | None = None, params: dict | None = None) -> list[Path]:
    """Write product ``drcgan`` (``ssm``, m3/m3), ``models/drcgan.pt`` and the loss histories
    ``tables/fusion_seamless_losses.csv`` through :mod:`smlib.io`. Returns the paths."""
    from .. import io
    from ..catalog import attrs

    ssm = res.product.astype("float32")
    ssm.attrs = attrs("ssm", comment="DrcGAN seamless SMAP-like soil moisture (Jiang et al. 2025)")
    ds = xr.Dataset({"ssm": ssm})
    ds["observed"] = res.masks["observed"].astype("int8")
    ds["observed"].attrs = {"long_name": "1 where the SMAP-like observation is kept", "units": "1"}
    paths = [io.write_product(run_dir, "drcgan", ds, study=study, params=params)]
    paths.append(save_checkpoint(res.gan, Path(run_dir) / "models" / "drcgan.pt"))
    hist = [res.gan.history.assign(model="drcgan")]
    if res.supervised is not None:
        hist.append(res.supervised.history.assign(model="supervised"))
    table = pd.concat(hist).reset_index()
    paths.append(io.write_table(table, io.tables_dir(run_dir) / "fusion_seamless_losses.csv"))
    return paths
