"""``.npy`` scans, memory-mapped: only the rows asked for are paged in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemtf.errors import InputError
from stemtf.io.scan import Scan, ScanMetadata, _one_line

__all__ = ["NpySource", "open_npy"]

_MAGIC = b"\x93NUMPY"  # first bytes of every .npy file (NEP 1)


class NpySource:
    """Picklable lazy view of a ``.npy`` file, memory-mapped for each read."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        mm = self._map()
        self.dtype = mm.dtype
        self.shape = tuple(mm.shape)
        self.ndim = len(self.shape)

    def _map(self) -> np.ndarray:
        try:
            with open(self.path, "rb") as f:
                magic = f.read(len(_MAGIC))
        except OSError as e:
            raise InputError(f"{self.path}: cannot be read ({_one_line(e)})") from None
        if magic != _MAGIC:
            raise InputError(
                f"{self.path}: not a NumPy .npy file (it does not start with the .npy header); "
                "expected a numeric 4D array (Ry, Rx, Qy, Qx) saved with numpy.save"
            )
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise InputError(
                f"{self.path}: not a readable .npy array ({_one_line(e)}); "
                "expected a numeric 4D array (Ry, Rx, Qy, Qx) saved with numpy.save"
            ) from None

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        # A fresh map per read, released at once: pages read stay out of the process's resident
        # memory, so reading a file larger than RAM keeps memory flat.
        mm = self._map()
        try:
            return np.array(mm[index])
        finally:
            del mm


def open_npy(path: str | Path) -> Scan:
    """Open a ``.npy`` file as a lazy :class:`Scan` (no calibration in the file)."""
    source = NpySource(path)
    if source.dtype.kind not in "iuf":
        raise InputError(
            f"{path}: dtype {source.dtype} is not allowed: counts must be integer or float"
        )
    return Scan(Path(path), source, ScanMetadata(), "npy")
