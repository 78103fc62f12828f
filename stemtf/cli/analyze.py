"""``stemtf analyze``: phase-map a 4D-STEM scan (readers, denoiser, phase identification, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["main"]


def main(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="4D-STEM file: .npy, .h5/.hdf5/.emd, .mib, .dm4, .blo, .hspy, ...",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", file_okay=False)],
    denoise: Annotated[
        str,
        typer.Option(
            help="auto (the bundled saved_models/rdunet, or $STEMTF_MODEL_DIR; no denoising "
            "with a warning if none is installed), none, classical (hot-pixel median and a "
            "Gaussian at the disk scale: the baseline), a SavedModel folder, "
            "http(s)://HOST:8501/v1/models/NAME or grpc://HOST:8500/NAME."
        ),
    ] = "auto",
    denoise_batch: Annotated[
        int,
        typer.Option(
            help="Patterns per denoiser call (CPU: small batches keep the "
            "activations in cache; measure with scripts/bench_end_to_end.py)."
        ),
    ] = 32,
    roi: Annotated[
        tuple[int, int, int, int] | None,
        typer.Option(metavar="Y0 Y1 X0 X1", help="Scan window to analyse (half-open indices)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="synchronous, local (dask LocalCluster) or a dask.distributed address "
            "(tcp://HOST:8786). Default: synchronous for small scans, local otherwise."
        ),
    ] = None,
    dataset_path: Annotated[
        str | None, typer.Option(help="HDF5 dataset path (found automatically if omitted).")
    ] = None,
    scan_shape: Annotated[
        tuple[int, int] | None,
        typer.Option(metavar="RY RX", help="Scan shape of a flat frame stack."),
    ] = None,
    q_sampling_invA: Annotated[
        float | None,
        typer.Option("--q-sampling-invA", help="Detector pixel size in 1/Å per pixel."),
    ] = None,
    energy_keV: Annotated[
        float | None, typer.Option("--energy-keV", help="Beam energy in keV.")
    ] = None,
    semiangle_mrad: Annotated[
        float | None, typer.Option("--semiangle-mrad", help="Convergence semi-angle in mrad.")
    ] = None,
    phases: Annotated[
        str,
        typer.Option(
            help="1-8 material ids or .cif files, comma-separated. Default O3/O1: labels "
            "none, O3, O1, both, unassigned. Other sets: none, each phase, the mixtures "
            "A+B and ambiguities A|B the rings allow, unassigned (label_names in results.h5)."
        ),
    ] = "nmc811-o3,nmc811-o1",
    seed: Annotated[int, typer.Option(help="Seed of the calibration sample and RANSAC.")] = 0,
    chunk: Annotated[
        int | None,
        typer.Option(
            "--chunk",
            help="About N >= 1 patterns per chunk (whole scan rows); default ~64 MB of patterns "
            "or 16 rows (at most 1 GB). Each chunk also analyses 2 rows either side for the "
            "scan-context steps.",
        ),
    ] = None,
    sample: Annotated[
        int,
        typer.Option(help="Patterns in the calibration / ring-radius learning sample (pass 1)."),
    ] = 256,
    detector_binning: Annotated[
        int | None,
        typer.Option(
            "--bin",
            help="Sum the detector in N x N pixel blocks (counts kept) before the analysis. "
            "Default: automatic, only where the Bragg disks are wider than ~8.9 px in radius "
            "(binned to ~5 px: 3 on a 512 px camera at 0.005 1/Å per px with 2 mrad); 1 = never.",
        ),
    ] = None,
    counts_per_electron: Annotated[
        float,
        typer.Option(
            "--counts-per-electron",
            help="Detector values per electron: every pattern is divided by it first (a camera "
            "in linear mode: its conversion gain; a flat-fielded or normalised file: its "
            "scale). The analysis weighs values as electron counts; 1 for counting detectors.",
        ),
    ] = 1.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Map the phases of a 4D-STEM scan: results.h5, phase_map.png, summary.json, report.html.

    Resumable: rerun the same command after an interruption and finished chunks are skipped.
    """
    from stemtf.analysis import AnalyzeConfig, analyze
    from stemtf.io.open import why_not_a_file

    why = why_not_a_file(input_path)
    if why is not None:  # as typer words its own checks, naming the argument
        raise typer.BadParameter(f"file {str(input_path)!r} {why}", param_hint="'INPUT'")
    config = AnalyzeConfig(
        input_path=input_path,
        out_dir=out,
        denoise=denoise,
        denoise_batch=denoise_batch,
        roi=roi,
        scheduler=scheduler,
        dataset_path=dataset_path,
        scan_shape=scan_shape,
        q_sampling_invA=q_sampling_invA,
        energy_eV=None if energy_keV is None else energy_keV * 1e3,
        semiangle_mrad=semiangle_mrad,
        phases=tuple(phases.split(",")),
        seed=seed,
        chunk_dps=chunk,
        sample_dps=sample,
        detector_binning=detector_binning,
        counts_per_electron=counts_per_electron,
    )
    result = analyze(config, progress=progress)
    s = result.summary
    fractions = ", ".join(f"{k} {100 * v:.1f} %" for k, v in s["phase_fractions"].items())
    rate = s["dps_per_s"]
    typer.echo(
        f"{s['patterns']} patterns: {fractions}"
        + (f"; {rate:.0f} DP/s" if rate else "")
        + f"; wrote {result.out_dir}/{{results.h5, phase_map.png, summary.json, report.html}}"
    )
    b = s.get("detector_binning", 1)
    if b > 1:
        qy, qx = s["detector_shape"]
        ay, ax = s["analysis_detector_shape"]
        typer.echo(
            f"detector binned {b}x{b} for the analysis ({qy}x{qx} -> {ay}x{ax} px; wide Bragg "
            "disks, counts kept; --bin 1 turns it off)"
        )
    for w in s.get("warnings", []):  # repeated last, where a progress bar cannot bury them
        typer.echo(f"warning: {w}", err=True)
