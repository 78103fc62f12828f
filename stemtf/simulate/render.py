"""Render Bragg spots as disks on the detector grid (cheap and exact)."""

from __future__ import annotations

import numpy as np

__all__ = ["render_disks"]


def render_disks(
    q_xy_invA: np.ndarray,
    intensities: np.ndarray,
    *,
    detector_px: int,
    q_sampling_invA: float,
    radius_invA: float,
) -> np.ndarray:
    """Draw each spot as a uniform disk with an anti-aliased edge and normalise to sum 1.

    Parameters
    ----------
    q_xy_invA : (K, 2) array
        Spot positions (qx, qy) [1/Å]; pixel (y, x) of the (H, W) detector sits at
        ``q = ((y - H//2), (x - W//2)) * q_sampling_invA``.
    intensities : (K,) array
        Spot intensities (any scale); each disk holds its spot's intensity.
    radius_invA : float
        Disk radius alpha/lambda [1/Å].

    Returns
    -------
    (H, W) float32 pattern summing to 1 (intensity falling off the detector is dropped).
    """
    h = w = int(detector_px)
    img = np.zeros(h * w, np.float64)
    q = np.asarray(q_xy_invA, float).reshape(-1, 2)
    inten = np.asarray(intensities, float).reshape(-1)
    r_px = radius_invA / q_sampling_invA
    cx = q[:, 0] / q_sampling_invA + w // 2
    cy = q[:, 1] / q_sampling_invA + h // 2
    half = int(np.ceil(r_px + 1.5))
    off = np.arange(-half, half + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    py = np.rint(cy)[:, None, None].astype(int) + oy[None]
    px = np.rint(cx)[:, None, None].astype(int) + ox[None]
    dist = np.hypot(py - cy[:, None, None], px - cx[:, None, None])
    wgt = np.clip(r_px + 0.5 - dist, 0.0, 1.0)
    wgt /= np.maximum(wgt.sum(axis=(1, 2), keepdims=True), 1e-30)
    wgt *= inten[:, None, None]
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w) & (wgt > 0)
    np.add.at(img, (py * w + px)[inside], wgt[inside])
    total = img.sum()
    if total > 0:
        img /= total
    return img.reshape(h, w).astype(np.float32)
