"""Validation: metrics, triple collocation, station matching, truth scores and the scoreboard.

DESIGN.md section 7 (a contract). Public functions:

- :func:`pairwise` (``n, r, p, r_lo, r_hi, bias, rmse, ubrmse, mae`` over a dim, vectorized),
  :func:`spearman`, :func:`spatial_correlation`, :func:`temporal_correlation` (seed 003);
- :func:`triple_collocation` (``err_sd``, ``tc_r``, ``snr_db``, ``beta``, ``valid`` per product),
  :func:`tc_bootstrap`, :func:`extended_collocation`;
- :func:`read_truth`, :func:`score_truth` (synthetic studies), :func:`score_stations`,
  :func:`by_landcover`;
- :func:`smlib.validate.scoreboard.build` writes ``<run_dir>/scoreboard.csv``;
- :mod:`smlib.validate.products` loads and collocates a run's products, :mod:`smlib.validate.report`
  holds the stage-08 building blocks (TC of triplets beside the recorded error levels, Taylor
  statistics, station series, the computed summary) and :mod:`smlib.validate.plots` the figures.

Importing this package does no work (no file reads); the sub-modules import only NumPy, xarray and
pandas at module level.
"""

from . import headroom, scoreboard
from .match import at_stations, by_landcover, compare_medians, score_stations, summarize_stations
from .metrics import (bias, mae, pairwise, pearson_r, pooled, rmse, spatial_correlation, spearman,
                      temporal_correlation, ubrmse)
from .tc import extended_collocation, tc_bootstrap, tc_table, triple_collocation
from .truth import has_truth, read_truth, score_truth

__all__ = ["pairwise", "spearman", "spatial_correlation", "temporal_correlation", "pooled", "bias", "rmse",
           "ubrmse", "mae", "pearson_r", "triple_collocation", "tc_bootstrap", "extended_collocation", "tc_table",
           "read_truth", "has_truth", "score_truth", "score_stations", "at_stations", "by_landcover",
           "summarize_stations", "compare_medians", "scoreboard", "headroom"]
