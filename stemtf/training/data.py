"""Training and validation ``tf.data`` pipelines: the built dataset or synthetic pairs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stemtf.errors import InputError
from stemtf.training.config import TrainConfig
from stemtf.training.synthetic import synthetic_pairs

__all__ = ["make_datasets", "dataset_version", "check_not_empty"]

log = logging.getLogger(__name__)

_VAL_SEED_OFFSET = 7919  # synthetic validation pairs come from a different stream


def dataset_version(config: TrainConfig) -> str:
    """Version of the dataset a run trains on (``synthetic`` for in-memory pairs)."""
    if config.data_dir is None:
        return f"synthetic-{config.synthetic}x{config.patch_px}px-seed{config.seed}"
    from stemtf.data.loader import dataset_dir

    path = dataset_dir(config.data_dir, config.dataset_config)
    return f"{config.dataset_config}/{path.name}"


def check_not_empty(ds: Any, what: str) -> None:
    """Raise InputError if ``ds`` yields no element."""
    for _ in ds.take(1):
        return
    raise InputError(f"{what} is empty: no examples to train on")


def _synthetic(config: TrainConfig, global_batch: int, step_offset: int):
    import tensorflow as tf

    pairs = synthetic_pairs(config.synthetic, config.patch_px, seed=config.seed)
    n_val = max(global_batch * config.eval_batches, 2)
    val = synthetic_pairs(n_val, config.patch_px, seed=config.seed + _VAL_SEED_OFFSET)

    def to_ds(p):
        return tf.data.Dataset.from_tensor_slices((p.noisy[..., None], p.target[..., None]))

    train = (
        to_ds(pairs)
        .shuffle(config.synthetic, seed=config.seed + step_offset, reshuffle_each_iteration=True)
        .repeat()
        .batch(global_batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    return train, to_ds(val).batch(global_batch)


def make_datasets(config: TrainConfig, global_batch: int, *, step_offset: int = 0):
    """Return ``(train, validation)`` datasets of ``(noisy, target)`` (B, H, W, 1) counts.

    ``train`` repeats forever in batches of ``global_batch`` (``patch_px`` crops);
    ``validation`` is finite, of whole patterns (so PSNR's peak is the central beam, as in
    ``stemtf evaluate``), or ``None`` if the dataset has no validation split. ``step_offset`` (the resumed step) is
    added to the shuffling seed so a resumed run does not replay the same batches.
    """
    if config.data_dir is None:
        return _synthetic(config, global_batch, step_offset)
    if not Path(config.data_dir).is_dir():
        raise InputError(f"data_dir={config.data_dir!r} does not exist or is not a folder")
    from stemtf.data import load

    train = load(
        config.data_dir,
        "train",
        config=config.dataset_config,
        batch_size=global_batch,
        patch_px=config.patch_px,
        shuffle=True,
        augment=True,
        renoise=config.renoise_dose_range_e is not None,
        dose_range_e=config.renoise_dose_range_e,
        seed=config.seed + step_offset,
        repeat=True,
    )
    check_not_empty(train, f"dataset {config.data_dir!r} split 'train'")
    try:
        val = load(
            config.data_dir,
            "validation",
            config=config.dataset_config,
            batch_size=global_batch,
            patch_px=None,
            shuffle=False,
            augment=False,
            seed=config.seed,
        )
    except InputError as e:
        log.warning("no validation data (%s); validation metrics are skipped", e)
        val = None
    return train, val
