"""Where the phase map loses O1: pure O1 and O3+O1 positions by grain tilt and thickness.

For each ``tune``/``check`` scene of ``scripts/bench_field.py`` (40 x 40, simulated into
``--scenes`` as ``scripts/tune_phase.py`` does and shared with it) the map of ``analyze
--denoise none`` (:func:`tune_phase.label_scene`: identification and every scan-context step)
is compared with the truth, and every pure-O1 and O3+O1 position is binned by its grain's
mistilt [mrad] and thickness [Å] from the scene's truth file. Per bin: how many there are, what
they were called, and the share missed (called none, O3 or unassigned: lost to O1-present F1).

    STEMTF_CACHE=... python scripts/bench_misses.py --scenes /tmp/tune \\
        --conditions mistilt-20mrad all carbon-thick-detector off-zone --doses 3e2 --seeds 0 1

prints each scene's confusion matrix (rows truth, columns call: none, O3, O1, both,
unassigned), then the two tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_phase import label_scene, scene_runs  # noqa: E402

LABELS = ("none", "O3", "O1", "both", "unassigned")
TILT_EDGES_MRAD = (0, 5, 10, 15, 25)
THICKNESS_EDGES_A = (0, 150, 250, 350, 500, 700)


def binned_calls(truth, calls, value, edges, label):
    """Rows (lo, hi, n, counts of each call) for the ``label`` positions binned by ``value``."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        s = (truth == label) & (value >= lo) & (value < hi)
        if s.any():
            rows.append((lo, hi, int(s.sum()), np.bincount(calls[s], minlength=len(LABELS))))
    return rows


def main(argv=None) -> None:
    import h5py

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, required=True, help="folder for the simulated scenes")
    ap.add_argument("--split", choices=["tune", "check"], default="tune")
    ap.add_argument("--conditions", nargs="*", default=None, help="default: all of bench_field")
    ap.add_argument("--doses", nargs="+", type=float, default=[3e2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--analysis-seed", type=int, default=0, help="pass-1 sample seed")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    truth_all, calls_all, tilt_all, thick_all = [], [], [], []
    for name, dose, seed, library, path, raw, truth, q in scene_runs(
        args.scenes, args.split, args.conditions, args.doses, args.seeds
    ):
        calls = np.asarray(label_scene(raw, q, library, args.analysis_seed)).ravel()
        with h5py.File(path.with_name(path.stem + "_truth.h5"), "r") as f:
            tilt_all.append(np.asarray(f["tilt_mrad"], float).ravel())
            thick_all.append(np.asarray(f["thickness_A"], float).ravel())
        cm = np.zeros((len(LABELS), len(LABELS)), int)
        np.add.at(cm, (truth, calls), 1)
        print(f"{name:22s} {dose:7g} {seed}  confusion {cm.tolist()}", flush=True)
        truth_all.append(truth)
        calls_all.append(calls.astype(np.int64))
    truth, calls = np.concatenate(truth_all), np.concatenate(calls_all)
    tilt, thick = np.concatenate(tilt_all), np.concatenate(thick_all)
    for label in (2, 3):
        print(f"truth {LABELS[label]}: {int(np.sum(truth == label))} positions")
        for what, value, edges in (
            ("tilt mrad", tilt, TILT_EDGES_MRAD),
            ("thickness A", thick, THICKNESS_EDGES_A),
        ):
            for lo, hi, n, c in binned_calls(truth, calls, value, edges, label):
                called = "  ".join(f"{LABELS[k]} {c[k]:4d}" for k in range(len(LABELS)))
                missed = (c[0] + c[1] + c[4]) / n
                print(f"  {what} {lo:g}-{hi:g}: n {n:4d}  {called}  missed {missed:.2f}")


if __name__ == "__main__":
    main()
