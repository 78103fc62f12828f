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

``--evidence`` also measures what the raw counts hold at each position: the marker hexagon's
significance in the tent-weighted 5 x 5 scan neighbourhood (the matched filter's
:func:`stemtf.phase.matched.hexagon_scan` sums) at the rotation the shared ring's own 5 x 5
sums fix (+-0.5 deg), its six disks summed alike (``uniform``) or each weighted by the excess of
the two {110} disks beside it (``tilt-weighted``: a tilted grain's Laue circle lights the same
side of both rings, so the {110} disks say which marker disks carry counts). Percentiles 10 /
50 / 90 / 99 for the pure-O1 and O3+O1 positions found and missed, below and above 10 mrad,
and for pure O3 (what a threshold must stay above).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_phase import analyse_scene, label_scene, scene_runs  # noqa: E402

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


def marker_evidence(raw: np.ndarray, analysis):
    """(N,) uniform and tilt-weighted marker significance of a (Ry, Rx, H, W) scan (above).

    ``analysis``: the scan's :func:`tune_phase.analyse_scene`.
    """
    from stemtf.phase import matched
    from stemtf.phase.center import scan_smoothed_centers

    ry, rx = raw.shape[:2]
    n = ry * rx
    dps = raw.reshape((n,) + raw.shape[2:])
    res, cal, model = analysis
    q = cal.q_sampling_invA
    marker, shared = matched._marker_and_shared_rings(model)
    cen = scan_smoothed_centers(raw, np.asarray(res.centers_yx, float), cal.disk_radius_px)
    sums = {}
    r_first = model.shared_radius_invA or shared.radius_invA
    for name, radius in (("marker", marker.radius_invA), ("first", r_first)):
        _, _, v_ex, v_var = matched.hexagon_scan(dps, cen, radius / q, cal, return_vertices=True)
        ex = matched._tent_pooled(v_ex.reshape(n, -1), (ry, rx)).reshape(v_ex.shape)
        var = matched._tent_pooled(v_var.reshape(n, -1), (ry, rx), 2).reshape(v_ex.shape)
        sums[name] = ex, var
    rows = np.arange(n)
    f_ex, f_var = sums["first"]
    rf = np.argmax(f_ex.sum(axis=1) / np.sqrt(np.maximum(f_var.sum(axis=1), 1.0)), axis=1)
    offset = (shared.rotation_deg - marker.rotation_deg) / matched.BIN_DEG
    at = np.rint(rf - offset).astype(np.int64)
    # marker vertex k lies 30 deg from {110} vertices k and k - 1 or k + 1: which one, by the
    # sign of the offset and whether the marker's rotation wrapped around the 60 deg range
    f = f_ex[rows, :, rf]
    n_rot = f_ex.shape[2]
    nxt = ((offset > 0) & (at < 0)) | ((offset < 0) & (at < n_rot))
    beside = np.where(nxt[:, None], np.roll(f, -1, axis=1), np.roll(f, 1, axis=1))
    weight = np.maximum(f + beside, 0.0) + 1e-9
    weight /= weight.max(axis=1, keepdims=True)
    m_ex, m_var = sums["marker"]
    uniform, weighted = [], []
    for d in (-1, 0, 1):
        c = (at + d) % m_ex.shape[2]
        e, v = m_ex[rows, :, c], np.maximum(m_var[rows, :, c], 1.0)
        uniform.append(e.sum(axis=1) / np.sqrt(v.sum(axis=1)))
        weighted.append((weight * e).sum(axis=1) / np.sqrt((weight**2 * v).sum(axis=1)))
    return np.max(uniform, axis=0), np.max(weighted, axis=0)


def print_evidence(truth, calls, tilt, uniform, weighted) -> None:
    """Percentiles of both significances per truth class, found / missed and tilt."""

    def pct(x):
        return " ".join(f"{v:5.1f}" for v in np.percentile(x, (10, 50, 90, 99)))

    print("marker significance, 5 x 5 at the lattice's rotation: uniform | tilt-weighted")
    missed = np.isin(calls, (0, 1, 4))
    groups = [("O3", truth == 1, None)]
    for label in (2, 3):
        for lo, hi in ((0, 10), (10, 1e9)):
            at = (truth == label) & (tilt >= lo) & (tilt < hi)
            tilt_bin = "< 10 mrad" if lo == 0 else ">= 10 mrad"
            groups += [(f"{LABELS[label]} {tilt_bin}", at, False)]
            groups += [(f"{LABELS[label]} {tilt_bin}", at, True)]
    for name, sel, miss in groups:
        if miss is not None:
            sel = sel & (missed == miss)
        if sel.sum() < 5:
            continue
        tag = "" if miss is None else ("missed" if miss else "found")
        print(
            f"  {name:18s} {tag:6s} n {int(sel.sum()):5d}  {pct(uniform[sel])} | "
            f"{pct(weighted[sel])}"
        )


def main(argv=None) -> None:
    import h5py

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, required=True, help="folder for the simulated scenes")
    ap.add_argument("--split", choices=["tune", "check"], default="tune")
    ap.add_argument("--conditions", nargs="*", default=None, help="default: all of bench_field")
    ap.add_argument("--doses", nargs="+", type=float, default=[3e2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--analysis-seed", type=int, default=0, help="pass-1 sample seed")
    ap.add_argument("--evidence", action="store_true", help="marker evidence (module doc)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    truth_all, calls_all, tilt_all, thick_all, evidence = [], [], [], [], []
    for name, dose, seed, library, path, raw, truth, q in scene_runs(
        args.scenes, args.split, args.conditions, args.doses, args.seeds
    ):
        analysis = analyse_scene(raw, q, library, args.analysis_seed)
        calls = np.asarray(label_scene(raw, q, library, args.analysis_seed, analysis=analysis))
        calls = calls.ravel()
        with h5py.File(path.with_name(path.stem + "_truth.h5"), "r") as f:
            tilt_all.append(np.asarray(f["tilt_mrad"], float).ravel())
            thick_all.append(np.asarray(f["thickness_A"], float).ravel())
        cm = np.zeros((len(LABELS), len(LABELS)), int)
        np.add.at(cm, (truth, calls), 1)
        print(f"{name:22s} {dose:7g} {seed}  confusion {cm.tolist()}", flush=True)
        truth_all.append(truth)
        calls_all.append(calls.astype(np.int64))
        if args.evidence:
            evidence.append(marker_evidence(raw, analysis))
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

    if evidence:
        uniform, weighted = (np.concatenate(e) for e in zip(*evidence, strict=True))
        print_evidence(truth, calls, tilt, uniform, weighted)


if __name__ == "__main__":
    main()
