"""Publish the four outputs of a run as one set.

The outputs are written into a staging folder inside the work folder
(``DIR/.stemtf-work/publish``), then moved into ``DIR`` by rename: first the previous
``summary.json`` is removed (from then on the folder's set is marked incomplete), then
``results.h5``, ``phase_map.png`` and ``report.html`` are moved, and ``summary.json`` last.
``summary.json`` therefore marks completion: when it exists, the other three are those of its
run, and its ``files`` entry lists their SHA-256 for a reader who wants to check. A run that
fails or is killed before that point leaves the previous complete set untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from pathlib import Path

from stemtf.fileio import ensure_writable_dir

__all__ = [
    "OUTPUT_FILES",
    "COMPLETION_MARK",
    "staging_dir",
    "files_record",
    "publish",
    "remove_stale_temporaries",
]

log = logging.getLogger(__name__)

#: The output contract: these four files in the output folder.
OUTPUT_FILES = ("results.h5", "phase_map.png", "summary.json", "report.html")
#: Written last; its presence marks a complete set.
COMPLETION_MARK = "summary.json"


def staging_dir(work_path: Path) -> Path:
    """An empty staging folder ``<work_path>/publish`` (anything left there is removed)."""
    folder = Path(work_path) / "publish"
    if folder.exists():
        shutil.rmtree(folder)
    return ensure_writable_dir(folder, "staging folder")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 23):
            h.update(block)
    return h.hexdigest()


def files_record(staged: Path) -> dict[str, dict[str, int | str]]:
    """Size [bytes] and SHA-256 of each staged output other than the completion mark."""
    return {
        name: {"bytes": (staged / name).stat().st_size, "sha256": _sha256(staged / name)}
        for name in OUTPUT_FILES
        if name != COMPLETION_MARK
    }


def publish(staged: Path, out_dir: Path) -> None:
    """Move the four staged outputs into ``out_dir``, ``summary.json`` last.

    Raises
    ------
    FileNotFoundError
        A staged output is missing (nothing is moved then).
    """
    missing = [name for name in OUTPUT_FILES if not (staged / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{staged}: staged outputs missing: {', '.join(missing)}")
    (out_dir / COMPLETION_MARK).unlink(missing_ok=True)
    for name in OUTPUT_FILES:
        if name != COMPLETION_MARK:
            os.replace(staged / name, out_dir / name)
    os.replace(staged / COMPLETION_MARK, out_dir / COMPLETION_MARK)
    with contextlib.suppress(OSError):
        staged.rmdir()
    log.debug("published %s into %s", ", ".join(OUTPUT_FILES), out_dir)


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove temporary files of the outputs that a killed run left in ``out_dir``.

    Only the names :func:`stemtf.fileio.atomic_path` gives the four outputs
    (``.stemtf-tmp-results-*.h5``, ...) are touched. Returns the files removed.
    """
    removed = []
    for name in OUTPUT_FILES:
        stem, ext = os.path.splitext(name)
        for tmp in Path(out_dir).glob(f".stemtf-tmp-{stem}-*{ext}"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run in %s", len(removed), out_dir)
    return removed
