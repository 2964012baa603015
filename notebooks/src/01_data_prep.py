# %% [markdown]
# # Data preparation
#
# Make (synthetic study) or ingest (real files) the canonical inputs, derive indices and show every input.
#
# ## Overview
#
# This chapter is stage `01_data_prep` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "data_prep")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
