"""Tuning harness: the phase map of ``analyze`` on the field benchmark's ``tune`` scenes.

The same steps as ``stemtf analyze --denoise none`` in the same order — calibrate and refine on a
seeded sample (:func:`phase_accuracy.analyse`), identify, then the scan-context steps
(neighbourhood, matched filter, faint regions, marker check, neighbour vote) — but on the whole
scan at once instead of per chunk, and without writing results, so a threshold can be tried on
many scenes quickly. Scenes are those of ``scripts/bench_field.py`` (its conditions, ``tune``
libraries) at 40 x 40 probe positions, simulated once into ``--scenes`` and reused.

    STEMTF_CACHE=... python scripts/tune_phase.py --scenes /tmp/tune --seeds 0 1 --doses 2e3 1e4

prints one line per scene (O1-present F1, macro-F1, per-class F1 of O1 and both, patterns falsely
called O1/both and O1/both missed) and the means per dose. ``--marker-lattice-min-z -inf`` turns
the identification's count test of marker-only lattices off, ``--skip-steps faint_crystals lone_calls surrounded_calls``
the last scan-context steps (to measure what each adds), ``--matched min_pooled_z=5`` a threshold of
the low-dose matched filter. Quote numbers from
``scripts/bench_field.py --split report``, not from this.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_field as bf  # noqa: E402
from phase_accuracy import analyse  # noqa: E402

SHAPE = (40, 40)


def o1_present_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """F1 of 'O1 present' (O1 or both) against the truth."""
    a, b = np.isin(truth, (2, 3)), np.isin(pred, (2, 3))
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def analyse_scene(raw: np.ndarray, q_sampling_invA: float, library, seed: int):
    """Pass 1 and identification of a (Ry, Rx, H, W) scan: ``(result, calibration, model)``."""
    given = type(
        "Given",
        (),
        {
            "q_sampling_invA": q_sampling_invA,
            "energy_eV": library.energy_eV,
            "semiangle_mrad": library.semiangle_mrad,
            "material_ids": library.material_ids,
        },
    )
    res, cal, model, _ = analyse(raw.reshape((-1,) + raw.shape[2:]), given, seed)
    return res, cal, model


def label_scene(
    raw: np.ndarray,
    q_sampling_invA: float,
    library,
    seed: int,
    skip: tuple[str, ...] = (),
    matched: dict[str, float] | None = None,
    analysis=None,
) -> np.ndarray:
    """Labels of a (Ry, Rx, H, W) scan through identification and every scan-context step.

    ``matched`` overrides fields of the matched filter's :class:`MatchedParams`; ``analysis``:
    the scan's :func:`analyse_scene` with the same ``seed``, if already run.
    """
    from stemtf.phase.context import label_faint_regions, label_from_neighbours
    from stemtf.phase.matched import MatchedParams, check_marker_on_counts, label_sparse_patterns

    try:  # absent before the neighbour vote existed (comparisons with older checkouts)
        from stemtf.phase.context import vote_on_mixed_calls
    except ImportError:
        vote_on_mixed_calls = None

    res, cal, model = analysis or analyse_scene(raw, q_sampling_invA, library, seed)
    lab, conf, _ = label_from_neighbours(raw, res.labels, res.confidence, cal, model)
    prm = MatchedParams(**(matched or {}))
    lab, conf, _ = label_sparse_patterns(raw, lab, conf, res.centers_yx, cal, model, prm)
    lab, conf, _ = label_faint_regions(raw, lab, conf, res.hexagons, cal)
    try:  # absent before this step existed
        from stemtf.phase.context import grow_grains
    except ImportError:
        pass
    else:
        if "grown_grains" not in skip:
            lab, conf, _ = grow_grains(raw, lab, conf, res.hexagons, res.centers_yx, cal, model)
    lab, conf, _ = check_marker_on_counts(raw, lab, conf, res.hexagons, res.centers_yx, cal, model)
    if vote_on_mixed_calls is not None:
        lab, conf, _ = vote_on_mixed_calls(
            raw, lab, conf, res.share, res.share_sd, res.lattice_rotation_deg, model
        )
    try:  # absent before this step existed
        from stemtf.phase.context import unassign_faint_crystals
    except ImportError:
        pass
    else:
        if "faint_crystals" not in skip:
            lab, conf, _ = unassign_faint_crystals(raw, lab, conf, cal, model, seed=seed)
    try:  # absent before this step existed
        from stemtf.phase.context import unassign_isolated_calls
    except ImportError:
        pass
    else:
        lab, conf, _ = unassign_isolated_calls(raw, lab, conf, model)
    try:  # absent before this step existed
        from stemtf.phase.context import first_phase_for_lone_calls
    except ImportError:
        pass
    else:
        if "lone_calls" not in skip:
            lab, conf, _ = first_phase_for_lone_calls(raw, lab, conf, model)
    try:  # absent before this step existed
        from stemtf.phase.context import second_phase_for_surrounded_calls
    except ImportError:
        pass
    else:
        if "surrounded_calls" not in skip:
            lab, conf, _ = second_phase_for_surrounded_calls(
                raw, lab, conf, res.lattice_rotation_deg, model
            )
    try:  # absent before this step existed
        from stemtf.phase.matched import second_phase_for_enclosed_patterns
    except ImportError:
        pass
    else:
        if "enclosed_none" not in skip:
            lab, conf, _ = second_phase_for_enclosed_patterns(
                raw, lab, conf, res.centers_yx, cal, model
            )
    try:  # absent before this step existed
        from stemtf.phase.marker_share import check_marker_share
    except ImportError:
        pass
    else:
        if "marker_share" not in skip:
            lab, conf, _ = check_marker_share(
                raw, lab, conf, res.hexagons, res.centers_yx, cal, model
            )
    try:  # absent before this step existed
        from stemtf.phase.context import none_for_lone_calls_in_vacuum
    except ImportError:
        pass
    else:
        if "vacuum_calls" not in skip:
            lab, conf, _ = none_for_lone_calls_in_vacuum(raw, lab, conf, res.hexagons, model)
    return np.asarray(lab)


def condition_names(requested: list[str] | None) -> tuple[dict, list[str]]:
    """All of bench_field's conditions and the names asked for (default: its standard set).

    Exits with one line naming the conditions it does not know.
    """
    conditions = bf.all_conditions()
    names = requested or list(bf.conditions())
    unknown = sorted(set(names) - set(conditions))
    if unknown:
        raise SystemExit(f"--conditions {unknown} not known; choose from {sorted(conditions)}")
    return conditions, names


def load_scene(path: Path, dose: float, seed: int, library, field):
    """A 40 x 40 scene (simulated into ``path`` the first time): counts, labels, q sampling."""
    import h5py

    from stemtf.scenes import simulate_scan

    truth_path = path.with_name(path.stem + "_truth.h5")
    if not (path.exists() and truth_path.exists()):
        simulate_scan(
            path,
            shape=SHAPE,
            dose_e=dose,
            seed=seed,
            library=library,
            field=field,
            n_grains=bf.N_GRAINS,
        )
    raw = np.load(path).astype(np.float32)
    with h5py.File(truth_path, "r") as f:
        return raw, np.asarray(f["labels"]).ravel(), float(f.attrs["q_sampling_invA"])


def scene_runs(folder: Path, split: str, requested, doses, seeds, prefix: str = ""):
    """Every scene of ``requested`` conditions x ``doses`` x ``seeds`` (simulated the first time).

    Yields ``(name, dose, seed, library, path, raw, truth, q_sampling_invA)`` in that order of
    loops; ``library`` is the ``split``'s library of the condition's detector, ``path`` the
    scene's ``.npy`` file in ``folder`` (file names ``{prefix}{name}_{dose:g}_{seed}.npy``).
    """
    conditions, names = condition_names(requested)
    libs = bf.libraries(bf.SPLITS[split], None)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        det, field = conditions[name]
        for dose in doses:
            for seed in seeds:
                path = folder / f"{prefix}{name}_{dose:g}_{seed}.npy"
                raw, truth, q = load_scene(path, dose, seed, libs[det], field)
                yield name, dose, seed, libs[det], path, raw, truth, q


def main(argv=None) -> None:
    from stemtf.phase.metrics import phase_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, required=True, help="folder for the simulated scenes")
    ap.add_argument("--conditions", nargs="*", default=None, help="default: all of bench_field")
    ap.add_argument("--doses", nargs="+", type=float, default=[2e3, 1e4])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--prefix", default="", help="file-name prefix of the scenes in --scenes")
    ap.add_argument(
        "--split",
        choices=["tune", "check"],
        default="tune",
        help="bench_field split whose libraries make the scenes (never report)",
    )
    ap.add_argument(
        "--analysis-seed", type=int, default=0, help="pass-1 sample seed (analyze's --seed)"
    )
    ap.add_argument(
        "--marker-lattice-min-z",
        type=float,
        default=None,
        help="override classify.MARKER_LATTICE_MIN_Z (-inf: the marker-only count test off)",
    )
    ap.add_argument(
        "--shared-se-target",
        type=float,
        default=None,
        help="override learn.SHARED_SE_TARGET (inf: pass 1 learns the shared radius from its "
        "sample only)",
    )
    ap.add_argument(
        "--skip-steps",
        nargs="*",
        default=[],
        choices=[
            "grown_grains",
            "faint_crystals",
            "lone_calls",
            "surrounded_calls",
            "enclosed_none",
            "marker_share",
            "vacuum_calls",
        ],
        help="scan-context steps left out",
    )
    ap.add_argument(
        "--matched",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override matched-filter thresholds (stemtf.phase.matched.MatchedParams fields)",
    )
    args = ap.parse_args(argv)
    matched = {}
    for item in args.matched:
        name, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"--matched {item!r}: expected NAME=VALUE")
        integer = name.endswith(("vertices", "reach", "cluster"))
        matched[name] = int(value) if integer else float(value)
    from stemtf.errors import InputError
    from stemtf.phase.matched import MatchedParams

    try:
        MatchedParams(**matched)
    except (TypeError, InputError) as exc:
        raise SystemExit(f"--matched {args.matched}: {exc}") from None
    logging.basicConfig(level=logging.ERROR)
    if args.marker_lattice_min_z is not None:
        import stemtf.phase.classify as classify

        classify.MARKER_LATTICE_MIN_Z = args.marker_lattice_min_z
    if args.shared_se_target is not None:
        import stemtf.phase.learn as learn

        learn.SHARED_SE_TARGET = args.shared_se_target
    per_dose: dict[float, list[tuple[float, float]]] = {}
    for name, dose, seed, library, _, raw, truth, q in scene_runs(
        args.scenes, args.split, args.conditions, args.doses, args.seeds, args.prefix
    ):
        pred = label_scene(
            raw,
            q,
            library,
            args.analysis_seed,
            skip=tuple(args.skip_steps),
            matched=matched,
        )
        m = phase_metrics(pred, truth)
        o1p = o1_present_f1(pred, truth)
        o1_called, o1_true = np.isin(pred, (2, 3)), np.isin(truth, (2, 3))
        false_o1 = int((o1_called & ~o1_true).sum())
        missed = int((~o1_called & o1_true).sum())
        per_dose.setdefault(dose, []).append((o1p, m["macro_f1"], false_o1, missed))
        c = m["classes"]
        print(
            f"{name:22s} {dose:7g} {seed}  O1-present {o1p:.3f}  macro {m['macro_f1']:.3f}"
            f"  O1 {c['O1']['f1']:.3f}  both {c['both']['f1']:.3f}  false O1/both "
            f"{false_o1}  missed {missed}",
            flush=True,
        )
    for dose, rows in sorted(per_dose.items()):
        a = np.array(rows)
        print(
            f"dose {dose:g}: {len(a)} scenes, mean O1-present {a[:, 0].mean():.4f}, "
            f"mean macro-F1 {a[:, 1].mean():.4f}, false O1/both {int(a[:, 2].sum())}, "
            f"missed O1/both {int(a[:, 3].sum())}"
        )


if __name__ == "__main__":
    main()
