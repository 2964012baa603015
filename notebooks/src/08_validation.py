# %% [markdown]
# # Validation and the scoreboard
#
# Triple collocation, station and truth metrics for every product, and the scoreboard.
#
# ## Overview
#
# Every earlier chapter makes soil-moisture products; this one scores them all in one place, three ways:
#
# 1. against the **synthetic truth** (synthetic studies only), which no real validation has: pooled over all
#    pixel-days at each product's own grid, and, for 1-km products, on the sub-cell detail alone;
# 2. against the **in-situ stations**, as the papers do: per-station metrics over at least 30 paired days,
#    summarised by their median and stratified by land cover;
# 3. with **triple collocation** (TC), which needs no reference at all: three collocated products with
#    independent errors reveal each one's error variance and its correlation with the unknown truth
#    ({cite}`mccoll2014tc`, {cite}`gruber2016tc`); seed 003 uses it for `[NN, FY3C, GEOS-5]`
#    {cite}`lv2021qinghai`.
#
# On a synthetic study the generator recorded the error it put into each input, so TC can be checked
# against it here, which is rarely possible. The chapter writes `data/runs/<study>/scoreboard.csv`, one row per
# product x layer x reference, the table every other chapter's claims are read from.
#
# **Prerequisites**: stage `01_data_prep` (the canonical inputs). Every later stage is optional: the
# chapter scores whatever products exist under `data/runs/<study>/products/`, including none.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
min_days = 30  # minimum paired days for a station to be scored
match_method = "nearest"  # station matching: nearest | bilinear
use_qc = True  # use SMAP-like retrievals only where the quality flag is 0, recommended quality
percent = "r_only"  # products in % saturation (ASCAT-like): r_only | meanstd
tc_triplets = [["amsr2", "fy3c", "model_gleam"], ["smap", "amsr2", "model_noah"], ["smap", "ascat", "model_era5land"]]
tc_auto_with = ["fy3c", "model_geos5"]  # every method output p is also collocated as [p, *tc_auto_with] (seed 003)
tc_min_n = 30  # minimum complete triplets per pixel
tc_min_pair_r = 0.2  # seed 003 masks pixels where any pairwise r is below this; negative: no mask
n_boot = 200  # bootstrap replicates for the TC intervals
boot_seed = 0
station = ''  # station id for the time-series figure; empty: the one with the most observations

# %%
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from smlib import notebook
from smlib.validate import plots, report, scoreboard, tc_bootstrap
from smlib.validate.match import by_landcover
from smlib.validate.products import collocated
from smlib.validate.truth import has_truth

pd.set_option("display.max_rows", 400)
pd.set_option("display.width", 160)
ctx = notebook.setup(study, run_dir, "validation")
synthetic = has_truth(ctx.run_dir)
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
print("method outputs present:", sorted(p.stem for p in ctx.products.glob("*.nc")) or "none")
coarse = ctx.study.grid("coarse")
print("synthetic truth:", "yes" if synthetic else "no inputs/truth.nc (real data): the truth and truth_fine rows are skipped")

# %% [markdown]
# ## Method
#
# ### Pairwise metrics
#
# For a product $x$ and a reference $y$ over the $n$ samples where both exist (definitions as in pytesmo,
# checked against it in the tests):
#
# $$\mathrm{bias} = \overline{x - y},\qquad \mathrm{RMSE} = \sqrt{\overline{(x-y)^2}},\qquad
# \mathrm{ubRMSE} = \sqrt{\mathrm{RMSE}^2 - \mathrm{bias}^2},\qquad \mathrm{MAE} = \overline{|x-y|}$$
#
# and Pearson $r$ with its p-value from $t = r\sqrt{(n-2)/(1-r^2)}$ ($n-2$ degrees of freedom) and the 95 %
# interval $\tanh(\operatorname{atanh} r \mp 1.96/\sqrt{n-3})$ ({cite}`bonett2000`); ubRMSE after
# {cite}`entekhabi2010metrics`, good practice after {cite}`gruber2020validation`. A correlation needs $n \ge 3$ and a
# non-constant series, the interval $n \ge 4$. Seed 003's **spatial correlation** is the daily $r$ between
# two maps, averaged over the days where it is significant ($p < 0.05$); its **temporal correlation** is the
# map of per-pixel $r$ over time, averaged over pixels (`smlib.validate.spatial_correlation`,
# `temporal_correlation`).
#
# ### References of the scoreboard
#
# - `truth`: pooled over all pixel-days; a coarse product is compared with the truth averaged over its
#   cells (block mean of the 1-km pixels), so it is not blamed for the detail it cannot resolve;
# - `truth_fine` (1-km products only): product and truth each minus their own 0.25 deg cell mean, then pooled.
#   Interpolation already scores here (smooth gradients across cells); what a method scores above `bilinear`
#   is the 1-km detail it adds;
# - `stations`: each station's daily series against the product's cell containing it (or bilinear), surface
#   sensors against `ssm`, root-zone sensors against `rzsm`, with at least `min_days` paired days; the row
#   holds the median over stations of each metric and $n$ = number of stations. A product calibrated on the
#   stations is scored only from its cross-validation file `products/<name>_stations.nc`.
#
# **ASCAT-like `ssm` is in % of saturation**, not m3/m3. With `percent = "r_only"` (the default) only its $n$
# and $r$ are reported: a difference between % saturation and m3/m3 means nothing without a porosity, and
# correlation does not depend on a linear scale. With `percent = "meanstd"` it is instead rescaled per
# pixel or station to the reference's mean and standard deviation; its bias is then zero by construction.
#
# ### Triple collocation
#
# For three products $i, j, k$ with covariances $C$, errors independent of each other and of the signal
# (covariance notation of {cite}`gruber2016tc`):
#
# $$\sigma^2_{\varepsilon_i} = C_{ii} - \frac{C_{ij}C_{ik}}{C_{jk}},\qquad
# R_i^2 = \frac{C_{ij}C_{ik}}{C_{ii}C_{jk}},\qquad
# \mathrm{SNR}_i = 10\log_{10}\frac{R_i^2}{1-R_i^2}\ \mathrm{dB},\qquad
# \beta_j = \frac{C_{ik}}{C_{jk}},$$
#
# the error variance, the squared TC-R (the correlation with the unknown truth, {cite}`mccoll2014tc`), the
# signal-to-noise ratio and the scaling of product $j$ to product $i$. With more than three products,
# extended collocation solves the same equations by least squares ({cite}`gruber2016ecol`,
# `smlib.validate.extended_collocation`). Each error sd is in its product's own units. Sampling noise can make
# an error variance negative or $R^2 > 1$: such estimates are NaN and flagged, never forced positive. Following seed 003, pixels where any
# pairwise correlation is below `tc_min_pair_r` are masked. All products are brought to the 0.25 deg grid
# first: 1-km products by block mean, SMAP-like (0.36 deg) by the cell containing each 0.25 deg centre.

# %% [markdown]
# ## Results
#
# ### The scoreboard

# %%
board, stn = scoreboard.build_details(ctx.run_dir, min_days=min_days, method=match_method, use_qc=use_qc,
                                      percent=percent)
scoreboard.write(ctx.run_dir, board, stn)
print(f"wrote {ctx.run_dir / 'scoreboard.csv'}: {len(board)} rows, "
      f"{board['product'].nunique() if len(board) else 0} products")
print("\n".join(board.attrs.get("notes", [])))
board.round(4)

# %% [markdown]
# ### Stations
#
# Per-station $r$ and ubRMSE of each product (surface layer, then root zone), and the medians by land cover.

# %% tags=["hide-input"]
figs = [plots.station_boxplots(stn, layer=layer) for layer in ("surface", "rootzone")]
if all(f is None for f in figs):
    print(f"No station has {min_days} paired days with any product: nothing to plot.")
plt.show()

# %%
by_landcover(stn, group=["layer", "product", "landcover"]).round(3)

# %% [markdown]
# ### Seed 003's spatial and temporal correlation
#
# Against the truth on each product's own grid (synthetic studies): the mean daily map correlation over the
# significant days, and the mean of the per-pixel correlation map over time.

# %%
corr003 = report.seed003_correlations(ctx.run_dir, use_qc=use_qc)
if len(corr003):
    display(corr003.round(3))
else:
    print("No truth in this study: seed 003's correlations against it are skipped.")

# %% [markdown]
# ### Triple collocation

# %%
triplets, skipped = report.resolve_triplets(ctx.run_dir, tc_triplets, auto_products_with=tc_auto_with)
print("\n".join(skipped) or "all requested triplets are present")
tcs = report.tc_triplets(ctx.run_dir, triplets, grid=coarse, min_n=tc_min_n, use_qc=use_qc,
                         min_pair_r=tc_min_pair_r if tc_min_pair_r >= 0 else None)
for key, tc in tcs.items():
    print(f"{key}: {int(tc['valid'].all('product').sum())} of {tc['n'].size} cells admissible "
          f"({int(tc['masked'].sum())} masked by the pairwise-r rule, median {int(tc['n'].median())} triplets)")

# %% tags=["hide-input"]
for var in ("err_sd", "tc_r"):
    fig = plots.tc_maps(tcs, var)
    if fig is None:
        print("No triplet of products is present: no TC maps.")
        break
plt.show()

# %% [markdown]
# TC estimates (median over admissible cells) beside the error levels the generator recorded in each input's
# attributes (`recorded_error_sd` nominal, `realised_error_sd` as realised against the truth) and the ubRMSE
# against the truth on the same 0.25 deg grid (synthetic studies). The generator records a nominal level only for
# the satellite-like inputs; models and method outputs have a realised level at most. TC's error sd is in each
# product's own units (`units` column): % of saturation for ASCAT-like retrievals. Few complete triplets per cell
# (the `tiny` profile has two months) make single-cell estimates noisy; the pooled bootstrap below is steadier.

# %%
tc_rec = report.tc_vs_recorded(ctx.run_dir, tcs, grid=coarse, use_qc=use_qc)
tc_rec.round(4)

# %% [markdown]
# Bootstrap 95 % intervals of the TC estimates for the first triplet, with all its cell-days pooled into one
# sample and resampled with replacement (`n_boot` times). Pooling treats the spatial differences between cells as
# signal and assumes one error level everywhere; it gives many more triplets than a single cell has.

# %%
if triplets:
    das = collocated(ctx.run_dir, triplets[0], coarse, use_qc=use_qc)
    pooled_das = [d.stack(sample=("time", "lat", "lon")).drop_vars(["sample", "time", "lat", "lon"]) for d in das]
    boot = tc_bootstrap(*pooled_das, dim="sample", n_boot=n_boot, seed=boot_seed, names=triplets[0], min_n=tc_min_n)
    boot_table = boot[["err_sd", "err_sd_lo", "err_sd_hi", "tc_r", "tc_r_lo", "tc_r_hi", "n"]].to_dataframe()
    display(boot_table.round(4))
else:
    boot_table = pd.DataFrame()
    print("No triplet: no bootstrap.")

# %% [markdown]
# ### Taylor diagram
#
# Each product's standard deviation (relative to the reference's) and correlation in one picture
# {cite}`taylor2001diagram`: the closer to the star, the smaller the centred RMS difference. Products in %
# saturation are left out (their spread is not comparable).

# %% tags=["hide-input"]
taylor, taylor_ref = report.taylor_points(ctx.run_dir, use_qc=use_qc)
ax = plots.taylor_diagram(taylor, reference=taylor_ref)
if ax is None:
    print("No product with a reference to compare: no Taylor diagram.")
plt.show()

# %% [markdown]
# ### A station through the season

# %% tags=["hide-input"]
if (ctx.inputs / "stations.nc").exists():
    series = report.station_series(ctx.run_dir, station=station or None, use_qc=use_qc)
    plots.station_timeseries(series)
    plt.show()
else:
    print("No inputs/stations.nc: no station series.")

# %% [markdown]
# ## Summary
#
# What the numbers above say, computed from them:

# %%
display(Markdown(report.summary_text(board, tc_rec, synthetic=synthetic, min_days=min_days)))

# %% [markdown]
# ## What comes next
#
# The scoreboard is the book's common ground: the introduction and the comparison pages read it, and every
# method chapter's claim ("the downscaled field adds 1-km detail", "assimilation beats the open loop") can be
# checked against its rows. Re-run this stage after any other stage to refresh it.
#
# ## References
#
# The works cited in this chapter are listed with full details in the book's {doc}`../bibliography`.
