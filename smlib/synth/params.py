"""Parameters of the synthetic study generator, with the error levels fixed by DESIGN.md section 5.

A study file's ``synthetic:`` section overrides :data:`DEFAULTS`; :func:`validate_params` checks
every value and raises ``ValueError("<key>: <rule>")`` (the study loader prefixes ``synthetic.``).
"""

from __future__ import annotations

import copy

#: Generator parameters (units in the comments). Sensor error levels are the contract of DESIGN.md.
DEFAULTS: dict = {
    "n_stations": 30,            # number of in-situ stations (20-40)
    "smap_error_sd": 0.04,       # m3/m3, SMAP-like ssm random error
    "smap_bias": 0.01,           # m3/m3
    "amsr2_error_sd": 0.06,      # m3/m3
    "fy3c_error_sd": 0.06,       # m3/m3
    "station_error_sd": 0.025,   # m3/m3, point-scale representativeness error (AR(1))
}


def validate_params(params: dict) -> dict:
    """Check generator parameters; return a validated copy. Raises ``ValueError("key: rule")``."""
    out = copy.deepcopy(params)
    n = out["n_stations"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n_stations: must be a positive integer, got {n!r}")
    for k in ("smap_error_sd", "amsr2_error_sd", "fy3c_error_sd", "station_error_sd"):
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{k}: must be a non-negative number (m3/m3), got {v!r}")
    return out
