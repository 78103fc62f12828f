"""Benchmark clean-DP simulation: DPs per second, stemtf vs a naive one-abTEM-run-per-DP loop.

Usage::

    python scripts/bench_simulate.py [--pairs nmc811-o3:0,0,1 ...] [--repeat 2] [--out bench.json]

Both paths use the default physics (``SimulationConfig()``: 200 kV, 1 mrad, 128 x 128 detector
at 0.0125 1/A, thicknesses 20, 40, ..., 160 A, 0.1 A sampling, lateral box >= 20 A).
stemtf runs one multislice per (material, zone axis) and reads every thickness from the exit
planes; the naive loop calls abTEM once per DP (one run per thickness, same cell, sampling and
rendering). The first call (numba JIT compilation of abTEM) is timed separately. Single
process; the 2-core batch figure comes from ``simulate_batch`` on a 2-worker local cluster with
``--batch`` (4 materials x ``--batch-zone-axes`` zone axes, one HDF5 shard each).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from dataclasses import replace

from stemtf.materials import get
from stemtf.simulate import SimulationConfig, simulate_batch, simulate_patterns

log = logging.getLogger("bench_simulate")
DEFAULT_PAIRS = [
    "nmc811-o3:0,0,1",
    "nmc811-o1:0,0,1",
    "ase-bulk-Si-diamond:1,1,0",
    "nmc811-rocksalt:1,0,0",
]


def _pair(text: str):
    mid, axis = text.split(":")
    return mid, tuple(int(x) for x in axis.split(","))


def bench_stemtf(pairs, config, repeat):
    n, t = 0, 0.0
    for _ in range(repeat):
        for mid, uvw in pairs:
            mat = get(mid)
            t0 = time.perf_counter()
            p, _ = simulate_patterns(mat, uvw, config)
            t += time.perf_counter() - t0
            n += len(p)
    return n, t


def bench_naive(pairs, config, repeat):
    n, t = 0, 0.0
    for _ in range(repeat):
        for mid, uvw in pairs:
            mat = get(mid)
            for thickness in config.thicknesses_A:
                one = replace(config, thicknesses_A=(thickness,))
                t0 = time.perf_counter()
                simulate_patterns(mat, uvw, one)
                t += time.perf_counter() - t0
                n += 1
    return n, t


def bench_batch(pairs, config, workers, zone_axes):
    ids = sorted({m for m, _ in pairs})
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        paths = simulate_batch(
            ids, zone_axes=zone_axes, config=config, out_dir=d, progress=False, n_workers=workers
        )
        dt = time.perf_counter() - t0
    return len(paths) * len(config.thicknesses_A), dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, help="material:u,v,w")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--batch", action="store_true", help="also time simulate_batch on a local cluster"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--batch-zone-axes", type=int, default=4, help="zone axes per material in --batch"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    config = SimulationConfig()
    pairs = [_pair(p) for p in args.pairs]
    t0 = time.perf_counter()
    simulate_patterns(get("nmc811-o1"), (0, 0, 1), replace(config, thicknesses_A=(20.0,)))
    warmup = time.perf_counter() - t0
    n1, t1 = bench_stemtf(pairs, config, args.repeat)
    n2, t2 = bench_naive(pairs, config, args.repeat)
    res = {
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
        "pairs": args.pairs,
        "thicknesses_A": list(config.thicknesses_A),
        "first_call_s (numba JIT + first run)": round(warmup, 2),
        "stemtf_dps": n1,
        "stemtf_s": round(t1, 2),
        "stemtf_dp_per_s": round(n1 / t1, 2),
        "naive_dps": n2,
        "naive_s": round(t2, 2),
        "naive_dp_per_s": round(n2 / t2, 2),
        "speedup": round((n1 / t1) / (n2 / t2), 2),
    }
    if args.batch:
        n3, t3 = bench_batch(pairs, config, args.workers, args.batch_zone_axes)
        res.update(
            {
                "batch_workers": args.workers,
                "batch_shards": n3 // len(config.thicknesses_A),
                "batch_dps": n3,
                "batch_s (incl. cluster start, JIT, shard writing)": round(t3, 2),
                "batch_dp_per_s": round(n3 / t3, 2),
            }
        )
    text = json.dumps(res, indent=1)
    print(text)  # noqa: T201 - the script's output
    if args.out:
        from stemtf.fileio import write_json_atomic

        write_json_atomic(args.out, res)


if __name__ == "__main__":
    main()
