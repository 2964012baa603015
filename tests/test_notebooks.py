"""Notebook hygiene: one per stage, built from their sources, committed without outputs, parameterized."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smlib import study

ROOT = Path(__file__).resolve().parents[1]


def test_sources_and_notebooks_in_sync():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "nb.py"), "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("stem", [s for _, s in study.STAGES])
def test_stage_notebook(stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "outputs must be stripped"
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1, "exactly one parameters cell"
    names = {n.targets[0].id for n in ast.parse("".join(params[0]["source"])).body if isinstance(n, ast.Assign)}
    assert {"study", "run_dir"} <= names
    md = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert md and "".join(md[0]["source"]).startswith("# "), "a chapter opens with its title"
    assert all("".join(c["source"]).strip() for c in nb["cells"]), "no empty cells"


def test_methods_never_read_the_reference():
    """Only smlib/validate and smlib/synth may mention the synthetic truth (DESIGN.md section 4)."""
    offenders = []
    for p in (ROOT / "smlib").rglob("*.py"):
        rel = p.relative_to(ROOT / "smlib").as_posix()
        if rel.startswith(("validate", "synth")):
            continue
        if re.search(r"truth", p.read_text(), flags=re.IGNORECASE):
            offenders.append(rel)
    assert not offenders, f"modules outside validate/synth mention the truth: {offenders}"


def test_notebooks_read_truth_only_through_validate():
    opens = re.compile(r"(open_dataset|open_mfdataset|load_dataset|read_input|Dataset)\([^)]*truth|/\s*[\"']truth\.nc")
    for p in (ROOT / "notebooks" / "src").glob("*.py"):
        hit = opens.search(p.read_text())
        assert hit is None, f"{p.name} opens the truth directly ({hit.group(0)!r}); use smlib.validate"
