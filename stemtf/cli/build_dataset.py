"""``stemtf build-dataset``: simulate clean shards, then write clean/noisy TFRecords with tfds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONFIG_NAMES = ("small", "default", "full")


def main(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Output folder (shards and records).")
    ],
    config: Annotated[
        str, typer.Option("--config", help=f"Dataset size: {' | '.join(CONFIG_NAMES)}.")
    ] = "small",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="dask.distributed scheduler address for the simulation (default: local).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Dataset seed (splits and noise).", min=0)
    ] = 0,
    preview: Annotated[
        Path | None,
        typer.Option("--preview", help="Write a PNG of clean/noisy pairs across doses."),
    ] = None,
    shards: Annotated[
        Path | None,
        typer.Option("--shards", help="Use these existing clean shards instead of simulating."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bars.")
    ] = True,
) -> None:
    """Simulate clean DPs into shards (resuming), then build the stem_diffraction TFRecords."""
    import logging

    from stemtf.data.pipeline import build_dataset
    from stemtf.data.specs import get_spec

    spec = get_spec(config, seed)
    result = build_dataset(
        spec, data_dir, shard_dir=shards, scheduler=scheduler, preview=preview, progress=progress
    )
    logging.getLogger("stemtf.cli").info("dataset card: %s", result.card_md)
    counts = ", ".join(f"{k} {v}" for k, v in result.split_examples.items())
    typer.echo(f"{result.dataset_dir}: {counts} examples")
