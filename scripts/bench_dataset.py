"""Benchmark the dataset stage: build time per 1,000 pairs, TFRecord bytes per pair, read pairs/s.

Usage::

    python scripts/bench_dataset.py [--shards DIR] [--materials 24] [--simulate N] [--out bench.json]

Without ``--shards`` it writes synthetic clean shards (hexagonal spot lattices, 128x128) so the
records stage is measured on its own; ``--simulate N`` also times ``stemtf.simulate`` on the
first N materials of the ``small`` config (abTEM) and reports seconds per 1,000 pairs for it.
Numbers are for this machine (shared CPU cores), one run; repeat for spread.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench_dataset")


def _records_bytes(dataset_dir: Path) -> int:
    return sum(p.stat().st_size for p in dataset_dir.glob("*.tfrecord*"))


def bench_read(data_dir: Path, config: str, *, batch_size: int, n_batches: int, **kw) -> float:
    """Pairs per second from ``stemtf.data.load`` (after one warm-up batch)."""
    from stemtf.data import load

    ds = load(data_dir, "train", config=config, batch_size=batch_size, repeat=True, **kw)
    it = iter(ds)
    next(it)
    t = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    return batch_size * n_batches / (time.perf_counter() - t)


def bench_simulation(n_materials: int, out_dir: Path) -> dict:
    """Seconds per clean pattern for the ``small`` config's first ``n_materials`` materials."""
    from stemtf.data.materials_plan import select_materials
    from stemtf.data.specs import get_spec
    from stemtf.materials import list_materials
    from stemtf.shards import read_shard
    from stemtf.simulate import SimulationConfig, simulate_batch

    spec = get_spec("small")
    ids = select_materials(spec, [m.id for m in list_materials(include_mp_cache=False)])[
        :n_materials
    ]
    cfg = SimulationConfig(
        energy_eV=spec.energy_eV,
        semiangle_mrad=spec.semiangle_mrad,
        detector_px=spec.detector_px,
        q_sampling_invA=spec.q_sampling_invA,
        thicknesses_A=tuple(spec.thicknesses_A),
    )
    t = time.perf_counter()
    paths = simulate_batch(
        ids,
        zone_axes=spec.zone_axes_per_material,
        config=cfg,
        out_dir=out_dir,
        seed=0,
        progress=False,
    )
    dt = time.perf_counter() - t
    n_dp = sum(len(read_shard(p, load_patterns=False).table["seed"]) for p in paths)
    return {
        "materials": len(ids),
        "clean_patterns": n_dp,
        "seconds": dt,
        "seconds_per_1000_pairs": dt / n_dp * 1000 / spec.realisations,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=Path, help="existing clean shards (default: synthetic)")
    ap.add_argument(
        "--materials",
        type=int,
        default=24,
        help="synthetic materials (3 zone axes x 3 thicknesses each)",
    )
    ap.add_argument(
        "--simulate", type=int, default=0, help="also time abTEM simulation of N materials"
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--read-batches", type=int, default=30)
    ap.add_argument("--out", type=Path, help="write the numbers as JSON here too")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from stemtf.data.pipeline import write_records
    from stemtf.data.specs import get_spec
    from stemtf.data.synthetic import write_synthetic_shards

    with tempfile.TemporaryDirectory(prefix="stemtf-bench-") as tmp:
        tmp = Path(tmp)
        shards = args.shards
        if shards is None:
            shards = tmp / "shards"
            write_synthetic_shards(
                shards,
                [f"synth-{i:03d}" for i in range(args.materials - 2)] + ["nmc811-o3", "nmc811-o1"],
                zone_axes=3,
                thicknesses_A=(60.0, 120.0, 200.0),
            )
        spec = get_spec(
            "small", seed=1
        )  # a seed of its own: never collides with a user's small build
        t = time.perf_counter()
        builder = write_records(spec, tmp / "data", shards)
        build_s = time.perf_counter() - t
        n_pairs = sum(s.num_examples for s in builder.info.splits.values())
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores visible, Python {platform.python_version()}",
            "pairs": n_pairs,
            "detector_px": spec.detector_px,
            "records_build_seconds": build_s,
            "records_seconds_per_1000_pairs": build_s / n_pairs * 1000,
            "tfrecord_bytes_per_pair": _records_bytes(Path(builder.data_dir)) / n_pairs,
            "read_pairs_per_s_plain": bench_read(
                tmp / "data",
                spec.name,
                batch_size=args.batch_size,
                n_batches=args.read_batches,
                augment=False,
            ),
            "read_pairs_per_s_augment": bench_read(
                tmp / "data",
                spec.name,
                batch_size=args.batch_size,
                n_batches=args.read_batches,
                augment=True,
            ),
            "read_pairs_per_s_renoise": bench_read(
                tmp / "data",
                spec.name,
                batch_size=args.batch_size,
                n_batches=max(3, args.read_batches // 3),
                renoise=True,
            ),
        }
        if args.simulate:
            result["simulation"] = bench_simulation(args.simulate, tmp / "sim")
            result["total_seconds_per_1000_pairs"] = (
                result["simulation"]["seconds_per_1000_pairs"]
                + result["records_seconds_per_1000_pairs"]
            )
    text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
