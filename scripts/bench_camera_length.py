#!/usr/bin/env python
"""The camera-length correction of pass 1, scene by scene: what the profile says and confirms.

For each scene of the field benchmark (``scripts/bench_field.py``: split, condition, dose,
seed) this simulates the scan, takes ``analyze``'s pass-1 sample (256 seeded positions, raw
counts), calibrates as ``analyze`` does and records:

* the given pixel size's error against the true one (the scene's calibration error);
* the mean radial profile's scale and significance
  (:func:`stemtf.phase.camera.camera_scale_from_profile`);
* the hexagons the sample's identification finds at the given pixel size and at the profile's;
* whether :func:`stemtf.phase.learn.correct_camera_length` changed the pixel size, and the
  error left after it (where the hexagons teach the camera length, ``radii learned``, the
  profile step keeps the pixel size and pass 1 learns the ring radii from them instead);
* the sample's counts per pattern (isolated hot pixels left out), which decide whether a
  correction needs a hexagon to confirm it (``stemtf.phase.learn.CONFIRM_MIN_COUNTS``).

    STEMTF_CACHE=... python scripts/bench_camera_length.py --split tune \\
        --conditions ellipse3-cal4 calibration-8pc all --doses 1e2 3e2 --seeds 0 1

``--file PATH`` (with ``--energy-keV``, ``--semiangle-mrad`` and ``--q-sampling-invA`` where
the file lacks them) measures a recorded scan instead (no truth). Writes
``bench_camera_length.json`` in ``--out`` (default: nothing kept).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SAMPLE_DPS = 256  # analyze's default sample


def measure_scan(path: Path, seed: int, q=None, energy_eV=None, semiangle_mrad=None) -> dict:
    """Pass 1's camera-length decision on ``path`` (raw counts), with what it rests on."""
    from stemtf.analysis import AnalyzeConfig
    from stemtf.analysis.sample import read_sample, sample_positions
    from stemtf.analysis.worker import chunk_seed
    from stemtf.denoise.frame import counts_per_pattern
    from stemtf.io import check_roi, open_scan
    from stemtf.phase import PhaseModel, calibrate
    from stemtf.phase.camera import camera_scale_from_profile
    from stemtf.phase.identify import identify_phases
    from stemtf.phase.learn import correct_camera_length, refine_ellipticity

    scan = open_scan(path)
    md = scan.metadata.with_overrides(
        q_sampling_invA=q, energy_eV=energy_eV, semiangle_mrad=semiangle_mrad
    )
    roi = check_roi(None, scan.shape, scan.path)
    sample = read_sample(scan, *sample_positions(roi, SAMPLE_DPS, seed)).astype(np.float32)
    calibration = calibrate(
        sample,
        q_sampling_invA=md.q_sampling_invA,
        energy_eV=md.energy_eV,
        semiangle_mrad=md.semiangle_mrad,
    )
    model = PhaseModel.from_materials(list(AnalyzeConfig.phases), calibration)
    s = chunk_seed(seed, 2**31)  # pass 1's seed
    calibration = refine_ellipticity(sample, calibration, model, seed=s)
    first = identify_phases(sample, calibration, model, seed=s)
    shared = [r.radius_invA for r in model.rings if not r.marker and r.phase == 0][0]
    found = camera_scale_from_profile(sample, first.centers_yx, calibration, shared)
    row = {
        "counts_per_pattern": round(float(counts_per_pattern(sample).mean()), 1),
        "hexagons_given": int(len(first.hexagons)),
        "radii_learned": bool(model.refine(first.hexagons, quiet=True).radii_learned),
        "profile_scale": None if found is None else round(float(found.scale), 4),
        "profile_z": None if found is None else round(float(found.z), 1),
        "profile_significant": bool(found is not None and found.significant()),
    }
    if found is not None and found.scale > 0:
        at = replace(calibration, q_sampling_invA=calibration.q_sampling_invA / found.scale)
        row["hexagons_at_profile_scale"] = int(
            len(identify_phases(sample, at, model, seed=s).hexagons)
        )
    corrected, _ = correct_camera_length(sample, calibration, model, seed=s, identified=first)
    row["q_given"] = calibration.q_sampling_invA
    row["q_used"] = corrected.q_sampling_invA
    row["corrected"] = corrected.q_sampling_invA != calibration.q_sampling_invA
    return row


def measure(work: Path, name, library, field, dose, seed) -> dict:
    """Simulate one scene and measure it; errors against the scene's true pixel size."""
    import bench_field as bf
    import h5py

    scan, truth_file = bf.simulate_scene(work, name, library, field, dose, seed)
    with h5py.File(truth_file, "r") as f:
        q_given = float(f.attrs["q_sampling_invA"])
        q_true = float(f.attrs["q_sampling_true_invA"])
    row = measure_scan(scan, seed, q_given, library.energy_eV, library.semiangle_mrad)
    scan.unlink()
    truth_file.unlink()
    row.update(
        condition=name,
        dose_e=dose,
        seed=seed,
        given_error_pc=round(100 * (q_given / q_true - 1), 2),
        used_error_pc=round(100 * (row["q_used"] / q_true - 1), 2),
    )
    return row


def _line(row: dict) -> str:
    what = (
        f"{row['condition']} {row['dose_e']:g} {row['seed']}"
        if "condition" in row
        else str(row.get("file"))
    )
    err = (
        f" | q error given {row['given_error_pc']:+.2f} % -> after the profile step "
        f"{row['used_error_pc']:+.2f} %"
        if "given_error_pc" in row
        else f" | q given {row['q_given']:.6g} -> after the profile step {row['q_used']:.6g}"
    )
    return (
        f"{what} | {row['counts_per_pattern']:.4g} counts/DP | hexagons given "
        f"{row['hexagons_given']} (radii learned: {row['radii_learned']}) | profile scale "
        f"{row['profile_scale']} z {row['profile_z']} | hexagons at profile scale "
        f"{row.get('hexagons_at_profile_scale', '-')} | corrected {row['corrected']}{err}"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="tune", choices=("tune", "check", "report"))
    ap.add_argument("--conditions", nargs="+", default=["ellipse3-cal4", "calibration-8pc", "all"])
    ap.add_argument("--doses", type=float, nargs="+", default=[1e2, 3e2])
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--file", type=Path, default=None, help="a recorded scan instead of scenes")
    ap.add_argument("--energy-keV", type=float, default=None)
    ap.add_argument("--semiangle-mrad", type=float, default=None)
    ap.add_argument("--q-sampling-invA", type=float, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows = []
    if args.file is not None:
        energy = None if args.energy_keV is None else 1e3 * args.energy_keV
        row = measure_scan(args.file, 0, args.q_sampling_invA, energy, args.semiangle_mrad)
        row["file"] = str(args.file)
        rows.append(row)
        print(_line(row), flush=True)
    else:
        import bench_field as bf

        for scene in bf.iter_scenes(args.split, args.conditions, args.doses, args.seeds):
            rows.append(measure(*scene))
            print(_line(rows[-1]), flush=True)
    if args.out is not None:
        from stemtf.fileio import write_json_atomic

        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            args.out / "bench_camera_length.json", {"split": args.split, "runs": rows}, indent=1
        )


if __name__ == "__main__":
    main()
