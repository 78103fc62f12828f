"""``--denoise classical``: the classical filter of the self-check as a denoiser of its own.

Isolated hot pixels (:func:`stemtf.denoise.frame.hot_pixel_mask`) are replaced by the 3x3
median, then each pattern is smoothed by a Gaussian of σ = 0.45 disk radius (0.7-4 px; the spot
finder's own scale). No network, no TensorFlow: the baseline a learned denoiser has to beat on
the phase map (``scripts/bench_denoise.py --methods raw classical model``). The disk radius is
the scan's (``analyze`` sets it from the beam energy, probe semi-angle and q-sampling); where
those are unknown the filter uses :data:`DEFAULT_DISK_RADIUS_PX` and ``analyze`` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemtf.denoise.base import check_batch
from stemtf.errors import check_positive

__all__ = ["ClassicalDenoiser", "DEFAULT_DISK_RADIUS_PX"]

#: Disk radius [px] assumed where the scan's geometry is unknown (the 128 px scenes' 3.2 px).
DEFAULT_DISK_RADIUS_PX = 3.0


class ClassicalDenoiser:
    """Hot pixels -> 3x3 median, then a Gaussian of σ = 0.45 ``disk_radius_px`` (0.7-4 px).

    Parameters
    ----------
    disk_radius_px : float
        Bragg-disk radius of the data [px] (> 0).
    """

    def __init__(self, disk_radius_px: float = DEFAULT_DISK_RADIUS_PX) -> None:
        check_positive("disk_radius_px", disk_radius_px, "px")
        self.disk_radius_px = float(disk_radius_px)
        self.info: dict[str, Any] = {
            "kind": "classical",
            "model": "classical",
            "version": None,
            "disk_radius_px": round(self.disk_radius_px, 4),
            "sigma_px": round(self.sigma_px, 4),
        }

    @property
    def sigma_px(self) -> float:
        """Width of the Gaussian [px]."""
        return float(np.clip(0.45 * self.disk_radius_px, 0.7, 4.0))

    def with_disk_radius(self, disk_radius_px: float) -> ClassicalDenoiser:
        """The same filter for data with another disk radius [px]."""
        return ClassicalDenoiser(disk_radius_px)

    def __call__(self, batch: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Filter a ``(B, H, W)`` batch of counts; same shape out (float32)."""
        from stemtf.denoise.selfcheck import classical_filter

        return classical_filter(check_batch(batch), self.disk_radius_px).astype(np.float32)

    def __repr__(self) -> str:
        return f"ClassicalDenoiser(disk_radius_px={self.disk_radius_px:.3g})"
