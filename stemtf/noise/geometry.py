"""Detector geometry: ellipticity, centre shift, pixel-scale jitter and in-plane rotation.

The distortion maps a point ``q`` (pixels from the pattern centre ``(H//2, W//2)``) to
``A q + shift`` with ``A = R(rotation) * scale * E``, ``E = R(phi) diag(1 + e/2, 1 - e/2) R(-phi)``
(ellipticity ``e``: axis ratio ``(1 + e/2) / (1 - e/2)``, major axis at ``phi``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["distortion_matrix", "warp"]


def _rot(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def distortion_matrix(
    *, ellipticity: float, ellipse_angle_deg: float, scale: float, rotation_deg: float
) -> np.ndarray:
    """The 2x2 matrix ``A`` acting on (y, x) offsets from the centre (see module docstring)."""
    e = (
        _rot(ellipse_angle_deg)
        @ np.diag([1 + ellipticity / 2, 1 - ellipticity / 2])
        @ _rot(-ellipse_angle_deg)
    )
    return _rot(rotation_deg) @ (scale * e)


def warp(image: np.ndarray, matrix: np.ndarray, shift_yx: tuple[float, float]) -> np.ndarray:
    """Resample ``image`` under ``q -> matrix q + shift`` (bilinear, zero outside), keeping its sum.

    The sum is restored to the input's (intensity that moves off the detector is not counted
    as lost: distortions of a few per cent only move the pattern's faint edge).
    """
    h, w = image.shape
    c = np.array([h // 2, w // 2], dtype=np.float64)
    inv = np.linalg.inv(matrix)
    offset = c - inv @ (c + np.asarray(shift_yx, dtype=np.float64))
    out = ndimage.affine_transform(
        image.astype(np.float64), inv, offset=offset, order=1, mode="constant", cval=0.0
    )
    out = np.clip(out, 0.0, None)
    s_in, s_out = float(image.sum()), float(out.sum())
    if s_out > 0:
        out *= s_in / s_out
    return out
