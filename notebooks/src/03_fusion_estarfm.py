# %% [markdown]
# # Spatiotemporal fusion of NDVI and LST (ESTARFM)
#
# Daily 1-km NDVI and LST from gappy fine and gap-free coarse series (Zhu et al. 2010; seed 000).
#
# ## Overview
#
# The downscaling of stage 05 needs NDVI and land-surface temperature (LST) at 1 km on *every* day. MODIS-like
# data have the resolution but not the days: NDVI arrives as 16-day composites and LST is missing under
# clouds. GLASS-like data have every day but only at 0.05 deg (5 km). The enhanced spatial and temporal
# adaptive reflectance fusion model (ESTARFM, {cite}`zhu2010estarfm`) blends the two: it takes the fine
# spatial pattern from the nearest clear fine images and the temporal change from the coarse series. The seed
# paper ({cite}`seed000_fusion2025`) used it to make the daily 1-km NDVI and LST it downscaled soil moisture
# with; this chapter makes them for the study region, scores them against the synthetic truth beside two
# simple baselines, and checks the method on a real Landsat/MODIS LST pair.
#
# **Prerequisites**: stage 01 (the canonical inputs `modis.nc` and `glass.nc`). **Output**:
# `products/estarfm.nc` (`ndvi`, `lst_day`; daily, 1 km) and `tables/fusion_estarfm_*.csv`.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
half_window = 8  # ESTARFM half window w in fine pixels (window 2w+1); ~3 GLASS cells, as the reference's 51 px ~ 3 MODIS cells
n_classes = 4.0  # estimated number of classes: similarity threshold 2 sd / n_classes
max_similar = 0  # keep at most this many (spatially nearest) similar pixels (0 keeps all, as the reference code)
min_similar = 6  # fewer similar pixels use the window-mean fallback (reference: more than 5)
min_change_fraction = 0.02  # minimum coarse change between the pairs for a regressed coefficient, x DN_max
alpha = 0.05  # significance level of the conversion-coefficient regression
max_coefficient = 5.0  # largest accepted conversion coefficient
resample = "bilinear"  # coarse images onto the fine grid: bilinear or nearest
ndvi_range = [-1.0, 1.0]  # DN_min, DN_max of NDVI
lst_range = [200.0, 350.0]  # DN_min, DN_max of LST (K)
ndvi_bias_correction = True  # ubESTARFM zero-bias scaling for NDVI (16-day maximum-value composites run high)
lst_bias_correction = True  # ... and for LST (ubESTARFM was designed for LST)
tile = 128  # target pixels per processing block side (memory bound)
yanco_half_window = 12  # half window for the real-data check (0.001 deg pixels, a MODIS cell is 10 pixels)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import Markdown, display

from smlib import catalog, estarfm, io, notebook, plotting, validate

ctx = notebook.setup(study, run_dir, "fusion_estarfm")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")

# %% [markdown]
# ## The inputs
#
# The fine series has gaps (NDVI only on its composite dates, LST only on clear days); the coarse series has
# none. The table gives the clear fraction of the fine pixel-days.

# %%
VARS = ["ndvi", "lst_day"]
modis = io.read_input(ctx.run_dir, "modis", VARS)
glass = io.read_input(ctx.run_dir, "glass", VARS)
clear = pd.DataFrame({v: {"clear pixel-days (%)": 100 * float(np.isfinite(modis[v]).mean()),
                          "days with any clear pixel": int(np.isfinite(modis[v]).any(("lat", "lon")).sum()),
                          "days": modis.sizes["time"]} for v in VARS}).T
clear.round(1)

# %% [markdown]
# ## Method
#
# For a target pixel on day $t_0$ and two fine/coarse pairs at $t_1 \le t_0 \le t_2$ (coarse resampled to the
# fine grid), ESTARFM
#
# 1. selects **similar pixels** in a $(2w+1)^2$ window: those whose fine value differs from the target's by
#    less than $2\sigma/m$ in both fine images ($\sigma$ the image's standard deviation, $m$ the number of classes);
# 2. weights them by $W_i = (1/C_i)/\sum_j (1/C_j)$ with the combined distance $C_i = (1-S_i)\,D_i$, where
#    $S_i = 1 - \tfrac12\left(\left|\tfrac{F_1-C_1}{F_1+C_1}\right| + \left|\tfrac{F_2-C_2}{F_2+C_2}\right|\right)$
#    is the spectral similarity of the reference code and $D_i = 1 + d_i/w$ the relative distance;
# 3. estimates a **conversion coefficient** $V$, the slope of fine on coarse over the similar pixels of both
#    pairs, kept when the coarse change between the pairs is at least 2 % of $DN_{max}$, the F-test is
#    significant at 5 % and $0 < V \le 5$ (else 1);
# 4. predicts from each pair $F_0^{(k)} = F_k + V \sum_i W_i (C_{0,i} - C_{k,i})$ and blends them with
#    **temporal weights** $T_k \propto 1/|\bar C_0 - \bar C_k|$ (window means):
#    $F_0 = T_1 F_0^{(1)} + T_2 F_0^{(2)}$; out-of-range predictions and pixels with too few similar pixels
#    follow the reference code's fallbacks.
#
# **Gaps.** Every pixel uses its *own* nearest clear fine dates before and after $t_0$ as its pairs, and seeks
# its similar pixels in those images; clear pixels keep their observation, and at the ends of the period the
# one available side is used twice (STARFM-like one-pair mode). `smlib.estarfm` does this vectorized over
# pixels (one pass over the window offsets with running sums), in blocks of `tile` x `tile` pixels, and
# shares the similar pixels among all days with the same pairs; `tests/test_estarfm.py` checks it against a
# per-pixel transcription of Zhu's IDL code to 1e-5.
#
# **Bias.** A 16-day maximum-value composite is higher than the NDVI of a typical day, and clear-sky LST is not
# the LST of the cloudy days it must fill. With `ndvi_bias_correction` / `lst_bias_correction` the fine values
# of each pair are shifted to the coarse level over the similar pixels and the conversion coefficient is set to
# 1: the zero-bias scaling of ubESTARFM ({cite}`yu2023ubestarfm`), designed for LST, so that the daily series
# follows the gap-free coarse series' level and ESTARFM adds the 1-km pattern. Set both to `False` for Zhu's
# original rules.

# %%
common = dict(half_window=half_window, n_classes=n_classes, max_similar=max_similar or None,
              min_similar=min_similar, alpha=alpha, max_coefficient=max_coefficient, tile=tile, resample=resample)
settings = {"ndvi": dict(value_range=tuple(ndvi_range), min_change=min_change_fraction * ndvi_range[1],
                         bias_correction=ndvi_bias_correction),
            "lst_day": dict(value_range=tuple(lst_range), min_change=min_change_fraction * lst_range[1],
                            bias_correction=lst_bias_correction)}
fused, seconds = {}, {}
for v in VARS:
    t0 = time.perf_counter()
    fused[v] = estarfm.fuse_series(modis[v], glass[v], **common, **settings[v])
    fused[v].attrs = catalog.attrs(v, method="ESTARFM (Zhu et al. 2010), nearest clear pairs per pixel")
    seconds[v] = time.perf_counter() - t0
    print(f"{v}: {modis.sizes['time']} days x {modis.sizes['lat']} x {modis.sizes['lon']} pixels in {seconds[v]:.1f} s")
product = xr.Dataset(fused)
io.write_product(ctx.run_dir, "estarfm", product, study=ctx.study.name, params={**common, **settings})
print("wrote", ctx.products / "estarfm.nc")

# %% [markdown]
# ## Baselines and scores
#
# Two baselines on the same data: the **nearest clear MODIS date** of each pixel (what one gets by filling gaps
# in time) and **GLASS resampled to 1 km** (bilinear). Scores are pooled over all pixel-days against the
# synthetic truth, and separately over the gaps alone (pixel-days without a clear fine observation), where
# the methods differ most.

# %%
baselines = {v: {"estarfm": fused[v], "nearest_clear_modis": estarfm.nearest_clear(modis[v]),
                 "glass_bilinear": estarfm.coarse_on_fine(glass[v], modis[v], "bilinear")} for v in VARS}
scores = None
if validate.has_truth(ctx.run_dir):
    reference = validate.read_truth(ctx.run_dir, VARS)
    parts = []
    for v in VARS:
        gaps = ~np.isfinite(modis[v])
        for subset, mask in (("all", None), ("gaps", gaps)):
            df = estarfm.score_against(baselines[v], reference[v], mask).reset_index()
            parts.append(df.assign(variable=v, subset=subset))
    scores = pd.concat(parts)[["variable", "subset", "method", "n", "r", "bias", "rmse", "ubrmse", "mae"]]
    io.write_table(scores, ctx.tables / "fusion_estarfm_scores.csv")
    display(scores.round(4))
else:
    print("no synthetic truth in this run (a real-data study): scores against the truth are skipped")

# %% [markdown]
# ## Maps
#
# One day with many gaps: the fine observation (white = missing), the coarse GLASS field, the ESTARFM
# prediction and the two baselines (and the truth of a synthetic study).

# %% tags=["hide-input"]
frac = np.isfinite(modis["lst_day"]).mean(("lat", "lon")).values
day = int(np.argmin(np.where(frac > 0.05, frac, np.inf))) if (frac > 0.05).any() else 0
for v in VARS:
    panels = {"MODIS (gappy)": modis[v].isel(time=day), "GLASS 0.05 deg": glass[v].isel(time=day),
              "ESTARFM": fused[v].isel(time=day), "nearest clear date": baselines[v]["nearest_clear_modis"].isel(time=day)}
    if scores is not None:
        panels["truth"] = reference[v].isel(time=day)
    plotting.map_panel(panels, name=v, ncols=len(panels), suptitle=f"{catalog.label(v)}, {str(modis.time.values[day])[:10]}")
    plt.show()
print(plotting.map_note())

# %% [markdown]
# ## Time series at one pixel
#
# The pixel with the most LST gaps: the fusion follows the coarse day-to-day changes from the fine level of its
# clear dates (dots).

# %% tags=["hide-input"]
ny, nx = np.unravel_index(int(np.argmin(np.isfinite(modis["lst_day"]).sum("time").values)), modis["lst_day"].shape[1:])
fig, axes = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True)
for ax, v in zip(axes, VARS):
    pt = dict(lat=modis.lat.values[ny], lon=modis.lon.values[nx])
    ax.plot(modis.time, modis[v].sel(pt), "ko", ms=3, label="MODIS clear")
    ax.plot(modis.time, glass[v].sel(pt, method="nearest"), lw=1, label="GLASS")
    ax.plot(modis.time, fused[v].sel(pt), lw=1.4, label="ESTARFM")
    if scores is not None:
        ax.plot(modis.time, reference[v].sel(pt), "k--", lw=0.8, label="truth")
    ax.set_ylabel(catalog.label(v))
    ax.legend(ncol=4, fontsize=8)
axes[-1].set_xlabel("date")
fig.suptitle(f"pixel {pt['lat']:.3f} N, {pt['lon']:.3f} E")
plt.show()

# %% [markdown]
# ## A real pair: Landsat and MODIS LST at Yanco, 2016
#
# The ubESTARFM repository ({cite}`yu2023ubestarfm`) ships cloud-free Landsat (100 m, resampled to 0.001 deg)
# and MODIS MOD11A1 LST (1 km, resampled to the same grid) over Yanco, New South Wales. We predict the
# 2016-03-08 Landsat image from the 2016-02-05 Landsat/MODIS pair and the 2016-03-08 MODIS image (one-pair
# mode: the pair is passed twice) and score it against the observed Landsat image, beside the 03-08 MODIS
# image itself and the unchanged 02-05 Landsat image. The check runs only where `../shared/realdata` exists.

# %%
folder = estarfm.yanco_folder()
yanco = None
if folder is None:
    print("../shared/realdata is not on this machine: the real-data check is skipped")
else:
    yanco = estarfm.yanco_check(folder, half_window=yanco_half_window, n_classes=n_classes, tile=tile)
    io.write_table(yanco, ctx.tables / "fusion_estarfm_yanco.csv")
    display(yanco.round(3))

# %% tags=["hide-input"]
if yanco is not None:
    imgs = {k: estarfm.read_band(folder / f) for k, f in estarfm.YANCO_FILES.items()}
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    show = {"Landsat 2016-02-05": imgs["fine1"], "MODIS 2016-03-08": imgs["coarse0"],
            "ESTARFM 2016-03-08": yanco.attrs["prediction"], "Landsat 2016-03-08 (observed)": imgs["fine0"]}
    lo, hi = np.nanpercentile(imgs["fine0"], [2, 98])
    for ax, (title, a) in zip(axes, show.items()):
        im = ax.imshow(a, vmin=lo, vmax=hi, cmap="inferno")
        ax.set_title(title)
        ax.set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.8, label="land surface temperature [K]")
    plt.show()

# %% [markdown]
# ## Summary

# %%
lines = []
if scores is not None:
    for v in VARS:
        s = scores[(scores.variable == v)].set_index(["subset", "method"])
        e, n_, g = (s.loc[("all", m)] for m in ("estarfm", "nearest_clear_modis", "glass_bilinear"))
        eg, gg = s.loc[("gaps", "estarfm")], s.loc[("gaps", "glass_bilinear")]
        u = catalog.lookup(v)[0].replace("1", "")
        wins = (e.r > max(n_.r, g.r)) and (e.ubrmse < min(n_.ubrmse, g.ubrmse))
        gap_word = "beats" if (eg.r > gg.r and eg.rmse < gg.rmse) else "does not beat"
        lines.append(f"- **{v}** over all pixel-days: ESTARFM r = {e.r:.3f}, ubRMSE = {e.ubrmse:.4g} {u}, RMSE = "
                     f"{e.rmse:.4g} {u}; nearest clear date r = {n_.r:.3f}, ubRMSE = {n_.ubrmse:.4g}; GLASS r = "
                     f"{g.r:.3f}, ubRMSE = {g.ubrmse:.4g}: ESTARFM {'beats' if wins else 'does not beat'} both "
                     f"baselines in r and ubRMSE. In the gaps alone ESTARFM {gap_word} GLASS: r = {eg.r:.3f}, RMSE = "
                     f"{eg.rmse:.4g} against r = {gg.r:.3f}, RMSE = {gg.rmse:.4g}.")
if yanco is not None:
    y = yanco
    lines.append(f"- **Yanco (real)**: ESTARFM r = {y.loc['estarfm', 'r']:.3f}, RMSE = {y.loc['estarfm', 'rmse']:.2f} K "
                 f"against the observed Landsat image; resampled MODIS r = {y.loc['modis_resampled', 'r']:.3f}, "
                 f"RMSE = {y.loc['modis_resampled', 'rmse']:.2f} K; unchanged Landsat r = "
                 f"{y.loc['landsat_no_change', 'r']:.3f}, RMSE = {y.loc['landsat_no_change', 'rmse']:.2f} K.")
lines.append(f"- Run time: {', '.join(f'{v} {seconds[v]:.0f} s' for v in VARS)} for "
             f"{modis.sizes['time']} days of {modis.sizes['lat']} x {modis.sizes['lon']} pixels.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# How to read these numbers: on clear pixel-days ESTARFM returns the observation, so its advantage over all
# pixel-days partly reflects MODIS's own accuracy; the gap rows show what the fusion itself adds. The nearest
# clear date keeps the fine pattern but misses every change since that date; GLASS has every change but no
# 1-km detail; ESTARFM has both, to the extent the coarse change is uniform within a similar-pixel class. LST
# changes fast and locally after rain, which a 5-km coarse change does not resolve, and each fine LST image
# carries its own retrieval noise into the prediction, so in the LST gaps the fusion is at best level with
# GLASS; over the whole series it is better because it keeps every clear observation. On the Yanco pair one
# month separates the two Landsat dates: the fusion improves on the MODIS image, while the unchanged Landsat
# image, with its large bias, shows how much of the 1-km pattern simply persists.
#
# ## What comes next
#
# Stage 05 uses `products/estarfm.nc` as the daily 1-km NDVI and LST predictors of the LightGBM downscaling.
#
# ## References
#
# - ESTARFM {cite}`zhu2010estarfm`; its use for daily 1-km NDVI and LST in the seed paper {cite}`seed000_fusion2025`.
# - ubESTARFM, the zero-bias scaling and the Yanco test pair {cite}`yu2023ubestarfm`.
