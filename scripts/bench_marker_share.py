#!/usr/bin/env python
"""The marker share of O3, O1 and O3+O1 patterns, measured where ``analyze`` measures it.

For each scene of the field benchmark (``scripts/bench_field.py``: split, condition, dose,
seed) this simulates the scan, runs ``analyze`` (``--denoise none``, one chunk, synchronous) and
records the photometry :func:`stemtf.phase.marker_share.check_marker_share` takes for every
pattern called O1 or both: the marker's share of the lattice's counts (six marker disks over the
central disk plus the {110} hexagon, each pattern's own counts, not pooled). Printed per
condition and dose: the shares' percentiles (1, 5, 50, 95, 99) by truth class (O3, O1, both)
and how many calls the step returned to O3, by truth class. This is the measurement behind
``MarkerShareParams.min_share`` (2 %): thick O3 stays under it, O1-bearing columns above.

    STEMTF_CACHE=... python scripts/bench_marker_share.py --split tune \\
        --conditions thick-128 thick-256 all mistilt-20mrad --doses 2e3 1e4 --seeds 0 1

Writes ``bench_marker_share.json`` in ``--out`` (default: a temporary folder, nothing kept).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

TRUTH = {1: "O3", 2: "O1", 3: "both"}
PERCENTILES = (1, 5, 50, 95, 99)


def measure(work: Path, name, library, field, dose, seed) -> dict:
    """Simulate and analyze one scene; the called patterns' own shares by truth class."""
    import bench_field as bf
    import h5py

    import stemtf.phase.marker_share as ms
    from stemtf.analysis import AnalyzeConfig, analyze

    scan, truth_file = bf.simulate_scene(work, name, library, field, dose, seed)
    with h5py.File(truth_file, "r") as f:
        truth = np.asarray(f["labels"]).ravel()
        q_given = float(f.attrs["q_sampling_invA"])
    seen: dict = {}
    photometry, check = ms.marker_share, ms.check_marker_share

    def recording_photometry(*args, **kwargs):
        seen["ph"] = photometry(*args, **kwargs)
        return seen["ph"]

    def recording_check(grid, labels, *args, **kwargs):
        seen["labels"] = np.asarray(labels).copy()
        out = check(grid, labels, *args, **kwargs)
        seen["changed"] = np.asarray(out[2]).copy()
        return out

    ms.marker_share, ms.check_marker_share = recording_photometry, recording_check
    out = work / f"out_{name}"
    shutil.rmtree(out, ignore_errors=True)
    try:
        analyze(
            AnalyzeConfig(
                input_path=scan,
                out_dir=out,
                denoise="none",
                seed=seed,
                q_sampling_invA=q_given,
                energy_eV=library.energy_eV,
                semiangle_mrad=library.semiangle_mrad,
                scheduler="synchronous",
                chunk_dps=truth.size,
            ),
            progress=False,
        )
    finally:
        ms.marker_share, ms.check_marker_share = photometry, check
    row: dict = {"condition": name, "dose_e": dose, "seed": seed, "classes": {}}
    if "ph" not in seen:  # no O1/both call reached the step
        return row
    ph = seen["ph"]
    called = np.isin(seen["labels"], (2, 3)) & np.isfinite(ph.marker)
    denominator = ph.beam + np.maximum(ph.lattice, 0.0)
    share = ph.marker / np.where(denominator > 0, denominator, np.nan)
    for code, cls in TRUTH.items():
        sel = called & (truth == code) & np.isfinite(share)
        row["classes"][cls] = {
            "called": int(sel.sum()),
            "share_percentiles": np.percentile(share[sel], PERCENTILES).round(4).tolist()
            if sel.any()
            else None,
            "returned_to_o3": int((seen["changed"] & (truth == code)).sum()),
        }
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="tune", choices=("tune", "check", "report"))
    ap.add_argument("--conditions", nargs="+", default=["thick-128", "thick-256"])
    ap.add_argument("--doses", type=float, nargs="+", default=[2e3, 1e4])
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    import bench_field as bf

    rows = []
    print("condition dose seed | truth: called, share percentiles 1/5/50/95/99, returned to O3")
    for scene in bf.iter_scenes(args.split, args.conditions, args.doses, args.seeds):
        row = measure(*scene)
        rows.append(row)
        parts = [
            f"{cls} {c['called']} {c['share_percentiles']} -> O3 {c['returned_to_o3']}"
            for cls, c in row["classes"].items()
            if c["called"]
        ]
        print(f"{row['condition']} {row['dose_e']:g} {row['seed']} | " + " | ".join(parts))
    if args.out is not None:
        from stemtf.fileio import write_json_atomic

        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            args.out / "bench_marker_share.json", {"split": args.split, "runs": rows}, indent=1
        )


if __name__ == "__main__":
    main()
