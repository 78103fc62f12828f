"""``stemtf simulate-scan``: a synthetic NMC811 4D-STEM scan with ground-truth phase labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    out: Annotated[Path, typer.Option("--out", help="Scan FILE (.h5/.emd with calibration, or .npy).")],
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Truth FILE.h5 (default <out stem>_truth.h5).")
    ] = None,
    shape: Annotated[tuple[int, int], typer.Option("--shape", help="Scan size RY RX.")] = (64, 64),
    dose_e: Annotated[float, typer.Option("--dose-e", help="Electrons per pattern, 1 to 1e9.")] = 1e4,
    detector_px: Annotated[int, typer.Option("--detector-px", help="Detector size H = W [px].")] = 128,
    q_sampling_invA: Annotated[
        float, typer.Option("--q-sampling-invA", help="Detector pixel size [1/A].")
    ] = 0.0125,
    energy_keV: Annotated[float, typer.Option("--energy-keV", help="Beam energy [keV].")] = 200.0,
    semiangle_mrad: Annotated[
        float, typer.Option("--semiangle-mrad", help="Convergence semi-angle [mrad].")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of layout and noise.")] = 0,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="Apply the detector noise model.")] = True,
    grains: Annotated[int, typer.Option("--grains", help="Grains (in-plane rotations).")] = 5,
    domains: Annotated[int, typer.Option("--domains", help="O1 domains.")] = 3,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Clean-pattern library cache (default ~/.cache/stemtf).")
    ] = None,
) -> None:
    """Simulate a scan of an NMC811 particle: O3 matrix, O1 domains, both-phase band, vacuum.

    Clean patterns come from abTEM multislice (a small library per phase, rotation and
    thickness, simulated once and cached); detector noise from the stemtf noise model at
    --dose-e. Writes the scan and a truth file with `labels` (0 none, 1 O3, 2 O1, 3 both).
    """
    import logging

    from stemtf.errors import InputError, check_range

    check_range("--energy-keV", energy_keV, 20.0, 1000.0, "keV")
    check_range("--dose-e", dose_e, 1.0, 1e9, "e-/DP")
    if detector_px < 32:
        raise InputError(f"--detector-px={detector_px} is not allowed: it must be >= 32")
    if grains < 1 or domains < 0:
        raise InputError(f"--grains={grains} / --domains={domains}: need >= 1 grain and >= 0 domains")
    from stemtf.scenes import simulate_scan

    scan, truth_file = simulate_scan(
        out, truth=truth, shape=shape, dose_e=dose_e, detector_px=detector_px,
        q_sampling_invA=q_sampling_invA, energy_eV=energy_keV * 1e3,
        semiangle_mrad=semiangle_mrad, seed=seed, noise=noise, cache_dir=cache_dir,
        n_grains=grains, n_domains=domains,
    )
    logging.getLogger("stemtf.scenes").info("scan %s, truth %s", scan, truth_file)
    typer.echo(f"{scan}\n{truth_file}")
