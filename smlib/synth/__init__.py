"""The synthetic study region: a known-truth observing-system simulation (DESIGN.md section 5).

``write_inputs(study, out_dir)`` makes the truth at 1 km and every canonical input of DESIGN.md
section 4 from it (see :mod:`smlib.synth.generate`). Nothing is computed at import time.
"""

from __future__ import annotations


def write_inputs(study, out_dir, **kw):
    """Write every canonical input of the synthetic ``study`` into ``out_dir``; see
    :func:`smlib.synth.generate.write_inputs`."""
    from .generate import write_inputs as _write

    return _write(study, out_dir, **kw)


__all__ = ["write_inputs"]
