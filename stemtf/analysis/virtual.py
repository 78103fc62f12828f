"""Virtual detectors: bright field (the transmitted disk) and annular dark field."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VirtualDetectors"]

#: Bright-field radius = this x the disk radius alpha/lambda (catches descan wobble).
BF_DISK_FACTOR = 1.25
#: The dark-field annulus starts at this x the bright-field radius.
ADF_INNER_FACTOR = 2.0
#: Smallest bright-field radius [px].
MIN_BF_RADIUS_PX = 2.0


@dataclass(frozen=True)
class VirtualDetectors:
    """Masks about the global transmitted-beam centre.

    ``bf``: pixels within ``bf_radius_px``; ``adf``: pixels beyond ``adf_inner_px`` (to the
    detector edge).
    """

    shape: tuple[int, int]
    center_yx: tuple[float, float]
    bf_radius_px: float
    adf_inner_px: float

    @classmethod
    def from_calibration(cls, shape: tuple[int, int], center_yx, disk_radius_px: float):
        """Detectors sized from the Bragg disk radius [px] at the calibrated centre."""
        bf = max(MIN_BF_RADIUS_PX, BF_DISK_FACTOR * float(disk_radius_px))
        cy, cx = (float(v) for v in center_yx)
        return cls((int(shape[0]), int(shape[1])), (cy, cx), bf, ADF_INNER_FACTOR * bf)

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Boolean ``(bf, adf)`` masks of the detector shape."""
        yy, xx = np.mgrid[: self.shape[0], : self.shape[1]]
        r = np.hypot(yy - self.center_yx[0], xx - self.center_yx[1])
        return r <= self.bf_radius_px, r >= self.adf_inner_px

    def weights(self) -> np.ndarray:
        """float32 (Qy*Qx, 2): the bf and adf masks as columns, for one matrix product."""
        w = getattr(self, "_weights", None)
        if w is None:
            bf, adf = self.masks()
            w = np.stack([bf.ravel(), adf.ravel()], axis=1).astype(np.float32)
            object.__setattr__(self, "_weights", w)
        return w

    def apply(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Virtual images of ``block`` (..., Qy, Qx): the summed counts in each mask, float32."""
        flat = np.asarray(block, np.float32).reshape(-1, self.shape[0] * self.shape[1])
        both = flat @ self.weights()
        lead = block.shape[:-2]
        return both[:, 0].reshape(lead), both[:, 1].reshape(lead)

    def to_dict(self) -> dict:
        """JSON-serialisable geometry."""
        return {
            "center_yx": list(self.center_yx),
            "bf_radius_px": self.bf_radius_px,
            "adf_inner_px": self.adf_inner_px,
        }
