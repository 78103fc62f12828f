"""The input's identity: SHA-256 of its content (streamed, memory flat) and a change stamp.

The hash is always of the bytes as read now, never taken from an earlier run: a file changed
in place keeps its size and can be given back its old modification time, so neither tells
whether the content is the same. The stamp (size, modification and status-change times,
inode) only checks that the file did not change while this run read it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from stemtf.errors import InputError

__all__ = ["file_sha256", "file_stamp", "check_unchanged"]

_BLOCK = 8 * 1024 * 1024


def file_stamp(path: str | os.PathLike) -> dict[str, int]:
    """Size [bytes], modification and status-change times [ns] and inode of ``path``.

    The status-change time (``st_ctime_ns``) moves on every write and cannot be set back by a
    user, so a changed file changes its stamp even when size and mtime are restored.
    """
    st = Path(path).stat()
    return {
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "ctime_ns": int(st.st_ctime_ns),
        "inode": int(st.st_ino),
    }


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file's content, read now in 8 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def check_unchanged(path: str | os.PathLike, stamp: dict[str, int]) -> None:
    """Raise :class:`InputError` if ``path`` changed since ``stamp`` was taken.

    Called after the file has been read, so the recorded hash and the results are of one
    version of the file.
    """
    if file_stamp(path) != stamp:
        raise InputError(
            f"{path}: the file changed while it was being analysed; results of a mixed "
            "input are not written: rerun when the file no longer changes"
        )
