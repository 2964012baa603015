# %% [markdown]
# # Downscaling to 1 km (LightGBM and NN)
#
# Model and satellite SM from 0.25 deg to daily 1 km with machine learning (seeds 000 and 003).
#
# ## Overview
#
# This chapter is stage `05_downscaling` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>
# --- Part 1 parameters: LightGBM ---
# --- Part 2 parameters: neural network ---

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "downscaling")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))

# %% [markdown]
# ## Part 1: LightGBM two-layer downscaling (seed 000)

# %% [markdown]
# ## Part 2: neural-network downscaling (seed 003)

# %% [markdown]
# ## Summary
