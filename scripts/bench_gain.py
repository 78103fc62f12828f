#!/usr/bin/env python
"""The phase map when the file does not hold electron counts (a detector gain g != 1).

Every significance test of ``analyze`` (spot finder, matched filter, marker checks, the
self-check's thinning, the denoiser's dose range) takes a pattern's values as electron counts.
A camera that records g digital units per electron (a CCD/CMOS in linear mode, or counts
rescaled by a flat field or a normalisation) breaks that silently. This script maps one field
benchmark scene (``scripts/bench_field.py``: split, condition, dose, seed) as simulated
(electrons) and with every value multiplied by each ``--gains`` factor, and prints O1-present
F1, macro-F1, the label counts and the warnings ``analyze`` gave.

    STEMTF_CACHE=... python scripts/bench_gain.py --split tune --conditions ideal-128 \\
        detector-256 --doses 3e2 2e3 --seeds 0 --gains 1 8 0.125

Writes ``bench_gain.json`` in ``--out`` (default: nothing kept).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(work: Path, name, library, field, dose, seed, gains, denoise) -> list[dict]:
    """One scene mapped at each gain."""
    import bench_field as bf
    import h5py

    from stemtf.analysis import AnalyzeConfig, analyze

    scan, truth_file = bf.simulate_scene(work, name, library, field, dose, seed)
    with h5py.File(truth_file, "r") as f:
        truth, off = np.asarray(f["labels"]), np.asarray(f["off_zone"])
        q = float(f.attrs["q_sampling_invA"])
    electrons = np.load(scan)
    rows = []
    for gain in gains:
        path = work / f"{name}_gain{gain:g}.npy"
        np.save(path, (electrons.astype(np.float32) * np.float32(gain)))
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        summary = analyze(
            AnalyzeConfig(
                input_path=path,
                out_dir=out,
                denoise=denoise,
                seed=seed,
                q_sampling_invA=q,
                energy_eV=library.energy_eV,
                semiangle_mrad=library.semiangle_mrad,
            ),
            progress=False,
        ).summary
        with h5py.File(out / "results.h5", "r") as f:
            labels = np.asarray(f["labels"])
        sc = bf.score(labels, truth, off)
        rows.append(
            {
                "condition": name,
                "dose_e": dose,
                "seed": seed,
                "gain": gain,
                "denoise": denoise,
                "decision": (summary.get("denoiser") or {}).get("decision"),
                "o1_present_f1": sc["o1_present_f1"],
                "macro_f1": sc["macro_f1"],
                "labels": np.bincount(labels.ravel(), minlength=5).tolist(),
                "truth": np.bincount(truth.ravel(), minlength=5).tolist(),
                "warnings": summary.get("warnings", []),
            }
        )
        path.unlink()
    scan.unlink()
    truth_file.unlink()
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="tune", choices=("tune", "check", "report"))
    ap.add_argument("--conditions", nargs="+", default=["ideal-128", "detector-256"])
    ap.add_argument("--doses", type=float, nargs="+", default=[3e2, 2e3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--gains", type=float, nargs="+", default=[1.0, 8.0, 0.125])
    ap.add_argument("--denoise", default="none")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if min(args.gains) <= 0:
        sys.exit(f"error: --gains {args.gains} is not allowed: factors > 0")
    logging.basicConfig(level=logging.ERROR)
    import bench_field as bf

    rows = []
    for scene in bf.iter_scenes(args.split, args.conditions, args.doses, args.seeds):
        for row in measure(*scene, args.gains, args.denoise):
            rows.append(row)
            print(
                f"{row['condition']} {row['dose_e']:g} seed {row['seed']} gain {row['gain']:g}: "
                f"O1-present F1 {row['o1_present_f1']:.3f} macro-F1 {row['macro_f1']:.3f} "
                f"labels {row['labels']} (truth {row['truth']}), {len(row['warnings'])} warnings",
                flush=True,
            )
    if args.out is not None:
        from stemtf.fileio import write_json_atomic

        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "bench_gain.json", {"split": args.split, "runs": rows})


if __name__ == "__main__":
    main()
