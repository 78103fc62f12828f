"""Checks on diffraction data as it is read: finite, non-negative counts; usable ROI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemtf.errors import InputError

__all__ = ["check_counts", "check_roi", "Roi"]

Roi = tuple[int, int, int, int]


def check_counts(block: np.ndarray, path: str | Path, row0: int = 0, col0: int = 0) -> None:
    """Raise InputError if ``block`` (ry, rx, Qy, Qx) holds NaN/Inf or negative counts.

    ``row0``/``col0`` give the block's position in the scan so the message names the probe
    position of the first bad pattern.
    """
    finite = np.isfinite(block)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        value = block[tuple(bad)]
        raise InputError(
            f"{path}: pattern at scan position ({row0 + bad[0]}, {col0 + bad[1]}) holds {value} "
            "at detector pixel "
            f"({bad[2]}, {bad[3]}); counts must be finite (no NaN or Inf)"
        )
    if block.size and block.min() < 0:
        bad = np.argwhere(block < 0)[0]
        raise InputError(
            f"{path}: pattern at scan position ({row0 + bad[0]}, {col0 + bad[1]}) holds a negative "
            f"count {float(block[tuple(bad)]):g} at detector pixel ({bad[2]}, {bad[3]}); counts must be >= 0"
        )


def check_roi(roi: Roi | None, scan_shape: tuple[int, ...], path: str | Path) -> Roi:
    """Return the ROI ``(y0, y1, x0, x1)`` (half-open scan indices), the full scan when None."""
    ry, rx = int(scan_shape[0]), int(scan_shape[1])
    if roi is None:
        return (0, ry, 0, rx)
    y0, y1, x0, x1 = (int(v) for v in roi)
    if not (0 <= y0 < y1 <= ry and 0 <= x0 < x1 <= rx):
        raise InputError(
            f"{path}: --roi {y0} {y1} {x0} {x1} is out of range: the scan is {ry} x {rx}, "
            f"allowed 0 <= y0 < y1 <= {ry} and 0 <= x0 < x1 <= {rx}"
        )
    return (y0, y1, x0, x1)
