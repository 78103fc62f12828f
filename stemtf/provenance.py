"""Which code ran: a digest of the package's own Python sources.

``stemtf.__version__`` changes only at a release, while the labels a run writes change with
every commit that touches a threshold or a step. ``analyze`` resumes an interrupted run only
from chunks written by the same sources (:func:`source_sha256` is part of its resume key) and
records the digest beside the version in ``summary.json`` and ``results.h5``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["source_sha256"]

#: The installed package's folder (an editable install: the checkout's ``stemtf/``).
PACKAGE_ROOT = Path(__file__).resolve().parent


def source_sha256(root: Path | str | None = None) -> str:
    """SHA-256 [hex] over the ``.py`` files under ``root`` (default: this package).

    Each file contributes its path relative to ``root`` and its bytes, in sorted path order, so
    the digest changes when any source changes, is added, removed or renamed, and not with
    bytecode caches, timestamps or where the package is installed. The package's own digest
    is computed once per process (~100 files, a few ms); another ``root`` is read every call.
    """
    return _cached(PACKAGE_ROOT) if root is None else _digest(Path(root).resolve())


@functools.lru_cache(maxsize=8)
def _cached(root: Path) -> str:
    return _digest(root)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        h.update(len(rel).to_bytes(4, "little") + rel + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()
