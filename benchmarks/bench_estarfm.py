"""ESTARFM speed-up over the per-pixel reference (``estarfm_speedup``, DESIGN.md section 9).

The task: fuse the ``ndates`` days between two fine/coarse pairs on one tile (96 x 96 pixels, half window 10;
quick: 48 x 48, 6 dates), the daily-series workload of stage 03. The baseline is the straightforward per-pixel
transcription of Zhu's IDL code kept in ``tests/test_estarfm.py``, which (like the IDL code) handles one
prediction date per run: it is timed on one date and that time is multiplied by ``ndates`` (each of its runs
repeats the same work). ``smlib.estarfm.estarfm`` is timed on the whole stack of dates, and its single-date
speed-up is given in the detail. Both run on one thread and must agree to 1e-5.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _reference_module():
    spec = importlib.util.spec_from_file_location("test_estarfm_reference", ROOT / "tests" / "test_estarfm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bench(quick: bool = False) -> dict:
    from smlib import estarfm as E

    ref = _reference_module()
    n, w, ndates = (48, 10, 6) if quick else (96, 10, 16)
    f1, c1, f2, c2, c0, _ = ref.make_scene(n, seed=0, lst=True)
    stack = np.stack([c1 + (c2 - c1) * (k + 1) / (ndates + 1) for k in range(ndates)])
    stack[0] = c0
    kw = dict(value_range=(200.0, 350.0), min_change=1.0)
    t = time.perf_counter()
    r0 = ref.reference_estarfm(f1, c1, f2, c2, stack[0], w=w, dn_min=200.0, dn_max=350.0, min_change=1.0)
    t_ref = time.perf_counter() - t
    t = time.perf_counter()
    one = E.estarfm(f1, c1, f2, c2, stack[0], half_window=w, **kw)
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    many = E.estarfm(f1, c1, f2, c2, stack, half_window=w, **kw)
    t_many = time.perf_counter() - t
    err = max(float(np.nanmax(np.abs(one - r0))), float(np.nanmax(np.abs(many[0] - r0))))
    if err > 1e-5:
        raise AssertionError(f"vectorized ESTARFM differs from the per-pixel reference by {err:.2e}")
    base = t_ref * ndates
    return {"estarfm_speedup": {
        "value": round(base / t_many, 1), "unit": "x", "baseline": round(base, 2), "ratio": round(base / t_many, 1),
        "detail": (f"{n}x{n} tile, w={w}, {ndates} prediction dates between two pairs: per-pixel reference "
                   f"{t_ref:.2f} s per date x {ndates} = {base:.1f} s, vectorized {t_many:.2f} s for all dates; "
                   f"single date {t_ref:.2f} s vs {t_one:.3f} s ({t_ref / t_one:.0f}x); max difference {err:.1e}")}}
