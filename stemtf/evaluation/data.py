"""Evaluation inputs: the test split of a built dataset (with doses) or synthetic pairs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemtf.errors import InputError, check_range

__all__ = ["EvalSet", "load_eval_set", "synthetic_eval_set"]


@dataclass(frozen=True)
class EvalSet:
    """``noisy`` and ``target`` (N, H, W) counts, ``dose_e`` (N,), a description of the source."""

    noisy: np.ndarray
    target: np.ndarray
    dose_e: np.ndarray
    source: str


def load_eval_set(
    data_dir: str | Path,
    split: str = "test",
    *,
    config: str = "small",
    max_examples: int | None = None,
) -> EvalSet:
    """Read ``split`` of the dataset built in ``data_dir`` (noisy, clean counts, dose)."""
    import tensorflow_datasets as tfds

    from stemtf.data.loader import dataset_dir

    if not Path(data_dir).is_dir():
        raise InputError(f"--data-dir {str(data_dir)!r} does not exist or is not a folder")
    path = dataset_dir(data_dir, config)
    builder = tfds.builder_from_directory(str(path))
    if split.split("[")[0] not in builder.info.splits:
        raise InputError(
            f"split={split!r} is not in {str(path)!r}: allowed {', '.join(builder.info.splits)}"
        )
    ds = builder.as_dataset(split=split, shuffle_files=False)
    if max_examples is not None:
        ds = ds.take(max_examples)
    noisy, target, dose = [], [], []
    for ex in ds.as_numpy_iterator():
        noisy.append(ex["noisy"])
        target.append(ex["clean"])
        dose.append(ex["dose_e"])
    if not noisy:
        raise InputError(f"split {split!r} of {str(path)!r} is empty: nothing to evaluate")
    return EvalSet(
        np.stack(noisy).astype(np.float32),
        np.stack(target).astype(np.float32),
        np.asarray(dose, np.float32),
        f"{config}/{path.name}:{split}",
    )


def synthetic_eval_set(n: int, size_px: int = 64, *, seed: int = 12345) -> EvalSet:
    """``n`` synthetic spot-lattice pairs (see :mod:`stemtf.training.synthetic`)."""
    from stemtf.training.synthetic import synthetic_pairs

    check_range("n", n, 1, 100_000)
    p = synthetic_pairs(n, size_px, seed=seed)
    return EvalSet(p.noisy, p.target, p.dose_e, f"synthetic-{n}x{size_px}px-seed{seed}")
