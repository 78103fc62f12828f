#!/usr/bin/env python
"""Peak memory of ``stemtf analyze`` on a scan file larger than a quarter of this machine's RAM.

A synthetic NMC811 scan with ground truth (``stemtf.scenes``: abTEM clean-pattern library,
noise model, 128² float32 patterns) is simulated once as a tile, then written tiled into

* ``small.npy``: the tile itself (``--tile`` scan positions);
* ``large.npy``: the tile repeated along the scan rows until the file is larger than
  ``--target-gib`` (default: MemTotal / 4 + 10 %),

with the truth tiled the same way. Each is analysed by ``stemtf analyze --denoise none`` in
its own process; its peak resident memory (``VmHWM`` of ``/proc/self/status``, which counts
touched pages of the memory-mapped input too) and DP/s are recorded, and the phase map is scored
against the truth, so the large run is shown to be complete and right, not only small.

    python scripts/bench_memory.py --out runs/bench_memory [--target-gib 6.6] [--tile 64 64]

Each file is analysed under each of ``--schedulers`` (``synchronous``: one process;
``local``: a dask LocalCluster of one worker process per core, whose memory the process-tree
peak includes). Writes ``memory.json`` in ``--out``; deletes the large scan afterwards unless ``--keep``.
Needs free disk of about ``--target-gib`` plus a few hundred MB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from stemtf.fileio import atomic_path, ensure_writable_dir, write_json_atomic
from stemtf.phase.metrics import phase_metrics
from stemtf.scenes import simulate_scan
from stemtf.scenes.scan import read_truth

log = logging.getLogger("bench_memory")

_CHILD = (
    "import sys\n"
    "from stemtf.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:], prog_name='stemtf')\n"
    "except SystemExit as e:\n"
    "    rc = e.code\n"
    "else:\n"
    "    rc = 0\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('PEAK_KB', hwm.split()[1], flush=True)\n"
    "sys.exit(rc)\n"
)


def mem_total_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("no MemTotal in /proc/meminfo")


def write_tiled(path: Path, tile: np.ndarray, rows: int) -> None:
    """``tile`` (ty, tx, qy, qx) repeated down the scan rows to ``rows`` rows, row by row."""
    ty = tile.shape[0]
    with atomic_path(path) as tmp:
        mm = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=tile.dtype, shape=(rows,) + tile.shape[1:]
        )
        for r in range(rows):
            mm[r] = tile[r % ty]
            if r % 64 == 63:
                mm.flush()
        mm.flush()
        del mm


def _watch_tree(proc: subprocess.Popen, every_s: float = 0.1) -> float:
    """Until ``proc`` ends, sample the summed RSS of it and all its descendants (dask workers,
    their spawned helpers); return the largest sum [MiB]. Shared pages count once per process,
    so this over-counts rather than under-counts."""
    import psutil

    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for q in procs:
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        time.sleep(every_s)
    proc.wait()
    return peak / 2**20


def run_analyze(
    scan: Path, out: Path, cal: dict, extra: list[str]
) -> tuple[float, float, dict, float]:
    """Run ``stemtf analyze`` in a child; return (its peak RSS MiB, the sampled peak of the
    summed RSS of it and its descendants MiB, summary.json, wall s)."""
    args = [
        "analyze",
        str(scan),
        "--out",
        str(out),
        "--denoise",
        "none",
        "--no-progress",
        "--q-sampling-invA",
        str(cal["q_sampling_invA"]),
        "--energy-keV",
        str(cal["energy_eV"] / 1e3),
        "--semiangle-mrad",
        str(cal["semiangle_mrad"]),
        *extra,
    ]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args], stdout=so, stderr=se, text=True
        )
        tree_peak = _watch_tree(proc)
        wall = time.perf_counter() - t0
        so.seek(0)
        se.seek(0)
        p = subprocess.CompletedProcess(proc.args, proc.returncode, so.read(), se.read())
    if p.returncode != 0 or "PEAK_KB" not in p.stdout:
        raise SystemExit(
            f"stemtf analyze {scan} failed (exit {p.returncode}): "
            f"{p.stderr.strip().splitlines()[-1:] or p.stdout[-500:]}"
        )
    kb = int(p.stdout.split("PEAK_KB")[1].split()[0])
    return kb / 1024, tree_peak, json.loads((out / "summary.json").read_text()), wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--target-gib",
        type=float,
        default=None,
        help="size of the large scan file [GiB] (default MemTotal/4 + 10%%)",
    )
    ap.add_argument("--tile", type=int, nargs=2, default=(64, 64), help="tile scan shape")
    ap.add_argument("--dose-e", type=float, default=1e4, help="electrons per pattern")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--schedulers",
        nargs="+",
        default=["synchronous", "local"],
        help="analyze --scheduler values; each file is analysed under each",
    )
    ap.add_argument("--cache-dir", type=Path, default=None, help="clean-library cache")
    ap.add_argument("--keep", action="store_true", help="keep the large scan file")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ensure_writable_dir(a.out, "--out")
    ram = mem_total_gib()
    target = a.target_gib if a.target_gib is not None else ram / 4 * 1.1
    free = shutil.disk_usage(a.out).free / 2**30
    if free < target + 1:
        raise SystemExit(f"--out {str(a.out)!r}: {free:.1f} GiB free, need {target + 1:.1f}")

    small = a.out / "small.npy"
    truth_small = a.out / "small_truth.h5"
    simulate_scan(
        small,
        truth=truth_small,
        shape=tuple(a.tile),
        dose_e=a.dose_e,
        seed=a.seed,
        cache_dir=a.cache_dir,
    )
    truth, _ = read_truth(truth_small)
    with h5py.File(truth_small, "r") as f:
        cal = {k: float(f.attrs[k]) for k in ("q_sampling_invA", "energy_eV", "semiangle_mrad")}
    tile = np.load(small, mmap_mode="r")
    row_bytes = tile[0].nbytes
    rows = int(np.ceil(target * 2**30 / row_bytes))
    large = a.out / "large.npy"
    t0 = time.perf_counter()
    write_tiled(large, np.asarray(tile), rows)
    log.info(
        "wrote %s (%.2f GiB) in %.0f s",
        large,
        large.stat().st_size / 2**30,
        time.perf_counter() - t0,
    )
    truth_large = np.concatenate([truth] * int(np.ceil(rows / truth.shape[0])))[:rows]

    rows_out = {}
    for sched, (name, scan, tr) in itertools.product(
        a.schedulers, (("small", small, truth), ("large", large, truth_large))
    ):
        extra = ["--scheduler", sched]
        name = f"{name}_{sched}"
        out = a.out / f"analyze_{name}"
        if out.exists():
            shutil.rmtree(out)
        peak, tree_peak, summary, wall = run_analyze(scan, out, cal, extra)
        with h5py.File(out / "results.h5", "r") as f:
            labels = np.asarray(f["labels"])
        m = phase_metrics(labels, tr)
        rows_out[name] = {
            "file": str(scan),
            "file_gib": scan.stat().st_size / 2**30,
            "scan_shape": list(labels.shape),
            "patterns": int(labels.size),
            "peak_rss_mib": peak,
            "peak_tree_rss_mib": tree_peak,
            "scheduler": summary.get("scheduler"),
            "wall_s": wall,
            "dps_per_s": summary.get("dps_per_s"),
            "macro_f1": m["macro_f1"],
        }
        log.info(
            "%s: %.2f GiB file, %s scan, scheduler %s, peak RSS %.0f MiB (process tree "
            "%.0f MiB), %.0f DP/s, macro-F1 %.4f",
            name,
            rows_out[name]["file_gib"],
            labels.shape,
            rows_out[name]["scheduler"],
            peak,
            tree_peak,
            rows_out[name]["dps_per_s"] or float("nan"),
            m["macro_f1"],
        )
    report = {
        "mem_total_gib": ram,
        "target_gib": target,
        "dose_e": a.dose_e,
        "seed": a.seed,
        "runs": rows_out,
        "tree_peak_ratio_large_over_small": {
            sched: rows_out[f"large_{sched}"]["peak_tree_rss_mib"]
            / rows_out[f"small_{sched}"]["peak_tree_rss_mib"]
            for sched in a.schedulers
        },
        "file_ratio_large_over_small": large.stat().st_size / small.stat().st_size,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": "python scripts/bench_memory.py " + " ".join(sys.argv[1:]),
    }
    if not a.keep:
        large.unlink()
    write_json_atomic(a.out / "memory.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
