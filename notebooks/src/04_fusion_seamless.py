# %% [markdown]
# # Seamless daily soil moisture (DrcGAN)
#
# Gap-free daily SM from gappy SMAP-like and continuous Noah-like fields (seed 001).
#
# ## Overview
#
# SMAP retrieves surface soil moisture accurately but only along its swaths, every two to three days,
# and not over dense forest, water or frozen ground. A land-surface model such as Noah is gap-free but
# biased and smoother than the real field. {cite}`jiang2025drcgan` fuse the two with a *deep residual
# cycle GAN* (DrcGAN): a generator learns to turn Noah into SMAP-like soil moisture, a second generator
# learns the way back, two discriminators judge whether fields look like real SMAP or real Noah, and
# SMAP itself supervises the first generator wherever it observes. The generated field fills the gaps;
# the observations are kept where they exist. Their global product (STSG-SM) scored R 0.8388 at
# stations against 0.8405 for the original SMAP: the gap-free field is nearly as good as the
# observations.
#
# This chapter is stage `04_fusion_seamless`. It reads `inputs/smap.nc` and `inputs/model_noah.nc`
# (and the static covariates of `inputs/static.nc`), writes the product `products/drcgan.nc` (`ssm`,
# m3/m3, 0.36 deg daily), the checkpoint `models/drcgan.pt` and the tables
# `tables/fusion_seamless_*.csv`. Because the study is synthetic, the product is also scored against
# the truth it never saw, in the real gaps, in artificial gaps made by holding back observations, and
# where SMAP observes.
#
# **Prerequisites**: stage `01_data_prep` (the canonical inputs); the ideas of GANs
# {cite}`goodfellow2014gan`, CycleGAN {cite}`zhu2017cyclegan` and the least-squares GAN {cite}`mao2017lsgan`.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
model = "noah"  # model product fused with SMAP (inputs/model_<model>.nc)
epochs = 8  # training epochs, each visiting every day once (small default; demo.yml sets 40)
width = 16  # generator feature maps (demo.yml: 32)
n_blocks = 2  # residual blocks per generator (demo.yml: 4)
disc_width = 32  # discriminator feature maps (first layer)
disc_layers = 3  # discriminator 3x3 layers (receptive field 2*layers+1 cells)
batch_size = 16  # days per batch
lr = 0.0002  # Adam learning rate (constant, then linear decay over the second half)
lambda_sup = 10.0  # weight of the supervised loss where SMAP observes
lambda_cyc = 5.0  # weight of the cycle-consistency losses
lambda_id = 2.0  # weight of the identity losses
lambda_adv = 1.0  # weight of the least-squares adversarial losses
window = 2  # days of model context each side of the target day
tau = 5.0  # e-folding time [days] of the weight of the neighbouring observations
holdout_fraction = 0.15  # share of the usable SMAP pixel-days held out as artificial gaps (seeded)
val_fraction = 0.1  # share of the remaining observations kept for model selection
keep_observed = True  # keep SMAP where it observes (False: the generated field everywhere)
use_qc = True  # only retrievals with qc 0 (recommended quality) count as observations
augment = True  # random 90-degree rotations and flips of the training batches
seed = 0  # seed of the hold-out, the splits, the weights and the batches
device = "auto"  # cpu, cuda or auto (CUDA when present)
cpu_threads = 1  # torch threads on the CPU (the grids are small: one thread is fastest on a shared machine)
supervised_baseline = True  # also train the generator without adversarial and cycle terms

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "fusion_seamless")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))

# %% [markdown]
# ## Method
#
# **Data on one grid.** Everything happens on the 0.36 deg SMAP grid. Noah (0.25 deg) is brought there by
# bilinear interpolation to the 0.01 deg grid of the region and the block mean of the fine pixels in each
# SMAP cell; the static covariates (elevation, slope, water fraction, soil texture, land-cover fractions)
# by block means. A SMAP pixel-day counts as observed where `ssm` is finite and `qc == 0`.
#
# **Inputs of the generator for day $t$** (channels of a whole-region image): Noah on days $t-w \dots t+w$;
# the previous and the next SMAP observation of the cell (strictly before and after $t$), Noah on those
# days, and weights $e^{-\Delta t/\tau}$ of their distance in days; the static covariates; the season
# ($\sin$, $\cos$ of the day of year). Soil moisture is standardized with one pooled mean and standard
# deviation, so both domains share units.
#
# **Networks.**
#
# | network | maps | layers |
# |---|---|---|
# | $G$ (Noah $\to$ SMAP) | inputs above $\to$ SMAP-like $s$ | 3x3 conv, $B$ residual blocks (conv-LeakyReLU-conv, scaled skip), 3x3 conv; output = Noah$_t$ + correction |
# | $F$ (SMAP $\to$ Noah) | SMAP-like field, statics, season $\to$ Noah-like $n$ | same design, output = input field + correction |
# | $D_S$ | (SMAP-like field $\cdot$ mask, mask, statics) $\to$ score per cell | PatchGAN: 3x3 convs, LeakyReLU 0.2, 1x1 score |
# | $D_N$ | (Noah-like field, statics) $\to$ score per cell | PatchGAN |
#
# **Losses** ($m$: mask of training observations; $\tilde s$: SMAP with gaps filled by temporal
# interpolation; $x[n{:=}f]$: inputs with Noah$_t$ replaced by $f$; means over the cells of $m$ where
# written $\langle\cdot\rangle_m$):
#
# $$
# \begin{aligned}
# L_G ={}& \lambda_{sup}\,\langle (G(x)-s)^2\rangle_m
#  + \lambda_{cyc}\big(|F(G(x))-n|_1 + \langle|G(x[n{:=}F(\tilde s)])-s|\rangle_m\big)\\
#  &+ \lambda_{id}\big(\langle|G(x[n{:=}\tilde s])-s|\rangle_m + |F(n)-n|_1\big)
#  + \lambda_{adv}\big(\langle(D_S(G(x)\cdot m)-1)^2\rangle_m + \overline{(D_N(F(\tilde s))-1)^2}\big)\\
# L_D ={}& \tfrac12\big(\langle(D_S(s\cdot m)-1)^2\rangle_m + \langle D_S(G(x)\cdot m)^2\rangle_m\big)
#  + \tfrac12\big(\overline{(D_N(n)-1)^2} + \overline{D_N(F(\tilde s))^2}\big)
# \end{aligned}
# $$
#
# the least-squares adversarial loss of {cite}`mao2017lsgan` and the cycle and identity terms of
# {cite}`zhu2017cyclegan`. The discriminator of the SMAP side sees real and generated fields through the
# same observation mask, so gaps tell it nothing. Adam, batches of whole days with random rotations and
# flips, constant learning rate then linear decay; the generator with the lowest error on a validation
# share of the observations is kept.
#
# **Evaluation.** A seeded `holdout_fraction` of the usable observations is removed from every input
# and loss (artificial gaps). Baselines: temporal linear interpolation of SMAP, Noah CDF-matched to
# SMAP per cell, and the same generator trained with $\lambda_{adv}=\lambda_{cyc}=0$ (supervised and
# identity terms only).

# %%
import time

import numpy as np
import pandas as pd

from smlib import drcgan, io

cfg = drcgan.DrcGANConfig(width=width, n_blocks=n_blocks, disc_width=disc_width, disc_layers=disc_layers,
                          epochs=epochs, batch_size=batch_size, lr=lr, lambda_sup=lambda_sup,
                          lambda_cyc=lambda_cyc, lambda_id=lambda_id, lambda_adv=lambda_adv, augment=augment,
                          seed=seed)
dev = drcgan.resolve_device(device)
t0 = time.perf_counter()
res = drcgan.run_fusion(ctx.run_dir, model=model, config=cfg, holdout_fraction=holdout_fraction,
                        val_fraction=val_fraction, window=window, tau=tau, keep_observed=keep_observed,
                        use_qc=use_qc, device=dev, supervised_baseline=supervised_baseline,
                        cpu_threads=cpu_threads)
stage_seconds = time.perf_counter() - t0
params = {k: v for k, v in globals().items() if k in ctx.study.stage_params("fusion_seamless")}
paths = drcgan.write_outputs(ctx.run_dir, res, study=ctx.study.name, params=params)
T, H, W = res.product.shape
print(f"grid {H} x {W} cells x {T} days on {dev}; DrcGAN trained in {res.gan.seconds:.1f} s "
      f"(best epoch {res.gan.best_epoch + 1} of {epochs}); whole stage {stage_seconds:.1f} s")
print("wrote", ", ".join(str(p.relative_to(ctx.run_dir)) for p in paths))

# %% [markdown]
# ## The inputs and the gaps
#
# How much of each day SMAP observes, and what the observations, the held-out pixel-days and the real
# gaps are.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

m = res.masks
frac = pd.DataFrame({"observed (used)": m["observed"].mean(("lat", "lon")).values,
                     "held out": m["holdout"].mean(("lat", "lon")).values},
                    index=pd.DatetimeIndex(res.product["time"].values))
ax = frac.plot.area(figsize=(9, 2.8), alpha=0.7)
ax.set_ylabel("share of SMAP cells [-]")
ax.set_xlabel("date")
ax.set_title("SMAP-like coverage per day")
plt.show()
summary_masks = pd.Series({"pixel-days": int(T * H * W), "observed (used)": int(m["observed"].sum()),
                           "held out": int(m["holdout"].sum()), "real gaps": int(m["gap"].sum())})
summary_masks.to_frame("count")

# %% [markdown]
# ## A gappy day, before and after
#
# The day with the most held-out cells among those with some coverage: SMAP as observed (gaps and
# artificial gaps blank), Noah on the SMAP grid, the generated field and the seamless product.

# %% tags=["hide-input"]
from smlib import plotting

cover = m["observed"].sum(("lat", "lon")).values + m["holdout"].sum(("lat", "lon")).values
score_day = np.where(cover > 0, m["holdout"].sum(("lat", "lon")).values * 100 + (H * W - cover), -1)
day = int(np.argmax(score_day))
when = str(res.product["time"].values[day])[:10]
fig = plotting.map_panel({f"SMAP-like as used, {when}": res.smap[day].where(m["observed"][day]),
                          "Noah-like on the SMAP grid": res.model[day],
                          "DrcGAN generated": res.generated[day],
                          "seamless product": res.product[day]}, name="ssm", ncols=4, panel_size=(3.6, 3.2))
plt.show()

# %% [markdown]
# ## Training: the loss curves
#
# Unweighted means per epoch of each generator term, the two discriminator losses (an equilibrium near
# 0.25 per discriminator means neither side wins outright), and the validation RMSE that selects the
# generator kept.

# %% tags=["hide-input"]
hist = res.gan.history
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
hist[["sup", "cyc", "idt"]].plot(ax=axes[0], logy=True)
axes[0].set_title("generator terms")
axes[0].set_ylabel("loss (standardized SM units)")
hist[["adv", "d_s", "d_n"]].plot(ax=axes[1])
axes[1].set_title("least-squares adversarial")
axes[1].set_ylabel("loss [-]")
axes[2].plot(hist.index, hist["val_rmse"], label="DrcGAN")
if res.supervised is not None:
    axes[2].plot(res.supervised.history.index, res.supervised.history["val_rmse"], label="supervised only")
axes[2].axvline(res.gan.best_epoch, color="k", lw=0.6, ls="--")
axes[2].set_title("validation observations")
axes[2].set_ylabel("RMSE [m3/m3]")
axes[2].legend()
for a in axes:
    a.set_xlabel("epoch")
plt.show()

# %% [markdown]
# ## Scores against the truth
#
# Each field is scored against the synthetic truth averaged to the SMAP cells (`smlib.validate`), on
# three sets of pixel-days: the **real gaps** (no usable SMAP; only cells every method covers, since
# temporal interpolation has nothing where a cell is never observed), the **held-out** artificial gaps,
# and where SMAP is **observed**. `drcgan` is the product (SMAP kept where observed), `drcgan_generated`
# the generator everywhere, `smap` the original observations, `noah` the model on the SMAP grid before
# any rescaling (not a gap-filler of SMAP, shown for reference).

# %%
from smlib import validate

fields = {"drcgan": res.product, "drcgan_generated": res.generated, **res.baselines, "smap": res.smap,
          "noah": res.model}
common = m["gap"] & np.isfinite(res.baselines["interpolation"])
subsets = {"real gaps": common, "held out": m["holdout"], "observed": m["observed"]}
scores = drcgan.score_subsets(fields, subsets, lambda da: validate.score_truth(ctx.run_dir, da))
scores = scores[scores["n"] > 0].reset_index(drop=True)
io.write_table(scores, ctx.tables / "fusion_seamless_scores.csv")
scores.pivot(index="product", columns="subset", values=["r", "ubrmse", "rmse"]).round(4)

# %% [markdown]
# How to read the table: in this synthetic region the Noah-like model has a much smaller random error
# than the SMAP-like retrievals (DESIGN.md section 5: 0.04 m3/m3 for SMAP, smaller for the models, but
# a bias), so most of what any method knows in the gaps comes from Noah. Compare `drcgan` with the
# `noah` row: the gain over the raw model is mainly the removed bias (rmse against ubRMSE); the gain
# over `noah_cdf` shows what per-cell CDF matching to noisy retrievals costs, and the gain over
# `supervised` is what the adversarial and cycle terms add to the same generator.
#
# In the held-out gaps the held-back observations are a second reference (they carry SMAP's own
# retrieval error, so every score against them is capped by it):

# %%
held = res.smap.where(m["holdout"])
held_scores = pd.DataFrame({name: validate.pooled(da.where(m["holdout"]), held)
                            for name, da in fields.items() if name not in ("smap", "noah")}).T
io.write_table(held_scores.rename_axis("product"), ctx.tables / "fusion_seamless_heldout_obs.csv")
held_scores.round(4)

# %% [markdown]
# ## Scores at the stations
#
# The paper's own test: the median over stations of each station's scores (stations with at least 30
# paired days); `smap` is the original, gappy record.

# %%
stn = {}
for name in ("smap", "drcgan", "drcgan_generated", "interpolation", "noah_cdf", "supervised"):
    if name in fields:
        stn[name] = validate.summarize_stations(validate.score_stations(ctx.run_dir, fields[name]))
stations_table = pd.DataFrame(stn).T
io.write_table(stations_table.rename_axis("product"), ctx.tables / "fusion_seamless_stations.csv")
stations_table.round(4)

# %% [markdown]
# A time series at the cell with the most held-out days: the truth (cell mean), the observations kept,
# the held-out ones (the product never saw them), the product, the generated field and the two simple
# baselines.

# %% tags=["hide-input"]
cell = np.unravel_index(int(m["holdout"].sum("time").values.argmax()), (H, W))
sel = dict(lat=cell[0], lon=cell[1])
truth_cell = validate.truth.truth_on_grid(validate.read_truth(ctx.run_dir, ["ssm"])["ssm"], res.product)
plotting.station_series(res.product["time"].values,
                        {"truth": truth_cell.sel(time=res.product["time"]).isel(sel).values,
                         "SMAP used": res.smap.where(m["observed"]).isel(sel).values,
                         "SMAP held out": res.smap.where(m["holdout"]).isel(sel).values,
                         "DrcGAN product": res.product.isel(sel).values,
                         "DrcGAN generated": res.generated.isel(sel).values,
                         "interpolation": res.baselines["interpolation"].isel(sel).values,
                         "Noah CDF-matched": res.baselines["noah_cdf"].isel(sel).values},
                        title=f"cell {float(res.product.lat[cell[0]]):.2f} N, {float(res.product.lon[cell[1]]):.2f} E")
plt.show()

# %% [markdown]
# ## Summary

# %%
from IPython.display import Markdown

text = drcgan.summarize(scores, stn, reference="the truth")
text += (f"\n- training: {epochs} epochs, width {width}, {n_blocks} residual blocks, on {dev}: "
         f"{res.gan.seconds:.0f} s for DrcGAN, {res.supervised.seconds if res.supervised else float('nan'):.0f} s "
         "for the supervised-only generator.")
Markdown(text)

# %% [markdown]
# ## What comes next
#
# The seamless product `drcgan` is scored with every other product in stage `08_validation` (the
# scoreboard). It is daily and gap-free at 0.36 deg, which makes it a candidate input for the
# downscaling of stage `05_downscaling` and a reference for the assimilation of stage `06_assimilation`.
# Open questions for a reader to try: a longer window of model days, other model products
# (`model = "gleam"`), or `keep_observed = False` to see how far the generator alone departs from SMAP.
#
# ## References
#
# - DrcGAN and the STSG-SM product (seed 001) {cite}`jiang2025drcgan`.
# - Generative adversarial networks {cite}`goodfellow2014gan`; CycleGAN, its cycle-consistency and identity
#   losses {cite}`zhu2017cyclegan`; the least-squares GAN loss {cite}`mao2017lsgan`; PatchGAN
#   discriminators {cite}`isola2017pix2pix`; residual blocks {cite}`he2016resnet`; Adam {cite}`kingma2015adam`.
# - CDF matching of soil moisture products {cite}`reichle2004bias`, {cite}`brocca2011soil`.
# - Full entries in the book's bibliography.
