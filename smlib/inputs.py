"""Stage 01's two front ends, one layout: make the canonical inputs of a study.

``source: synthetic`` -> :func:`smlib.synth.write_inputs`; ``source: files`` ->
:func:`smlib.readers.ingest.write_inputs`. Both write ``<run_dir>/inputs/<name>.nc``.
"""

from __future__ import annotations

from pathlib import Path

from .study import Study


def make_inputs(study: Study, run_dir: str | Path, **kwargs) -> list[Path]:
    """Write the canonical inputs of ``study`` under ``run_dir/inputs`` and return their paths."""
    out = Path(run_dir) / "inputs"
    out.mkdir(parents=True, exist_ok=True)
    if study.source == "synthetic":
        from .synth import write_inputs
    else:
        from .readers.ingest import write_inputs
    return write_inputs(study, out, **kwargs)
