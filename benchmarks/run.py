"""Run every benchmark (benchmarks/bench_*.py) and write data/runs/bench/results.json (DESIGN.md section 9).

Each module defines ``bench(quick: bool = False) -> {name: {"value", "unit", "baseline", "ratio", "detail"}}``
and measures its baseline in the same run. ``--quick`` runs the small variants; ``-k NAME`` selects modules.

    python benchmarks/run.py [--quick] [-k estarfm]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "data" / "runs" / "bench" / "results.json"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-k", dest="select", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from smlib.io import write_text

    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        if args.select and args.select not in path.stem:
            continue
        t0 = time.perf_counter()
        print(f"== {path.stem}", flush=True)
        try:
            res = _load(path).bench(quick=args.quick)
        except Exception:  # noqa: BLE001 - report and continue with the other benchmarks
            traceback.print_exc()
            failed.append(path.stem)
            continue
        for name, r in res.items():
            results[name] = r
            base = r.get("baseline")
            ratio = r.get("ratio")
            print(f"  {name:<40} {r['value']:>12.4g} {r['unit']:<16} baseline {base if base is not None else '-':>10} "
                  f"ratio {ratio if ratio is not None else '-'}  ({r.get('detail', '')})")
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_text(json.dumps(results, indent=2, sort_keys=True), OUT)
    print(f"wrote {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
