# %% [markdown]
# # Machine learning with data assimilation (ML-DA)
#
# TC-R merged labels, a LightGBM soil-moisture simulator and Newtonian nudging of SMAP-like observations
# (seed 002, {cite}`seed002_mlda`).
#
# ## Overview
#
# Land data assimilation systems such as SMAP L4, ERA5-Land or GLDAS run a physical land-surface model
# and correct its state with observations. Seed 002 replaces the physical model by a machine-learning
# simulator and keeps the assimilation:
#
# 1. **labels**: several soil-moisture products (SMAP-like, ASCAT-like, five model products) are rescaled to
#    a common reference and merged per pixel with weights from their triple-collocation correlations
#    (TC-R, {cite}`mccoll2014tc`): product `tcr_merged`;
# 2. **simulator**: LightGBM learns today's surface soil moisture from today's forcings, antecedent
#    precipitation, static fields and *yesterday's soil moisture*; run forward on its own output it is a
#    data-driven land-surface model: product `mlda_openloop`;
# 3. **assimilation**: SMAP-like retrievals are nudged into the simulator's state,
#    $SM_a = SM_f + G\,(SM_{obs} - SM_f)$, and the run continues from the analysed state: product `mlda`.
#
# We evaluate as the paper does (ten-fold cross-validation, median R and ubRMSE at stations) and add what the
# paper could not: spatial-block cross-validation and scores against the synthetic truth.
#
# **Prerequisites**: stage `01_data_prep` (the canonical inputs under `data/runs/<study>/inputs/`);
# triple collocation is introduced in `08_validation`.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
# --- labels (step 1) ---
label_products = ["smap", "ascat", "model_gleam", "model_noah", "model_cldas", "model_geos5", "model_era5land"]
reference = "smap"  # climatology the labels are rescaled to
rescale_method = "meanstd"  # meanstd | cdf
weight_scheme = "optimal"  # optimal (R/(1-R^2)) | r2 | r
tc_min_n = 30  # minimum common days for a triple-collocation estimate
max_r = 0.98  # TC-R clipped below this before weighting
smap_min_valid = 0.5  # area fraction of a 0.25 deg cell SMAP must cover
# --- simulator (step 2) ---
api_k = [0.5, 0.8, 0.95]  # antecedent-precipitation recession constants (1/day)
sum_days = [3, 7, 30]  # precipitation totals over these windows (days)
n_estimators = 400
learning_rate = 0.05
num_leaves = 31
min_child_samples = 20
sim_target = "delta"  # delta (learn the daily change) | level (learn SM_t)
# --- assimilation (step 3) ---
gains = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]  # candidate nudging gains G
gain_method = "stations"  # stations (leave-stations-out CV) | obs (withheld SMAP retrievals) | tc
gain_folds = 0  # folds of the CV that chooses G (0: leave-one-station-out; obs method: 5)
obs_rescale = "meanstd"  # SMAP rescaled to the open loop's climatology before nudging
# --- evaluation ---
cv_folds = 10  # random k-fold (the paper's ten-fold CV)
cv_block_deg = 0.5  # spatial blocks (deg)
cv_block_folds = 4  # spatial-block folds
min_days = 30  # minimum paired days for a station to be scored
seed = 0
n_jobs = 1  # LightGBM threads
realdata = "../shared/realdata"  # real-data samples (Hawaii point run); skipped where absent

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import xarray as xr

from smlib import io, mlda, notebook, plotting, validate
from smlib.study import stage_parameters

ctx = notebook.setup(study, run_dir, "assimilation")
# the study file's values for this stage, where this run left a parameter at its default
# (the runner passes them explicitly; a direct papermill call with only `study` gets them here)
_defaults = stage_parameters("assimilation")
for _k, _v in ctx.study.stages.get("assimilation", {}).items():
    if globals().get(_k) == _defaults.get(_k):
        globals()[_k] = _v
grid = ctx.study.grid("coarse")
sim_kwargs = dict(n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
                  min_child_samples=min_child_samples, target=sim_target, n_jobs=n_jobs, seed=seed)
params = {k: v for k, v in globals().items() if k in ctx.study.stage_params("assimilation")}
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))

# %% [markdown]
# ## Step 1: TC-R merged labels
#
# **Regridding.** SMAP-like retrievals come on a 0.36 deg grid that does not nest in 0.25 deg. They are
# brought to 0.25 deg by first-order conservative (area-weighted) regridding: each 0.25 deg cell takes the
# mean of the SMAP cells overlapping it, weighted by overlap area, and stays empty where SMAP covers less than
# `smap_min_valid` of it (swath gaps). The ASCAT-like product (degree of saturation, %) and the model
# products are already at 0.25 deg.
#
# **Triple collocation.** For three products with mutually independent errors,
# $x_i = \alpha_i + \beta_i\,\theta + \varepsilon_i$, the correlation of product $i$ with the unknown signal
# follows from the covariances $C$ alone {cite}`mccoll2014tc,gruber2016tc`:
#
# $$R_i = \sqrt{\frac{C_{ij}\,C_{ik}}{C_{ii}\,C_{jk}}}.$$
#
# The model products share structure and forcing, so their errors correlate: a triplet may hold at most one
# of them. SMAP and ASCAT take part in one triplet per model product (their TC-R is the mean); each model in
# one.
#
# **Rescaling and weights.** Every product is rescaled to the `reference` climatology (mean/standard
# deviation matching over common days, or CDF matching {cite}`reichle2004bias`), then merged per pixel:
#
# $$SM_{label} = \frac{\sum_i w_i\,x_i'}{\sum_i w_i},\qquad w_i \propto \frac{R_i}{1 - R_i^2}
# \;(\text{optimal}),\; R_i^2 \;(\text{r2})\;\text{or}\; R_i \;(\text{r}),$$
#
# the sum running over the products valid that day. With products scaled to equal variance,
# $x_i' = R_i\,s + \sqrt{1-R_i^2}\,e_i$, the *optimal* weights maximise the merged series' correlation with
# the signal $s$. The baseline is the equal-weight mean of the same rescaled products.

# %%
stack = mlda.load_label_stack(ctx.run_dir, label_products, grid, smap_min_valid=smap_min_valid)
merge = mlda.merge_labels(stack, reference=reference, rescale_method=rescale_method, scheme=weight_scheme,
                          max_r=max_r, tc_min_n=tc_min_n)
io.write_product(ctx.run_dir, "tcr_merged",
                 mlda.product_dataset(merge.merged, "TC-R weighted merge of " + ", ".join(label_products),
                                      **merge.params),
                 study=ctx.study.name, params=params)
tcr_table = pd.DataFrame({
    "median TC-R": merge.tc_r.median(("lat", "lon")).to_series(),
    "pixels with TC-R": merge.tc_r.notnull().sum(("lat", "lon")).to_series(),
    "median weight": merge.weights.median(("lat", "lon")).to_series(),
}).round(3)
io.write_table(tcr_table.rename_axis("product"), ctx.tables / "assimilation_tcr.csv")
tcr_table

# %% tags=["hide-input"]
fig = plotting.map_panel({p: merge.weights.sel(product=p) for p in label_products}, name="weight", ncols=4,
                         cmap="magma", suptitle="TC-R merging weight per product [-]")
plt.show()

# %% [markdown]
# How good are the labels? Each input (rescaled to the reference, so that ubRMSE is in m3/m3 for ASCAT too),
# the equal-weight mean and the TC-R merge, scored against the synthetic truth (pooled pixel-days) and at the
# stations (median over stations).

# %%
has_truth = validate.has_truth(ctx.run_dir)
truth_ssm = validate.read_truth(ctx.run_dir, ["ssm"])["ssm"] if has_truth else None
stations = validate.match.read_stations(ctx.run_dir)


station_tables = {}  # per-station scores of every field scored below, by name


def scores(name, da, at_stations=None):
    """Median station metrics and pooled truth metrics of one surface soil-moisture field
    (``at_stations``: the product's cross-validated station series, where it has one)."""
    station_tables[name] = validate.score_stations(ctx.run_dir, da if at_stations is None else at_stations,
                                                   min_days=min_days, stations=stations)
    s = validate.summarize_stations(station_tables[name])
    row = {"product": name, "stations": s["n"], "R (stations)": s["r"], "ubRMSE (stations)": s["ubrmse"]}
    if has_truth:
        t = validate.score_truth(ctx.run_dir, da, truth=truth_ssm)
        row.update({"R (truth)": t["r"], "ubRMSE (truth)": t["ubrmse"], "bias (truth)": t["bias"]})
    return row


label_rows = [scores(f"{p} (rescaled)", merge.rescaled.sel(product=p, drop=True)) for p in label_products]
label_rows += [scores("equal-weight mean", merge.equal), scores("tcr_merged", merge.merged)]
label_scores = pd.DataFrame(label_rows).set_index("product").round(4)
io.write_table(label_scores, ctx.tables / "assimilation_labels.csv")
label_scores

# %% [markdown]
# ## Step 2: the LightGBM simulator
#
# LightGBM {cite}`ke2017lightgbm` (gradient-boosted trees) is the simulator.
# Predictors on day $t$: the forcings (ERA5-like `precip`, MSWEP-like `precip_mswep` [mm/day], `t2m` [K],
# `ssrd` [W/m2], `vpd` [kPa], `wind` [m/s]); the antecedent precipitation index of MSWEP-like precipitation,
#
# $$API_t = k\,API_{t-1} + P_t \quad (k \in \text{api\_k}),$$
#
# and its totals over the last `sum_days` days; day of year (sine, cosine); static fields aggregated to
# 0.25 deg by block mean (elevation, slope, soil texture, water and land-cover fractions); and the **state**,
# yesterday's soil moisture $SM_{t-1}$. Trained on the labels (yesterday's label as state), it is run forward
# on its own output from the first day's label: the open loop.

# %%
features = mlda.simulator_inputs(ctx.run_dir, grid, api_k=api_k, sum_days=sum_days)
features, label = xr.align(features, merge.merged, join="inner")
sim = mlda.fit_simulator(sim_kwargs, features, label)
imp = sim.importance().rename("gain importance").round(3)
io.write_table(imp.rename_axis("feature").to_frame(), ctx.tables / "assimilation_importance.csv")
imp.head(12).to_frame().T

# %% [markdown]
# ### Cross-validation: ten-fold (the paper) and spatial blocks
#
# The paper's **ten-fold CV** deals all pixel-days at random into ten folds. Soil moisture is strongly
# autocorrelated in time and space, so nearly every test sample has its neighbours (same pixel the day
# before and after, adjacent pixels the same day) in the training folds: the score measures how well the
# model *interpolates* between samples it has seen. **Spatial-block CV** holds out whole
# `cv_block_deg` x `cv_block_deg` deg blocks of pixels, so the model is scored where it saw no label: the
# skill a map has away from its training data {cite}`roberts2017cv`. Both are one-step predictions (state = yesterday's label);
# under spatial blocks we also run the held-out pixels forward on their own state (open loop).

# %%
cube, names = mlda.feature_cube(features)
cv = {"random 10-fold": mlda.cross_validate(sim_kwargs, cube, label, "random", k=cv_folds, seed=seed),
      "spatial blocks": mlda.cross_validate(sim_kwargs, cube, label, "spatial", k=cv_block_folds,
                                            block_deg=cv_block_deg, seed=seed)}
cv_rows = []
for scheme, res in cv.items():
    for what in ("onestep", "openloop"):
        if what in res:
            lab_m = validate.pooled(res[what], label.where(res[what].notnull()))
            row = {"scheme": scheme, "prediction": what, "R (labels)": lab_m["r"], "ubRMSE (labels)": lab_m["ubrmse"]}
            row.update({k: v for k, v in scores(scheme, res[what]).items() if k != "product"})
            cv_rows.append(row)
cv_table = pd.DataFrame(cv_rows).set_index(["scheme", "prediction"]).round(4)
io.write_table(cv_table.reset_index(), ctx.tables / "assimilation_cv.csv")
cv_table

# %% [markdown]
# ## Step 3: Newtonian nudging of SMAP-like observations
#
# On every day the simulator forecasts $SM_f$ from the previous day's *analysed* state; where SMAP observes,
#
# $$SM_a = SM_f + G\,(SM_{obs} - SM_f),\qquad 0 \le G \le 1,$$
#
# and the run continues from $SM_a$ (elsewhere $SM_a = SM_f$): Newtonian nudging {cite}`houser1998nudging`. The observations are first rescaled
# (`obs_rescale`) to the open loop's climatology, so that nudging corrects anomalies rather than pulling the
# model towards another climatology.
#
# **Choosing $G$ by cross-validation.** Every candidate $G$ is run (all at once). With
# `gain_method = "stations"` the stations are dealt into `gain_folds` folds (by default one station per fold:
# leave-one-station-out, the least noisy choice with a few dozen stations); for each fold $G$ is the candidate
# with the highest median station R on the *other* folds, and the held-out stations are scored with it, so
# every station score of `mlda` comes from a $G$ that station did not help choose (these cross-validated
# series are written as `products/mlda_stations.nc`, which the scoreboard uses). The alternative,
# `gain_method = "obs"`, withholds SMAP pixel-days instead and compares the analysed state with them. It
# needs no stations, but the SMAP footprint (36 km) differs from the 0.25 deg cell: that representativeness
# error persists from day to day, the withheld and the assimilated retrievals share it, and the criterion
# rewards copying it, i.e. too large a $G$. Both criteria are shown below, with a third estimate that needs
# neither: triple collocation of the open loop, SMAP and ASCAT gives each one's signal-to-noise ratio, and the
# minimum-variance update of two independent estimates weights the observation by
# $G = SNR_{obs} / (SNR_{obs} + SNR_f)$ {cite}`yilmaz2013tc` (`gain_method = "tc"`). Where the open loop is
# already much better than the retrievals, median station R changes by less with $G$ than it does from
# station to station: the station criterion then picks a maximum of a flat, noisy curve, and the
# leave-stations-out choice is noisier still. The TC gain uses no station at all; the demo study uses it.

# %%
ares = mlda.assimilate(sim, features, label, stack.sel(product="smap", drop=True), gains=gains,
                       gain_method=gain_method, stations=stations, gain_folds=gain_folds,
                       obs_rescale=obs_rescale, seed=seed, min_days=min_days,
                       third=stack.sel(product="ascat", drop=True) if "ascat" in label_products else None,
                       tc_min_n=tc_min_n)
if ares.station_series is not None:
    io.write_product(ctx.run_dir, "mlda_stations", ares.station_series.to_dataset(),
                     study=ctx.study.name, params=params)
else:  # G chosen without stations: the gridded product is what the stations see (drop a stale CV file)
    (io.products_dir(ctx.run_dir) / "mlda_stations.nc").unlink(missing_ok=True)
io.write_product(ctx.run_dir, "mlda_openloop",
                 mlda.product_dataset(ares.openloop, "LightGBM simulator, open loop (seed 002)"),
                 study=ctx.study.name, params=params)
io.write_product(ctx.run_dir, "mlda",
                 mlda.product_dataset(ares.analysis, "LightGBM simulator with Newtonian nudging of SMAP (seed 002)",
                                      gain=ares.gain), study=ctx.study.name, params=params)
io.write_table(ares.gain_table, ctx.tables / "assimilation_gain.csv")
print(f"chosen gain G = {ares.gain} ({gain_method}); triple-collocation estimate "
      f"SNR_obs / (SNR_obs + SNR_f) = {ares.tc_gain if ares.tc_gain is None else round(ares.tc_gain, 3)}")
if ares.station_cv is not None:
    print("G chosen across the leave-stations-out folds (G: stations):",
          ares.station_cv["gain"].value_counts().sort_index().to_dict())
ares.gain_table.round(4).set_index("gain").T

# %% [markdown]
# **How much can nudging add?** Triple collocation of the open loop, the rescaled SMAP-like retrievals and
# ASCAT-like gives each one's error standard deviation in the open loop's units (median over pixels). When the
# open loop's error is already much smaller than the retrievals', the minimum-variance gain is small and an
# analysis can remove only a small part of the forecast error variance, about $G$ of it on an observed day,
# and that part decays again over the next days.

# %%
if "ascat" in label_products:
    _tc = validate.triple_collocation(ares.openloop, ares.obs, stack.sel(product="ascat", drop=True),
                                      names=["open loop", "SMAP-like (rescaled)", "ascat"], min_n=tc_min_n)
    tc_err = _tc["err_sd_scaled"].where(_tc["valid"]).median(("lat", "lon")).to_series().rename(
        "TC error sd [m3/m3, open-loop units]").round(4)
    print(f"median over pixels; minimum-variance gain SNR_obs / (SNR_obs + SNR_f) = "
          f"{ares.tc_gain if ares.tc_gain is None else round(ares.tc_gain, 3)}")
    from IPython.display import display

    display(tc_err.to_frame().T)

# %% tags=["hide-input"]
tab = ares.gain_table
fig, axes = plt.subplots(1, 2 if "r_median" in tab else 1, figsize=(10, 3.4), squeeze=False)
axes[0, 0].plot(tab["gain"], tab["obs_rmse"], "o-")
axes[0, 0].set_ylabel("RMSE vs withheld SMAP [m3/m3]")
axes[0, 0].set_title("criterion 'obs'")
if "r_median" in tab:
    axes[0, 1].plot(tab["gain"], tab["r_median"], "o-", color="tab:red")
    axes[0, 1].set_ylabel("median station R [-]")
    axes[0, 1].set_title("criterion 'stations' (all stations)")
for ax in axes.flat:
    ax.axvline(ares.gain, color="k", ls="--", lw=0.8, label=f"chosen G = {ares.gain}")
    ax.set_xlabel("nudging gain G [-]")
    ax.legend()
plt.show()

# %% [markdown]
# ## Results: every product at the stations and against the truth
#
# Median over stations of the per-station R and ubRMSE (stations with at least `min_days` paired days),
# and pooled scores against the truth (synthetic studies). Inputs are scored on their own grids and days
# (SMAP-like only where it retrieved); ASCAT-like is in %, so its ubRMSE is given after rescaling to the
# reference. With `gain_method = "stations"` the `mlda` station scores are the leave-stations-out ones (each
# station scored with a $G$ chosen without it) and the in-sample row beside it shows how little choosing $G$ on
# all stations adds; with `"obs"` or `"tc"` no station helped choose $G$ and the gridded product is scored.
# On synthetic studies the last row scores the truth itself, block-averaged to 0.25 deg: the best any 0.25 deg
# field can reach at point stations whose own errors are autocorrelated. How far the open loop already is from
# it bounds what assimilation can add at the stations.

# %%
inputs = {n: io.read_input(ctx.run_dir, n)["ssm"] for n in ("smap", "amsr2", "fy3c") if io.has_input(ctx.run_dir, n)}
inputs["ascat (rescaled)"] = merge.rescaled.sel(product="ascat", drop=True) if "ascat" in label_products else None
for m in io.model_names(ctx.run_dir):
    inputs[f"model_{m}"] = io.read_input(ctx.run_dir, f"model_{m}")["ssm"]
final = {**{k: v for k, v in inputs.items() if v is not None}, "tcr_merged": merge.merged,
         "mlda_openloop": ares.openloop}
rows = [scores(k, v) for k, v in final.items()] + [scores("mlda", ares.analysis, ares.station_series)]
if ares.station_series is not None:
    rows.append(scores("mlda (G from all stations, in-sample)", ares.analysis))
if has_truth:  # the best any 0.25 deg field can do at the point stations: the truth itself, block-averaged
    rows.append(scores("truth at 0.25 deg (upper bound)", validate.truth.truth_on_grid(truth_ssm, ares.openloop)))
results = pd.DataFrame(rows).set_index("product").round(4)
io.write_table(results, ctx.tables / "assimilation_scores.csv")
results

# %% [markdown]
# ### Is a difference in median R more than the luck of which stations exist?
#
# Thirty stations are a small sample. For each pair of products below, the stations are resampled with
# replacement 2000 times (the same stations for both products) and the difference of the median R recomputed:
# the 95% percentile interval says how much the comparison of the table above could change with another draw of
# stations. `share better` is the fraction of stations at which the first product has the higher R.

# %%
r = results["R (stations)"]
inputs_only = [k for k in r.index if k not in ("tcr_merged", "mlda_openloop") and not k.startswith(("mlda", "truth"))]
best_input = r[inputs_only].idxmax()
pairs = [("mlda", "mlda_openloop"), ("mlda", best_input), ("mlda_openloop", best_input)]
pairs += [("truth at 0.25 deg (upper bound)", "mlda_openloop")] if has_truth else []
signif = pd.DataFrame([{"comparison": f"{a} - {b}",
                         **validate.compare_medians(station_tables[a], station_tables[b], seed=seed)}
                       for a, b in pairs]).set_index("comparison")
io.write_table(signif, ctx.tables / "assimilation_significance.csv")
signif.round(4)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7.5, 3.6))
order = results["R (stations)"].drop(index=[i for i in results.index if "in-sample" in i]).sort_values()
colors = ["tab:red" if k == "mlda" else "tab:orange" if k.startswith(("mlda", "tcr")) else
          "tab:green" if k.startswith("truth") else "tab:gray" for k in order.index]
ax.barh(order.index, order.values, color=colors)
for i, v in enumerate(order.values):
    ax.text(v, i, f" {v:.3f}", va="center", fontsize=7)
ax.set_xlabel("median station R [-]")
ax.set_xlim(max(0.0, float(order.min()) - 0.1), 1.0)
ax.set_title("Surface soil moisture at the stations")
plt.show()

# %% tags=["hide-input"]
best = validate.score_stations(ctx.run_dir, ares.analysis, min_days=min_days, stations=stations)
sid = best.sort_values("r")["station"].iloc[len(best) // 2]  # the median station
pts = {k: validate.at_stations(v, stations).sel(station=sid) for k, v in
       {"mlda": ares.analysis, "mlda_openloop": ares.openloop, "SMAP-like (rescaled)": ares.obs}.items()}
plotting.station_series(stations["time"].values, {"station": stations["ssm"].sel(station=sid).values,
                        **{k: v.reindex(time=stations["time"].values).values for k, v in pts.items()}},
                        precip=stations["precip"].sel(station=sid).values if "precip" in stations else None,
                        title=f"station {sid} (median R of mlda)")
plt.show()

# %% tags=["hide-input"]
day = int(np.argmax(np.isfinite(ares.obs.values).sum(axis=(1, 2))))
d = str(ares.obs["time"].values[day])[:10]
fig = plotting.map_panel({"open loop (forecast)": ares.forecast.isel(time=day),
                          "SMAP-like (rescaled)": ares.obs.isel(time=day),
                          "mlda (analysis)": ares.analysis.isel(time=day),
                          "tcr_merged label": label.isel(time=day)}, name="ssm", ncols=4,
                         suptitle=f"Surface soil moisture on {d}")
plt.show()

# %% [markdown]
# ### Our numbers beside the paper's
#
# The paper scored global products at 1094 ISMN stations over 2015-2023; we score a synthetic region with
# known truth. The ranking, not the absolute numbers, is what can be compared.

# %%
paper = pd.DataFrame({"product": ["ML-DA (mlda)", "SMAP L4", "ERA5-Land", "GLDAS Noah"],
                      "paper R": [0.741, 0.717, 0.706, 0.633], "paper ubRMSE": [0.0437, 0.0452, 0.0452, 0.0501]})
ours = {"ML-DA (mlda)": "mlda", "SMAP L4": None, "ERA5-Land": "model_era5land", "GLDAS Noah": "model_noah"}
paper["ours"] = [ours[p] or "(no SMAP L4 analogue)" for p in paper["product"]]
paper["our R"] = [results.loc[o, "R (stations)"] if o in results.index else np.nan for o in paper["ours"]]
paper["our ubRMSE"] = [results.loc[o, "ubRMSE (stations)"] if o in results.index else np.nan for o in paper["ours"]]
extra = pd.DataFrame([{"product": k, "ours": k, "our R": results.loc[k, "R (stations)"],
                       "our ubRMSE": results.loc[k, "ubRMSE (stations)"]} for k in ("mlda_openloop", "tcr_merged", "smap")
                      if k in results.index])
paper_table = pd.concat([paper, extra], ignore_index=True).set_index("product")
io.write_table(paper_table, ctx.tables / "assimilation_paper.csv")
paper_table

# %% [markdown]
# ## Real data: SMAP L3 nudged into a simulator at the Hawaii stations
#
# The real-data samples (`realdata`, study `data/studies/hawaii.yml`) hold, for the Big Island of Hawaii in
# 2017-2018, SMAP L3 (36 km), ASCAT H119, ERA5-Land and GLDAS-2.1 Noah soil moisture around eight ISMN SCAN
# stations, two of which have a rain gauge. No ERA5 meteorological forcing is among the samples, so in this
# point mode the simulator is driven by **station precipitation** (antecedent-precipitation features and
# totals) and day of year, at the gauged stations only: labels are the TC-R merge of the four products at
# the station cells (equal weights where no triplet overlaps), and SMAP L3 is nudged in with $G$ chosen by
# leave-one-station-out cross-validation (two folds). Skipped, with the reason printed, where the samples
# are absent. ASCAT H119 is in % of saturation, so its ubRMSE below is in %, not m3/m3.

# %%
from smlib.study import REPO_ROOT

hw = mlda.point_run(REPO_ROOT / "data/studies/hawaii.yml", realdata, ctx.run_dir / "realdata_hawaii", sim_kwargs,
                    tc_min_n=tc_min_n, weight_scheme=weight_scheme, api_k=api_k, sum_days=sum_days, gains=gains,
                    obs_rescale=obs_rescale, seed=seed, min_days=min_days)
hawaii_table, hawaii_note, st_h = hw.table, "Hawaii " + hw.note, hw.stations
if hawaii_table is not None:
    io.write_table(hawaii_table.reset_index(), ctx.tables / "assimilation_hawaii.csv")
print(hawaii_note)
hawaii_table.unstack("station") if hawaii_table is not None else None

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
lines = [
    f"- Labels: TC-R merging gives median station R {r['tcr_merged']:.3f} against "
    f"{label_scores.loc['equal-weight mean', 'R (stations)']:.3f} for the equal-weight mean.",
    f"- Simulator: open loop median station R {r['mlda_openloop']:.3f}; "
    f"ten-fold CV (one step) R {cv_table.loc[('random 10-fold', 'onestep'), 'R (labels)']:.3f} against the labels, "
    f"spatial blocks {cv_table.loc[('spatial blocks', 'onestep'), 'R (labels)']:.3f} (one step) and "
    f"{cv_table.loc[('spatial blocks', 'openloop'), 'R (labels)']:.3f} (open loop).",
    f"- Assimilation: G = {ares.gain} chosen by CV ({gain_method}); mlda median station R {r['mlda']:.3f}, "
    f"ubRMSE {results.loc['mlda', 'ubRMSE (stations)']:.4f} m3/m3 (paper: 0.741, 0.0437).",
    f"- Best single input: {best_input} (R {r[best_input]:.3f}); mlda "
    f"{'beats' if r['mlda'] > r[best_input] else 'does not beat'} every input and "
    f"{'beats' if r['mlda'] > r['mlda_openloop'] else 'does not beat'} its open loop in median station R.",
]
if hawaii_table is not None:
    med = hawaii_table["r"].groupby("product").median()
    lines.append(f"- Hawaii (real data, {st_h.sizes['station']} gauged stations): median R mlda (CV) "
                 f"{med['mlda (CV)']:.3f}, open loop {med['mlda_openloop']:.3f}, ERA5-Land {med['model_era5land']:.3f}, "
                 f"SMAP L3 {med['smap']:.3f}.")
else:
    lines.append(f"- Hawaii real-data run: {hawaii_note}.")
if has_truth and "truth at 0.25 deg (upper bound)" in r.index:
    lines.append(f"- Upper bound at the stations (truth block-averaged to 0.25 deg): median R "
                 f"{r['truth at 0.25 deg (upper bound)']:.3f}; the open loop leaves "
                 f"{r['truth at 0.25 deg (upper bound)'] - r['mlda_openloop']:+.3f} for assimilation to gain.")
d = signif.loc["mlda - mlda_openloop"]
lines.append(f"- mlda minus open loop in median station R: {d['diff']:+.4f}, 95% station-bootstrap interval "
             f"[{d['diff_lo']:+.3f}, {d['diff_hi']:+.3f}]; R higher at {100 * d['share_better']:.0f}% of the "
             f"stations (median per-station change {d['median_paired']:+.4f}).")
if "truth at 0.25 deg (upper bound) - mlda_openloop" in signif.index:
    u = signif.loc["truth at 0.25 deg (upper bound) - mlda_openloop"]
    lines.append(f"- Even the truth itself at 0.25 deg beats the open loop by only {u['diff']:+.4f} in median station "
                 f"R, interval [{u['diff_lo']:+.3f}, {u['diff_hi']:+.3f}]: with these stations no 0.25-deg field "
                 "can be shown better than the open loop, so the station comparison of `mlda` with it is decided "
                 "by chance; the truth scores below are the test that can tell.")
if has_truth:
    lines.append(f"- Against the truth: mlda R {results.loc['mlda', 'R (truth)']:.3f}, open loop "
                 f"{results.loc['mlda_openloop', 'R (truth)']:.3f}, labels {results.loc['tcr_merged', 'R (truth)']:.3f}.")
from IPython.display import Markdown

Markdown("\n".join(lines))

# %% [markdown]
# ## What comes next
#
# Stage `07_calibration` corrects gridded soil moisture towards the stations with a CNN; stage
# `08_validation` puts `tcr_merged`, `mlda_openloop` and `mlda` on the scoreboard beside every other
# product. Exercises: set `weight_scheme = "r"` or `rescale_method = "cdf"` and watch the labels; set
# `gain_method = "obs"` and compare the chosen $G$ and the station scores; compare `sim_target = "level"`
# with `"delta"`; shorten `api_k` to one constant and see which features LightGBM then relies on.
#
# ## References
#
# The works cited in this chapter are listed with full details in the book's {doc}`../bibliography`.
