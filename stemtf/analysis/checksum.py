"""Streaming SHA-256 of the input file (memory flat), cached by size and modification time."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256", "file_stamp"]

_BLOCK = 8 * 1024 * 1024


def file_stamp(path: Path) -> dict[str, int]:
    """Size [bytes] and modification time [ns]: cheap identity of a file's version."""
    st = Path(path).stat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def file_sha256(path: Path, cached: dict | None = None) -> str:
    """Hex SHA-256 of the file; reuse ``cached["sha256"]`` when its stamp still matches."""
    stamp = file_stamp(path)
    if cached and cached.get("stamp") == stamp and cached.get("sha256"):
        return str(cached["sha256"])
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()
