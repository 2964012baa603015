"""Command line: ``python -m smlib {run,book,synth,check}`` (DESIGN.md section 8).

    python -m smlib run   --study data/studies/demo.yml [--stages 01,05] [--set downscaling.n_estimators=200]
    python -m smlib book  --study data/studies/demo.yml [--no-run]
    python -m smlib synth --study data/studies/tiny.yml [--out DIR]
    python -m smlib check --study data/studies/demo.yml
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import SmlibError


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", required=True, help="study file, e.g. data/studies/demo.yml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, e.g. downscaling.n_estimators=200 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m smlib", description="Soil-moisture downscaling and fusion book")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the stage notebooks with papermill")
    _add_common(r)
    r.add_argument("--stages", default=None, help="e.g. 01,05 or 01-04 or downscaling (default: all)")
    r.add_argument("--runs-root", default=None, help="where run directories go (default data/runs)")
    r.add_argument("--chapters", default=None, help="where executed notebooks go (default book/chapters)")
    r.add_argument("--no-progress", action="store_true")
    b = sub.add_parser("book", help="run the stages, then build the HTML book")
    _add_common(b)
    b.add_argument("--stages", default=None)
    b.add_argument("--no-run", action="store_true", help="only build the book from existing chapters")
    b.add_argument("--no-progress", action="store_true")
    s = sub.add_parser("synth", help="write the synthetic study's canonical inputs")
    _add_common(s)
    s.add_argument("--out", default=None, help="output folder (default data/runs/<study>/inputs)")
    c = sub.add_parser("check", help="validate a study file and print a summary")
    _add_common(c)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SmlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; outputs already written are kept", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    from . import runner, study

    sets = args.sets
    if args.cmd == "check":
        st = study.load(args.study, sets=sets)
        fine = st.grid("fine")
        print(f"{st.name}: source {st.source}, profile {st.profile}, region {st.region}, "
              f"{st.start.date()}..{st.end.date()} ({len(st.dates)} days), fine grid {fine.shape}")
        return 0
    if args.cmd == "synth":
        from .inputs import make_inputs

        st = study.load(args.study, sets=sets)
        if st.source != "synthetic":
            print(f"error: {args.study}: source is {st.source!r}; synth needs source: synthetic", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        if args.out:
            from .synth import write_inputs

            Path(args.out).mkdir(parents=True, exist_ok=True)
            paths = write_inputs(st, Path(args.out))
        else:
            paths = make_inputs(st, runner.DEFAULT_RUNS / st.name)
        for p in paths:
            print(p)
        print(f"wrote {len(paths)} files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return 0
    if args.cmd in ("run", "book"):
        t0 = time.perf_counter()
        if not (args.cmd == "book" and args.no_run):
            kw = {}
            if args.cmd == "run":
                kw = {"runs_root": args.runs_root, "chapters_dir": args.chapters}
            res = runner.run(args.study, stages=args.stages, sets=sets, progress=not args.no_progress, **kw)
            for r in res:
                print(f"{r.notebook:<22} {r.status:>4} {r.seconds:7.1f} s")
        if args.cmd == "book":
            index = runner.build_book()
            print(f"book: {index}")
        print(f"total {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return 0
    return 2
