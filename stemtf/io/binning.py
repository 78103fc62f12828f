"""Detector binning for the analysis: wide Bragg disks summed down to the spot finder's range.

The phase identification finds disks with a Difference of Gaussians whose sigma follows the disk
(0.45 x its radius) but is capped at 4 px (:attr:`stemtf.phase.calibration.Calibration.sigma_px`),
so disks wider than about 9 px are found as fragments of their rims. A 512 px camera at 0.005
1/Å per px with a 2 mrad probe (200 kV) has disks of 16 px radius: there the map lost most of
its O1 (``scripts/bench_geometry.py --split report``: O1-present F1 0.50 / 0.62 at 2 x 10^3
e-/DP unbinned, 0.98 / 1.00 binned 3 x 3; the README has the table).
Summing ``b x b`` pixels (counts preserved: a binned pixel holds the electrons of the pixels it
covers, so shot noise stays Poisson) brings such disks back into range and makes every later
step ``b^2`` cheaper. :func:`analysis_binning` chooses ``b``; :class:`BinnedSource` reads a scan
binned, lazily, block by block.

:func:`electron_scan` (:class:`ScaledSource`) reads a scan whose values are not electron counts
(a camera's conversion gain, a flat field's scale) divided into electrons, the same lazy way.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from stemtf.errors import InputError

__all__ = [
    "MAX_WORK_DISK_RADIUS_PX",
    "MIN_BINNED_PX",
    "BinnedSource",
    "ScaledSource",
    "analysis_binning",
    "binned_metadata",
    "binned_scan",
    "electron_scan",
]

#: Largest disk radius [px] the analysis works at unbinned: above it the DoG sigma (0.45 x
#: radius) would pass its 4 px cap, so the detector is binned.
MAX_WORK_DISK_RADIUS_PX = 4.0 / 0.45
#: Where it bins, the factor puts the disk radius nearest this [px]. Chosen on the ``tune``
#: split of ``scripts/bench_geometry.py`` (scene seed 0; 3e2 and 2e3 e-/DP): 512 px at 0.005
#: 1/Å/px, 2 mrad (16 px disks) binned 2 / 3 / 4 (8.0 / 5.3 / 4.0 px): O1-present F1 at 3e2
#: 0.58 / 0.93 / 0.97, macro-F1 0.56 / 0.80 / 0.62, at 2e3 macro-F1 0.90 / 0.91 / 0.89; 256 px at
#: 0.0078 1/Å/px, 2 mrad (10.2 px) binned 2 / 3 (5.1 / 3.4 px): macro-F1 at 3e2 0.72 / 0.68.
TARGET_DISK_RADIUS_PX = 5.0
#: The binned detector keeps at least this many px a side (automatic or forced).
MIN_BINNED_PX = 32


def analysis_binning(disk_radius_px: float, detector_hw: tuple[int, int]) -> int:
    """Binning factor for disks of ``disk_radius_px`` on a ``detector_hw`` camera.

    1 where the disk radius is at most :data:`MAX_WORK_DISK_RADIUS_PX` (the spot finder's range:
    nothing changes there); above it, the factor that brings the radius nearest
    :data:`TARGET_DISK_RADIUS_PX` without passing the range. The binned detector keeps at least
    :data:`MIN_BINNED_PX` px a side.
    """
    if not (math.isfinite(disk_radius_px) and disk_radius_px > 0):
        raise InputError(f"disk radius {disk_radius_px!r} px is not allowed: it must be > 0")
    if disk_radius_px <= MAX_WORK_DISK_RADIUS_PX:
        return 1
    lo = math.ceil(disk_radius_px / MAX_WORK_DISK_RADIUS_PX)
    b = min(range(lo, lo + 4), key=lambda f: abs(disk_radius_px / f - TARGET_DISK_RADIUS_PX))
    return int(max(1, min(b, min(detector_hw) // MIN_BINNED_PX)))


class BinnedSource:
    """A ``(Ry, Rx, Qy, Qx)`` array source read with its detector summed in ``b x b`` blocks.

    Trailing detector rows / columns that do not fill a block (``Qy % b``, ``Qx % b``) are
    dropped. Values are float32 sums (exact for counts below 2^24 per binned pixel). Picklable
    when the wrapped source is (it is opened per process by the readers).
    """

    def __init__(self, source, factor: int) -> None:
        factor = int(factor)
        ry, rx, qy, qx = (int(n) for n in source.shape)
        if factor < 1 or min(qy, qx) // factor < 1:
            raise InputError(
                f"detector binning {factor} is not allowed for a {qy}x{qx} px detector: "
                "give 1 or a factor that leaves at least one pixel"
            )
        self.source = source
        self.factor = factor
        self.unbinned_shape = (ry, rx, qy, qx)
        self.shape = (ry, rx, qy // factor, qx // factor)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        index = index + (slice(None),) * (4 - len(index))
        rows, cols, dy, dx = index
        block = np.asarray(self.source[rows, cols, :, :])
        b = self.factor
        _, _, qy, qx = self.shape
        block = block[..., : qy * b, : qx * b].astype(np.float32, copy=False)
        lead = block.shape[:-2]
        binned = block.reshape(*lead, qy, b, qx, b).sum(axis=(-3, -1), dtype=np.float32)
        return binned[..., dy, dx]


def binned_metadata(md, factor: int):
    """Scan metadata for the binned detector: ``q_sampling_invA`` (if known) x ``factor``."""
    if factor == 1 or md.q_sampling_invA is None:
        return md
    origin = dict(md.origin)
    origin["q_sampling_invA"] = (
        f"{origin.get('q_sampling_invA', 'flag')} x {factor} (detector binned {factor}x{factor})"
    )
    return dataclasses.replace(md, q_sampling_invA=md.q_sampling_invA * factor, origin=origin)


def binned_scan(scan, factor: int):
    """``scan`` read binned ``factor x factor``, its q sampling scaled to the binned pixel.

    ``factor`` 1 returns ``scan`` itself.
    """
    if factor == 1:
        return scan
    return dataclasses.replace(
        scan,
        source=BinnedSource(scan.source, factor),
        metadata=binned_metadata(scan.metadata, factor),
    )


class ScaledSource:
    """A ``(Ry, Rx, Qy, Qx)`` array source read as float32 values divided by ``divisor``.

    Turns detector values into electron counts (``divisor``: values per electron). Picklable
    when the wrapped source is.
    """

    def __init__(self, source, divisor: float) -> None:
        divisor = float(divisor)
        if not (math.isfinite(divisor) and divisor > 0):
            raise InputError(f"counts_per_electron={divisor!r} is not allowed: it must be > 0")
        self.source = source
        self.divisor = divisor
        self.shape = tuple(int(n) for n in source.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, index):
        block = np.asarray(self.source[index], dtype=np.float32)
        return block / np.float32(self.divisor)


def electron_scan(scan, counts_per_electron: float):
    """``scan`` read in electrons: every value divided by ``counts_per_electron``.

    1 returns ``scan`` itself.
    """
    if float(counts_per_electron) == 1.0:
        return scan
    return dataclasses.replace(scan, source=ScaledSource(scan.source, counts_per_electron))
