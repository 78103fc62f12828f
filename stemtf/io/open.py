"""Open any supported 4D-STEM file as a lazy :class:`~stemtf.io.scan.Scan`.

``.npy`` is memory-mapped, ``.h5/.hdf5/.emd`` read with h5py (EMD 1.0 / py4DSTEM layouts,
calibration found automatically), everything else RosettaSciIO knows (``.mib``, ``.dm4``,
``.blo``, ``.hspy``, ...) through RosettaSciIO with ``lazy=True``.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import numpy as np

from stemtf.errors import InputError
from stemtf.io.hdf5 import open_hdf5
from stemtf.io.npy import open_npy
from stemtf.io.rsciio_reader import open_rsciio, rsciio_plugin_for
from stemtf.io.scan import Scan

__all__ = ["open_scan", "FrameStackSource", "HDF5_SUFFIXES", "why_not_a_file"]

log = logging.getLogger(__name__)

HDF5_SUFFIXES = (".h5", ".hdf5", ".emd", ".hdf")


class FrameStackSource:
    """A flat frame stack ``(N, Qy, Qx)`` viewed as a scan ``(Ry, Rx, Qy, Qx)``, N = Ry * Rx."""

    def __init__(self, inner, scan_shape: tuple[int, int]) -> None:
        self.inner = inner
        ry, rx = scan_shape
        self.shape = (ry, rx) + tuple(inner.shape[1:])
        self.dtype = inner.dtype
        self.ndim = 4

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        ry, rx = self.shape[:2]
        index = tuple(index) + (slice(None),) * (4 - len(index))
        r0, r1, step = index[0].indices(ry)
        if step != 1:
            raise IndexError("FrameStackSource reads contiguous scan rows only")
        n = max(r1 - r0, 0)
        flat = self.inner[(slice(r0 * rx, r0 * rx + n * rx), index[2], index[3])]
        return np.asarray(flat).reshape((n, rx) + flat.shape[1:])[:, index[1]]


def why_not_a_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be opened as a file (e.g. ``"does not exist"``); None if it can."""
    p = Path(path)
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop (the links point at each other, never at a file)"
        if p.is_symlink():
            return f"is a broken symbolic link (to {os.readlink(p)!r}, which does not exist)"
        if e.errno == errno.ENOENT:
            return "does not exist"
        return f"cannot be read ({e.strerror or e})"
    if p.is_dir():
        return "is a folder, not a file"
    if not p.is_file():
        return "is not a regular file"
    return None


def open_scan(
    path: str | Path,
    *,
    dataset_path: str | None = None,
    scan_shape: tuple[int, int] | None = None,
) -> Scan:
    """Open a 4D-STEM file lazily, array order ``(Ry, Rx, Qy, Qx)``.

    Parameters
    ----------
    path : str or Path
        The file.
    dataset_path : str, optional
        HDF5 dataset path (found automatically when omitted).
    scan_shape : (Ry, Rx), optional
        Scan shape for files holding a flat frame stack (a 3D array ``(Ry*Rx, Qy, Qx)``, or a
        Merlin ``.mib`` whose header does not say).

    Raises
    ------
    InputError
        Missing/unreadable file, unknown format, or an array that is not 4D.
    """
    p = Path(path)
    why = why_not_a_file(p)
    if why is not None:
        raise InputError(f"input file {str(p)!r} {why}")
    suffix = p.suffix.lower()
    if dataset_path is not None and suffix not in HDF5_SUFFIXES:
        raise InputError(
            f"--dataset-path={dataset_path!r} applies to HDF5 files ({', '.join(HDF5_SUFFIXES)}) "
            f"only, not to {p.name}"
        )
    if suffix == ".npy":
        scan = open_npy(p)
    elif suffix in HDF5_SUFFIXES:
        try:
            scan = open_hdf5(p, dataset_path, allow_3d=scan_shape is not None)
        except InputError as first:
            # Velox/Gatan-style .emd keep 4D-STEM in their own layout: let RosettaSciIO try.
            if suffix != ".emd" or dataset_path is not None or "no 4D" not in str(first):
                raise
            try:
                scan = open_rsciio(p, navigation_shape=scan_shape)
            except InputError:
                raise first from None
    elif rsciio_plugin_for(p) is not None:
        scan = open_rsciio(p, navigation_shape=scan_shape)
    else:
        raise InputError(
            f"{p}: file type {suffix or '(none)'!r} is not supported: use .npy, "
            f"{', '.join(HDF5_SUFFIXES)}, or a RosettaSciIO format (.mib, .dm4, .blo, .hspy, ...)"
        )
    shape = tuple(scan.source.shape)
    if len(shape) == 3 and scan_shape is not None:
        ry, rx = (int(n) for n in scan_shape)
        if ry <= 0 or rx <= 0 or ry * rx != shape[0]:
            raise InputError(
                f"{p}: --scan-shape {ry} {rx} does not fit {shape[0]} frames: Ry * Rx must equal {shape[0]}"
            )
        scan.source = FrameStackSource(scan.source, (ry, rx))
    elif len(shape) == 4 and scan_shape is not None and tuple(shape[:2]) != tuple(scan_shape):
        raise InputError(
            f"{p}: --scan-shape {scan_shape[0]} {scan_shape[1]} does not match the file's scan "
            f"{shape[0]} x {shape[1]}"
        )
    if len(scan.source.shape) != 4:
        hint = " (a frame stack: give --scan-shape RY RX)" if len(shape) == 3 else ""
        raise InputError(f"{p}: array of shape {shape} is not 4D; expected (Ry, Rx, Qy, Qx){hint}")
    if min(scan.shape) < 1:
        raise InputError(f"{p}: array of shape {scan.shape} is empty")
    log.info("opened %s as %s, shape %s %s", p, scan.format, scan.shape, scan.dtype)
    return scan
