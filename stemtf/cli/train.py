"""``stemtf train``: train RDUNet on the dataset (or synthetic pairs), resumable, distributed."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


class Strategy(str, Enum):
    default = "default"
    mirrored = "mirrored"
    multiworker = "multiworker"


class Loss(str, Enum):
    l1 = "l1"
    poisson = "poisson"


class Schedule(str, Enum):
    cosine = "cosine"
    constant = "constant"


class Precision(str, Enum):
    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


def main(
    out: Annotated[
        Path, typer.Option("--out", help="Run folder (rerun the same command to resume).")
    ],
    data_dir: Annotated[
        Path | None, typer.Option(help="Dataset folder of `stemtf build-dataset`.")
    ] = None,
    dataset_config: Annotated[str, typer.Option(help="Dataset config name.")] = "small",
    synthetic: Annotated[
        int, typer.Option(help="Train on N synthetic spot-lattice pairs instead of --data-dir.")
    ] = 0,
    strategy: Annotated[
        Strategy,
        typer.Option(help="default | mirrored (all local devices) | multiworker (TF_CONFIG)."),
    ] = Strategy.default,
    cpu_devices: Annotated[
        int, typer.Option(help="Split the CPU into N logical devices (mirrored without GPUs).")
    ] = 0,
    width: Annotated[
        int, typer.Option(help="RDUNet base width (paper: 128; 16/32/64 for CPU).")
    ] = 32,
    levels: Annotated[
        int, typer.Option(help="Resolution levels incl. the bottleneck (paper: 4).")
    ] = 4,
    blocks: Annotated[
        int, typer.Option(help="Denoising blocks per level and side (paper: 2).")
    ] = 2,
    space_to_depth: Annotated[
        int,
        typer.Option(
            help="Fold s x s pixel blocks into channels around the U-Net (1: the paper; 2: ~3x "
            "faster CPU inference)."
        ),
    ] = 1,
    renoise_dose_range: Annotated[
        tuple[float, float] | None,
        typer.Option(
            help="Fresh noise for every training example at a dose log-uniform in LOW HIGH "
            "[e-/DP] (the dataset's noise model otherwise); default: the stored pairs."
        ),
    ] = None,
    patch_px: Annotated[int, typer.Option("--patch-px", help="Training patch size [px].")] = 64,
    batch_size: Annotated[int, typer.Option(help="Global batch size (all replicas).")] = 8,
    steps: Annotated[int, typer.Option(help="Total optimizer steps.")] = 1000,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (paper 1e-5).")] = 1e-5,
    lr_schedule: Annotated[
        Schedule, typer.Option(help="Learning-rate schedule.")
    ] = Schedule.cosine,
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 0,
    loss: Annotated[
        Loss, typer.Option(help="l1 (paper, stabilised scale) or poisson (deviance).")
    ] = Loss.l1,
    precision: Annotated[Precision, typer.Option(help="Keras dtype policy.")] = Precision.float32,
    log_every: Annotated[int, typer.Option(help="Progress line every N steps.")] = 10,
    eval_every: Annotated[
        int, typer.Option(help="Validation + CSV/TensorBoard every N steps.")
    ] = 100,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed (init, data order, synthetic data).")] = 0,
) -> None:
    """Train RDUNet (resumable; --strategy mirrored|multiworker for data parallelism)."""
    import os

    from stemtf.training import TrainConfig, parse_tf_config
    from stemtf.training.loop import train

    if strategy is Strategy.multiworker:
        parse_tf_config(os.environ.get("TF_CONFIG"))  # fail fast, before TensorFlow starts

    config = TrainConfig(
        width=width,
        levels=levels,
        blocks=blocks,
        space_to_depth=space_to_depth,
        renoise_dose_range_e=renoise_dose_range,
        data_dir=str(data_dir) if data_dir else None,
        dataset_config=dataset_config,
        synthetic=synthetic,
        patch_px=patch_px,
        batch_size=batch_size,
        steps=steps,
        learning_rate=lr,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule.value,
        warmup_steps=warmup_steps,
        loss=loss.value,
        strategy=strategy.value,
        cpu_devices=cpu_devices,
        precision=precision.value,
        log_every=log_every,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        seed=seed,
    )
    result = train(config, out)
    m = result.metrics
    typer.echo(
        f"trained to step {result.step} (resumed from {result.resumed_from}); "
        f"val PSNR {m.get('val_psnr_db', float('nan')):.2f} dB, SSIM {m.get('val_ssim', float('nan')):.4f}; "
        f"model: {result.run_dir / 'model.keras'}"
    )
