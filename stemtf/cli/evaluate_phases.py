"""``stemtf evaluate-phases``: precision, recall and F1 of a phase map against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    results: Annotated[
        Path,
        typer.Option(
            "--results", exists=True, file_okay=False, help="analyze output DIR (results.h5)."
        ),
    ],
    truth: Annotated[
        Path, typer.Option("--truth", exists=True, dir_okay=False, help="Truth FILE.h5.")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the metrics as JSON.")
    ] = None,
) -> None:
    """Print per-class precision, recall, F1 and the macro-F1 of DIR/results.h5 `labels`."""
    import numpy as np

    from stemtf.errors import InputError
    from stemtf.fileio import write_json_atomic
    from stemtf.phase.metrics import format_metrics, phase_metrics
    from stemtf.scenes import read_truth

    res_file = results / "results.h5"
    try:
        import h5py

        with h5py.File(res_file, "r") as f:
            pred = np.asarray(f["labels"])
    except (OSError, KeyError) as e:
        raise InputError(
            f"{str(res_file)!r} cannot be read (need results.h5 with a 'labels' "
            f"dataset, as stemtf analyze writes): {e}"
        ) from None
    labels, _ = read_truth(truth)
    metrics = phase_metrics(pred, labels)
    typer.echo(format_metrics(metrics))
    if json_out is not None:
        write_json_atomic(json_out, {"results": str(res_file), "truth": str(truth), **metrics})
