# %% [markdown]
# # Spatiotemporal fusion of NDVI and LST (ESTARFM)
#
# Daily 1-km NDVI and LST from gappy fine and gap-free coarse series (Zhu et al. 2010; seed 000).
#
# ## Overview
#
# This chapter is stage `03_fusion_estarfm` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "fusion_estarfm")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
