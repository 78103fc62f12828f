"""Detector response: point-spread blur, gain, shot noise, hot/dead pixels and saturation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["blur", "gain_map", "shot_noise", "hot_dead_pixels", "fixed_defects"]


def blur(counts: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian point spread of width ``sigma_px`` [px]; intensity is kept (edges reflect)."""
    if sigma_px <= 0:
        return counts
    return ndimage.gaussian_filter(counts, sigma_px, mode="reflect", truncate=4.0)


def gain_map(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel gain ``1 + N(0, sigma)``, floored at 0."""
    return np.clip(1.0 + sigma * rng.standard_normal(shape), 0.0, None)


def shot_noise(expected_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts with the given expected value per pixel."""
    return rng.poisson(np.clip(expected_counts, 0.0, None)).astype(np.float64)


def hot_dead_pixels(
    counts: np.ndarray,
    rng: np.random.Generator,
    *,
    hot_fraction: float,
    dead_fraction: float,
    hot_value: float,
) -> tuple[np.ndarray, int, int]:
    """Set ``round(hot_fraction * n)`` random pixels to ``hot_value`` and as many dead ones to 0.

    Hot and dead pixels are distinct. Returns (counts, number hot, number dead).
    """
    n = counts.size
    n_hot = int(round(hot_fraction * n))
    n_dead = int(round(dead_fraction * n))
    idx = rng.choice(n, size=min(n, n_hot + n_dead), replace=False)
    out = counts.copy().reshape(-1)
    out[idx[:n_hot]] = hot_value
    out[idx[n_hot:]] = 0.0
    return out.reshape(counts.shape), n_hot, len(idx) - n_hot


def fixed_defects(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    dead_rows: int = 0,
    dead_cols: int = 0,
    hot_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Defects that stay put for a whole scan: ``(dead, hot)`` boolean masks (H, W).

    ``dead_rows`` / ``dead_cols`` whole detector rows / columns read 0 (chosen away from the
    outermost 4 px so they cross the pattern); ``round(hot_fraction * H * W)`` hot pixels
    (not on a dead line) read the saturation value.
    """
    h, w = shape
    dead = np.zeros(shape, bool)
    for n, size, axis in ((dead_rows, h, 0), (dead_cols, w, 1)):
        if n > 0:
            idx = rng.choice(np.arange(4, size - 4), size=min(int(n), size - 8), replace=False)
            if axis == 0:
                dead[idx, :] = True
            else:
                dead[:, idx] = True
    hot = np.zeros(shape, bool)
    n_hot = int(round(hot_fraction * h * w))
    if n_hot:
        free = np.flatnonzero(~dead.ravel())
        hot.ravel()[rng.choice(free, size=min(n_hot, free.size), replace=False)] = True
    return dead, hot
