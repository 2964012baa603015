# %% [markdown]
# # CNN bias correction against stations
#
# A CNN pre-trained on gridded pairs and fine-tuned on stations: point-to-area calibration (seed 000).
#
# ## Overview
#
# This chapter is stage `07_calibration` of the pipeline. The 1-km surface (0-5 cm) and root-zone (0-100 cm) soil
# moisture made by LightGBM downscaling in stage 05 inherits the errors of the coarse model it was downscaled from.
# Seed 000 {cite}`seed000_fusion2025` calibrates it against ground stations with a convolutional neural network
# (CNN) and transfer learning: the network is first pre-trained on plentiful gridded pairs, then only its last
# layers are fine-tuned on the few station points, and the fine-tuned network is applied to every pixel
# (point-to-area). The paper reports the RMSE against stations falling from 0.053-0.055 to 0.028-0.031 m3/m3 and
# the correlation rising from 0.70-0.75 to 0.79-0.86.
#
# Here every score at stations comes from **leave-stations-out** cross-validation: a station is predicted only by
# a network that never saw it. And because the study region is synthetic, the corrected maps are also scored
# against the 1-km truth everywhere, which answers a question the paper could not: does a correction learnt at
# a few points improve the map away from them?
#
# **Prerequisites**: stage 01 (inputs), stage 03 (ESTARFM NDVI/LST; without it gap-filled MODIS is used) and
# stage 05 (`products/lightgbm.nc`). Background: convolutional networks and transfer learning
# {cite}`yosinski2014transferable`.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
source_product = "lightgbm"  # 1-km product to calibrate (products/<name>.nc with ssm, rzsm)
covariate_product = "estarfm"  # NDVI/LST product; inputs/modis.nc gap-filled when absent
pretrain_reference = ["model_era5land", "model_noah", "model_cldas", "model_geos5", "smap"]  # gridded targets
pretrain_target = "coarse_difference"  # "coarse_difference" (source + its coarse-scale gap) or "reference"
widths = [16, 32, 32]  # channels of the convolutional (feature) layers
patch_size = 7  # patch edge in 1-km pixels (receptive field of the convolutions)
head_width = 32  # channels of the 1x1 head (the layers fine-tuned at stations)
pretrain_samples = 20000  # gridded pixel-day pairs drawn for pre-training
pretrain_epochs = 8
pretrain_lr = 0.001
finetune_epochs = 30
finetune_lr = 0.001
finetune_l2sp = [0.1, 10.0]  # L2-SP strengths; chosen per fold by inner leave-stations-out
inner_folds = 3  # inner folds (training stations only) that choose the L2-SP strength
shift_init = True  # start fine-tuning from the pre-trained CNN shifted by the training stations' mean residual
station_batch_size = 64  # mini-batch of station samples
n_trainable = 2  # trailing layers fine-tuned at stations, the rest frozen (2: the 1x1 head)
scratch_epochs = 30  # no-transfer baseline: same CNN trained on stations only
scratch_lr = 0.001
batch_size = 256
weight_decay = 0.0001
n_folds = 5  # leave-stations-out folds
cdf_blocks = 4  # time blocks of the per-station CDF-matching baseline
min_days = 30  # minimum paired days for a station to be scored
far_km = 5.0  # pixels farther than this from every station count as "away from stations"
seed = 0
device = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
n_threads = 1  # CPU threads for torch

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

from smlib import calibrate as cal, io, notebook, plotting, validate

ctx = notebook.setup(study, run_dir, "calibration")
torch.set_num_threads(n_threads)
dev = cal.resolve_device(device)
cfg = cal.CalibrationConfig(widths=tuple(widths), patch_size=patch_size, head_width=head_width,
                            pretrain_samples=pretrain_samples, pretrain_epochs=pretrain_epochs, pretrain_lr=pretrain_lr,
                            finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, n_trainable=n_trainable,
                            finetune_l2sp=tuple(finetune_l2sp), inner_folds=inner_folds, shift_init=shift_init,
                            station_batch_size=station_batch_size,
                            scratch_epochs=scratch_epochs, scratch_lr=scratch_lr, batch_size=batch_size,
                            weight_decay=weight_decay, n_folds=n_folds, cdf_blocks=cdf_blocks, seed=seed, device=dev)
params = {k: v for k, v in cfg.__dict__.items()} | {"source_product": source_product,
                                                    "pretrain_reference": pretrain_reference,
                                                    "pretrain_target": pretrain_target}
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}; device {dev}")

# %% [markdown]
# ## Data
#
# The network reads, on the 1-km grid of the source product: surface and root-zone SM (m3/m3), NDVI, daytime LST
# (K), elevation (m), slope (degrees) and the day of year (as sine and cosine). Stations (`inputs/stations.nc`)
# are matched to the pixel that contains them.

# %%
fields, stations = cal.prepare(ctx.run_dir, source_product, covariate_product, patch_size)
print(fields.covariate_note)
print(f"{fields.shape[0]} days x {fields.shape[1]} x {fields.shape[2]} pixels; {len(stations)} stations; "
      f"{int(np.isfinite(stations.obs[..., 0]).sum())} surface and {int(np.isfinite(stations.obs[..., 1]).sum())} "
      "root-zone station-days")

# %% tags=["hide-input"]
import cartopy.crs as ccrs

day = len(fields.times) // 2
st_ds = cal.stations_dataset(stations.obs, stations)


def layer_maps(ds, title):
    """Both layers of ``ds`` on day ``day``, stations as triangles, one colour bar per layer."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), subplot_kw={"projection": ccrs.PlateCarree()})
    for ax, v in zip(axes, cal.LAYERS):
        plotting.map_field(ds[v].isel(time=day), ax=ax, name=v, stations=st_ds, title=f"{title} {v}")
    fig.suptitle(f"{fields.times[day].date()}; triangles: stations")


layer_maps(fields.source, source_product)

# %% [markdown]
# ## Method
#
# **Network.** A residual, fully convolutional CNN: `len(widths)` valid convolutions with ReLU whose receptive
# field is exactly `patch_size` x `patch_size` pixels (the feature extractor), then a head of two 1x1
# convolutions that outputs a correction for each layer, scaled in m3/m3 and *added* to the source value at
# the patch centre. Inputs are standardized inside the network. Because the convolutions are valid and the head
# is 1x1, applying the network to a whole padded day image gives exactly the patch-by-patch prediction at every
# pixel: that is how the map is made.
#
# **Pre-training on gridded pairs.** The targets come from a consensus of the gridded products whose errors are
# independent of the source's: the products in `pretrain_reference` (model products other than GLEAM, from which
# `lightgbm` is downscaled, plus SMAP for the surface layer). GLEAM is left out on purpose: a target that shares
# the source's errors would teach the network nothing about them. The references are coarse (0.25-0.36 deg), so
# with `pretrain_target = "coarse_difference"` (the default) source and reference are compared *at the
# reference's own scale*: each reference minus the source aggregated onto its cells, interpolated bilinearly to
# 1 km and averaged over the references, is added to the source. The network thus learns the coarse-scale
# departure of the source from the consensus as a function of its inputs, and the source's 1-km detail is kept.
# With `pretrain_target = "reference"` the smooth references themselves are the targets, which also teaches the
# network to smooth away 1-km detail. `pretrain_samples` pixel-days are drawn uniformly.
#
# **Fine-tuning on stations (transfer).** The feature layers are frozen and the last `n_trainable` layers (the
# head) are re-trained on patches centred on station pixels, with station observations as targets. A few tens of
# stations are few independent samples however many days they hold, and a head free to move learns each training
# station's own sensor bias as if it were a property of its terrain. So fine-tuning (i) starts from the
# pre-trained network shifted by the mean residual at the training stations (`shift_init`), and (ii) penalizes the
# squared distance of the trainable weights from their pre-trained values, the L2-SP penalty
# {cite}`li2018explicit`, whose strength is chosen among `finetune_l2sp` by an *inner* leave-stations-out split of
# the training stations only (the held-out stations play no part in the choice).
#
# **Evaluation.** Stations are split into `n_folds` folds; for each fold every method is fitted on the other
# folds' stations only and predicts the held-out stations on every day. Baselines on the same folds:
#
# - `source`: the uncorrected product at the station pixel;
# - `mean_bias`: mean-bias removal, adding the mean station-minus-product difference of the training stations;
# - `cdf_pooled`: linear CDF matching (mean and standard deviation) {cite}`brocca2011soil` fitted on the
#   training stations pooled;
# - `cdf_station`: per-station linear CDF matching fitted on the same station's *other* time blocks: it uses the
#   station's own data, so it is a point method that cannot be carried to a pixel without a station;
# - `cnn_pretrained`: the pre-trained CNN, not fine-tuned;
# - `cnn_scratch`: the same CNN from random weights, every layer trained on the training stations only (no
#   transfer);
# - `cnn_transfer`: the method: pre-trained, then fine-tuned with the feature layers frozen. Its held-out series
#   are `products/lightgbm_calibrated_stations.nc`, the only source of its station rows in the scoreboard.
#
# The map `products/lightgbm_calibrated.nc` comes from one more fine-tuning on *all* stations.

# %%
reference, ref_used = cal.pretraining_reference(ctx.run_dir, fields, pretrain_reference, target=pretrain_target)
print("pre-training reference:", {k: " + ".join(v) for k, v in ref_used.items()})
pretrained, pre_hist = cal.pretrain(fields, reference, widths=widths, patch_size=patch_size, head_width=head_width,
                                    n_samples=pretrain_samples, epochs=pretrain_epochs, lr=pretrain_lr,
                                    batch_size=batch_size, weight_decay=weight_decay, seed=seed, device=dev)
cal.save_model(pretrained, ctx.models / "calibration_pretrained.pt")
print(f"pre-training loss (standardized MSE): {pre_hist[0]:.3f} -> {pre_hist[-1]:.3f}")

# %%
info = {}
preds, folds = cal.leave_stations_out(fields, stations, pretrained, cfg, info=info)
print("L2-SP strength chosen in each fold:", info["l2sp"])
io.write_product(ctx.run_dir, "lightgbm_calibrated_stations",
                 cal.stations_dataset(preds["cnn_transfer"], stations, folds,
                                      description=f"leave-stations-out ({cfg.n_folds}-fold) predictions of the "
                                                  f"CNN calibration of {source_product}"),
                 study=ctx.study.name, params=params)
summary, per_station = cal.score_methods(ctx.run_dir, preds, stations, min_days=min_days)
io.write_table(summary, ctx.tables / "calibration_stations.csv")
io.write_table(per_station, ctx.tables / "calibration_per_station.csv")

# %% [markdown]
# ## Results at held-out stations
#
# Median over stations of each station's metrics (bias = product minus station, m3/m3); every station scored by
# a model that never saw it.

# %%
order = list(cal.METHODS)
tab = summary.set_index(["layer", "method"]).loc[[(l, m) for l in cal.LAYERS for m in order]]
tab.style.format({c: "{:.3f}" for c in ("r", "bias", "rmse", "ubrmse", "mae")})

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, metric in zip(axes, ("rmse", "r")):
    piv = summary.pivot(index="method", columns="layer", values=metric).loc[order]
    piv.plot.barh(ax=ax, width=0.8)
    ax.set_xlabel(f"median held-out station {metric.upper()}" + (" [m3/m3]" if metric == "rmse" else " [-]"))
    ax.set_ylabel("")
axes[0].invert_yaxis()
fig.suptitle("leave-stations-out scores by method (surface ssm, root zone rzsm)");

# %% tags=["hide-input"]
i = int(np.argmax(np.isfinite(stations.obs[..., 0]).sum(1)))
fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
for k, (ax, v) in enumerate(zip(axes, cal.LAYERS)):
    plotting.station_series(fields.times, {"station": stations.obs[i, :, k], source_product: preds["source"][i, :, k],
                                           "cnn_transfer (held out)": preds["cnn_transfer"][i, :, k],
                                           "mean_bias": preds["mean_bias"][i, :, k]}, ax=ax, name=v)
axes[0].set_title(f"station {stations.ids[i]} (fold {folds[i]}, never used to fine-tune the model shown)");

# %% [markdown]
# ## Point-to-area: the calibrated maps
#
# The network fine-tuned on all stations is applied to every pixel and day. For the comparison against the truth
# the baselines that can make a map are mapped the same way (`mean_bias` with all stations, `cnn_scratch` trained
# on all stations, `cnn_pretrained`); `cdf_station` and `cdf_pooled` are left out of the maps: the first exists only
# at stations, the second is a linear rescaling whose map is shown by `mean_bias`'s logic.

# %%
all_st = np.arange(len(stations))
X, Y, groups, _ = cal.station_samples(fields, stations, all_st, patch_size)
final, ft_hist = cal.fine_tune(pretrained, X, Y, cfg, groups=groups)
scratch, _ = cal.train_scratch(pretrained, X, Y, cfg)
cal.save_model(final, ctx.models / "calibration_finetuned.pt")
calibrated = cal.predict_map(final, fields, device=dev)
io.write_product(ctx.run_dir, "lightgbm_calibrated", calibrated, study=ctx.study.name, params=params)
src_st = cal.source_at_stations(fields, stations)
offset = [cal.mean_bias(src_st[..., k], stations.obs[..., k]) for k in range(2)]
maps = {source_product: fields.source, "mean_bias": cal.corrected_offset_map(fields, offset),
        "cnn_pretrained": cal.predict_map(pretrained, fields, device=dev),
        "cnn_scratch": cal.predict_map(scratch, fields, device=dev), "cnn_transfer": calibrated}
print(f"fine-tuning on all stations: L2-SP {final.l2sp:g}, loss {ft_hist[0]:.3f} -> {ft_hist[-1]:.3f}")

# %% tags=["hide-input"]
layer_maps(calibrated, "calibrated")
corr = (calibrated - fields.source).mean("time")
fig, axes = plt.subplots(1, 2, figsize=(10, 4), subplot_kw={"projection": ccrs.PlateCarree()})
for ax, v in zip(axes, cal.LAYERS):
    lim = float(abs(corr[v]).quantile(0.98))
    plotting.map_field(corr[v], ax=ax, name="diff", cmap="RdBu_r", vmin=-lim, vmax=lim, units="m3/m3",
                       stations=st_ds, title=f"mean correction (calibrated - {source_product}), {v}")

# %% [markdown]
# ## Against the truth everywhere
#
# Pooled over all pixel-days (`truth`), over pixels farther than `far_km` from every station (`truth_far`), and on
# the 1-km detail (`truth_fine`: each field minus its 0.25-deg cell mean).

# %%
has_truth = validate.has_truth(ctx.run_dir)
far = cal.distance_to_stations(fields, stations) > far_km
truth_tab = validate.headroom.score_maps(ctx.run_dir, maps, cal.LAYERS, far=far) if has_truth else None
if has_truth:
    io.write_table(truth_tab, ctx.tables / "calibration_truth.csv")
    display(truth_tab.pivot_table(index=["layer", "method"], columns="reference", values=["rmse", "r"],
                                  sort=False).round(4))

# %% tags=["hide-input"]
if has_truth:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), subplot_kw={"projection": ccrs.PlateCarree()})
    tr = validate.read_truth(ctx.run_dir, "ssm")["ssm"]
    err = {source_product: (fields.source["ssm"] - tr.values).mean("time"),
           "calibrated": (calibrated["ssm"] - tr.values).mean("time")}
    lim = float(max(abs(e).quantile(0.98) for e in err.values()))
    for ax, (name, e) in zip(axes, err.items()):
        plotting.map_field(e, ax=ax, name="bias", cmap="RdBu_r", vmin=-lim, vmax=lim, units="m3/m3", stations=st_ds,
                           title=f"{name} minus truth, surface, period mean")

# %% [markdown]
# ## How far can a correction of the map go? (headroom)
#
# A station reads the 1-km truth at its pixel plus its own representativeness error and sensor bias, so even a
# perfect map has a station RMSE above zero. Because the truth is known here, validation can score *oracle* fields
# at the same stations and tell where the source's remaining error lives: in its coarse-cell mean (bias, timing
# and amplitude at 0.25 deg: what gridded references and a few stations can teach a correction) or in its 1-km
# detail (what only 1-km information can fix). Rows: the source; the truth itself (the floor); the truth averaged
# over each 0.25-deg cell; the source's own 1-km detail on the perfect cell mean; the perfect 1-km detail on the
# source's cell mean; the last two also with their regional mean bias removed. Medians over all stations (no fitting
# is involved, so no cross-validation is needed); RMSE, ubRMSE and bias in m3/m3.
#
# How to read it: a correction learnt from gridded references (all at 0.25 deg or coarser) and a few tens of
# stations can at best repair the coarse-cell part of the source, so the row `<source> detail + truth cell mean`
# is close to the best such a correction can reach at unseen stations. Where that row stays above the target of a
# 30% lower RMSE, reaching the target needs better 1-km *dynamics* than the source has, information that neither
# the gridded references nor a few stations carry; the row `truth detail + <source> cell mean` shows how much the
# 1-km detail alone would be worth.

# %%
headroom = {}
if has_truth:
    for layer in cal.LAYERS:
        headroom[layer] = validate.headroom.station_headroom(ctx.run_dir, fields.source[layer], layer, name=source_product,
                                           min_days=min_days)
    hr_tab = pd.concat({k: v.set_index("field") for k, v in headroom.items()}, names=["layer"])
    io.write_table(hr_tab.reset_index(), ctx.tables / "calibration_headroom.csv")
    display(hr_tab.round(4))
else:
    print("no synthetic truth in this study: headroom skipped")

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
floor = cal.station_error_floor(io.read_input(ctx.run_dir, "stations").attrs)
extra = {layer: validate.headroom.calibration_text(
             layer, source_product, float(summary.query("method == 'source' and layer == @layer")["rmse"].iloc[0]),
             truth_tab, headroom.get(layer), far_km=far_km) for layer in cal.LAYERS} if has_truth else None
display(Markdown(cal.summary_markdown(summary, source_product, floor=floor, extra=extra)))

# %% [markdown]
# What a correction learnt at stations can transfer: each station reads the 1-km value plus a point-scale
# representativeness error (autocorrelated in time) and a sensor bias of its own. Neither is shared between
# stations, so no method can predict them at a station it never saw, and both set a floor under the held-out RMSE.
# What transfers is the source's systematic error (bias, gain and its dependence on vegetation, temperature and
# terrain), and that is also what improves the map away from the stations. The per-station CDF matching, which
# fits each station's own data, absorbs the sensor bias too, so it can score well *at* stations while telling
# nothing about any other pixel; compare it with the truth scores above before taking a station score as map accuracy.
#
# ## What comes next
#
# Stage 08 (`08_validation`) puts `lightgbm_calibrated` into the scoreboard beside every other product: its
# station rows from `products/lightgbm_calibrated_stations.nc` (the held-out series above), its truth rows from the
# map. Exercises: fine-tune more layers (`n_trainable`), change `patch_size`, or pre-train against a single model
# product (`pretrain_reference`) and see how much of the gain came from the consensus.
#
# ## References
#
# - Seed 000: ESTARFM, LightGBM two-layer downscaling and CNN bias correction with transfer learning
#   {cite}`seed000_fusion2025`.
# - Transferability of the features of deep networks, the basis of freezing layers {cite}`yosinski2014transferable`.
# - Linear CDF matching of soil moisture {cite}`brocca2011soil`.
# - L2-SP regularization for transfer learning {cite}`li2018explicit`.
# - Full entries in the book's bibliography.
