"""Atomic file writing: write to a temporary name in the target folder, then rename.

An interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stemtf.errors import InputError

__all__ = ["atomic_path", "write_json_atomic", "ensure_writable_dir"]


def ensure_writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` (and parents) and check it is writable; raise InputError otherwise."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{what} {str(p)!r} cannot be created: {e.strerror or e}") from None
    if not os.access(p, os.W_OK):
        raise InputError(f"{what} {str(p)!r} is not writable")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    The temporary name keeps the extension (libraries such as matplotlib pick the format
    from it).
    """
    final = Path(path)
    ensure_writable_dir(final.parent if str(final.parent) else ".", "folder of output file")
    ext = final.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".stemtf-tmp-{final.stem}-", suffix=ext, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the usual umask-based mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically and return the path."""
    dump_kwargs.setdefault("indent", 2)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, **dump_kwargs) + "\n")
    return Path(path)
