# %% [markdown]
# # CNN bias correction against stations
#
# A CNN pre-trained on gridded pairs and fine-tuned on stations: point-to-area calibration (seed 000).
#
# ## Overview
#
# This chapter is stage `07_calibration` of the pipeline. It reads the canonical inputs of the study under
# `data/runs/<study>/inputs/` and writes its outputs beside them.

# %% tags=["parameters"]
study = "data/studies/tiny.yml"  # study file
run_dir = ""  # run directory; default data/runs/<study name>

# %%
from smlib import notebook

ctx = notebook.setup(study, run_dir, "calibration")
print(f"study {ctx.study.name}: {ctx.study.region}, {ctx.study.start.date()} to {ctx.study.end.date()}")
print("inputs present:", sorted(p.stem for p in ctx.inputs.glob("*.nc")))
