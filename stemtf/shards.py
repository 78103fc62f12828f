"""Clean diffraction-pattern shards: the HDF5 contract between simulation and the dataset.

One shard holds the clean DPs of one (material, zone axis) batch (see DESIGN.md):

- dataset ``patterns``: float32 (N, H, W), every pattern normalised to total intensity 1,
  with attribute ``q_sampling_invA`` (reciprocal pixel size [1/Å]);
- group ``table``: one entry per pattern, every column length N: ``material_id``, ``formula``,
  ``spacegroup_symbol`` (str), ``spacegroup_number`` (int32), ``zone_axis`` (int32, (N, 3)),
  ``thickness_A`` (float32), ``tilt_mrad`` (float32, (N, 2)), ``rotation_deg`` (float32),
  ``seed`` (int64);
- file attributes: ``format`` = ``"stemtf-clean-shard"``, ``format_version``, ``energy_eV``,
  ``semiangle_mrad``, ``q_sampling_invA``, ``detector_px``, ``abtem_version``,
  ``stemtf_version``, and any further provenance the writer adds.

Shards are written atomically, so a file under its final name is complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import atomic_path

__all__ = ["Shard", "TABLE_COLUMNS", "write_shard", "read_shard", "SHARD_FORMAT"]

SHARD_FORMAT = "stemtf-clean-shard"
SHARD_FORMAT_VERSION = 1
NORMALISATION_RTOL = 1e-3

# column -> (dtype kind, trailing shape)
TABLE_COLUMNS: dict[str, tuple[str, tuple[int, ...]]] = {
    "material_id": ("str", ()),
    "formula": ("str", ()),
    "spacegroup_symbol": ("str", ()),
    "spacegroup_number": ("int32", ()),
    "zone_axis": ("int32", (3,)),
    "thickness_A": ("float32", ()),
    "tilt_mrad": ("float32", (2,)),
    "rotation_deg": ("float32", ()),
    "seed": ("int64", ()),
}
REQUIRED_ATTRS = ("energy_eV", "semiangle_mrad", "q_sampling_invA")


@dataclass
class Shard:
    """A loaded shard: ``patterns`` (N, H, W) float32, ``table`` columns, file ``attrs``."""

    patterns: np.ndarray
    table: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def q_sampling_invA(self) -> float:
        """Reciprocal pixel size [1/Å per px]."""
        return float(self.attrs["q_sampling_invA"])

    def __len__(self) -> int:
        return int(self.patterns.shape[0])


def _column(name: str, values: Any, n: int) -> np.ndarray:
    kind, trailing = TABLE_COLUMNS[name]
    if kind == "str":
        arr = np.asarray([str(v) for v in np.broadcast_to(np.asarray(values, dtype=object), (n,))])
        return arr.astype(object)
    arr = np.asarray(values, dtype=kind)
    arr = np.broadcast_to(arr, (n, *trailing)) if arr.shape != (n, *trailing) else arr
    return np.ascontiguousarray(arr)


def write_shard(
    path: str | os.PathLike,
    patterns: np.ndarray,
    table: dict[str, Any],
    attrs: dict[str, Any],
) -> Path:
    """Validate and write a shard atomically; return its path.

    ``table`` values may be scalars (broadcast to all N patterns) or length-N sequences.
    """
    p = np.asarray(patterns, dtype=np.float32)
    if p.ndim != 3 or min(p.shape) < 1:
        raise InputError(f"shard {path}: patterns must be (N, H, W), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise InputError(f"shard {path}: patterns contain NaN or Inf")
    sums = p.reshape(p.shape[0], -1).sum(axis=1, dtype=np.float64)
    if not np.allclose(sums, 1.0, rtol=NORMALISATION_RTOL):
        raise InputError(
            f"shard {path}: patterns must each sum to 1, got sums {sums.min():.4g}..{sums.max():.4g}"
        )
    missing = [c for c in TABLE_COLUMNS if c not in table]
    if missing:
        raise InputError(f"shard {path}: table lacks columns {missing}")
    missing_attrs = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing_attrs:
        raise InputError(f"shard {path}: attrs lack {missing_attrs}")
    n = p.shape[0]
    from stemtf import __version__

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        d = f.create_dataset(
            "patterns", data=p, chunks=(1, *p.shape[1:]), compression="gzip", compression_opts=4
        )
        d.attrs["q_sampling_invA"] = float(attrs["q_sampling_invA"])
        g = f.create_group("table")
        for name in TABLE_COLUMNS:
            col = _column(name, table[name], n)
            if col.dtype == object:
                g.create_dataset(name, data=col, dtype=h5py.string_dtype())
            else:
                g.create_dataset(name, data=col)
        f.attrs["format"] = SHARD_FORMAT
        f.attrs["format_version"] = SHARD_FORMAT_VERSION
        f.attrs["detector_px"] = np.asarray(p.shape[1:], dtype=np.int32)
        f.attrs.setdefault("stemtf_version", __version__)
        for k, v in attrs.items():
            f.attrs[k] = v
    return Path(path)


def read_shard(path: str | os.PathLike, *, load_patterns: bool = True) -> Shard:
    """Read and check a shard; raise :class:`InputError` naming the file if it is unusable.

    Truncated files, wrong shapes, missing columns and unnormalised patterns are refused.
    With ``load_patterns=False`` the patterns array is an empty (0, H, W) placeholder shape
    check only (cheap listing of large shard folders).
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise InputError(f"shard {path}: cannot be read as HDF5 ({e})") from None
    try:
        with f:
            if f.attrs.get("format") != SHARD_FORMAT:
                raise InputError(
                    f"shard {path}: not a stemtf clean shard (format={f.attrs.get('format')!r})"
                )
            if "patterns" not in f or "table" not in f:
                raise InputError(f"shard {path}: lacks 'patterns' or 'table'")
            d = f["patterns"]
            if d.ndim != 3:
                raise InputError(f"shard {path}: patterns must be (N, H, W), got shape {d.shape}")
            n = d.shape[0]
            table = {}
            for name, (_kind, trailing) in TABLE_COLUMNS.items():
                if name not in f["table"]:
                    raise InputError(f"shard {path}: table lacks column {name!r}")
                col = f["table"][name][()]
                if col.shape != (n, *trailing):
                    raise InputError(
                        f"shard {path}: table column {name!r} has shape {col.shape}, expected {(n, *trailing)}"
                    )
                if col.dtype.kind in ("O", "S"):
                    col = np.asarray(
                        [c.decode() if isinstance(c, bytes) else str(c) for c in col], dtype=object
                    )
                table[name] = col
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
            if load_patterns:
                patterns = d[()].astype(np.float32, copy=False)
                if not np.all(np.isfinite(patterns)):
                    raise InputError(f"shard {path}: patterns contain NaN or Inf")
                sums = patterns.reshape(n, -1).sum(axis=1, dtype=np.float64)
                if n and not np.allclose(sums, 1.0, rtol=NORMALISATION_RTOL):
                    raise InputError(f"shard {path}: patterns are not normalised to sum 1")
            else:
                patterns = np.empty((0, *d.shape[1:]), np.float32)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"shard {path}: corrupt or truncated ({e})") from None
    return Shard(patterns=patterns, table=table, attrs=attrs)
