"""Shared fixtures: the repository root, the real-data folder, and one tiny end-to-end pipeline run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.exists():
        pytest.skip(f"real-data samples not found at {REALDATA} (../shared/realdata beside the repository)")
    return REALDATA


def copy_book_skeleton(dest: Path) -> Path:
    """Copy the book's configuration and pages (not the chapters) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "book", dest / "book", ignore=shutil.ignore_patterns("chapters"), dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """Run every stage on the tiny study once per session into a temporary book tree.

    Returns a dict with ``book`` (a copy of the book sources with executed chapters), ``run_dir`` and
    ``results`` (the runner's StageResults).
    """
    from smlib import runner

    base = tmp_path_factory.mktemp("tiny_pipeline")
    book = copy_book_skeleton(base / "book_root")
    results = runner.run(ROOT / "data" / "studies" / "tiny.yml", runs_root=base / "runs",
                         chapters_dir=book / "book" / "chapters", progress=False)
    return {"book": book, "run_dir": base / "runs" / "tiny", "results": results}
