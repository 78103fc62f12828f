"""Transmitted-beam (000) position per pattern: the descan correction."""

from __future__ import annotations

import numpy as np

from stemtf.phase.dog import dog_filter

__all__ = ["beam_centers"]


def beam_centers(
    dps: np.ndarray,
    *,
    sigma_px: float,
    guess_yx: tuple[float, float] | None = None,
    search_radius_px: float | None = None,
    response: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel position of the transmitted beam in each pattern.

    The strongest Difference-of-Gaussians response within ``search_radius_px`` of ``guess_yx``
    (default: the detector centre ``(H//2, W//2)`` and a quarter of the detector) is refined to
    the centroid of the positive response around it.

    Parameters
    ----------
    dps : ndarray, shape (B, H, W)
        Patterns.
    sigma_px : float
        DoG sigma [px] (about 0.6 x the disk radius).
    guess_yx : (float, float), optional
        Where to look [px].
    search_radius_px : float, optional
        How far from ``guess_yx`` to look [px].
    response : ndarray, shape (B, H, W), optional
        Precomputed ``dog_filter(dps, sigma_px)``.

    Returns
    -------
    centers : ndarray, shape (B, 2)
        ``[y, x]`` [px].
    strength : ndarray, shape (B,)
        DoG response at the centre (0 where the pattern is empty).
    """
    dps = np.asarray(dps)
    b, h, w = dps.shape
    resp = dog_filter(dps, sigma_px) if response is None else response
    gy, gx = (h // 2, w // 2) if guess_yx is None else guess_yx
    rad = min(h, w) / 4.0 if search_radius_px is None else search_radius_px
    win = int(np.clip(np.ceil(2.0 * sigma_px), 1, 5))
    y0 = int(max(win, np.floor(gy - rad)))
    y1 = int(min(h - win, np.ceil(gy + rad) + 1))
    x0 = int(max(win, np.floor(gx - rad)))
    x1 = int(min(w - win, np.ceil(gx + rad) + 1))
    sub = resp[:, y0:y1, x0:x1].reshape(b, -1)
    arg = np.argmax(sub, axis=1)
    strength = sub[np.arange(b), arg]
    py = arg // (x1 - x0) + y0
    px = arg % (x1 - x0) + x0
    off = np.arange(-win, win + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    patch = np.maximum(resp[np.arange(b)[:, None, None], py[:, None, None] + oy,
                            px[:, None, None] + ox], 0.0)
    tot = patch.sum(axis=(1, 2))
    safe = np.where(tot > 0, tot, 1.0)
    cy = py + (patch * oy).sum(axis=(1, 2)) / safe
    cx = px + (patch * ox).sum(axis=(1, 2)) / safe
    centers = np.stack([cy, cx], axis=1).astype(float)
    empty = ~(strength > 0)
    centers[empty] = (gy, gx)
    return centers, np.where(empty, 0.0, strength).astype(float)
