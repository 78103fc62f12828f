"""``stemtf simulate-scan``: a synthetic NMC811 4D-STEM scan with ground-truth phase labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    out: Annotated[
        Path, typer.Option("--out", help="Scan FILE (.h5/.emd with calibration, or .npy).")
    ],
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Truth FILE.h5 (default <out stem>_truth.h5).")
    ] = None,
    shape: Annotated[tuple[int, int], typer.Option("--shape", help="Scan size RY RX.")] = (64, 64),
    dose_e: Annotated[
        float, typer.Option("--dose-e", help="Electrons per pattern, 1 to 1e9.")
    ] = 1e4,
    detector_px: Annotated[
        int, typer.Option("--detector-px", help="Detector size H = W [px].")
    ] = 128,
    q_sampling_invA: Annotated[
        float, typer.Option("--q-sampling-invA", help="Detector pixel size [1/A].")
    ] = 0.0125,
    energy_keV: Annotated[float, typer.Option("--energy-keV", help="Beam energy [keV].")] = 200.0,
    semiangle_mrad: Annotated[
        float, typer.Option("--semiangle-mrad", help="Convergence semi-angle [mrad].")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of layout and noise.")] = 0,
    noise: Annotated[
        bool, typer.Option("--noise/--no-noise", help="Apply the detector noise model.")
    ] = True,
    grains: Annotated[int, typer.Option("--grains", help="Grains (in-plane rotations).")] = 5,
    domains: Annotated[int, typer.Option("--domains", help="O1 domains.")] = 3,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Clean-pattern library cache (default ~/.cache/stemtf)."),
    ] = None,
    thickness_range_A: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--thickness-range-A",
            help="Library thickness series LO HI [A] (e.g. 30 200; "
            "default 60-340 A in 5 steps); the thickness map grows into the particle.",
        ),
    ] = None,
    thickness_steps: Annotated[
        int, typer.Option("--thickness-steps", help="Thicknesses in --thickness-range-A.")
    ] = 9,
    library_seed: Annotated[
        int, typer.Option("--library-seed", help="Simulation seed of the library.")
    ] = 0,
    max_tilt_mrad: Annotated[
        float,
        typer.Option(
            "--max-tilt-mrad",
            help="Per-grain mistilt up to this [mrad] (0-50; abTEM "
            "beam tilt, 3 sizes x 2 azimuths in the library).",
        ),
    ] = 0.0,
    offzone_grains: Annotated[
        int,
        typer.Option("--offzone-grains", help="O3 grains along [100]/[1-10] (truth 4 unassigned)."),
    ] = 0,
    both_o1_fraction: Annotated[
        tuple[float, float],
        typer.Option("--both-o1-fraction", help="O1 share range LO HI of O3+O1 columns."),
    ] = (0.4, 0.6),
    descan_px: Annotated[
        float, typer.Option("--descan-px", help="Beam-centre drift across the scan [px] (0-64).")
    ] = 2.0,
    descan_jitter_px: Annotated[
        float,
        typer.Option("--descan-jitter-px", help="RMS beam-centre jitter per position [px] (0-5)."),
    ] = 0.0,
    ellipticity: Annotated[
        float | None,
        typer.Option(
            "--ellipticity", help="Fixed ellipticity a/b-1 (0-0.1; default drawn 0.5-2 %)."
        ),
    ] = None,
    calibration_error: Annotated[
        float | None,
        typer.Option(
            "--calibration-error",
            help="Relative error of the stored q-sampling "
            "(-0.2 to 0.2); the true value goes to the truth file.",
        ),
    ] = None,
    carbon_fraction: Annotated[
        float,
        typer.Option(
            "--carbon-fraction",
            help="Share of counts in amorphous-carbon rings "
            "(0.47, 0.85 1/A), vacuum included (0-0.5).",
        ),
    ] = 0.0,
    halo_per_100A: Annotated[
        float,
        typer.Option(
            "--halo-per-100A", help="Background share added per 100 A of thickness (0-0.5)."
        ),
    ] = 0.0,
    gain_sigma: Annotated[
        float | None, typer.Option("--gain-sigma", help="Fixed detector gain map RMS (0-0.3).")
    ] = None,
    dead_rows: Annotated[int, typer.Option("--dead-rows", help="Dead detector rows (0-16).")] = 0,
    dead_cols: Annotated[
        int, typer.Option("--dead-cols", help="Dead detector columns (0-16).")
    ] = 0,
    hot_fraction: Annotated[
        float | None, typer.Option("--hot-fraction", help="Fixed hot-pixel share (0-0.01).")
    ] = None,
    uint16: Annotated[
        bool, typer.Option("--uint16/--float32", help="Integer counts (uint16).")
    ] = False,
    family: Annotated[
        bool,
        typer.Option(
            "--family/--o3-o1",
            help="Place the NMC811 degradation family (nmc811-o3, -o1, -h3, -spinel, "
            "-rocksalt): a rock-salt shell at the surface, spinel and H3 grains, O1 and O3+O1 "
            "in the O3 matrix; cubic phases along [111], {2-20} along O3's {110}. Truth "
            "labels: none, O3, O1, H3, spinel, rock salt, O3+O1, unassigned.",
        ),
    ] = False,
    shell_px: Annotated[
        tuple[int, int],
        typer.Option("--shell-px", help="With --family: rock-salt shell thickness LO HI [px]."),
    ] = (1, 3),
    spinel_grains: Annotated[
        int, typer.Option("--spinel-grains", help="With --family: spinel grains (0-8).")
    ] = 1,
    h3_grains: Annotated[
        int, typer.Option("--h3-grains", help="With --family: H3 grains (0-8).")
    ] = 1,
) -> None:
    """Simulate a scan of an NMC811 particle: O3 matrix, O1 domains, both-phase band, vacuum.

    Clean patterns come from abTEM multislice (a small library per phase, rotation and
    thickness, simulated once and cached); detector noise from the stemtf noise model at
    --dose-e. Writes the scan and a truth file with `labels` (0 none, 1 O3, 2 O1, 3 both,
    4 unassigned = O3 off the [001] zone). The field-condition options (thickness range,
    mistilt, off-zone grains, descan, ellipticity, calibration error, carbon support, halo,
    detector defects, uint16) default to the original scenes. --family adds H3, spinel and
    rock salt (labels then index the truth's `label_names`: none, O3, O1, H3, spinel,
    rock salt, O3+O1, unassigned); the field options combine with it.
    """
    import logging

    import numpy as np

    from stemtf.errors import InputError, check_range

    check_range("--energy-keV", energy_keV, 20.0, 1000.0, "keV")
    check_range("--dose-e", dose_e, 1.0, 1e9, "e-/DP")
    if detector_px < 32:
        raise InputError(f"--detector-px={detector_px} is not allowed: it must be >= 32")
    if grains < 1 or domains < 0:
        raise InputError(
            f"--grains={grains} / --domains={domains}: need >= 1 grain and >= 0 domains"
        )
    from stemtf.scenes import FieldConditions, simulate_scan
    from stemtf.scenes.family import FamilyScene
    from stemtf.scenes.library import DEFAULT_THICKNESSES_A

    thicknesses = DEFAULT_THICKNESSES_A
    if thickness_range_A is not None:
        lo, hi = thickness_range_A
        if not 0 < lo <= hi <= 2000 or not 1 <= thickness_steps <= 64:
            raise InputError(
                f"--thickness-range-A {lo} {hi} / --thickness-steps {thickness_steps}:"
                " need 0 < LO <= HI <= 2000 A and 1 to 64 steps"
            )
        thicknesses = tuple(
            float(t) for t in np.unique(np.round(np.linspace(lo, hi, thickness_steps), 3))
        )
    field = FieldConditions(
        descan_px=descan_px,
        descan_jitter_px=descan_jitter_px,
        ellipticity=ellipticity,
        calibration_error=calibration_error,
        carbon_fraction=carbon_fraction,
        halo_per_100A=halo_per_100A,
        gain_sigma=gain_sigma,
        dead_rows=dead_rows,
        dead_cols=dead_cols,
        hot_fraction=hot_fraction,
        integer_counts=uint16,
        both_o1_fraction=both_o1_fraction,
        max_tilt_mrad=max_tilt_mrad,
        offzone_grains=offzone_grains,
    )
    scan, truth_file = simulate_scan(
        out,
        truth=truth,
        shape=shape,
        dose_e=dose_e,
        detector_px=detector_px,
        q_sampling_invA=q_sampling_invA,
        energy_eV=energy_keV * 1e3,
        semiangle_mrad=semiangle_mrad,
        seed=seed,
        noise=noise,
        cache_dir=cache_dir,
        n_grains=grains,
        n_domains=domains,
        field=field,
        thicknesses_A=thicknesses,
        library_seed=library_seed,
        family=(
            FamilyScene(shell_px=shell_px, spinel_grains=spinel_grains, h3_grains=h3_grains)
            if family
            else None
        ),
    )
    logging.getLogger("stemtf.scenes").info("scan %s, truth %s", scan, truth_file)
    typer.echo(f"{scan}\n{truth_file}")
