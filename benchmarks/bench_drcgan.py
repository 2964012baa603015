"""Training time of DrcGAN on the demo study (``drcgan_train_seconds``; quick mode: the tiny study).

The inputs are generated into a temporary folder (the published run is untouched); the stage's
settings come from the study file (``stages: fusion_seamless:``). Baseline, measured in the same run:
the same generator trained for the same epochs without the adversarial and cycle terms (no second
generator, no discriminators), so the ratio is the price of the GAN machinery. The issue's budget is
600 s on 2 CPU cores; the detail says how many threads and which device were used.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(quick: bool = False) -> dict:
    import numpy as np
    import pandas as pd
    import torch

    from smlib import drcgan, inputs, study

    name = "tiny" if quick else "demo"
    st = study.load(ROOT / "data" / "studies" / f"{name}.yml")
    p = st.stage_params("fusion_seamless")
    cfg = drcgan.DrcGANConfig(width=p["width"], n_blocks=p["n_blocks"], disc_width=p["disc_width"],
                              disc_layers=p["disc_layers"], epochs=p["epochs"], batch_size=p["batch_size"],
                              lr=p["lr"], lambda_sup=p["lambda_sup"], lambda_cyc=p["lambda_cyc"],
                              lambda_id=p["lambda_id"], lambda_adv=p["lambda_adv"], augment=p["augment"],
                              seed=p["seed"])
    dev = drcgan.resolve_device(p["device"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs.make_inputs(st, tmp)
        fields, statics = drcgan.load_fields(tmp, p["model"])
    smap = fields["smap"].transpose("time", "lat", "lon")
    usable = drcgan.usable_observations(smap.values, fields["qc"].values if "qc" in fields else None, p["use_qc"])
    data = drcgan.prepare(smap.values, fields["model"].transpose("time", "lat", "lon").values, usable, statics,
                          pd.DatetimeIndex(smap["time"].values).day_of_year.values, p["holdout_fraction"],
                          p["val_fraction"], p["window"], p["tau"], cfg.seed)
    threads = p["cpu_threads"] if dev.type == "cpu" else None
    gan = drcgan.train(data, cfg, dev, progress=False, cpu_threads=threads)
    sup = drcgan.train(data, replace(cfg, lambda_adv=0.0, lambda_cyc=0.0), dev, progress=False, cpu_threads=threads)
    T, C, H, W = data.x.shape
    detail = (f"{name} study, {H}x{W} cells x {T} days, {C} input channels; epochs {cfg.epochs}, width {cfg.width}, "
              f"{cfg.n_blocks} residual blocks, batch {cfg.batch_size}; device {dev}, torch threads "
              f"{threads or torch.get_num_threads()} (machine: {os.cpu_count()} cores); baseline = the generator alone (supervised + identity) "
              f"{sup.seconds:.1f} s; budget 600 s on 2 CPU cores; best validation RMSE "
              f"{np.nanmin(gan.history['val_rmse']):.4f} m3/m3")
    print(f"drcgan_train_seconds: {gan.seconds:.1f} s (generator alone {sup.seconds:.1f} s, "
          f"ratio {gan.seconds / sup.seconds:.2f})")
    return {"drcgan_train_seconds": {"value": round(gan.seconds, 2), "unit": "s", "baseline": round(sup.seconds, 2),
                                     "ratio": round(gan.seconds / sup.seconds, 3), "detail": detail}}
