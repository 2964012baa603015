"""Build the committed notebooks from their percent-format sources, or check they are in sync.

    python tools/nb.py build     # notebooks/src/*.py -> notebooks/*.ipynb (no outputs)
    python tools/nb.py check     # exit 1 if any .ipynb differs from its source

Source format (jupytext "percent"): cells start with ``# %%`` (code) or ``# %% [markdown]``;
markdown lines are written as comments (``# text``); ``# %% tags=["parameters"]`` tags a cell.
Plotting cells get ``tags=["hide-input"]``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def convert(text: str) -> dict:
    cells, cur = [], None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            if cur:
                cells.append(cur)
            cur = {"md": bool(m.group("md")), "tags": json.loads(m.group("tags")) if m.group("tags") else [],
                   "lines": []}
            continue
        if cur is None:
            continue  # text before the first cell marker (module docstring) is dropped
        cur["lines"].append(line)
    if cur:
        cells.append(cur)
    out = []
    for c in cells:
        lines = c["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if c["md"]:
            lines = [ln[2:] if ln.startswith("# ") else ln[1:] if ln.startswith("#") else ln for ln in lines]
        src = [ln + "\n" for ln in lines]
        if src:
            src[-1] = src[-1].rstrip("\n")
        meta = {"tags": c["tags"]} if c["tags"] else {}
        if c["md"]:
            out.append({"cell_type": "markdown", "metadata": meta, "source": src})
        else:
            out.append({"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [],
                        "source": src})
    for i, cell in enumerate(out):
        cell["id"] = f"c{i:03d}"
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(src: Path) -> str:
    return json.dumps(convert(src.read_text()), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "build"
    bad = []
    for src in sorted(SRC.glob("*.py")):
        target = OUT / f"{src.stem}.ipynb"
        text = render(src)
        if cmd == "build":
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
                print(f"wrote {target.relative_to(ROOT)}")
        elif cmd == "check":
            if not target.exists() or target.read_text() != text:
                bad.append(str(target.relative_to(ROOT)))
        else:
            print(__doc__)
            return 2
    if bad:
        print("out of sync with notebooks/src (run `python tools/nb.py build`):", ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
