"""Cross-validation folds: random k-fold (as the papers do) and spatial blocks (honest for maps).

Random k-fold over pixel-days lets neighbouring, strongly autocorrelated samples fall in both the
training and the test folds, so it measures interpolation skill. Spatial-block k-fold holds out whole
blocks of ``block_deg`` x ``block_deg`` degrees, so a model is scored where it saw no sample nearby:
the figure that matters for a map of a place without stations (Roberts et al. 2017, Ecography 40,
913-929).
"""

from __future__ import annotations

import numpy as np

from .errors import DataError


def random_kfold(n: int, k: int = 10, seed: int = 0) -> np.ndarray:
    """Fold id (0..k-1) for each of ``n`` samples, shuffled, folds of equal size (+-1)."""
    if k < 2 or n < k:
        raise DataError(f"k-fold needs 2 <= k <= n samples, got k={k}, n={n}")
    rng = np.random.default_rng(seed)
    folds = np.arange(n) % k
    rng.shuffle(folds)
    return folds


def block_ids(lat, lon, block_deg: float) -> np.ndarray:
    """Integer id of the ``block_deg``-degree block containing each point (lat, lon in degrees)."""
    if block_deg <= 0:
        raise DataError(f"block_deg must be positive, got {block_deg}")
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    row = np.floor((lat + 90.0) / block_deg + 1e-9).astype(np.int64)
    col = np.floor((lon + 180.0) / block_deg + 1e-9).astype(np.int64)
    return row * 100000 + col


def spatial_block_kfold(lat, lon, block_deg: float = 0.5, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold id per sample such that all samples of one spatial block share a fold.

    Blocks are shuffled and dealt to folds round-robin. Raises :class:`DataError` if there are
    fewer blocks than folds (choose smaller blocks or fewer folds).
    """
    ids = block_ids(lat, lon, block_deg)
    uniq, inv = np.unique(ids, return_inverse=True)
    if uniq.size < k:
        raise DataError(f"only {uniq.size} spatial blocks of {block_deg} deg for {k} folds: use smaller "
                        "blocks or fewer folds")
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    block_fold = np.empty(uniq.size, dtype=int)
    block_fold[order] = np.arange(uniq.size) % k
    return block_fold[inv]
