"""Gap-filling baselines DrcGAN is compared with (seed 001, section 4 of the chapter).

- :func:`temporal_interpolation`: per cell, linear interpolation in time between the observations
  around a gap, the nearest observation held at the ends of the record;
- :func:`cdf_match`: the model field rescaled to the observations by per-cell CDF (quantile) matching
  on the days both exist (Reichle and Koster 2004; Brocca et al. 2011), linear beyond the outermost
  quantiles, with the region's pooled mapping for cells with fewer than ``min_obs`` observations.

The third baseline, the same generator trained without the adversarial and cycle terms, is
:func:`smlib.drcgan.train.train` with ``lambda_adv = lambda_cyc = 0``.
"""

from __future__ import annotations

import numpy as np

from .data import neighbour_context


def temporal_interpolation(values: np.ndarray, avail: np.ndarray) -> np.ndarray:
    """Linear interpolation in time of ``values`` ``(T, H, W)`` (m3/m3) between the pixel-days where
    ``avail`` is true; observed days keep their values; cells never observed stay NaN."""
    ctx = neighbour_context(values, avail, np.zeros_like(values))
    return np.where(avail, values, ctx["interp"])


def _quantile_map(x: np.ndarray, src: np.ndarray, ref: np.ndarray, n_quantiles: int) -> np.ndarray:
    q = np.linspace(0.0, 100.0, n_quantiles)
    a = np.percentile(src, q)
    b = np.percentile(ref, q)
    a, idx = np.unique(a, return_index=True)
    b = b[idx]
    if a.size < 2:
        return x - src.mean() + ref.mean()
    y = np.interp(x, a, b)
    lo_slope = (b[1] - b[0]) / (a[1] - a[0])
    hi_slope = (b[-1] - b[-2]) / (a[-1] - a[-2])
    y = np.where(x < a[0], b[0] + (x - a[0]) * lo_slope, y)
    return np.where(x > a[-1], b[-1] + (x - a[-1]) * hi_slope, y)


def cdf_match(model: np.ndarray, obs: np.ndarray, avail: np.ndarray, n_quantiles: int = 11,
              min_obs: int = 20) -> np.ndarray:
    """Per-cell CDF matching of ``model`` ``(T, H, W)`` to ``obs`` on the days where ``avail``.

    ``n_quantiles`` evenly spaced percentiles (0-100) define a piecewise-linear mapping; cells with
    fewer than ``min_obs`` observations use the mapping pooled over all cells. Units: those of
    ``obs`` (m3/m3). Returns the rescaled model for every day.
    """
    model = np.asarray(model, dtype="float64")
    out = np.empty_like(model)
    pooled = None
    if avail.any():
        pooled = (model[avail], obs[avail])
    for i in range(model.shape[1]):
        for j in range(model.shape[2]):
            m = avail[:, i, j]
            if m.sum() >= min_obs:
                out[:, i, j] = _quantile_map(model[:, i, j], model[m, i, j], obs[m, i, j], n_quantiles)
            elif pooled is not None:
                out[:, i, j] = _quantile_map(model[:, i, j], pooled[0], pooled[1], n_quantiles)
            else:
                out[:, i, j] = np.nan
    return out
