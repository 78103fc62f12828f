"""A lazily read 4D-STEM scan: a picklable array source plus its calibration metadata.

Array order is always ``(Ry, Rx, Qy, Qx)``: scan rows, scan columns, detector rows, detector
columns. Nothing is read until :meth:`Scan.read` (or a computed dask block) asks for it, so a
scan larger than memory is fine.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stemtf.errors import InputError

__all__ = ["ArraySource", "ScanMetadata", "Scan"]


class ArraySource(Protocol):
    """What a reader hands over: a picklable, lazily read array (opened per process)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray: ...


@dataclass(frozen=True)
class ScanMetadata:
    """Calibration known about a scan; ``None`` where neither the file nor the user said.

    Attributes
    ----------
    q_sampling_invA : float or None
        Detector pixel size in reciprocal space [1/Å per pixel].
    energy_eV : float or None
        Beam energy [eV].
    semiangle_mrad : float or None
        Probe convergence semi-angle [mrad].
    scan_step_nm : float or None
        Real-space scan step [nm].
    origin : dict
        Where each value came from (``"file: <key>"``, ``"flag"``).
    extra : dict
        Other file metadata worth keeping in the provenance (JSON-serialisable).
    """

    q_sampling_invA: float | None = None
    energy_eV: float | None = None
    semiangle_mrad: float | None = None
    scan_step_nm: float | None = None
    origin: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("q_sampling_invA", "energy_eV", "semiangle_mrad", "scan_step_nm"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                ok = math.isfinite(float(value)) and float(value) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"{name}={value!r} is not allowed: it must be a number > 0")
            object.__setattr__(self, name, float(value))

    def with_overrides(self, **values: float | None) -> ScanMetadata:
        """Return a copy where every non-None keyword (e.g. from a CLI flag) replaces the file value."""
        given = {k: v for k, v in values.items() if v is not None}
        origin = dict(self.origin)
        origin.update({k: "flag" for k in given})
        return dataclasses.replace(self, origin=origin, **given)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return dataclasses.asdict(self)


@dataclass
class Scan:
    """A 4D-STEM scan on disk, read lazily.

    Attributes
    ----------
    path : Path
        The file.
    source : ArraySource
        The 4D array ``(Ry, Rx, Qy, Qx)``, read on indexing.
    metadata : ScanMetadata
        Calibration found in the file (and flags, after :meth:`ScanMetadata.with_overrides`).
    format : str
        Reader that opened it (``npy``, ``hdf5``, ``rsciio:<plugin>``).
    """

    path: Path
    source: ArraySource
    metadata: ScanMetadata
    format: str

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(Ry, Rx, Qy, Qx)``."""
        return tuple(int(n) for n in self.source.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        """Stored element type."""
        return np.dtype(self.source.dtype)

    def read(self, rows: slice, cols: slice = slice(None)) -> np.ndarray:
        """Read the block ``[rows, cols]`` as float32 ``(ry, rx, Qy, Qx)``."""
        try:
            block = self.source[rows, cols, :, :]
        except (OSError, ValueError, EOFError) as e:
            raise InputError(
                f"{self.path}: cannot read scan rows {rows.start}:{rows.stop} "
                f"(file truncated or corrupt: {_one_line(e)})"
            ) from None
        return np.array(block, dtype=np.float32)  # a writable copy, never a view of the file

    def to_dask(self, rows_per_chunk: int = 16) -> Any:
        """The scan as a dask array chunked by whole scan rows (import dask lazily)."""
        import dask.array as da

        ry, rx, qy, qx = self.shape
        return da.from_array(self.source, chunks=(max(1, rows_per_chunk), rx, qy, qx), asarray=True)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
