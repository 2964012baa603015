# %% [markdown]
# # Machine learning with data assimilation (ML-DA)
#
# TC-R merged labels, a LightGBM SM simulator and Newtonian nudging of SMAP-like observations (seed 002).
#
# ## Overview
#
# This chapter is stage `06_assimilation` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "assimilation")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
