# %% [markdown]
# # Band and auxiliary-variable selection
#
# Which microwave bands and auxiliary variables best explain the model soil moisture (seed 003, Tables 3-5).
#
# ## Overview
#
# This chapter is stage `02_band_selection` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "band_selection")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
