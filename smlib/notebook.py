"""What every stage notebook does first: load the study, find the run directory, set plot style.

    ctx = setup(study, run_dir, "downscaling")
    ctx.study, ctx.run_dir, ctx.params   # Study, Path, this stage's parameters from the study file
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .study import REPO_ROOT, Study, load


@dataclass
class Context:
    study: Study
    run_dir: Path
    stage: str

    @property
    def inputs(self) -> Path:
        return self.run_dir / "inputs"

    @property
    def products(self) -> Path:
        return self.run_dir / "products"

    @property
    def tables(self) -> Path:
        return self.run_dir / "tables"

    @property
    def models(self) -> Path:
        return self.run_dir / "models"


def setup(study: str, run_dir: str = "", stage: str = "") -> Context:
    """Load ``study`` (a path; relative paths are taken from the repository root when not found
    from the working directory) and return a :class:`Context`. ``run_dir`` defaults to
    ``data/runs/<study name>`` under the repository root. Also applies the book's plot style."""
    p = Path(study)
    if not p.exists() and not p.is_absolute() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    st = load(p)
    rd = Path(run_dir) if run_dir else REPO_ROOT / "data" / "runs" / st.name
    for sub in ("inputs", "products", "tables", "models"):
        (rd / sub).mkdir(parents=True, exist_ok=True)
    from .plotting import set_style

    set_style()
    return Context(study=st, run_dir=rd, stage=stage)
