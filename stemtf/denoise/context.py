"""Scan context for a denoiser: each pattern's neighbouring probe positions as an extra channel.

At a few hundred electrons per pattern one pattern holds too few counts for its weak reflections,
but its neighbours in the scan usually sample the same crystal. A scan-context denoiser sees,
beside the pattern, the mean counts of the (up to) 8 neighbouring probe positions
(:func:`neighbour_mean`) and learns from simulated scans where to trust them (inside a grain)
and where not (at a boundary, where the neighbours' lattice differs). NumPy only.
"""

from __future__ import annotations

import numpy as np

from stemtf.denoise.base import check_batch
from stemtf.errors import InputError

__all__ = ["neighbour_mean", "check_context", "NEIGHBOURS"]

#: The scan neighbourhood: the 8 positions around a pattern (3 x 3 without its centre).
NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def neighbour_mean(grid: np.ndarray) -> np.ndarray:
    """``(R, C, H, W)`` scan -> ``(R, C, H, W)`` mean counts of each position's 8 neighbours.

    At the scan's border only the neighbours inside the scan are averaged (3 at a corner, 5 on
    an edge); a 1 x 1 scan has none and gets zeros. Non-finite counts (a masked pattern) are
    left out of every mean they would enter.
    """
    arr = np.asarray(grid, np.float32)
    if arr.ndim != 4:
        raise InputError(
            f"scan of shape {arr.shape} is not allowed for neighbour_mean: expected (R, C, H, W)"
        )
    rows, cols = arr.shape[:2]
    ok = np.isfinite(arr).all(axis=(2, 3))
    vals = np.where(ok[:, :, None, None], arr, 0.0).astype(np.float32)
    total = np.zeros_like(vals)
    n = np.zeros((rows, cols), np.float32)
    for dy, dx in NEIGHBOURS:
        # destination rows/cols whose neighbour (r + dy, c + dx) lies inside the scan
        r0, r1 = max(0, -dy), min(rows, rows - dy)
        c0, c1 = max(0, -dx), min(cols, cols - dx)
        if r0 >= r1 or c0 >= c1:
            continue
        total[r0:r1, c0:c1] += vals[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
        n[r0:r1, c0:c1] += ok[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
    total /= np.maximum(n, 1.0)[:, :, None, None]
    return total


def check_context(context: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """``context`` as float32 ``(B, H, W)`` of ``batch``'s shape; InputError otherwise."""
    ctx = check_batch(context, "scan context")
    if ctx.shape != batch.shape:
        raise InputError(
            f"scan context of shape {ctx.shape} does not match the batch {batch.shape}"
        )
    return ctx
