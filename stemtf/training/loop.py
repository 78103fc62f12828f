"""The training loop: one custom distributed step for every strategy.

``model.fit`` fails under MultiWorkerMirroredStrategy on TF 2.21 / Keras 3.15 (DESIGN.md), so
every strategy runs the same step: ``strategy.run`` on a distributed dataset, per-example
losses summed and divided by the global batch, the Keras AdamW optimizer (built inside
``strategy.scope()``) all-reducing the gradients. A ``tf.train.CheckpointManager`` saves
model, optimizer and step so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemtf.errors import InputError
from stemtf.fileio import atomic_path, ensure_writable_dir
from stemtf.training.config import TrainConfig
from stemtf.training.runlog import RunLog, check_same_architecture
from stemtf.training.strategy import make_strategy, worker_role

__all__ = ["train", "TrainResult", "build_optimizer"]

log = logging.getLogger(__name__)

COSINE_FINAL_FRACTION = 0.01


@dataclass
class TrainResult:
    """What a finished (or already complete) run left behind."""

    run_dir: Path
    step: int
    resumed_from: int
    metrics: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def build_optimizer(config: TrainConfig):
    """AdamW with the configured learning-rate schedule (+ loss scaling for float16)."""
    import keras

    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if config.warmup_steps else config.learning_rate,
            decay_steps=max(1, config.steps - config.warmup_steps),
            alpha=COSINE_FINAL_FRACTION,
            warmup_target=config.learning_rate if config.warmup_steps else None,
            warmup_steps=config.warmup_steps,
        )
    else:
        lr = config.learning_rate
    opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay)
    if config.precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def _restore(ckpt, manager, run_dir: Path) -> None:
    latest = manager.latest_checkpoint
    if latest is None:
        return
    try:
        ckpt.restore(latest).assert_existing_objects_matched()
    except (ValueError, AssertionError) as e:
        first = str(e).strip().splitlines()[0][:200]
        raise InputError(
            f"checkpoint {latest!r} does not fit this model (a different architecture?): {first}; "
            "use a new --out folder"
        ) from None
    log.info("resumed from %s", latest)


def _eval_fn(model, loss_fn):
    import tensorflow as tf

    from stemtf.training.metrics import psnr_counts, ssim_counts

    @tf.function
    def evaluate_batch(noisy, target):
        pred = tf.cast(model(noisy, training=False), tf.float32)
        return loss_fn(pred, target), psnr_counts(pred, target), ssim_counts(pred, target)

    def run(ds, batches: int) -> dict[str, float]:
        sums, n = [0.0, 0.0, 0.0], 0
        for noisy, target in ds.take(batches):
            for i, v in enumerate(evaluate_batch(noisy, target)):
                sums[i] += float(tf.reduce_sum(v))
            n += int(noisy.shape[0])
        if n == 0:
            return {}
        return {"val_loss": sums[0] / n, "val_psnr_db": sums[1] / n, "val_ssim": sums[2] / n}

    return run


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train (or resume training) an RDUNet as configured; write everything to ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (saved as ``config.json``).
    out_dir : path
        Run folder: ``config.json``, ``log.csv``, ``tensorboard/``, ``checkpoints/``,
        ``model.keras`` and ``metrics.json``. Non-chief workers of a multi-worker run write
        their checkpoints and model under ``workers/<task>/``.
    on_step : callable, optional
        Called with the step number after every step (progress hooks, tests).
    """
    import keras
    import tensorflow as tf

    from stemtf.models import RDUNet
    from stemtf.training.data import dataset_version, make_datasets
    from stemtf.training.losses import make_loss

    run_dir = ensure_writable_dir(out_dir, "run folder")
    check_same_architecture(run_dir, config)
    strategy = make_strategy(config.strategy, cpu_devices=config.cpu_devices)
    is_chief, task = worker_role(strategy)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise InputError(
            f"batch_size={config.batch_size} is not a multiple of the {replicas} replicas of "
            f"strategy {config.strategy!r}"
        )
    work_dir = run_dir if is_chief else ensure_writable_dir(run_dir / "workers" / task)
    version = dataset_version(config)
    runlog = RunLog(run_dir, enabled=is_chief)

    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = RDUNet(**config.model_config())
            optimizer = build_optimizer(config)
            optimizer.build(model.trainable_variables)
            step_var = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name="step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
        manager = tf.train.CheckpointManager(
            ckpt, str(work_dir / "checkpoints"), max_to_keep=config.keep_checkpoints
        )
        _restore(ckpt, manager, run_dir)
        start = int(step_var.numpy())
        runlog.truncate_after(start)
        runlog.write_config(
            config,
            {
                "dataset_version": version,
                "strategy": {"kind": config.strategy, "replicas": replicas, "task": task},
                "resumed_from_step": start,
            },
        )
        log.info(
            "RDUNet width=%d levels=%d: %d parameters, %s strategy, %d replica(s), global batch %d",
            config.width,
            config.levels,
            model.count_params(),
            config.strategy,
            replicas,
            config.batch_size,
        )
        if start >= config.steps:
            log.info("run already complete at step %d of %d", start, config.steps)
        train_ds, val_ds = make_datasets(config, config.batch_size, step_offset=start)
        loss_fn = make_loss(config.loss, config.norm_scale)
        evaluate = _eval_fn(model, loss_fn)
        global_batch = float(config.batch_size)

        def step_fn(noisy, target):
            with tf.GradientTape() as tape:
                pred = tf.cast(model(noisy, training=True), tf.float32)
                loss = tf.reduce_sum(loss_fn(pred, target)) / global_batch
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        @tf.function
        def train_step(iterator):
            per_replica = strategy.run(step_fn, args=next(iterator))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        options = tf.data.Options()
        # every worker reads the records and keeps its share of the batches: works for any
        # number of TFRecord files (file sharding fails with fewer files than workers)
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        iterator = iter(strategy.experimental_distribute_dataset(train_ds.with_options(options)))
        step, window, t_window = start, [], time.perf_counter()
        metrics: dict[str, Any] = {}
        while step < config.steps:
            window.append(float(train_step(iterator)))
            step += 1
            last = step == config.steps
            if step % config.log_every == 0 or last:
                rate = len(window) / max(time.perf_counter() - t_window, 1e-9)
                lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
                metrics = {
                    "loss": sum(window) / len(window),
                    "learning_rate": lr,
                    "steps_per_s": rate,
                }
                log.info(
                    "step %d/%d  loss %.5f  lr %.3g  %.2f steps/s",
                    step,
                    config.steps,
                    metrics["loss"],
                    lr,
                    rate,
                )
                window, t_window = [], time.perf_counter()
            if (step % config.eval_every == 0 or last) and val_ds is not None:
                metrics.update(evaluate(val_ds, config.eval_batches))
                log.info(
                    "step %d  val_loss %.5f  val PSNR %.2f dB  val SSIM %.4f",
                    step,
                    metrics.get("val_loss", float("nan")),
                    metrics.get("val_psnr_db", float("nan")),
                    metrics.get("val_ssim", float("nan")),
                )
            if step % config.eval_every == 0 or last:
                runlog.row(step, metrics)
            if step % config.checkpoint_every == 0 or last:
                step_var.assign(step)
                manager.save(checkpoint_number=step)
            if on_step is not None:
                on_step(step)
        if not metrics and val_ds is not None:
            metrics = evaluate(val_ds, config.eval_batches)
        with atomic_path(work_dir / "model.keras") as tmp:
            model.save(tmp)
        final = {"step": step, "resumed_from_step": start, "dataset_version": version, **metrics}
        runlog.write_metrics(final)
        runlog.close()
        return TrainResult(run_dir, step, start, final, model)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
