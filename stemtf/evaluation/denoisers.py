"""Load the denoiser under test: a ``.keras`` file, a training run folder or a SavedModel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from stemtf.errors import InputError

__all__ = ["load_model_denoiser"]

BATCH = 16


def load_model_denoiser(path: str | Path, *, batch_size: int = BATCH) -> tuple[Callable, dict]:
    """Return ``(fn((B, H, W) counts) -> (B, H, W), info)`` for ``path``.

    ``path`` is a ``.keras`` file, a run folder holding ``model.keras``, or a SavedModel folder
    (``saved_model.pb`` in it or in its newest numeric version subfolder).
    """
    path = Path(path)
    if path.is_dir() and (path / "model.keras").is_file():
        path = path / "model.keras"
    if path.suffix == ".keras" and path.is_file():
        import keras

        from stemtf.training.export import load_keras_model

        model = load_keras_model(path)

        def run(batch: np.ndarray) -> np.ndarray:
            out = [
                keras.ops.convert_to_numpy(
                    model(batch[i : i + batch_size, ..., None], training=False)
                )
                for i in range(0, len(batch), batch_size)
            ]
            return np.concatenate(out)[..., 0].astype(np.float32)

        return run, {
            "path": str(path),
            "kind": "keras",
            "config": model.get_config(),
            "parameters": int(model.count_params()),
        }
    if path.is_dir():
        from stemtf.denoise import load

        return load(str(path)), {"path": str(path), "kind": "savedmodel"}
    raise InputError(
        f"--model {str(path)!r} is not a .keras file, a run folder with model.keras or a SavedModel folder"
    )
