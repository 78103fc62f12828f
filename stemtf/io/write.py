"""Write a 4D scan as an EMD 1.0 HDF5 file that :func:`stemtf.io.open_scan` reads back.

Layout: root attrs ``version_major=1, version_minor=0``; group ``/data/<name>`` with
``emd_group_type=1``, dataset ``data`` (Ry, Rx, Qy, Qx) chunked one pattern per chunk, and
dimension vectors ``dim1..dim4`` (scan in nm, detector in 1/Å) carrying ``name``/``units``;
the calibration is also stored as group attributes with units in their names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import atomic_path
from stemtf.io.scan import ScanMetadata

__all__ = ["write_scan_hdf5"]


def write_scan_hdf5(
    path: str | os.PathLike,
    data: np.ndarray,
    metadata: ScanMetadata | None = None,
    *,
    name: str = "scan",
    compression: str | None = None,
) -> Path:
    """Write ``data`` (Ry, Rx, Qy, Qx) with its calibration as EMD 1.0, atomically.

    Parameters
    ----------
    path : path-like
        Output ``.h5``/``.emd`` file.
    data : ndarray or array-like with ``shape`` and slicing (written row by row)
        The scan.
    metadata : ScanMetadata, optional
        Calibration to store (q_sampling_invA, energy_eV, semiangle_mrad, scan_step_nm).
    name : str
        Group name under ``/data``.
    compression : str, optional
        h5py compression filter (e.g. ``"gzip"``).
    """
    import h5py

    shape = tuple(int(n) for n in data.shape)
    if len(shape) != 4:
        raise InputError(f"data of shape {shape} is not 4D: expected (Ry, Rx, Qy, Qx)")
    md = metadata or ScanMetadata()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["version_major"] = 1
        f.attrs["version_minor"] = 0
        g = f.create_group(f"data/{name}")
        g.attrs["emd_group_type"] = 1
        ds = g.create_dataset(
            "data",
            shape=shape,
            dtype=np.dtype(data.dtype),
            chunks=(1, 1) + shape[2:],
            compression=compression,
        )
        for r in range(shape[0]):
            ds[r] = np.asarray(data[r])
        step_nm = md.scan_step_nm or 1.0
        q = md.q_sampling_invA or 1.0
        q_units = "1/A" if md.q_sampling_invA else "pixels"
        r_units = "nm" if md.scan_step_nm else "pixels"
        dims = [
            ("R_y", r_units, step_nm, shape[0], 0),
            ("R_x", r_units, step_nm, shape[1], 0),
            ("Q_y", q_units, q, shape[2], shape[2] // 2),
            ("Q_x", q_units, q, shape[3], shape[3] // 2),
        ]
        for i, (label, units, step, n, centre) in enumerate(dims, start=1):
            vec = g.create_dataset(f"dim{i}", data=(np.arange(n) - centre) * step)
            vec.attrs["name"] = label
            vec.attrs["units"] = units
        for key in ("q_sampling_invA", "energy_eV", "semiangle_mrad", "scan_step_nm"):
            value = getattr(md, key)
            if value is not None:
                g.attrs[key] = float(value)
    return Path(path)
