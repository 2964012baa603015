"""Wall time of the whole pipeline plus the book build (``book_demo_seconds``).

Quick mode times the tiny study instead (``book_tiny_seconds``). Runs into a temporary folder so the
published run under data/runs is untouched. Baseline: none (it is the figure itself); the detail lists
each stage's share.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(quick: bool = False) -> dict:
    from smlib import runner

    name = "tiny" if quick else "demo"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        book = tmp / "book_root"
        book.mkdir()
        for f in ("_config.yml", "_toc.yml"):
            shutil.copy(ROOT / f, book / f)
        shutil.copytree(ROOT / "book", book / "book", ignore=shutil.ignore_patterns("chapters"))
        t0 = time.perf_counter()
        res = runner.run(ROOT / "data" / "studies" / f"{name}.yml", runs_root=tmp / "runs",
                         chapters_dir=book / "book" / "chapters", progress=False)
        t_run = time.perf_counter() - t0
        jb = Path(sys.executable).with_name("jupyter-book")
        subprocess.run([str(jb), "build", str(book), "-q"], check=True, capture_output=True)
        total = time.perf_counter() - t0
    stages = ", ".join(f"{r.notebook[:2]} {r.seconds:.0f}s" for r in res)
    return {f"book_{name}_seconds": {"value": round(total, 1), "unit": "s", "baseline": None, "ratio": None,
                                     "detail": f"run {t_run:.0f} s ({stages}) + build {total - t_run:.0f} s"}}
