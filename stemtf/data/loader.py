"""``load``: a built dataset as a ``tf.data.Dataset`` of (noisy, target) batches ready for training."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from stemtf.errors import InputError, check_positive

__all__ = ["load", "dataset_dir", "SHUFFLE_BUFFER"]

log = logging.getLogger(__name__)

SHUFFLE_BUFFER = 2048
BUILDER_NAME = "stem_diffraction"


def dataset_dir(data_dir: str | os.PathLike, config: str) -> Path:
    """The newest version folder ``<data_dir>/stem_diffraction/<config>/<version>`` that is complete."""
    base = Path(data_dir) / BUILDER_NAME / config
    versions = sorted(
        (p for p in base.glob("*") if p.is_dir() and (p / "dataset_info.json").is_file()),
        key=lambda p: (
            tuple(int(x) for x in p.name.split(".")) if p.name.replace(".", "").isdigit() else (-1,)
        ),
    )
    if not versions:
        raise InputError(
            f"no built dataset {config!r} in {str(data_dir)!r}: run "
            f"`stemtf build-dataset --config {config.split('_seed')[0]} --data-dir {data_dir}`"
        )
    return versions[-1]


def load(
    data_dir: str | os.PathLike,
    split: str,
    *,
    config: str = "small",
    batch_size: int = 8,
    patch_px: int | None = None,
    shuffle: bool = True,
    augment: bool = True,
    renoise: bool = False,
    dose_range_e: tuple[float, float] | None = None,
    seed: int = 0,
    repeat: bool = False,
) -> Any:
    """Read a built dataset split as batches of ``(noisy, target)``, float32 (B, H, W, 1) counts.

    Parameters
    ----------
    data_dir : path
        The ``--data-dir`` given to ``stemtf build-dataset``.
    split : str
        ``train``, ``validation`` or ``test`` (any tfds split string, e.g. ``train[:10%]``).
    config : str
        Dataset config name (``small``, ``default``, ``full``, or ``<name>_seed<S>``).
    batch_size : int
        Examples per batch; with ``repeat`` the last partial batch is dropped.
    patch_px : int, optional
        Random square crops of this size (the same crop of noisy and target).
    shuffle : bool
        Shuffle files and examples (seeded).
    augment : bool
        Random flips and 90-degree rotations, identical for noisy and target.
    renoise : bool
        Replace the stored noisy frame by fresh noise on every pass
        (:func:`stemtf.data.renoise.renoise_pair`, the builder's noise model).
    dose_range_e : (float, float), optional
        With ``renoise``: draw each example's total dose log-uniformly from this range
        [e-/DP] instead of the dataset's.
    seed : int
        Seeds shuffling, augmentation and re-noising: the same seed gives the same batches.
    repeat : bool
        Repeat forever (training); reshuffles every pass.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from stemtf.data.renoise import renoise_config, renoise_pair
    from stemtf.noise import NoiseConfig

    check_positive("batch_size", batch_size)
    path = dataset_dir(data_dir, config)
    builder = tfds.builder_from_directory(str(path))
    base_split = split.split("[")[0]
    if base_split not in builder.info.splits:
        raise InputError(
            f"split={split!r} is not in dataset {config!r}: allowed {', '.join(builder.info.splits)}"
        )
    px = builder.info.features["clean"].shape
    if patch_px is not None:
        check_positive("patch_px", patch_px, "px")
        if patch_px > min(px):
            raise InputError(f"patch_px={patch_px} is larger than the patterns {px}")
    ds = builder.as_dataset(
        split=split,
        shuffle_files=shuffle,
        read_config=tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=4 if shuffle else 1),
    )
    ds = ds.map(
        lambda ex: (ex["noisy"], ex["clean"], ex["q_sampling_invA"]),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    rand = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, rand))
    noise_cfg = None
    if renoise:
        spec = builder.info.metadata.get("spec", {}) if builder.info.metadata else {}
        noise_cfg = renoise_config(
            NoiseConfig.from_dict(spec["noise"]) if "noise" in spec else NoiseConfig()
        )
        if dose_range_e is not None:
            noise_cfg = noise_cfg.replace(dose_range_e=tuple(float(d) for d in dose_range_e))
    elif dose_range_e is not None:
        raise InputError(
            f"dose_range_e={dose_range_e!r} needs renoise=True (the stored pairs have their doses)"
        )

    def _renoise(target: Any, s: Any, q: Any) -> tuple[Any, Any]:
        n, t = renoise_pair(target, int(s), noise_cfg, float(q))
        return n, t

    def _prepare(item: Any, r: Any) -> tuple[Any, Any]:
        noisy, target, q = item
        if renoise:
            noisy, target = tf.numpy_function(
                _renoise, [target, r, q], [tf.float32, tf.float32], stateful=False
            )
        pair = tf.stack([tf.reshape(noisy, px), tf.reshape(target, px)], axis=-1)  # (H, W, 2)
        s = tf.stack([r, tf.bitwise.right_shift(r, 17)])
        if augment:
            pair = tf.image.stateless_random_flip_left_right(pair, seed=s)
            pair = tf.image.stateless_random_flip_up_down(pair, seed=s + 1)
            k = tf.random.stateless_uniform([], seed=s + 2, maxval=4, dtype=tf.int32)
            pair = tf.image.rot90(pair, k) if px[0] == px[1] else pair
        if patch_px is not None:
            pair = tf.image.stateless_random_crop(pair, (patch_px, patch_px, 2), seed=s + 3)
        side = (patch_px, patch_px) if patch_px is not None else tuple(px)
        pair = tf.ensure_shape(pair, (*side, 2))
        return pair[..., :1], pair[..., 1:]

    ds = ds.map(_prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    log.debug(
        "loaded %s split %s (%s examples)",
        path,
        split,
        builder.info.splits[base_split].num_examples,
    )
    return ds.prefetch(tf.data.AUTOTUNE)
