"""``stemtf evaluate``: denoiser vs noisy input and classical baselines, per dose bin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    model: Annotated[
        Path, typer.Option(help="A .keras file, a training run folder or a SavedModel folder.")
    ],
    data_dir: Annotated[
        Path | None, typer.Option(help="Dataset folder of `stemtf build-dataset`.")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    dataset_config: Annotated[str, typer.Option(help="Dataset config name.")] = "small",
    synthetic: Annotated[
        int, typer.Option(help="Evaluate on N synthetic pairs instead of --data-dir.")
    ] = 0,
    max_examples: Annotated[int | None, typer.Option(help="Evaluate at most N patterns.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: the run folder, else ./evaluation)."),
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Also run Gaussian, median, NLM (and BM3D if installed).")
    ] = True,
    self_ensemble: Annotated[
        bool, typer.Option("--self-ensemble", help="Add RDUNet+ (8 flips/rotations).")
    ] = False,
    spot_sigma_px: Annotated[float, typer.Option(help="Spot-finder DoG sigma [px].")] = 1.0,
) -> None:
    """Evaluate a denoiser: PSNR/SSIM per dose, spot error, weak-spot recall, invented spots."""
    from stemtf.evaluation.run import run_evaluation

    if out is None:
        out = (
            model if (model.is_dir() and (model / "model.keras").is_file()) else Path("evaluation")
        )
    _, table = run_evaluation(
        model,
        out,
        data_dir=data_dir,
        split=split,
        dataset_config=dataset_config,
        synthetic=synthetic,
        max_examples=max_examples,
        with_baselines=baselines,
        ensemble=self_ensemble,
        spot_sigma_px=spot_sigma_px,
    )
    typer.echo(table)
    typer.echo(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.png'}")
