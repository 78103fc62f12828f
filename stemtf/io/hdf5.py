"""HDF5 scans (EMD 1.0, py4DSTEM-style or plain): find the 4D dataset and its calibration.

With ``dataset_path`` the dataset is taken as given; otherwise the file is searched for 4D
numeric datasets and exactly one must exist (several: the error lists them). Calibration is
looked up in attributes of the dataset and its parent groups, in groups or datasets named like
``calibration``/``metadata``, and in EMD 1.0 dimension vectors (``dim3``/``dim4`` with units).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.io.scan import Scan, ScanMetadata, _one_line
from stemtf.io.units import normalise_unit, q_sampling_from_axis

__all__ = ["Hdf5Source", "open_hdf5", "find_4d_datasets"]

# Lower-cased attribute/dataset names recognised for each calibration value (and the unit
# their value is in). Checked in this order.
_Q_KEYS = ("q_sampling_inva", "q_pixel_size", "qpixelsize", "q_sampling", "reciprocal_pixel_size")
_Q_UNIT_KEYS = ("q_pixel_units", "q_units", "q_sampling_units")
_ENERGY_KEYS = {  # key -> factor to eV
    "energy_ev": 1.0,
    "beam_energy_ev": 1.0,
    "accelerating_voltage_v": 1.0,
    "energy_kev": 1e3,
    "beam_energy_kev": 1e3,
    "accelerating_voltage_kv": 1e3,
    "beam_energy": 1e3,  # hyperspy convention: keV
    "accelerating_voltage": None,  # V or kV: decided by magnitude
    "energy": None,
}
_SEMIANGLE_KEYS = (
    "semiangle_mrad",
    "convergence_semiangle_mrad",
    "probe_semiangle_mrad",
    "convergence_angle_mrad",
    "convergence_semiangle",
    "convergence_angle",
    "probe_semiangle",
)
_STEP_KEYS = {"scan_step_nm": 1.0, "r_pixel_size": None, "scan_step_a": 0.1}


class Hdf5Source:
    """Picklable lazy view of one dataset in an HDF5 file (reopened per process)."""

    def __init__(self, path: str | Path, dataset_path: str) -> None:
        self.path = str(path)
        self.dataset_path = dataset_path
        with _open(self.path) as f:
            ds = f[dataset_path]
            self.dtype = ds.dtype
            self.shape = tuple(ds.shape)
        self.ndim = len(self.shape)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_file", "_ds")}

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        if getattr(self, "_ds", None) is None:
            import h5py

            self._file = h5py.File(self.path, "r")
            self._ds = self._file[self.dataset_path]
        return np.asarray(self._ds[index])


def _open(path: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise InputError(
            f"{path}: not a readable HDF5 file ({_one_line(e)}); it may be truncated or corrupt"
        ) from None


def find_4d_datasets(path: str | Path, ndims: tuple[int, ...] = (4,)) -> list[str]:
    """Paths of the numeric datasets with ``ndims`` dimensions in the file, largest first."""
    import h5py

    found: list[tuple[int, str]] = []
    with _open(str(path)) as f:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and obj.ndim in ndims and obj.dtype.kind in "iuf":
                found.append((int(np.prod(obj.shape)), "/" + name))

        f.visititems(visit)
    return [p for _, p in sorted(found, key=lambda t: (-t[0], t[1]))]


def open_hdf5(path: str | Path, dataset_path: str | None = None, *, allow_3d: bool = False) -> Scan:
    """Open a 4D dataset of an HDF5/EMD file as a lazy :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        The file (``.h5``, ``.hdf5``, ``.emd``).
    dataset_path : str, optional
        Path of the dataset inside the file; found automatically when omitted.
    allow_3d : bool
        Also accept a 3D frame stack ``(N, Qy, Qx)`` (the caller reshapes it).
    """
    import h5py

    with _open(str(path)) as f:
        if dataset_path is None:
            candidates = find_4d_datasets(path) or (
                find_4d_datasets(path, (3,)) if allow_3d else []
            )
            if not candidates:
                raise InputError(
                    f"{path}: no 4D numeric dataset (Ry, Rx, Qy, Qx) found; "
                    "name a dataset with --dataset-path"
                )
            if len(candidates) > 1:
                raise InputError(
                    f"{path}: several 4D datasets ({', '.join(candidates[:6])}); "
                    "choose one with --dataset-path"
                )
            dataset_path = candidates[0]
        if dataset_path not in f or not isinstance(f[dataset_path], h5py.Dataset):
            raise InputError(
                f"{path}: --dataset-path {dataset_path!r} is not a dataset in the file; "
                f"4D datasets present: {', '.join(find_4d_datasets(path)) or 'none'}"
            )
        ds = f[dataset_path]
        if ds.dtype.kind not in "iuf":
            raise InputError(
                f"{path}: dataset {dataset_path!r} has dtype {ds.dtype}; counts must be numeric"
            )
        metadata = _calibration(f, ds)
    return Scan(Path(path), Hdf5Source(path, dataset_path), metadata, "hdf5")


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    arr = np.asarray(value)
    if arr.dtype.kind in "SO" and arr.size == 1:
        v = arr.reshape(-1)[0]
        return v.decode(errors="replace") if isinstance(v, bytes) else v
    if arr.dtype.kind in "iuf" and arr.size >= 1:
        return float(arr.reshape(-1)[0])
    return value


def _collect(f: Any, ds: Any) -> dict[str, tuple[Any, str]]:
    """Lower-cased key -> (value, where) from attributes near the dataset and calibration groups."""
    import h5py

    found: dict[str, tuple[Any, str]] = {}

    def add_attrs(obj: Any) -> None:
        for k, v in obj.attrs.items():
            found.setdefault(k.lower(), (_scalar(v), f"{obj.name}@{k}"))

    def add_group(group: Any) -> None:
        add_attrs(group)
        for k, v in group.items():
            if isinstance(v, h5py.Dataset) and v.size == 1:
                found.setdefault(k.lower(), (_scalar(v[()]), f"{v.name}"))
            elif isinstance(v, h5py.Group):
                add_attrs(v)

    node = ds
    while True:  # the dataset, then each parent up to the root
        add_attrs(node)
        if node.name == "/":
            break
        node = node.parent

    def visit(name: str, obj: Any) -> None:
        leaf = name.rsplit("/", 1)[-1].lower()
        if isinstance(obj, h5py.Group) and any(
            w in leaf for w in ("calibration", "metadata", "microscope", "experiment")
        ):
            add_group(obj)

    f.visititems(visit)
    return found


def _calibration(f: Any, ds: Any) -> ScanMetadata:
    found = _collect(f, ds)
    origin: dict[str, str] = {}

    energy = None
    for key, factor in _ENERGY_KEYS.items():
        if key in found and isinstance(found[key][0], float) and found[key][0] > 0:
            v = found[key][0]
            energy = v * factor if factor else (v * 1e3 if v < 2000 else v)
            origin["energy_eV"] = f"file: {found[key][1]}"
            break

    semiangle = None
    for key in _SEMIANGLE_KEYS:
        if key in found and isinstance(found[key][0], float) and found[key][0] > 0:
            semiangle = found[key][0]
            origin["semiangle_mrad"] = f"file: {found[key][1]}"
            break

    q = None
    for key in _Q_KEYS:
        if key in found and isinstance(found[key][0], float):
            units = "1/A" if key == "q_sampling_inva" else ""
            for ukey in _Q_UNIT_KEYS:
                if ukey in found:
                    units = str(found[ukey][0])
            q = q_sampling_from_axis(found[key][0], units, energy_eV=energy)
            if q is not None:
                origin["q_sampling_invA"] = f"file: {found[key][1]} [{units}]"
                break
    if q is None:
        q = _q_from_emd_dims(ds.parent, energy, origin)

    step = None
    for key, factor in _STEP_KEYS.items():
        if key in found and isinstance(found[key][0], float) and found[key][0] > 0:
            v = found[key][0]
            if factor is None:  # r_pixel_size: units in r_pixel_units
                u = normalise_unit(found.get("r_pixel_units", ("", ""))[0])
                factor = {"nm": 1.0, "a": 0.1, "å": 0.1, "angstrom": 0.1}.get(u)
                if factor is None:
                    continue
            step = v * factor
            origin["scan_step_nm"] = f"file: {found[key][1]}"
            break

    return ScanMetadata(
        q_sampling_invA=q,
        energy_eV=energy,
        semiangle_mrad=semiangle,
        scan_step_nm=step,
        origin=origin,
        extra={"dataset_path": ds.name},
    )


def _q_from_emd_dims(group: Any, energy: float | None, origin: dict[str, str]) -> float | None:
    """EMD 1.0: dimension vectors ``dim3``/``dim4`` (1-based) beside the data, with units."""
    for name in ("dim3", "dim4"):
        if name in group and group[name].ndim == 1 and group[name].shape[0] >= 2:
            vec = group[name]
            units = vec.attrs.get("units", "")
            step = float(vec[1]) - float(vec[0])
            q = q_sampling_from_axis(step, units, energy_eV=energy)
            if q is not None:
                origin["q_sampling_invA"] = f"file: {vec.name} [{normalise_unit(units)}]"
                return q
    return None
