"""Specimen/optics artefacts applied to the pattern itself: spot dimming and a beam stop."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["SPOT_THRESHOLD", "dim_spots", "beam_stop_transmission"]

# a pixel belongs to a reflection when it exceeds this fraction of the pattern's maximum
SPOT_THRESHOLD = 1e-4


def dim_spots(
    pattern: np.ndarray,
    rng: np.random.Generator,
    *,
    probability: float,
    factor_range: tuple[float, float],
) -> tuple[np.ndarray, int, float]:
    """Attenuate randomly chosen reflections of ``pattern`` (not the one at the centre pixel).

    Reflections are the connected regions above ``SPOT_THRESHOLD * max``. Each one is dimmed
    with ``probability`` by a factor drawn uniformly from ``factor_range``.
    Returns (pattern, number of dimmed reflections, mean factor of those (1.0 if none)).
    """
    h, w = pattern.shape
    labels, n = ndimage.label(pattern > SPOT_THRESHOLD * float(pattern.max()))
    centre_label = labels[h // 2, w // 2]
    chosen = rng.random(n) < probability
    factors = rng.uniform(factor_range[0], factor_range[1], size=n)
    if centre_label > 0:
        chosen[centre_label - 1] = False
    if not chosen.any():
        return pattern, 0, 1.0
    per_label = np.ones(n + 1)
    per_label[1:][chosen] = factors[chosen]
    return pattern * per_label[labels], int(chosen.sum()), float(factors[chosen].mean())


def beam_stop_transmission(
    shape: tuple[int, int],
    centre_yx: tuple[float, float],
    *,
    radius_px: float,
    rod_width_px: float,
    rod_angle_deg: float,
    transmission: float,
) -> np.ndarray:
    """Transmission map: ``transmission`` inside a disk plus a rod to the edge, 1 elsewhere."""
    y = np.arange(shape[0], dtype=np.float64)[:, None] - centre_yx[0]
    x = np.arange(shape[1], dtype=np.float64)[None, :] - centre_yx[1]
    t = np.deg2rad(rod_angle_deg)
    along = y * np.sin(t) + x * np.cos(t)
    across = -y * np.cos(t) + x * np.sin(t)
    blocked = (np.hypot(y, x) <= radius_px) | ((along >= 0) & (np.abs(across) <= rod_width_px / 2))
    return np.where(blocked, transmission, 1.0)
