#!/usr/bin/env python
"""End-to-end benchmark: phase-map macro-F1 against dose per denoiser, and analyze throughput.

For each dose (default 1e3, 2e3, 5e3, 1e4, 1e5 e-/DP) and seed, a synthetic NMC811 scan with
ground truth (:func:`stemtf.scenes.simulate_scan`, the ``stemtf simulate-scan`` library call)
is phase-mapped by :func:`stemtf.analysis.analyze` (the ``stemtf analyze`` library call):

* ``none``: the noisy scan as recorded;
* ``gaussian``, ``median``: the classical baselines of :mod:`stemtf.evaluation.baselines`
  applied per pattern (wrapped as Denoisers), the denoised scan then analysed with ``none``
  (the same as analyze denoising it: every pattern, sample included, goes through the filter);
* ``bundled``: ``--denoise`` the bundled model (``saved_models/rdunet``, ``$STEMTF_MODEL_DIR``
  or ``--model PATH``), through analyze itself;

and scored against the truth (:func:`stemtf.phase.metrics.phase_metrics`). Then the
throughput of analyze (DPs/s, denoising included) on a ``--scan-px`` x ``--scan-px`` scan of
128 x 128 DPs (default 128 x 128 = 16,384 patterns), with ``none`` and with the model, and the
denoiser alone at a few batch sizes.

    python scripts/bench_end_to_end.py --out runs/bench_e2e                 # full
    python scripts/bench_end_to_end.py --out /tmp/bench_e2e --quick         # small, ~2 min
    python scripts/bench_end_to_end.py --out runs/bench_tp --doses --scan-px 128   # speed only

The full run is roughly 20 min on 2 CPU cores with a width-16, 3-level RDUNet (estimated from
~22 CPU-ms per 128 x 128 DP for that model); the 128 x 128 throughput scan is written as a
1 GB ``.npy`` in ``--out/work`` and removed afterwards. ``--scan-px 0`` skips the throughput.

Writes ``bench_end_to_end.json`` and ``bench_end_to_end.md`` (markdown tables) in ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from stemtf.analysis import AnalyzeConfig, analyze
from stemtf.fileio import atomic_path, ensure_writable_dir, write_json_atomic
from stemtf.phase.metrics import phase_metrics
from stemtf.scenes import build_library, read_truth, simulate_scan

log = logging.getLogger("bench_end_to_end")
DOSES_E = (1e3, 2e3, 5e3, 1e4, 1e5)
BASELINES = ("gaussian", "median")


class PerPatternDenoiser:
    """A Denoiser from a per-pattern function ``fn((H, W) counts) -> (H, W)``."""

    def __init__(self, name: str, fn) -> None:
        self.name = name
        self.fn = fn
        self.info = {"kind": "baseline", "model": name, "version": None}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.stack([self.fn(dp) for dp in np.asarray(batch, np.float32)]).astype(np.float32)


def resolve_model(spec: str) -> tuple[str | None, dict]:
    """The SavedModel folder to benchmark (None if ``auto`` finds none) and its info."""
    from stemtf.denoise import load

    d = load(spec)
    if d.info.get("kind") == "none":
        return None, dict(d.info)
    return str(d.path), dict(d.info)


def denoise_scan(src: Path, dst: Path, denoiser, rows_per_call: int = 4) -> float:
    """Write ``denoiser`` applied to every pattern of the .npy scan ``src`` to ``dst``; seconds."""
    scan = np.load(src, mmap_mode="r")
    ry, rx, qy, qx = scan.shape
    t0 = time.perf_counter()
    with atomic_path(dst) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=scan.shape)
        for r in range(0, ry, rows_per_call):
            block = np.asarray(scan[r : r + rows_per_call], np.float32).reshape(-1, qy, qx)
            out[r : r + rows_per_call] = np.maximum(denoiser(block), 0.0).reshape(-1, rx, qy, qx)
        out.flush()
        del out
    return time.perf_counter() - t0


def run_analyze(
    scan: Path,
    out: Path,
    denoise: str,
    library,
    seed: int,
    scheduler: str | None,
    denoise_batch: int = 32,
) -> dict:
    """analyze as ``stemtf analyze`` runs it (fresh output folder); its summary."""
    shutil.rmtree(out, ignore_errors=True)
    config = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise=denoise,
        seed=seed,
        scheduler=scheduler,
        denoise_batch=denoise_batch,
        q_sampling_invA=library.q_sampling_invA,
        energy_eV=library.energy_eV,
        semiangle_mrad=library.semiangle_mrad,
    )
    t0 = time.perf_counter()
    summary = dict(analyze(config, progress=False).summary)
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def labels_of(out: Path) -> np.ndarray:
    import h5py

    with h5py.File(out / "results.h5", "r") as f:
        return np.asarray(f["labels"])


def accuracy_rows(args, library, model_dir, work: Path) -> list[dict]:
    from stemtf.evaluation.baselines import baselines

    fns = baselines(include_bm3d=False)
    methods = ["none", *BASELINES] + (["bundled"] if model_dir else [])
    rows = []
    for dose in args.doses:
        for seed in args.seeds:
            scan, truth_file = simulate_scan(
                work / f"scan_{dose:g}_{seed}.npy",
                shape=tuple(args.shape),
                dose_e=dose,
                seed=seed,
                library=library,
            )
            truth, _ = read_truth(truth_file)
            for method in methods:
                t_pre = 0.0
                path, spec = scan, "none"
                if method in BASELINES:
                    path = work / f"scan_{dose:g}_{seed}_{method}.npy"
                    t_pre = denoise_scan(scan, path, PerPatternDenoiser(method, fns[method]))
                elif method == "bundled":
                    spec = model_dir
                s = run_analyze(
                    path,
                    work / f"out_{method}",
                    spec,
                    library,
                    seed,
                    args.scheduler,
                    args.denoise_batch,
                )
                m = phase_metrics(labels_of(work / f"out_{method}"), truth)
                rows.append(
                    {
                        "dose_e": dose,
                        "seed": seed,
                        "method": method,
                        "macro_f1": m["macro_f1"],
                        "accuracy": m["accuracy"],
                        "f1": {k: c["f1"] for k, c in m["classes"].items()},
                        "confusion": m["confusion"],
                        "n": m["n"],
                        "wall_s": s["wall_s"] + t_pre,
                    }
                )
                log.info(
                    "dose %g seed %d %-8s macro-F1 %.4f (%.1f s)",
                    dose,
                    seed,
                    method,
                    m["macro_f1"],
                    rows[-1]["wall_s"],
                )
                if path != scan:
                    path.unlink()
            scan.unlink()
            truth_file.unlink()
    return rows


def throughput(args, library, model_dir, work: Path) -> dict:
    """analyze DPs/s on a scan_px x scan_px scan (none, model) and the denoiser alone."""
    n = args.scan_px
    scan, truth_file = simulate_scan(
        work / "throughput.npy", shape=(n, n), dose_e=args.scan_dose, seed=0, library=library
    )
    out = {
        "scan_shape": [n, n],
        "detector_px": list(library.detector_shape),
        "dose_e": args.scan_dose,
        "patterns": n * n,
    }
    specs = {"none": "none"} | ({"bundled": model_dir} if model_dir else {})
    for name, spec in specs.items():
        s = run_analyze(
            scan, work / f"tp_{name}", spec, library, 0, args.scheduler, args.denoise_batch
        )
        out[name] = {
            "dps_per_s_total": n * n / s["wall_s"],
            "wall_s": s["wall_s"],
            "dps_per_s_pass2": s["dps_per_s"],
            "scheduler": s["scheduler"],
            "timings_s": s["timings_s"],
        }
        log.info(
            "analyze %s: %d DPs in %.1f s = %.1f DP/s (pass 2 %.1f DP/s)",
            name,
            n * n,
            s["wall_s"],
            n * n / s["wall_s"],
            s["dps_per_s"] or float("nan"),
        )
        shutil.rmtree(work / f"tp_{name}", ignore_errors=True)
    if model_dir:
        from stemtf.denoise import SavedModelDenoiser

        dps = np.asarray(np.load(scan, mmap_mode="r")[: max(1, 256 // n + 1)], np.float32)
        dps = dps.reshape(-1, *library.detector_shape)[:256]
        out["denoiser_only_dps_per_s"] = {}
        for batch in args.batches:
            d = SavedModelDenoiser(model_dir, batch_size=batch)
            d(dps[:batch])  # load + trace
            t0 = time.perf_counter()
            d(dps)
            out["denoiser_only_dps_per_s"][str(batch)] = len(dps) / (time.perf_counter() - t0)
        log.info(
            "denoiser alone, DP/s by batch size: %s",
            {k: round(v, 1) for k, v in out["denoiser_only_dps_per_s"].items()},
        )
    scan.unlink()
    truth_file.unlink()
    return out


def markdown(result: dict) -> str:
    lines = []
    rows = result["accuracy"]
    if rows:
        methods = list(dict.fromkeys(r["method"] for r in rows))
        shape = result["settings"]["shape"]
        lines += [
            f"Phase-map macro-F1 against the truth (synthetic NMC811 scans {shape[0]} x "
            f"{shape[1]}, 128 x 128 DPs, seeds {result['settings']['seeds']}; model: "
            f"{result['model'].get('path', 'none')})",
            "",
            "| dose [e-/DP] | " + " | ".join(methods) + " |",
            "|---" * (len(methods) + 1) + "|",
        ]
        for d in dict.fromkeys(r["dose_e"] for r in rows):
            vals = [
                np.mean([r["macro_f1"] for r in rows if r["dose_e"] == d and r["method"] == m])
                for m in methods
            ]
            lines.append(f"| {d:g} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        lines.append("")
    tp = result["throughput"]
    if tp:
        lines += [
            f"analyze throughput, {tp['scan_shape'][0]} x {tp['scan_shape'][1]} scan of "
            f"{tp['detector_px'][0]} x {tp['detector_px'][1]} DPs ({tp['patterns']} "
            f"patterns, {result['machine']['cpus']} CPUs):",
            "",
            "| denoiser | DPs/s (whole run) | DPs/s (pass 2) | wall [s] |",
            "|---|---|---|---|",
        ]
        for name in ("none", "bundled"):
            if name in tp:
                t = tp[name]
                p2 = f"{t['dps_per_s_pass2']:.1f}" if t["dps_per_s_pass2"] else "-"
                lines.append(f"| {name} | {t['dps_per_s_total']:.1f} | {p2} | {t['wall_s']:.1f} |")
        if "denoiser_only_dps_per_s" in tp:
            lines += [
                "",
                "denoiser alone, DPs/s by batch size: "
                + ", ".join(f"{b}: {v:.1f}" for b, v in tp["denoiser_only_dps_per_s"].items()),
            ]
        lines.append("")
    if result["model"].get("note"):
        lines.append(f"Note: {result['model']['note']}")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="auto", help="auto (bundled), a SavedModel folder, none")
    ap.add_argument("--doses", type=float, nargs="*", default=list(DOSES_E))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=None,
        help="accuracy scans (default 64 64; --quick 12 12)",
    )
    ap.add_argument(
        "--scan-px",
        type=int,
        default=None,
        help="throughput scan side (default 128; --quick 16; 0 skips)",
    )
    ap.add_argument("--scan-dose", type=float, default=2e3, help="throughput scan dose")
    ap.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=None,
        help="denoiser-alone batch sizes (default 8 32 64; --quick 8 32)",
    )
    ap.add_argument("--denoise-batch", type=int, default=32, help="analyze's denoiser batch")
    ap.add_argument("--scheduler", default=None, help="analyze scheduler (default: its choice)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="clean-library cache")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small check: 12 x 12 accuracy scans, 16 x 16 throughput scan",
    )
    args = ap.parse_args(argv)
    for name, full, quick in (
        ("shape", (64, 64), (12, 12)),
        ("scan_px", 128, 16),
        ("batches", [8, 32, 64], [8, 32]),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("numba", "h5py", "matplotlib", "stemtf", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = ensure_writable_dir(args.out)
    work = ensure_writable_dir(out / "work")
    t0 = time.perf_counter()
    library = build_library(cache_dir=args.cache_dir)
    model_dir, model_info = (
        (None, {"kind": "none"}) if args.model == "none" else resolve_model(args.model)
    )
    if model_dir is None:
        log.warning(
            "no model to benchmark (%s): only none and the baselines",
            model_info.get("note", args.model),
        )
    result = {
        "settings": {
            "doses_e": args.doses,
            "seeds": args.seeds,
            "shape": list(args.shape),
            "scan_px": args.scan_px,
            "quick": args.quick,
            "scheduler": args.scheduler,
            "denoise_batch": args.denoise_batch,
        },
        "model": model_info,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "library": library.info(),
    }
    result["accuracy"] = accuracy_rows(args, library, model_dir, work)
    result["throughput"] = throughput(args, library, model_dir, work) if args.scan_px else {}
    result["wall_s"] = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(out / "bench_end_to_end.json", result)
    md = markdown(result)
    with atomic_path(out / "bench_end_to_end.md") as tmp:
        tmp.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
