"""``stemtf export``: SavedModel in TF Serving layout (+ model card, warm-up requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    run: Annotated[
        Path | None,
        typer.Option(help="Training run folder (uses its model.keras, config, metrics)."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="A .keras model file (instead of --run).")
    ] = None,
    name: Annotated[str, typer.Option(help="Model name: folder under --out.")] = "rdunet",
    version: Annotated[
        int, typer.Option(help="Version number (new folder <out>/<name>/<version>).")
    ] = 1,
    out: Annotated[Path, typer.Option(help="TF Serving model base folder.")] = Path("saved_models"),
    warmup: Annotated[bool, typer.Option(help="Write TF Serving warm-up requests.")] = True,
) -> None:
    """Export a trained RDUNet as a SavedModel: serving_default takes and returns counts."""
    from stemtf.training.export import export_saved_model, resolve_model_source

    model_path, run_dir = resolve_model_source(run, model)
    folder = export_saved_model(model_path, out, name, version, run_dir=run_dir, warmup=warmup)
    import json

    card = json.loads((folder / "model_card.json").read_text())
    typer.echo(f"exported {model_path} -> {folder} (serving_default: {card['signature']['input']})")
