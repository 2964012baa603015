"""Generation of the synthetic study region (issue 3).

- ``synth_demo_seconds``: wall time of ``smlib.synth.write_inputs`` for the demo study (quick mode:
  the tiny study), into a temporary folder. Baseline, measured in the same run: the time spent in
  the land-surface physics alone (spin-up and the daily water balance, weather, vegetation at 1 km),
  so the ratio is the price of the sensor models, the products and the writing. The issue's budget
  for the demo is 120 s.
- ``synth_large_peak_gb`` (full mode only): peak resident memory of a separate process generating
  the ``large`` study (10 x 10 deg, one year, 1000 x 1000 fine pixels) block by block. Baseline: the
  memory the fine-grid outputs alone would take if the period were held at once (float32 truth and
  MODIS-like fields); the issue's budget is 6 GB.
- ``synth_large_seconds`` (full mode only): wall time of that run; baseline: the demo time scaled by
  the ratio of fine pixel-days (linear scaling), so a ratio near 1 means the block-wise path costs
  nothing beyond the size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_LARGE = """
import sys, time, json, resource
sys.path.insert(0, {root!r})
from smlib import study
from smlib.synth import write_inputs
st = study.load({path!r})
t = {{}}
write_inputs(st, {out!r}, timings=t, progress=lambda m: print(m, flush=True))
print("TIMINGS " + json.dumps({{k: round(v, 1) for k, v in t.items()}}), flush=True)
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
"""


def _pixel_days(st) -> int:
    g = st.grid("fine")
    return g.nlat * g.nlon * len(st.dates)


def bench(quick: bool = False) -> dict:
    from smlib import study
    from smlib.synth import write_inputs

    name = "tiny" if quick else "demo"
    st = study.load(ROOT / "data" / "studies" / f"{name}.yml")
    timings: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = write_inputs(st, Path(tmp) / "inputs", timings=timings)
        total = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
    physics = timings["spinup"] + timings["simulate"]
    g = st.grid("fine")
    detail = (f"{name} study: {g.nlat}x{g.nlon} fine pixels x {len(st.dates)} days (+{st.synthetic['spinup_days']} "
              f"spin-up), {len(paths)} files, {size_mb:.0f} MB; phases (s): setup {timings['setup']:.1f}, spin-up {timings['spinup']:.1f}, "
              f"simulate {timings['simulate']:.1f}, products {timings['products']:.1f}, write {timings['write']:.1f}; "
              f"baseline = physics alone (spin-up + simulate); budget 120 s for the demo; "
              f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"synth_demo_seconds ({name}): {total:.1f} s (physics {physics:.1f} s, ratio {total / physics:.2f})")
    out = {"synth_demo_seconds": {"value": round(total, 2), "unit": "s", "baseline": round(physics, 2),
                                  "ratio": round(total / physics, 3), "detail": detail}}
    if quick:
        return out

    large = study.load(ROOT / "data" / "studies" / "large.yml")
    with tempfile.TemporaryDirectory(dir=os.environ.get("SMLIB_BENCH_TMP")) as tmp:
        code = _LARGE.format(root=str(ROOT), path=str(ROOT / "data" / "studies" / "large.yml"),
                             out=str(Path(tmp) / "inputs"))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"large generation failed: {proc.stderr[-2000:]}")
        peak = [ln for ln in proc.stdout.splitlines() if ln.startswith("PEAK_KB")]
        if not peak:
            raise RuntimeError("the large generation did not report its peak memory")
        peak_kb = int(peak[-1].split()[1])
        files = sorted((Path(tmp) / "inputs").glob("*.nc"))
        size_gb = sum(p.stat().st_size for p in files) / 1e9
    peak_gb = peak_kb / 1e6
    naive_gb = _pixel_days(large) * 4 * 9 / 1e9       # truth (5) + MODIS-like (4) fine fields, float32
    scaled = total * _pixel_days(large) / _pixel_days(st)
    bd = large.synthetic["block_days"]
    log = [ln for ln in proc.stdout.splitlines() if ln.startswith("TIMINGS")]
    detail_l = (f"large study: 1000x1000 fine pixels x {len(large.dates)} days in blocks of about {bd} days, "
                f"{len(files)} files, {size_gb:.1f} GB (zlib level 1); {log[-1] if log else ''}; "
                f"budget 6 GB; baseline = the fine-grid truth and MODIS-like fields held at once (float32)")
    print(f"synth_large_peak_gb: {peak_gb:.2f} GB (all at once {naive_gb:.1f} GB); synth_large_seconds: "
          f"{seconds:.0f} s (linear scaling of the demo {scaled:.0f} s)")
    out["synth_large_peak_gb"] = {"value": round(peak_gb, 3), "unit": "GB", "baseline": round(naive_gb, 2),
                                  "ratio": round(peak_gb / naive_gb, 4), "detail": detail_l}
    out["synth_large_seconds"] = {"value": round(seconds, 1), "unit": "s", "baseline": round(scaled, 1),
                                  "ratio": round(seconds / scaled, 3),
                                  "detail": f"baseline = demo time x pixel-day ratio ({_pixel_days(large)} / "
                                            f"{_pixel_days(st)})"}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(bench(quick="--quick" in sys.argv), indent=1))
