#!/usr/bin/env python
"""Speed of phase identification alone (no reading, no denoising) on 128 x 128 patterns.

Patterns: a synthetic NMC811 scene at 1e4 e-/DP (abTEM library + noise model), calibrated and
refined as ``stemtf analyze`` does (not timed). Timed, best of ``--repeats``:

* ``batch``: :func:`stemtf.phase.identify_phases` on the whole set (OpenCV on all threads);
* ``batch_threads``: the same with ``threads=--workers`` (sub-batches of 128 patterns on
  that many threads, OpenCV one thread each; numpy and OpenCV release the GIL in the heavy
  calls);
* ``batch_processes``: the set split over ``--workers`` forked processes (one core each, the
  way a dask/multiprocessing scheduler runs chunks; pool start-up included);
* ``per_dp_loop``: the obvious loop, one pattern at a time with per-pattern RANSAC
  (``method="ransac"``), on a subset;
* ``five_phase``: the same patterns with the five NMC811 family phases (``--phases
  nmc811-o3,nmc811-o1,nmc811-h3,nmc811-spinel,nmc811-rocksalt``, refined on the set), one
  thread, CPU time, against the two-phase model's (``five_vs_two_phase_speed``).

    python scripts/bench_phase.py [--shape 64 64] [--workers 2] [--out runs/bench_phase.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phase_accuracy import analyse, render  # noqa: E402

from stemtf.fileio import write_json_atomic  # noqa: E402
from stemtf.phase import identify_phases  # noqa: E402
from stemtf.phase.metrics import phase_metrics  # noqa: E402
from stemtf.scenes import build_library  # noqa: E402

_SHARED: dict = {}
FIVE = ["nmc811-o3", "nmc811-o1", "nmc811-h3", "nmc811-spinel", "nmc811-rocksalt"]


def _work(ix):
    """Worker of the process pool: label the patterns ``ix`` of the forked parent's data."""
    cv2.setNumThreads(1)
    d = _SHARED
    return identify_phases(d["dps"][ix], d["cal"], d["model"]).labels


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", type=int, nargs=2, default=(64, 64))
    ap.add_argument("--dose-e", type=float, default=1e4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--loop-dps", type=int, default=200)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    lib = build_library(cache_dir=args.cache_dir)
    dps, truth = render(lib, tuple(args.shape), args.dose_e, 0)
    _, cal, model, _ = analyse(dps, lib, 0)
    n = len(dps)
    identify_phases(dps[:256], cal, model)  # warm-up

    cv2.setNumThreads(os.cpu_count() or 1)
    t_batch, res = best_of(lambda: identify_phases(dps, cal, model), args.repeats)

    # CPU time of the single-threaded batch (less sensitive to other jobs on a shared machine
    # than wall time): patterns per CPU-second, i.e. per core
    cv2.setNumThreads(1)
    cpu = []
    for _ in range(args.repeats):
        c0 = time.process_time()
        identify_phases(dps, cal, model)
        cpu.append(time.process_time() - c0)
    t_cpu = min(cpu)
    t_thr, res_thr = best_of(
        lambda: identify_phases(dps, cal, model, threads=args.workers), args.repeats
    )
    labels_thr = res_thr.labels
    cv2.setNumThreads(os.cpu_count() or 1)

    import multiprocessing as mp

    _SHARED.update(dps=dps, cal=cal, model=model)

    def forked():
        parts = np.array_split(np.arange(n), args.workers)
        with mp.get_context("fork").Pool(args.workers) as pool:
            return np.concatenate(pool.map(_work, parts))

    t_proc, labels_proc = best_of(forked, args.repeats)

    m = min(args.loop_dps, n)
    sub = dps[np.linspace(0, n - 1, m).astype(int)]
    t_loop, _ = best_of(
        lambda: [
            identify_phases(d[None], cal, model, method="ransac", seed=i) for i, d in enumerate(sub)
        ],
        1,
    )
    t_loop_batchcode, _ = best_of(lambda: [identify_phases(d[None], cal, model) for d in sub], 1)

    from stemtf.phase import PhaseModel

    five = PhaseModel.from_materials(FIVE, cal)
    five = five.refine(identify_phases(dps[:256], cal, five).hexagons)
    cv2.setNumThreads(1)
    cpu5 = []
    for _ in range(args.repeats):
        c0 = time.process_time()
        identify_phases(dps, cal, five)
        cpu5.append(time.process_time() - c0)
    t_cpu5 = min(cpu5)
    cv2.setNumThreads(os.cpu_count() or 1)
    report = {
        "patterns": n,
        "detector_px": list(dps.shape[1:]),
        "dose_e": args.dose_e,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "machine": platform.processor() or platform.machine(),
        "opencv": cv2.__version__,
        "batch_dps_per_s": n / t_batch,
        f"batch_{args.workers}_threads_dps_per_s": n / t_thr,
        f"batch_{args.workers}_processes_dps_per_s": n / t_proc,
        "batch_1_thread_dps_per_cpu_second": n / t_cpu,
        "five_phase_1_thread_dps_per_cpu_second": n / t_cpu5,
        "five_vs_two_phase_speed": t_cpu / t_cpu5,
        "per_dp_loop_ransac_dps_per_s": m / t_loop,
        "per_dp_loop_batch_code_dps_per_s": m / t_loop_batchcode,
        "threaded_equals_batch": bool(np.array_equal(labels_thr, res.labels)),
        "processes_equal_batch": bool(np.array_equal(labels_proc, res.labels)),
        "macro_f1": phase_metrics(res.labels.reshape(truth.shape), truth)["macro_f1"],
    }
    print(json.dumps(report, indent=2))
    if args.out:
        write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
