#!/usr/bin/env python
"""Geometry benchmark: the phase map across detector sizes, pixel sizes and probe semi-angles.

The field benchmark (``scripts/bench_field.py``) holds two detector geometries (128 px at 0.0125
1/Å/px with 1 mrad, 256 px at 0.0078 1/Å/px with 1.5 mrad). Cameras in use span 128-512 px at
0.005-0.0125 1/Å/px and probes of 0.5-2 mrad, so the disk radius runs from ~1.6 to ~16 px and
the {110} ring from ~57 to ~142 px. This script simulates, for each geometry asked for, an abTEM
clean-pattern library (NMC811 O3 and O1 along [001], 30-200 Å, six rotations; the split's
rotations and simulation seed) and a scan through :func:`stemtf.scenes.simulate_scan` (O3+O1
columns of 20-80 % O1, the noise model's default background, blur, centre offset and descan),
and maps it with :func:`stemtf.analysis.analyze` (``--denoise none`` unless ``--denoise`` says
otherwise), scoring O1-present F1, macro-F1 and per-class F1 against the truth.

``--compare-binning`` also maps every scan whose automatic detector binning is > 1 with
``--bin 1`` (the analysis before binning existed), side by side; ``--bins 2 3 4`` maps every
scan with each forced factor instead (how the automatic factor's target was chosen, on
``--split tune --seeds 0``).

    STEMTF_CACHE=... python scripts/bench_geometry.py --out runs/geo --split report \\
        --geometries 128:0.0125:0.5 256:0.0078:2.0 512:0.005:2.0 --doses 3e2 2e3 --seeds 100 \\
        --compare-binning

A geometry is ``PX:Q:MRAD[:KV]`` (detector px, 1/Å per px, semi-angle mrad, beam energy kV,
default 200). Writes
``bench_geometry.json`` and ``bench_geometry.md`` in ``--out`` and prints one line per scan.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_denoise  # noqa: E402
import bench_field as bf  # noqa: E402

from stemtf.noise.optics import disk_radius_px  # noqa: E402

log = logging.getLogger("bench_geometry")

#: The issue's corners: each detector at its usual pixel size with small, medium, large probes.
DEFAULT_GEOMETRIES = (
    "128:0.0125:0.5",
    "128:0.0125:2.0",
    "256:0.0078:0.5",
    "256:0.0078:2.0",
    "512:0.005:0.5",
    "512:0.005:1.0",
    "512:0.005:2.0",
)
THICKNESSES_A = (30.0, 60.0, 100.0, 150.0, 200.0)


def parse_geometry(text: str) -> tuple[int, float, float, float]:
    """``"PX:Q:MRAD[:KV]"`` -> (detector px, q sampling [1/Å per px], semi-angle [mrad], beam
    energy [eV], default 200 kV)."""
    try:
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(text)
        out = int(parts[0]), float(parts[1]), float(parts[2])
        out += (float(parts[3]) * 1e3 if len(parts) == 4 else 200e3,)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"geometry {text!r} is not allowed: give PX:Q:MRAD[:KV], e.g. 512:0.005:2.0 or "
            "256:0.0078:1.5:300"
        ) from None
    if out[0] < 32 or min(out[1:]) <= 0:
        raise argparse.ArgumentTypeError(
            f"geometry {text!r} is not allowed: detector >= 32 px, q, semi-angle and kV > 0"
        )
    return out


def run_one(work: Path, lib, dose: float, seed: int, shape, denoise: str, binning) -> dict:
    """Simulate one scan (cached by name), map it, score it."""
    import h5py

    from stemtf.scenes import FieldConditions, simulate_scan

    q, px = lib.q_sampling_invA, lib.patterns.shape[-1]
    stem = f"g{px}_{q:g}_{lib.semiangle_mrad:g}_{lib.energy_eV / 1e3:g}kV_{dose:g}_{seed}"
    scan = work / f"{stem}.npy"
    t0 = time.perf_counter()
    if not scan.exists():
        simulate_scan(
            scan,
            shape=shape,
            dose_e=dose,
            seed=seed,
            library=lib,
            field=FieldConditions(both_o1_fraction=(0.2, 0.8)),
            n_grains=bf.N_GRAINS,
        )
    t_sim = time.perf_counter() - t0
    with h5py.File(work / f"{stem}_truth.h5", "r") as f:
        truth = f["labels"][()]
        off = f["off_zone"][()]
        q_given = float(f.attrs["q_sampling_invA"])
    summary, labels, t_an, _ = bench_denoise._analyze(
        scan, work / "out", denoise, lib, q_given, seed, detector_binning=binning
    )
    return {
        "detector_px": int(px),
        "q_sampling_invA": float(q),
        "semiangle_mrad": float(lib.semiangle_mrad),
        "energy_keV": float(lib.energy_eV) / 1e3,
        "disk_radius_px": disk_radius_px(lib.semiangle_mrad, lib.energy_eV, q),
        "dose_e": dose,
        "seed": seed,
        "denoise": denoise,
        "binning_asked": binning,
        "detector_binning": summary.get("detector_binning", 1),
        "denoiser_used": (summary.get("denoiser") or {}).get("model"),
        "simulate_s": t_sim,
        "analyze_s": t_an,
        "dps_per_s": labels.size / t_an,
        **bf.score(labels, truth, off),
    }


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def markdown(rows: list[dict]) -> str:
    """One row per scan: geometry, dose, seed, binning, O1-present F1 / macro-F1, DP/s."""
    lines = [
        "| detector | q [1/Å/px] | mrad | kV | disk r [px] | dose e-/DP | seed | bin | O1-present F1 "
        "| macro-F1 | F1 none / O3 / O1 / both | DP/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f1 = r["f1"]
        lines.append(
            f"| {r['detector_px']} | {r['q_sampling_invA']:g} | {r['semiangle_mrad']:g} | "
            f"{r.get('energy_keV', 200.0):g} | "
            f"{r['disk_radius_px']:.1f} | {r['dose_e']:g} | {r['seed']} | "
            f"{r['detector_binning']} | {_fmt(r['o1_present_f1'])} | {r['macro_f1']:.3f} | "
            + " / ".join(_fmt(f1.get(k)) for k in ("none", "O3", "O1", "both"))
            + f" | {r['dps_per_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", choices=sorted(bf.SPLITS), default="report")
    ap.add_argument("--geometries", type=parse_geometry, nargs="+", default=None)
    ap.add_argument("--doses", type=float, nargs="+", default=[3e2, 2e3])
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--shape", type=int, nargs=2, default=(32, 32))
    ap.add_argument("--denoise", default="none", help="analyze --denoise (default none)")
    ap.add_argument(
        "--compare-binning",
        action="store_true",
        help="also map scans that are binned automatically with --bin 1",
    )
    ap.add_argument(
        "--bins",
        type=int,
        nargs="+",
        default=None,
        help="map every scan with each of these forced --bin factors instead of the automatic one",
    )
    ap.add_argument("--cache-dir", type=Path, default=None, help="clean-library cache")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("numba", "h5py", "matplotlib", "stemtf", "distributed", "abtem"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from stemtf.fileio import ensure_writable_dir
    from stemtf.scenes import build_library

    split = bf.SPLITS[args.split]
    seeds = args.seeds or list(split["seeds"][:1])
    geometries = args.geometries or [parse_geometry(g) for g in DEFAULT_GEOMETRIES]
    out = ensure_writable_dir(args.out)
    work = ensure_writable_dir(out / "work")
    rows = []
    t_all = time.perf_counter()
    for px, q, mrad, energy in geometries:
        t0 = time.perf_counter()
        lib = build_library(
            detector_px=px,
            q_sampling_invA=q,
            semiangle_mrad=mrad,
            energy_eV=energy,
            rotations_deg=split["rotations_deg"],
            thicknesses_A=THICKNESSES_A,
            seed=split["library_seed"],
            cache_dir=args.cache_dir,
        )
        log.info(
            "library %d px %g 1/A/px %g mrad %g kV: %.1f s",
            px,
            q,
            mrad,
            energy / 1e3,
            time.perf_counter() - t0,
        )
        for dose in args.doses:
            for seed in seeds:
                modes = list(args.bins) if args.bins else [None]
                for b in modes:
                    rows.append(run_one(work, lib, dose, seed, tuple(args.shape), args.denoise, b))
                if not args.bins and args.compare_binning and rows[-1]["detector_binning"] > 1:
                    rows.append(run_one(work, lib, dose, seed, tuple(args.shape), args.denoise, 1))
                    modes.append(1)
                for row in rows[-len(modes) :]:
                    log.info(
                        "%4d px %-7g %-4g mrad (disk %4.1f px) dose %6g seed %3d bin %d: "
                        "O1-present F1 %s macro-F1 %.3f  %.0f DP/s",
                        px,
                        q,
                        mrad,
                        row["disk_radius_px"],
                        dose,
                        seed,
                        row["detector_binning"],
                        _fmt(row["o1_present_f1"]),
                        row["macro_f1"],
                        row["dps_per_s"],
                    )
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "settings": {
            "split": args.split,
            "geometries_px_q_mrad_eV": [list(g) for g in geometries],
            "doses_e": args.doses,
            "seeds": seeds,
            "shape": list(args.shape),
            "denoise": args.denoise,
            "bins": args.bins,
            "compare_binning": args.compare_binning,
            "thicknesses_A": list(THICKNESSES_A),
            "rotations_deg": list(split["rotations_deg"]),
            "library_seed": split["library_seed"],
        },
        "machine": bf.machine_info(),
        "wall_s": time.perf_counter() - t_all,
        "rows": rows,
    }
    from stemtf.fileio import atomic_path, write_json_atomic

    write_json_atomic(out / "bench_geometry.json", result, default=float)
    md = markdown(rows)
    with atomic_path(out / "bench_geometry.md") as tmp:
        tmp.write_text(md)
    print(md)
    log.info("wrote %s (%.1f min)", out / "bench_geometry.json", result["wall_s"] / 60)


if __name__ == "__main__":
    main()
