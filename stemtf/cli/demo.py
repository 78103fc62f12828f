"""``stemtf demo``: the whole chain on a small synthetic NMC811 scan with ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["main"]


def main(
    out: Annotated[
        Path, typer.Option("--out", "-o", file_okay=False, help="Output folder.")
    ] = Path("stemtf-demo"),
    dose_e: Annotated[float, typer.Option("--dose-e", help="Electrons per pattern.")] = 1e4,
    shape: Annotated[
        tuple[int, int], typer.Option("--shape", metavar="RY RX", help="Scan size.")
    ] = (24, 24),
    seed: Annotated[int, typer.Option(help="Seed of the scene, noise and analysis.")] = 0,
    denoise: Annotated[
        str,
        typer.Option(
            help="auto (the bundled model; none, with a note, if not installed), none, a "
            "SavedModel folder or a TF Serving URL."
        ),
    ] = "auto",
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Clean-pattern library cache (default ~/.cache/stemtf)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = False,
) -> None:
    """Simulate a small NMC811 scan with ground truth, phase-map it and score the map.

    The bundled denoiser is used; the report is written. About a minute on 2 CPU cores.
    """
    from stemtf.demo import run_demo

    res = run_demo(
        out,
        dose_e=dose_e,
        shape=shape,
        seed=seed,
        denoise=denoise,
        cache_dir=cache_dir,
        progress=progress,
    )
    d = res.denoiser
    used = d.get("path") or d.get("model") or denoise
    typer.echo(f"denoiser: {used}" + (f"  (NOTE: {d['note']})" if d.get("note") else ""))
    per_class = "  ".join(
        f"{k} {c['f1']:.3f}"
        for k, c in res.metrics["classes"].items()
        if c["support"] or c["precision"]
    )
    typer.echo(f"F1 per class: {per_class}")
    typer.echo(
        f"macro-F1 {res.macro_f1:.4f} ({res.metrics['n']} patterns, {res.timings_s['total']:.0f} s)"
    )
    typer.echo(f"report: {res.report_html.resolve()}")
