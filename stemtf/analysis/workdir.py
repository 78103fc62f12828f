"""The resumable work folder ``DIR/.stemtf-work``: run state and one file per finished chunk.

A chunk file is written atomically, so a killed run leaves only complete chunk files; the
rerun checks that the state (settings fingerprint, input checksum, calibration, phase model)
matches and skips the chunks already done.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import atomic_path, ensure_writable_dir, write_json_atomic

__all__ = ["WorkDir"]

log = logging.getLogger(__name__)

WORK_NAME = ".stemtf-work"


class WorkDir:
    """Per-run state and chunk results under ``out_dir/.stemtf-work``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = ensure_writable_dir(out_dir, "--out folder")
        self.path = self.out_dir / WORK_NAME
        self.chunks = self.path / "chunks"

    @property
    def state_path(self) -> Path:
        """The run state file ``state.json``."""
        return self.path / "state.json"

    def load_state(self) -> dict[str, Any] | None:
        """The saved state, or None if there is none (or it is unreadable)."""
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def start(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """Begin or resume a run identified by ``key``; return the saved state when it matches.

        A work folder of a different run (other settings or input) is cleared, after a log line;
        temporary chunk files a killed run left behind are removed either way.
        """
        state = self.load_state()
        if state is not None and state.get("key") == key:
            for tmp in self.chunks.glob(".stemtf-tmp-*"):
                tmp.unlink(missing_ok=True)
            return state
        if self.path.exists():
            log.warning(
                "%s holds an earlier run with other settings or input; starting over", self.path
            )
            shutil.rmtree(self.path)
        ensure_writable_dir(self.chunks, "work folder")
        return None

    def save_state(self, state: dict[str, Any]) -> None:
        """Record the run state (after pass 1) atomically."""
        write_json_atomic(self.state_path, state)

    def chunk_file(self, name: str) -> Path:
        """The result file of chunk ``name``."""
        return self.chunks / f"{name}.npz"

    def done(self, name: str) -> bool:
        """Whether the chunk's result file exists (it is complete: written atomically)."""
        return self.chunk_file(name).is_file()

    def save_chunk(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Write one chunk's arrays atomically (``.npz``, no pickles)."""
        with atomic_path(self.chunk_file(name)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load_chunk(self, name: str) -> dict[str, np.ndarray]:
        """Read one chunk's arrays."""
        path = self.chunk_file(name)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: damaged chunk result ({e}); delete it and rerun") from None
