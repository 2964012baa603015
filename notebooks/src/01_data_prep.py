# %% [markdown]
# # Data preparation: the canonical inputs
#
# Make (synthetic study) or ingest (real files) every input of the pipeline, derive the indices the methods
# use, and look at each of them.
#
# ## Overview
#
# Every later stage reads one layout of canonical inputs (`data/runs/<study>/inputs/`): 1-km static fields and
# MODIS-like optical/thermal data, 5-km GLASS-like series, SMAP-, AMSR2-, ASCAT- and FY3C-like microwave
# products, five land-surface-model products, meteorological forcing and in-situ stations. This stage makes
# them. For a **synthetic** study they are simulated from a known 1-km truth by the sensor and error models
# of the chapter {doc}`../synthetic`; for a **files** study the readers ingest real
# archives into the same layout. The chapter then maps every input, derives the microwave polarization
# difference index (MPDI), the backscatter temporal index (BTI), NSDSI and slope used in band selection
# {cite}`lv2021qinghai`, tabulates each product's grid, revisit and error parameters, and shows why
# downscaling is needed: the coarse products cannot see the 1-km pattern of soil moisture.
#
# **Prerequisites**: a study file (`data/studies/*.yml`). **Outputs**: `inputs/*.nc` and
# `tables/data_prep_products.csv`.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
make = True  # make (synthetic) or ingest (files) the inputs; False keeps the inputs already in run_dir
n_map_days = 3  # days shown in the time-varying maps
n_station_plots = 3  # stations whose time series are drawn

# %%
import time

import cartopy.crs as ccrs
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import Markdown, display
from matplotlib.colors import ListedColormap

from smlib import bandsel, catalog, grid, inputs, io, notebook, plotting, validate
from smlib.synth import diagnostics, report

ctx = notebook.setup(study, run_dir, "data_prep")
print(f"study {ctx.study.name} ({ctx.study.source}): {ctx.study.region}, "
      f"{ctx.study.start.date()} to {ctx.study.end.date()} ({len(ctx.study.dates)} days)")

# %% [markdown]
# ## Making the inputs
#
# `smlib.inputs.make_inputs` dispatches on the study's `source`: the synthetic generator
# (`smlib.synth.write_inputs`) or the real-data ingest (`smlib.readers.ingest.write_inputs`). Both write the
# same files through one atomic writer that adds provenance attributes (version, commit, study, parameter hash).

# %%
t0 = time.perf_counter()
if make or not list(ctx.inputs.glob("*.nc")):
    written = inputs.make_inputs(ctx.study, ctx.run_dir)
else:
    written = sorted(ctx.inputs.glob("*.nc"))
make_seconds = time.perf_counter() - t0
synthetic = validate.has_truth(ctx.run_dir)
print(f"{len(written)} files in {make_seconds:.1f} s:", ", ".join(p.stem for p in written))

# %% [markdown]
# ## Every product at a glance
#
# Grid and size are read from the files; coverage is the share of cell-days with a value of the product's
# main variable (`ssm` where it has one), and the revisit is the mean interval between observations of a
# cell. The error columns are the parameters the product states in its attributes: for the synthetic study the
# generator's random error sd and bias (in m3/m3 unless the units column says otherwise) and the error it
# actually realised against the truth averaged to the product's cells.

# %%
table = report.product_table(ctx.inputs)
io.write_table(table, ctx.tables / "data_prep_products.csv")
table

# %% [markdown]
# ## Static fields
#
# Elevation (with the stations), slope, land cover, open water and the soil map. Land cover codes: 0 water
# (blue), 1 bare (sand), 2 grassland (light green), 3 cropland (orange), 4 forest (dark green), as in the
# `flag_meanings` attribute of `landcover`. The sand and clay maps are soil-map estimates: smooth, with a mapping
# error, like the soil databases a real study would use.

# %% tags=["hide-input"]
static = report.read_if(ctx.run_dir, "static") or xr.Dataset()
stations = report.read_if(ctx.run_dir, "stations")
stations = stations if stations is not None and "ssm" in stations else None
names = [v for v in ("dem", "slope", "landcover", "water_fraction", "sand", "clay") if v in static]
fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), subplot_kw={"projection": ccrs.PlateCarree()})
classes = ListedColormap(["#4a7fb5", "#d8c28f", "#a6cf7e", "#f0b43c", "#2f6b32"])  # water bare grass crop forest
for ax, v in zip(axes.flat, names):
    categorical = v == "landcover"
    plotting.map_field(static[v], ax=ax, name=v, title=v, stations=stations if v == "dem" else None,
                       cmap=classes if categorical else None, vmin=-0.5 if categorical else None,
                       vmax=4.5 if categorical else None, robust=v not in ("landcover", "water_fraction"))
for ax in list(axes.flat)[len(names):]:
    ax.set_visible(False)
note = plotting.map_note()
if note:
    print(note)

# %% [markdown]
# ## Optical and thermal data
#
# MODIS-like NDVI and EVI are 16-day maximum-value composites dated at the start of their window; LST is daily
# but only under clear sky; NSDSI, the normalized shortwave-infrared difference soil-moisture index
# (SWIR1 - SWIR2)/SWIR1, comes every 8 days. GLASS-like NDVI and LST are gap-free at 0.05 deg.

# %% tags=["hide-input"]
modis = report.read_if(ctx.run_dir, "modis") or xr.Dataset()
glass = report.read_if(ctx.run_dir, "glass") or xr.Dataset()
fields, shown = {}, {}
for src, ds in (("MODIS", modis), ("GLASS", glass)):
    for v in ("ndvi", "lst_day", "nsdsi"):
        if v in ds:
            d = shown.setdefault(v, report.pick_days(ds[v], 1)[0])   # GLASS on the MODIS day
            fields[f"{src} {v} {str(d)[:10]}"] = (v, ds[v].sel(time=d))
fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), subplot_kw={"projection": ccrs.PlateCarree()})
for ax, (title, (v, da)) in zip(axes.flat, fields.items()):
    plotting.map_field(da, ax=ax, name=v, title=title)
for ax in list(axes.flat)[len(fields):]:
    ax.set_visible(False)

# %% [markdown]
# Clear-sky coverage of the MODIS-like LST by day: clouds follow the storms, so the wettest days are the
# least observed, which is why stage 03 fuses the gappy 1-km series with the gap-free 5-km one.

# %% tags=["hide-input"]
if "lst_day" in modis:
    clear = np.isfinite(modis["lst_day"]).mean(("lat", "lon"))
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(clear["time"].values, 100 * clear.values, lw=1)
    ax.set_ylabel("clear-sky LST pixels [%]")
    ax.set_xlabel("date")
    ax.set_ylim(0, 100)

# %% [markdown]
# ## Microwave products
#
# SMAP-like surface soil moisture at 0.36 deg on days with a descending (06:00) overpass; cells are empty
# between swaths and on frozen ground.

# %% tags=["hide-input"]
smap = report.read_if(ctx.run_dir, "smap")
if smap is not None and "ssm" in smap:
    days = report.pick_days(smap["ssm"], n_map_days)
    plotting.map_panel({f"SMAP ssm {str(d)[:10]}": smap["ssm"].sel(time=d) for d in days}, name="ssm")

# %% [markdown]
# Brightness temperatures and backscatter on one day: SMAP L band (1.41 GHz), AMSR2 X band (10.7 GHz),
# FY3C X band and ASCAT C-band backscatter at 40 deg.

# %% tags=["hide-input"]
mw = {}
for prod, var in (("smap", "tbv_des"), ("smap", "tbh_des"), ("amsr2", "tbh_x_des"), ("fy3c", "tbh_x"),
                  ("ascat", "sig40")):
    ds = report.read_if(ctx.run_dir, prod, var)
    if ds is not None:
        mw[f"{prod} {var}"] = (var, ds[var].sel(time=report.pick_days(ds[var], 1)[0]))
fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), subplot_kw={"projection": ccrs.PlateCarree()})
for ax, (title, (v, da)) in zip(axes.flat, mw.items()):
    plotting.map_field(da, ax=ax, name=v, title=f"{title} {str(da['time'].values)[:10]}")
for ax in list(axes.flat)[len(mw):]:
    ax.set_visible(False)

# %% [markdown]
# ## Derived indices
#
# The microwave polarization difference index $\mathrm{MPDI} = (T_{BV} - T_{BH})/(T_{BV} + T_{BH})$ removes most
# of the temperature dependence of the brightness temperatures and grows as the soil gets wetter and the
# vegetation thinner; the backscatter temporal index BTI rescales each cell's $\sigma^{40}$ series to [0, 1]
# (its lowest value 0, its highest 1) {cite}`lv2021qinghai`. Stage 02 computes them again for its feature
# sets with the same functions (`smlib.bandsel.mpdi`, `smlib.bandsel.bti`); here are their period means.

# %% tags=["hide-input"]
idx = {}
for prod, (v, h), title in (("smap", ("tbv_des", "tbh_des"), "MPDI SMAP L des"),
                            ("amsr2", ("tbv_x_des", "tbh_x_des"), "MPDI AMSR2 X des")):
    tb = report.read_if(ctx.run_dir, prod, [v, h])
    if tb is not None:
        idx[title] = ("mpdi", bandsel.mpdi(tb[v], tb[h]).mean("time"))
sig = report.read_if(ctx.run_dir, "ascat", "sig40")
if sig is not None:
    idx["BTI ASCAT"] = ("bti", bandsel.bti(sig["sig40"]).mean("time"))
if "nsdsi" in modis:
    idx["NSDSI MODIS (mean)"] = ("nsdsi", modis["nsdsi"].mean("time"))
if idx:
    fig, axes = plt.subplots(1, len(idx), figsize=(4.3 * len(idx), 3.8),
                             subplot_kw={"projection": ccrs.PlateCarree()}, squeeze=False)
    for ax, (title, (v, da)) in zip(axes.flat, idx.items()):
        plotting.map_field(da, ax=ax, name=v, title=title)

# %% [markdown]
# Quality control of the SMAP-like product: the share of observations flagged for dense vegetation, open
# water and frozen ground (no retrieval on frozen ground).

# %%
qc_table = report.qc_summary(smap) if smap is not None and {"qc", "ssm"} <= set(smap) else pd.DataFrame()
qc_table

# %% [markdown]
# ## Land-surface models and forcing
#
# The five model products on one day: gap-free and smooth, each with its own bias and forcing error.

# %% tags=["hide-input"]
models = io.model_names(ctx.run_dir)
if models:
    mds = {m: io.read_input(ctx.run_dir, f"model_{m}", ["ssm"])["ssm"] for m in models}
    day_m = report.pick_days(mds[models[0]], n_map_days)[n_map_days // 2]
    plotting.map_panel({f"{m} ssm {str(day_m)[:10]}": da.sel(time=day_m) for m, da in mds.items()},
                       name="ssm", ncols=min(len(mds), 5), panel_size=(3.4, 3.0))

# %% tags=["hide-input"]
if io.has_input(ctx.run_dir, "forcing"):
    forcing = io.read_input(ctx.run_dir, "forcing")
    wet = report.wettest_day(forcing["precip"])
    pf = {f"{v} {str(wet)[:10]}": forcing[v].sel(time=wet) for v in ("precip", "precip_mswep") if v in forcing}
    if synthetic:
        pf[f"true precip {str(wet)[:10]}"] = validate.read_truth(ctx.run_dir, ["precip"])["precip"].sel(time=wet)
    plotting.map_panel(pf, name="precip", ncols=3)

# %% [markdown]
# ## The truth (synthetic studies only)
#
# The known 1-km truth the products were simulated from; no method ever reads it, only the validation. On a
# real (files) study this section is empty.

# %% tags=["hide-input"]
if synthetic:
    truth = validate.read_truth(ctx.run_dir, ["ssm", "rzsm", "ndvi", "lst_day", "precip"])
    tdays = report.pick_days(truth["ssm"], n_map_days)
    plotting.map_panel({f"true ssm {str(d)[:10]}": truth["ssm"].sel(time=d) for d in tdays}, name="ssm")
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), subplot_kw={"projection": ccrs.PlateCarree()})
    for ax, v in zip(axes, ("rzsm", "ndvi", "lst_day", "precip")):
        plotting.map_field(truth[v].sel(time=tdays[-1]), ax=ax, name=v, title=f"true {v} {str(tdays[-1])[:10]}")

# %% [markdown]
# ## Coarse versus fine: why downscale
#
# The same day seen at 1 km, averaged to the 0.25-deg model grid, and as the SMAP-like 0.36-deg retrieval. The
# coarse products keep the regional pattern but lose everything inside a cell: valleys, soils, land-cover
# patches, local showers. The fraction of the 1-km spatial variance that lies *inside* 0.25-deg cells is the
# share downscaling must recover; the R2 of a linear regression of the 1-km anomalies (truth minus its
# coarse-cell mean) on the anomalies of the observable covariates NDVI, LST, DEM and slope says how much of it
# the covariates can explain at best linearly (soil texture and local rain are not observed).

# %% tags=["hide-input"]
coarse = ctx.study.grid("coarse")
if synthetic and smap is not None and "ssm" in smap:
    day_c = report.pick_days(smap["ssm"], 1)[0]
    fine_day = truth["ssm"].sel(time=day_c)
    panels = {"truth 1 km": fine_day, "truth averaged to 0.25 deg": grid.block_mean(fine_day, coarse),
              "SMAP-like 0.36 deg": smap["ssm"].sel(time=day_c)}
    if models:
        panels[f"{models[0]} 0.25 deg"] = mds[models[0]].sel(time=day_c)
    plotting.map_panel(panels, name="ssm", ncols=4, panel_size=(3.6, 3.2), suptitle=str(day_c)[:10])
elif smap is not None and "ssm" in smap and "lst_day" in modis:
    day_c = report.pick_days(modis["lst_day"], 1)[0]
    plotting.map_panel({"MODIS LST 1 km": modis["lst_day"].sel(time=day_c)}, name="lst_day")
    plotting.map_panel({"SMAP-like ssm 0.36 deg": smap["ssm"].sel(time=day_c)}, name="ssm")

# %%
realism = diagnostics.fine_scale_realism(ctx.inputs, coarse.res) if synthetic else {}
pd.Series({k: v for k, v in realism.items() if k != "coef_ssm"}).to_frame("value").round(3) if realism else None

# %% [markdown]
# ## Stations
#
# In-situ surface soil moisture (0-5 cm) with the gauge's precipitation, beside the SMAP-like cell and the first
# model's cell that contain the station (and, in a synthetic study, the true 1-km pixel). A station sees one
# point: its series differs from the cell's by the point-to-area (representativeness) error, a sensor bias and
# outages.

# %% tags=["hide-input"]
if stations is not None:
    order = np.argsort(-np.isfinite(stations["ssm"]).sum("time").values)[:n_station_plots]
    for i in order:
        s = stations.isel(station=int(i))
        lat, lon = [float(s["lat"])], [float(s["lon"])]
        series = {"station": s["ssm"].values}
        if smap is not None and "ssm" in smap:
            series["SMAP-like cell"] = grid.point_values(smap["ssm"], lat, lon).isel(station=0).values
        if models:
            series[f"{models[0]} cell"] = grid.point_values(mds[models[0]], lat, lon).isel(station=0).values
        if synthetic:
            series["true pixel"] = grid.point_values(truth["ssm"], lat, lon).isel(station=0).values
        plotting.station_series(s["time"].values, series, precip=s["precip"].values if "precip" in s else None,
                                name="ssm",
                                title=f"{s['station'].values} ({s['network'].values}), {float(s['elevation']):.0f} m")

# %% [markdown]
# ## Summary

# %%
n_st = stations.sizes["station"] if stations is not None else 0
gaps = 100 * float(np.isnan(stations["ssm"]).mean()) if stations is not None else float("nan")
lines = [f"- {len(written)} canonical inputs for **{ctx.study.name}** ({len(ctx.study.dates)} days) in "
         f"{make_seconds:.1f} s; {n_st} stations with {gaps:.0f}% of their surface days missing."]
sm = table.set_index("product")
if "smap" in sm.index:
    r = sm.loc["smap"]
    lines.append(f"- SMAP-like ssm observes a cell every {r['revisit (days)']:.1f} days on average"
                 + (f"; its realised error sd is {r['realised error sd']:.3f} m3/m3 (stated {r['error sd']:.3f}), "
                    f"bias {r['realised bias']:+.3f}." if np.isfinite(r["realised error sd"]) else "."))
if realism:
    lines.append(f"- {100 * realism['variance_fraction_ssm']:.0f}% of the 1-km spatial variance of surface soil "
                 f"moisture lies inside 0.25-deg cells; NDVI, LST, DEM and slope explain "
                 f"R2 = {realism['r2_ssm']:.2f} of it linearly (root zone: {realism['r2_rzsm']:.2f}), the rest is "
                 "soil texture, local rain and sub-kilometre heterogeneity that no covariate observes.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## What comes next
#
# Stage 02 selects the microwave bands and auxiliary variables for the neural-network retrieval
# {cite}`lv2021qinghai`; stage 03 fuses the gappy 1-km and gap-free 5-km NDVI and LST {cite}`zhu2010estarfm`;
# stages 04-07 downscale, fuse and correct soil moisture {cite}`seed000_fusion2025,jiang2025drcgan,seed002_mlda`;
# stage 08 scores every product against the truth and the stations.
#
# ## References
#
# - Band selection, MPDI and BTI: Zhao et al. (2021) {cite}`lv2021qinghai`, after Ghulam et al. (2007)
#   {cite}`ghulam2007mpdi` and Kolassa et al. (2016) {cite}`kolassa2016bti`; NSDSI: Yue et al. (2019)
#   {cite}`yue2019nsdsi`; maximum-value compositing: Holben (1986) {cite}`holben1986`.
# - The SMAP mission {cite}`entekhabi2010smap`; the synthetic region's physics and sensor models are referenced in
#   the chapter {doc}`../synthetic`.
# - Full entries in the book's bibliography.
