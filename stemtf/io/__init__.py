"""Reading 4D-STEM scans lazily, array order ``(Ry, Rx, Qy, Qx)``, with their calibration.

>>> scan = open_scan("scan.mib")                # doctest: +SKIP
>>> block = scan.read(slice(0, 4))              # float32 (4, Rx, Qy, Qx)

Formats: ``.npy`` (memory-mapped), HDF5/EMD (h5py; ``dataset_path`` or automatic search),
and the RosettaSciIO formats (``.mib``, ``.dm3/.dm4``, ``.blo``, ``.hspy``, ...).
"""

from stemtf.io.open import HDF5_SUFFIXES, open_scan
from stemtf.io.scan import Scan, ScanMetadata
from stemtf.io.units import electron_wavelength_A
from stemtf.io.validate import check_counts, check_roi
from stemtf.io.write import write_scan_hdf5

__all__ = [
    "HDF5_SUFFIXES",
    "Scan",
    "ScanMetadata",
    "check_counts",
    "check_roi",
    "electron_wavelength_A",
    "open_scan",
    "write_scan_hdf5",
]
