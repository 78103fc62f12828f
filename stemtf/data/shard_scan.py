"""Find the usable clean shards in a folder; report every unusable one by name."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from stemtf.errors import InputError
from stemtf.shards import read_shard

__all__ = ["ShardInfo", "scan_shards"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardInfo:
    """A usable shard: its path, pattern count and (single) material id."""

    path: Path
    n_patterns: int
    material_id: str


def scan_shards(
    folder: str | os.PathLike, *, detector_px: int
) -> tuple[list[ShardInfo], list[str]]:
    """Read every ``*.h5`` shard in ``folder`` (sorted by name) completely and check it.

    A shard that cannot be read (truncated, corrupt, unnormalised), whose patterns are not
    ``(detector_px, detector_px)`` or that mixes materials is skipped as a whole and logged
    as a warning naming the file. Returns (usable shards, one line per skipped shard).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"shard folder {str(folder)!r} does not exist")
    good: list[ShardInfo] = []
    skipped: list[str] = []
    for path in sorted(folder.glob("*.h5")):
        try:
            shard = read_shard(path)
            if shard.patterns.shape[1:] != (detector_px, detector_px):
                raise InputError(
                    f"shard {path}: patterns are {shard.patterns.shape[1:]}, this dataset needs "
                    f"({detector_px}, {detector_px})"
                )
            if len(shard) == 0:
                raise InputError(f"shard {path}: holds no patterns")
            ids = set(shard.table["material_id"].tolist())
            if len(ids) != 1:
                raise InputError(f"shard {path}: mixes materials {sorted(ids)}")
        except InputError as e:
            log.warning("skipping %s", e)
            skipped.append(str(e))
            continue
        good.append(ShardInfo(path=path, n_patterns=len(shard), material_id=ids.pop()))
    return good, skipped
