# %% [markdown]
# # Seamless daily soil moisture (DrcGAN)
#
# Gap-free daily SM from gappy SMAP-like and continuous Noah-like fields (seed 001).
#
# ## Overview
#
# This chapter is stage `04_fusion_seamless` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "fusion_seamless")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
