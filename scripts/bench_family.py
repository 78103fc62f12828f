#!/usr/bin/env python
"""Family benchmark: per-class F1 of the NMC811 degradation family (O3, O1, O3+O1, rock salt,
spinel, H3) against dose, and O1-present F1 against the default two-phase run on the same scans.

Each scan is a family scene of :func:`stemtf.scenes.simulate_scan` (``stemtf simulate-scan
--family``): an O3 matrix with O1 domains and O3+O1 columns (O1 share 20-80 %), one spinel and
one H3 grain, a rock-salt shell 1-3 px thick at the surface, vacuum; spinel and rock salt along
[111] in their topotactic orientation, the others along [001]; abTEM clean patterns with the
30-200 Å thickness map; 256 px detector at 0.0078 1/Å/px, 1.5 mrad; the noise model's
background, blur, spot dimming, centre offset and descan; the calibration handed to ``analyze``
wrong by 0.5 % (+ even seeds, - odd seeds). Optional field conditions of
``scripts/bench_field.py`` (``--conditions``) are laid over it, their calibration error
replaced by the 0.5 %.

Every scan goes through :func:`stemtf.analysis.analyze` (the ``stemtf analyze`` library call,
``--denoise none``) twice: with ``--phases`` the five family ids, and with the default two
phases (O3, O1). Truth and prediction are matched by label *name* (the ``label_names``
attribute of the truth's and of results.h5's ``labels``), never by code; the two-phase run's
``both`` is O3+O1, a mixture's parts are order-free (``O1+O3`` is O3+O1), an ambiguity ``A|B``
counts as none of the classes and as O1-present only when every alternative holds O1. While
``analyze`` refuses five phases, the five-phase rows say so (with the refusal) and the two-phase
rows are still measured.

Tuning and reporting are separated as in bench_field: ``--split tune`` (library rotations 3-52
deg, simulation seed 0, scene seeds 0, 1), ``--split report`` (rotations 8-57 deg, simulation
seed 1, scene seeds 100, 101). Tune on ``tune``, quote ``report``.

    python scripts/bench_family.py --out runs/bench_family_report --split report
    python scripts/bench_family.py --out /tmp/bfam --split tune --seeds 0        # dev

Clean libraries are cached under ``$STEMTF_CACHE`` (or ``--cache-dir``). Writes
``bench_family.json`` and ``bench_family.md`` in ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_family")


def _bench_field():
    """scripts/bench_field.py as a module (splits, detectors, conditions, formatting)."""
    path = Path(__file__).resolve().with_name("bench_field.py")
    spec = importlib.util.spec_from_file_location("bench_field", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BF = _bench_field()
SPLITS = BF.SPLITS
DOSES_E = (2e3, 1e4)
CALIBRATION_ERROR = 0.005
#: Classes scored, by truth name (the family's display names).
CLASSES = ("O3", "O1", "O3+O1", "rock salt", "spinel", "H3")
O1 = "O1"
#: Mixture names the default two-phase model writes.
_ALIASES = {"both": "O3+O1"}


def canonical(name: str, order: tuple[str, ...]) -> str:
    """One spelling per label: ``both`` -> ``O3+O1``; mixture parts in phase order."""
    name = _ALIASES.get(name, name)
    if "|" in name:
        return "|".join(sorted(canonical(n, order) for n in name.split("|")))
    if "+" in name:
        parts = name.split("+")
        return "+".join(sorted(parts, key=lambda p: (order.index(p) if p in order else 99, p)))
    return name


def o1_present(name: str) -> bool:
    """A label holding O1 (O1 or a mixture with it); an ambiguity only if every option does."""
    return all(O1 in alt.split("+") for alt in name.split("|"))


def score(pred: np.ndarray, pred_names, truth: np.ndarray, truth_names) -> dict:
    """Per-class F1 (by name), their mean over the classes in the truth, O1-present F1."""
    order = tuple(n for n in truth_names if "+" not in n)
    tn = np.array([canonical(n, order) for n in truth_names], dtype=object)[truth]
    pn = np.array([canonical(str(n), order) for n in pred_names], dtype=object)[pred]
    f1, support = {}, {}
    for c in CLASSES + ("none", "unassigned"):
        t, p = tn == c, pn == c
        support[c] = int(t.sum())
        f1[c] = 2 * float(np.sum(t & p)) / float(t.sum() + p.sum()) if t.any() else None
    t1 = np.vectorize(o1_present, otypes=[bool])(tn)
    p1 = np.vectorize(o1_present, otypes=[bool])(pn)
    o1_f1 = 2 * float(np.sum(t1 & p1)) / float(t1.sum() + p1.sum()) if t1.any() else None
    scored = [f1[c] for c in CLASSES if f1[c] is not None]
    called = {str(n): int(np.sum(pn == n)) for n in dict.fromkeys(pn.ravel())}
    return {
        "f1": f1,
        "support": support,
        "mean_class_f1": float(np.mean(scored)) if scored else None,
        "o1_present_f1": o1_f1,
        "predicted_counts": called,
    }


def library(split: dict, conds: list, cache_dir):
    """The family clean library of a split (tilts / off-zone axes when a condition needs them)."""
    from stemtf.scenes import build_library
    from stemtf.scenes.family import family_library_args
    from stemtf.scenes.library import FIELD_THICKNESSES_A, OFFZONE_AXES, tilt_axis_mrad

    tilt = max(f.max_tilt_mrad for f in conds)
    return build_library(
        **family_library_args(),
        **BF.DETECTORS["256"],
        rotations_deg=split["rotations_deg"],
        seed=split["library_seed"],
        thicknesses_A=FIELD_THICKNESSES_A,
        cache_dir=cache_dir,
        tilts_mrad=tilt_axis_mrad(tilt, azimuths_deg=split["tilt_azimuths_deg"]),
        offzone_axes=OFFZONE_AXES if any(f.offzone_grains for f in conds) else (),
    )


def analyze_labels(scan, out, phases, *, q_sampling_invA, lib, seed, scheduler):
    """``analyze --denoise none`` of one scan: labels, their names, summary (InputError raised)."""
    import h5py

    from stemtf.analysis import AnalyzeConfig, analyze

    shutil.rmtree(out, ignore_errors=True)
    config = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise="none",
        seed=seed,
        scheduler=scheduler,
        q_sampling_invA=q_sampling_invA,
        energy_eV=lib.energy_eV,
        semiangle_mrad=lib.semiangle_mrad,
        phases=tuple(phases),
    )
    summary = analyze(config, progress=False).summary
    with h5py.File(out / "results.h5", "r") as f:
        labels = np.asarray(f["labels"])
        names = json.loads(f["labels"].attrs["label_names"])
    shutil.rmtree(out, ignore_errors=True)
    return labels, names, summary


def run_scan(work: Path, name: str, lib, field, dose: float, seed: int, shape, scheduler):
    """Simulate one family scan and score the five-phase and the two-phase run on it."""
    import h5py

    from stemtf.analysis.config import DEFAULT_PHASES
    from stemtf.errors import InputError
    from stemtf.scenes import simulate_scan
    from stemtf.scenes.family import FAMILY_IDS, FamilyScene

    t0 = time.perf_counter()
    scan, truth_file = simulate_scan(
        work / f"{name}_{dose:g}_{seed}.npy",
        shape=shape,
        dose_e=dose,
        seed=seed,
        library=lib,
        field=field,
        n_grains=BF.N_GRAINS,
        family=FamilyScene(),
    )
    sim_s = time.perf_counter() - t0
    with h5py.File(truth_file, "r") as f:
        truth = np.asarray(f["labels"])
        truth_names = json.loads(f["labels"].attrs["label_names"])
        q_given = float(f.attrs["q_sampling_invA"])
        q_true = float(f.attrs["q_sampling_true_invA"])
    rows = []
    for run, phases in (("five-phase", FAMILY_IDS), ("two-phase", DEFAULT_PHASES)):
        row = {
            "condition": name,
            "run": run,
            "phases": list(phases),
            "dose_e": dose,
            "seed": seed,
            "q_given_invA": q_given,
            "q_true_invA": q_true,
            "simulate_s": sim_s,
        }
        t1 = time.perf_counter()
        try:
            pred, names, summary = analyze_labels(
                scan,
                work / f"out_{run}",
                phases,
                q_sampling_invA=q_given,
                lib=lib,
                seed=seed,
                scheduler=scheduler,
            )
        except InputError as e:
            row["refused"] = str(e)
            rows.append(row)
            continue
        row["analyze_s"] = time.perf_counter() - t1
        row["label_names"] = list(names)
        row["warnings"] = list(summary.get("warnings", []))
        row.update(score(pred, names, truth, truth_names))
        rows.append(row)
    row_t = {c: int(np.sum(truth == truth_names.index(c))) for c in CLASSES}
    for r in rows:
        r["truth_counts"] = row_t
    scan.unlink()
    truth_file.unlink()
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean over seeds per (condition, run, dose); refused runs carry the refusal."""
    out = []
    keys = dict.fromkeys((r["condition"], r["run"], r["dose_e"]) for r in rows)
    for cond, run, dose in keys:
        rs = [r for r in rows if (r["condition"], r["run"], r["dose_e"]) == (cond, run, dose)]
        a = {"condition": cond, "run": run, "dose_e": dose, "seeds": [r["seed"] for r in rs]}
        refused = [r["refused"] for r in rs if "refused" in r]
        if refused:
            a["refused"] = refused[0]
        done = [r for r in rs if "refused" not in r]
        if done:
            a["f1"] = {c: BF._mean([r["f1"][c] for r in done]) for c in CLASSES}
            a["mean_class_f1"] = BF._mean([r["mean_class_f1"] for r in done])
            a["o1_present_f1"] = BF._mean([r["o1_present_f1"] for r in done])
            a["analyze_s"] = BF._mean([r["analyze_s"] for r in done])
        out.append(a)
    return out


def markdown(result: dict) -> str:
    """The per-class F1 table (rows: condition, dose, run)."""
    s = result["settings"]
    lines = [
        f"Family benchmark, split `{s['split']}` (scene seeds {s['seeds']}, library rotations "
        f"{s['rotations_deg']} deg, simulation seed {s['library_seed']}), "
        f"{s['shape'][0]} x {s['shape'][1]} scans, 256 px detector, calibration off by "
        f"{100 * CALIBRATION_ERROR:g} %, `analyze --denoise none`; per-class F1 by label name:",
        "",
        "| condition | dose | run | " + " | ".join(CLASSES) + " | mean | O1-present |",
        "|---" * (len(CLASSES) + 5) + "|",
    ]
    for a in result["summary"]:
        head = f"| {a['condition']} | {a['dose_e']:g} | {a['run']} |"
        if "f1" not in a:
            lines.append(head + f" refused: {a['refused']} |" + " |" * (len(CLASSES) + 1))
            continue
        cells = [BF._fmt(a["f1"][c]) for c in CLASSES]
        cells += [BF._fmt(a["mean_class_f1"]), BF._fmt(a["o1_present_f1"])]
        lines.append(head + " " + " | ".join(cells) + " |")
    lines += ["", f"Wall time {result['wall_s'] / 60:.1f} min on {result['machine']['cpus']} CPUs."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--split",
        choices=sorted(SPLITS),
        required=True,
        help="tune: seeds/rotations to tune on; report: disjoint ones to quote",
    )
    ap.add_argument("--doses", type=float, nargs="+", default=list(DOSES_E))
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="scene seeds (default: the split's two)"
    )
    ap.add_argument("--shape", type=int, nargs=2, default=(32, 32))
    field_names = [n for n, (det, _) in BF.conditions().items() if det == "256"]
    ap.add_argument(
        "--conditions",
        nargs="+",
        default=["detector-256"],
        help="bench_field conditions laid over the family scene (256 px ones): "
        + ", ".join(field_names),
    )
    ap.add_argument("--scheduler", default=None, help="analyze scheduler (default: its choice)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="clean-library cache")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("numba", "h5py", "matplotlib", "stemtf", "distributed", "abtem"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from stemtf.fileio import ensure_writable_dir

    split = SPLITS[args.split]
    seeds = args.seeds or list(split["seeds"])
    if args.split == "report" and set(seeds) & set(SPLITS["tune"]["seeds"]):
        ap.error(f"--seeds {seeds} overlap the tune split's {list(SPLITS['tune']['seeds'])}")
    unknown = [n for n in args.conditions if n not in field_names]
    if unknown:
        ap.error(f"--conditions {unknown} unknown: choose from {', '.join(field_names)}")
    conds = {n: BF.conditions()[n][1] for n in args.conditions}
    out = ensure_writable_dir(args.out)
    work = ensure_writable_dir(out / "work")
    t0 = time.perf_counter()
    lib = library(split, list(conds.values()), args.cache_dir)
    lib_s = time.perf_counter() - t0
    log.info("family library ready in %.1f s", lib_s)
    rows = []
    for name, field in conds.items():
        for dose in args.doses:
            for i, seed in enumerate(seeds):
                sign = 1 if i % 2 == 0 else -1
                f = replace(field, calibration_error=sign * CALIBRATION_ERROR)
                for row in run_scan(
                    work, name, lib, f, dose, seed, tuple(args.shape), args.scheduler
                ):
                    rows.append(row)
                    if "refused" in row:
                        log.info(
                            "%-14s dose %6g seed %3d  %s refused: %s",
                            name,
                            dose,
                            seed,
                            row["run"],
                            row["refused"],
                        )
                        continue
                    log.info(
                        "%-14s dose %6g seed %3d  %-10s %s  O1-present %s  (analyze %.1f s)",
                        name,
                        dose,
                        seed,
                        row["run"],
                        " ".join(f"{c} {BF._fmt(row['f1'][c])}" for c in CLASSES),
                        BF._fmt(row["o1_present_f1"]),
                        row["analyze_s"],
                    )
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "settings": {
            "split": args.split,
            "doses_e": args.doses,
            "seeds": seeds,
            "shape": list(args.shape),
            "conditions": list(conds),
            "calibration_error": CALIBRATION_ERROR,
            "rotations_deg": list(split["rotations_deg"]),
            "library_seed": split["library_seed"],
            # calibration_error: + for even seed positions, - for odd
            "fields": {
                n: replace(f, calibration_error=CALIBRATION_ERROR).to_dict()
                for n, f in conds.items()
            },
        },
        "library": lib.info(),
        "library_s": lib_s,
        "machine": BF.machine_info(),
        "runs": rows,
        "summary": aggregate(rows),
        "wall_s": time.perf_counter() - t0,
    }
    BF.write_outputs(out, "bench_family", result, markdown)
    print(f"run time {result['wall_s']:.0f} s (library {lib_s:.0f} s)")


if __name__ == "__main__":
    main()
