#!/usr/bin/env python
"""Denoiser benchmark: phase maps raw vs ``--denoise auto`` vs the model forced, the self-check's
verdict, counts kept, and analyze's speed with and without the denoiser.

Scenes are the field benchmark's (``scripts/bench_field.py``: same conditions, clean libraries
and scoring; split ``report`` by default), simulated by :func:`stemtf.scenes.simulate_scan` and
phase-mapped by :func:`stemtf.analysis.analyze` (the ``stemtf analyze`` library call) three
times: ``--denoise none`` (raw), ``--denoise auto`` (the bundled model where the self-check on
the scan says it wins, else raw) and ``--denoise saved_models/rdunet/<highest version>``
(named: forced, in its frame; ``--model`` another); ``--methods ... classical`` adds
``--denoise classical`` (hot-pixel median and a disk-scale Gaussian, the self-check's baseline).
Per scan: O1-present F1 and macro-F1 of each, auto's decision and the self-check's Poisson
deviances (model / classical / raw), and the counts the network keeps in its frame before the
rescale to the raw total (and after it, on 32 patterns). ``--reference`` adds what the counts
allow: the best-threshold O1-present F1 of a matched filter on the O1 {100} hexagon given the
true beam centres and q-sampling (:mod:`stemtf.evaluation.marker_reference`).

Speed: analyze (synchronous scheduler) on a ``--speed-shape`` scan of each detector, without
and with the forced model: DP/s of wall time and of CPU time (process + children), so a
shared machine can be judged; the ratio of the two runs' times.

    python scripts/bench_denoise.py --out runs/bench_denoise                   # default set
    python scripts/bench_denoise.py --out /tmp/bd --conditions ideal-128 --doses 2e3 --seeds 100
    python scripts/bench_denoise.py --out DIR --conditions mistilt-20mrad all --doses 3e2 1e2 \
        --methods raw classical model auto --reference --speed-conditions

Writes ``bench_denoise.json`` and ``bench_denoise.md`` in ``--out`` and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import resource
import shutil
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_denoise")
HERE = Path(__file__).resolve().parent
MODEL = HERE.parent / "saved_models" / "rdunet"  # its highest version: what auto bundles
DOSES_E = (1e4, 2e3, 3e2)
CONDITIONS = ("ideal-128", "detector-256")
METHODS = ("raw", "auto", "model")


def _field():
    spec = importlib.util.spec_from_file_location("bench_field", HERE / "bench_field.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu_s() -> float:
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _analyze(
    scan: Path, out: Path, denoise: str, library, q: float, seed: int, scheduler=None, **config_kw
) -> tuple[dict, np.ndarray, float, float]:
    """``analyze`` of ``scan`` into a fresh ``out`` (removed after): summary, labels, wall and
    CPU seconds. ``config_kw``: further :class:`AnalyzeConfig` fields (e.g. detector_binning)."""
    import h5py

    from stemtf.analysis import AnalyzeConfig, analyze

    shutil.rmtree(out, ignore_errors=True)
    config = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise=denoise,
        seed=seed,
        scheduler=scheduler,
        q_sampling_invA=q,
        energy_eV=library.energy_eV,
        semiangle_mrad=library.semiangle_mrad,
        **config_kw,
    )
    t0, c0 = time.perf_counter(), _cpu_s()
    summary = analyze(config, progress=False).summary
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    with h5py.File(out / "results.h5", "r") as f:
        labels = np.asarray(f["labels"])
    shutil.rmtree(out, ignore_errors=True)
    return summary, labels, wall, cpu


def counts_kept(scan: Path, library, q: float) -> dict:
    """Total counts out/in of the network in its frame (before and after the rescale)."""
    from stemtf.denoise import SavedModelDenoiser
    from stemtf.denoise.domain import DataGeometry, ModelDomain
    from stemtf.denoise.frame import Frame, FramedDenoiser, hot_pixel_mask

    full = np.load(scan, mmap_mode="r")
    idx = np.arange(full.shape[0] * full.shape[1])[:: max(1, full.shape[0] * full.shape[1] // 32)]
    idx = idx[:32]
    x = np.asarray(full.reshape(-1, *full.shape[2:])[idx], np.float32)
    x = np.where(hot_pixel_mask(x), 0.0, x).astype(np.float32)  # totals without hot pixels
    inner = SavedModelDenoiser(MODEL)
    ctx = None
    if inner.scan_context:  # a scan-context model: each pattern's neighbours' mean as well
        from stemtf.denoise.context import neighbour_mean

        ctx = neighbour_mean(np.asarray(full, np.float32)).reshape(-1, *full.shape[2:])[idx]
    g = DataGeometry(x.shape[1:], q, library.energy_eV, library.semiangle_mrad)
    frame = Frame.for_geometry(
        g.detector_px, g.disk_radius_px, ModelDomain.from_card(inner.info["card"]).disk_radius_px, q
    )
    raw = x.sum(axis=(1, 2))
    before = FramedDenoiser(inner, frame, keep_counts=False)(x, ctx).sum(axis=(1, 2)) / raw
    after = FramedDenoiser(inner, frame, disk_radius_px=g.disk_radius_px)(x, ctx)
    after = after.sum(axis=(1, 2)) / raw
    return {
        "network_mean": float(before.mean()),
        "network_min": float(before.min()),
        "network_max": float(before.max()),
        "pipeline_min": float(after.min()),
        "pipeline_max": float(after.max()),
        "frame": frame.to_dict(),
    }


def accuracy(args, bf, libs, work: Path) -> list[dict]:
    from stemtf.scenes import simulate_scan

    conds = bf.all_conditions()
    rows = []
    for name in args.conditions:
        det, field = conds[name]
        lib = libs[det]
        for dose in args.doses:
            for seed in args.seeds:
                scan, truth_file = simulate_scan(
                    work / f"{name}_{dose:g}_{seed}.npy",
                    shape=tuple(args.shape),
                    dose_e=dose,
                    seed=seed,
                    library=lib,
                    field=field,
                    n_grains=bf.N_GRAINS,
                )
                import h5py

                with h5py.File(truth_file, "r") as f:
                    truth, off = np.asarray(f["labels"]), np.asarray(f["off_zone"])
                    q = float(f.attrs["q_sampling_invA"])
                    shift = np.asarray(f["centre_shift_px"])
                    q_true = float(f.attrs["q_sampling_true_invA"])
                row = {"condition": name, "dose_e": dose, "seed": seed}
                if args.reference:  # what the counts allow: truth-given matched filter
                    from stemtf.evaluation.marker_reference import marker_reference
                    from stemtf.physics import disk_radius_px

                    r_disk = disk_radius_px(lib.semiangle_mrad, lib.energy_eV, q_true)
                    row["reference"] = marker_reference(
                        np.load(scan), truth, shift, q_true, r_disk
                    ).to_dict()
                for method in args.methods:
                    spec = {"raw": "none", "model": str(MODEL)}.get(method, method)
                    s, labels, wall, cpu = _analyze(scan, work / "out", spec, lib, q, seed)
                    sc = bf.score(labels, truth, off)
                    row[method] = {
                        "o1_present_f1": sc["o1_present_f1"],
                        "macro_f1": sc["macro_f1"],
                        "wall_s": wall,
                        "cpu_s": cpu,
                        # rows truth, columns call (none, O3, O1, both, unassigned)
                        "confusion": sc["confusion"],
                        "relabelled_by_step": s.get("relabelled_by_step"),
                    }
                    if method == "auto":
                        info = s["denoiser"]
                        row["auto_decision"] = info.get("decision", info.get("kind"))
                        row["self_check"] = info.get("self_check")
                        row["warnings"] = s.get("warnings", [])
                if {"auto", "model"} & set(args.methods):
                    row["counts_kept"] = counts_kept(scan, lib, q)
                log.info(
                    "%-14s %6g seed %d  O1-F1 %s%s  (auto: %s; dev model/classical/raw %s; "
                    "network keeps %s)",
                    name,
                    dose,
                    seed,
                    " ".join(f"{m} {row[m]['o1_present_f1']:.3f}" for m in args.methods),
                    "".join(
                        f" reference {k} {row['reference'][k + '_f1']:.3f}"
                        for k in ("own", "pooled")
                        if "reference" in row
                    ),
                    row.get("auto_decision", "-"),
                    (row.get("self_check") or {}).get("deviance_per_dp"),
                    row.get("counts_kept", {}).get("network_mean", "-"),
                )
                rows.append(row)
                scan.unlink()
                truth_file.unlink()
    return rows


def speed(args, bf, libs, work: Path) -> list[dict]:
    from stemtf.scenes import simulate_scan

    conds = bf.all_conditions()
    out = []
    for name in args.speed_conditions:
        det, field = conds[name]
        lib = libs[det]
        scan, truth_file = simulate_scan(
            work / f"speed_{name}.npy",
            shape=tuple(args.speed_shape),
            dose_e=2e3,
            seed=0,
            library=lib,
            field=field,
            n_grains=bf.N_GRAINS,
        )
        n = args.speed_shape[0] * args.speed_shape[1]
        row = {"condition": name, "detector_px": lib.detector_shape[0], "patterns": n}
        for method, spec in (("none", "none"), ("model", str(MODEL))):
            s, _, wall, cpu = _analyze(
                scan, work / "out", spec, lib, lib.q_sampling_invA, 0, "synchronous"
            )
            st = s["timings_s"]["stage_sums"]
            row[method] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "dps_per_s_wall": n / wall,
                "dps_per_s_cpu": n / cpu,
                "denoise_stage_s": st.get("denoise"),
                "self_check_s": (s["denoiser"].get("self_check") or {}).get("seconds"),
            }
        row["time_ratio_model_over_none"] = row["model"]["wall_s"] / row["none"]["wall_s"]
        row["cpu_ratio_model_over_none"] = row["model"]["cpu_s"] / row["none"]["cpu_s"]
        log.info(
            "speed %s: none %.0f DP/s (%.0f per CPU-s), model %.0f DP/s (%.0f per CPU-s), "
            "time x%.2f",
            name,
            row["none"]["dps_per_s_wall"],
            row["none"]["dps_per_s_cpu"],
            row["model"]["dps_per_s_wall"],
            row["model"]["dps_per_s_cpu"],
            row["time_ratio_model_over_none"],
        )
        out.append(row)
        scan.unlink()
        truth_file.unlink()
    return out


def markdown(result: dict) -> str:
    s = result["settings"]
    methods = s.get("methods", list(METHODS))
    heads = {"raw": "raw", "auto": "auto", "model": "model forced", "classical": "classical"}
    ref = s.get("reference", False)
    lines = [
        f"Denoiser benchmark (scenes of scripts/bench_field.py, split `{s['split']}`, seeds "
        f"{s['seeds']}, {s['shape'][0]} x {s['shape'][1]} scans; model {s.get('model', MODEL)}). "
        "O1-present F1 / macro-F1"
        + (
            "; reference: O1-present F1 of the truth-given matched filter (true centres and "
            "q-sampling, best threshold), per pattern / 3x3 pooled"
            if ref
            else ""
        )
        + ":",
        "",
        "| condition | dose | "
        + " | ".join(heads[m] for m in methods)
        + (" | reference own / pooled" if ref else "")
        + " | auto used | self-check deviance model / classical / raw | network counts kept |",
        "|---|---|" + "---|" * (len(methods) + ref + 3),
    ]
    for r in result["accuracy"]:
        dev = (r.get("self_check") or {}).get("deviance_per_dp") or {}
        devs = " / ".join(f"{dev[k]:.0f}" for k in ("model", "classical", "raw")) if dev else "-"
        cells = [f"{r[m]['o1_present_f1']:.3f} / {r[m]['macro_f1']:.3f}" for m in methods]
        if ref:
            cells.append(f"{r['reference']['own_f1']:.3f} / {r['reference']['pooled_f1']:.3f}")
        kept = r.get("counts_kept", {}).get("network_mean")
        lines.append(
            f"| {r['condition']} | {r['dose_e']:g} (seed {r['seed']}) | "
            + " | ".join(cells)
            + f" | {r.get('auto_decision', '-')} | {devs} | "
            + ("-" if kept is None else f"{kept:.2f}")
            + " |"
        )
    if result["speed"]:
        lines += [
            "",
            f"analyze speed (synchronous, {result['machine']['cpus']} CPUs, shared "
            "machine; DP/s of wall time and per CPU-second):",
            "",
            "| condition | detector | patterns | none DP/s (per CPU-s) | model DP/s "
            "(per CPU-s) | time ratio | CPU ratio |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["speed"]:
            lines.append(
                f"| {r['condition']} | {r['detector_px']} px | {r['patterns']} | "
                f"{r['none']['dps_per_s_wall']:.0f} ({r['none']['dps_per_s_cpu']:.0f}) | "
                f"{r['model']['dps_per_s_wall']:.0f} ({r['model']['dps_per_s_cpu']:.0f}) | "
                f"{r['time_ratio_model_over_none']:.2f} | {r['cpu_ratio_model_over_none']:.2f} |"
            )
    lines += ["", f"Wall time {result['wall_s'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    global MODEL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", default="report", choices=("tune", "check", "report"))
    ap.add_argument("--conditions", nargs="*", default=list(CONDITIONS))
    ap.add_argument("--doses", type=float, nargs="+", default=list(DOSES_E))
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="scene seeds (default: the split's first)",
    )
    ap.add_argument(
        "--methods",
        nargs="*",
        default=list(METHODS),
        choices=("raw", "auto", "model", "classical"),
        help="how each scan is analysed: raw (--denoise none), auto, model (forced), "
        "classical (--denoise classical)",
    )
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also score the truth-given matched filter on the raw counts "
        "(stemtf.evaluation.marker_reference: what the counts allow)",
    )
    ap.add_argument("--shape", type=int, nargs=2, default=(32, 32))
    ap.add_argument("--speed-conditions", nargs="*", default=list(CONDITIONS))
    ap.add_argument("--speed-shape", type=int, nargs=2, default=(32, 32))
    ap.add_argument("--cache-dir", type=Path, default=None, help="clean-library cache")
    ap.add_argument(
        "--model",
        type=Path,
        default=MODEL,
        help="SavedModel (version folder, or a folder of versions: the highest) to compare "
        "(default: the bundled one); `auto` uses it too",
    )
    args = ap.parse_args(argv)
    if not args.methods and not args.reference and args.conditions:
        ap.error("--methods is empty and --reference not given: nothing to measure")
    from stemtf.denoise.savedmodel import find_version_dir

    MODEL = find_version_dir(args.model.resolve())
    if MODEL is None:
        ap.error(f"--model {args.model}: no SavedModel there (nor a numeric version folder)")
    os.environ["STEMTF_MODEL_DIR"] = str(MODEL)  # what --denoise auto picks up
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("numba", "h5py", "matplotlib", "stemtf", "distributed", "abtem", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from stemtf.fileio import atomic_path, ensure_writable_dir, write_json_atomic

    bf = _field()
    known = bf.all_conditions()
    unknown = [n for n in (*args.conditions, *args.speed_conditions) if n not in known]
    if unknown:
        ap.error(f"--conditions {unknown} unknown: choose from {', '.join(known)}")
    split = bf.SPLITS[args.split]
    args.seeds = args.seeds or list(split["seeds"][:1])
    out = ensure_writable_dir(args.out)
    work = ensure_writable_dir(out / "work")
    t0 = time.perf_counter()
    libs = bf.libraries(split, args.cache_dir)
    result = {
        "settings": {
            "split": args.split,
            "conditions": args.conditions,
            "doses_e": args.doses,
            "seeds": args.seeds,
            "shape": list(args.shape),
            "methods": args.methods,
            "reference": args.reference,
            "speed_conditions": args.speed_conditions,
            "speed_shape": list(args.speed_shape),
            "model": str(MODEL),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    result["accuracy"] = accuracy(args, bf, libs, work)
    result["speed"] = speed(args, bf, libs, work)
    result["wall_s"] = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(out / "bench_denoise.json", result)
    md = markdown(result)
    with atomic_path(out / "bench_denoise.md") as tmp:
        tmp.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
