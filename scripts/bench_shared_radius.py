"""How far the pass-1 sample's shared-ring radius lies from the whole scan's, per sample seed.

Every O1-versus-both call measures a share against the first phase's precise shared-ring radius
learned in pass 1 (:meth:`stemtf.phase.PhaseModel.refine`). This script shows how much that
radius depends on which 256 patterns the sample drew, and that its standard error
(:attr:`PhaseModel.shared_radius_se`) predicts it: for each ``tune``/``check`` scene of
``scripts/bench_field.py`` (40 x 40, simulated into ``--scenes`` as ``scripts/tune_phase.py``
does and shared with it) and each ``--analysis-seeds`` seed it learns the radius from the
sample alone (``--shared-se-target inf``) and with :func:`stemtf.phase.learn.refine_shared_radius`
(the default), and compares both with the radius of the whole scan identified with the same
model. Deviations are in units of the gap between the two phases' shared rings.

    STEMTF_CACHE=... python scripts/bench_shared_radius.py --scenes /tmp/tune \\
        --conditions ideal-128 detector-256 all --doses 3e2 1e3 --seeds 0 1 --analysis-seeds 0 1 2 3

prints one line per scene and seed, then the rms deviation binned by the sample's standard
error, and the time ``refine_shared_radius`` took.

``--truth`` also measures every radius against the truth: the median precise radius of the
4+-vertex hexagons of the scene's pure-O3 patterns (truth labels), and shows how far the
3-vertex hexagons of pure-O3 patterns lie from it (the reason the model prefers 4+-vertex
ones, :meth:`stemtf.phase.PhaseModel.learn_shared_radius`), and in how many pure-O1 patterns
the share was measured at all (elsewhere the marker alone decides O1 versus both).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from phase_accuracy import _more_batches, sample_model  # noqa: E402
from tune_phase import scene_runs  # noqa: E402


def main(argv=None) -> None:
    from stemtf.phase import identify_phases
    from stemtf.phase.learn import refine_shared_radius

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, required=True, help="folder for the simulated scenes")
    ap.add_argument("--split", choices=["tune", "check"], default="tune")
    ap.add_argument("--conditions", nargs="*", default=None, help="default: all of bench_field")
    ap.add_argument("--doses", nargs="+", type=float, default=[3e2, 1e3])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--analysis-seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument(
        "--truth",
        action="store_true",
        help="also measure the radii against the truth-pure-O3 4+-vertex hexagons' radius",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows = []  # (se of the sample, deviation of the sample, deviation after, seconds)
    truth_rows = []  # against the truth: (sample, after, 3-vertex pure-O3 radii)
    o1_rows = []  # pure-O1 patterns: (all, share measured, share below the threshold)
    spreads = []  # per scene: sd over the analysis seeds of the radius, sample / after
    for name, dose, seed, library, _, raw, labels, _ in scene_runs(
        args.scenes, args.split, args.conditions, args.doses, args.seeds
    ):
        dps = raw.reshape((-1,) + raw.shape[2:])
        per_seed = []
        for a in args.analysis_seeds:
            cal, model, taken, sample = sample_model(dps, library, a, camera_length=True)
            t0 = time.perf_counter()
            more = refine_shared_radius(
                _more_batches(dps, taken, sample, a, len(sample)), cal, model
            )
            seconds = time.perf_counter() - t0
            res = identify_phases(dps, cal, model)
            hx = res.hexagons
            whole = replace(model, shared_radius_invA=0.0).learn_shared_radius(hx)
            if not whole.shared_radius_n:
                print(f"{name:22s} {dose:7g} {seed} a{a}  whole scan: not learned")
                continue
            r_all = whole.shared_radius_invA
            gap = r_all * (model.lattice_ratio - 1)

            def dev(m, r_all=r_all, gap=gap):
                return (m.shared_radius_invA - r_all) / gap if m.shared_radius_n else np.nan

            rows.append((model.shared_radius_se, dev(model), dev(more), seconds))
            print(
                f"{name:22s} {dose:7g} {seed} a{a}  sample n {model.shared_radius_n:3d} "
                f"se {model.shared_radius_se:.3f} dev {dev(model):+.3f} | more n "
                f"{more.shared_radius_n:4d} se {more.shared_radius_se:.3f} dev "
                f"{dev(more):+.3f} ({seconds:.1f} s) | whole n {whole.shared_radius_n}",
                flush=True,
            )
            if args.truth:
                t = truth_radius(hx, labels, more)
                if t is not None:
                    t_dev = [
                        (m.shared_radius_invA - t[0]) / gap if m.shared_radius_n else np.nan
                        for m in (model, more)
                    ]
                    share = np.asarray(res.share, float)[labels == 2]
                    measured = np.isfinite(share)
                    low = np.count_nonzero(share[measured] < more.share_threshold)
                    truth_rows.append((*t_dev, (t[1] - t[0]) / gap))
                    o1_rows.append((share.size, measured.sum(), low))
                    print(
                        f"{'':22s} truth: sample {t_dev[0]:+.3f} after {t_dev[1]:+.3f} "
                        f"| 3-vertex pure-O3 radii {(t[1] - t[0]) / gap:+.3f} "
                        f"({t[2]} and {t[3]} radii) | pure O1: share measured in "
                        f"{measured.sum()} of {share.size}, {low} below the threshold"
                    )
            per_seed.append((dev(model), dev(more)))
        if len(per_seed) > 1:
            spreads.append(np.nanstd(np.array(per_seed, float), axis=0, ddof=1))
    a = np.array(rows, float).reshape(-1, 4)
    for lo, hi in ((0, 0.05), (0.05, 0.08), (0.08, 0.12), (0.12, np.inf)):
        s = (a[:, 0] >= lo) & (a[:, 0] < hi)
        if not s.any():
            continue
        before, after = a[s, 1], a[s, 2]
        print(
            f"sample se {lo:g}-{hi:g}: {int(s.sum())} runs, rms deviation sample "
            f"{np.sqrt(np.nanmean(before**2)):.3f} (max {np.nanmax(np.abs(before)):.3f}), "
            f"after refine_shared_radius {np.sqrt(np.nanmean(after**2)):.3f} "
            f"(max {np.nanmax(np.abs(after)):.3f})"
        )
    nl = np.isnan(a[:, 1])
    if nl.any():
        after = a[nl, 2]
        print(
            f"not learned on the sample: {int(nl.sum())} runs, learned after "
            f"{int(np.isfinite(after).sum())}, rms deviation {np.sqrt(np.nanmean(after**2)):.3f}"
        )
    if spreads:
        sp = np.array(spreads)
        print(
            f"radius sd over the analysis seeds of one scene ({len(sp)} scenes): sample mean "
            f"{np.nanmean(sp[:, 0]):.3f} (max {np.nanmax(sp[:, 0]):.3f}), after "
            f"{np.nanmean(sp[:, 1]):.3f} (max {np.nanmax(sp[:, 1]):.3f}) of the gap"
        )
    print(f"refine_shared_radius: median {np.median(a[:, 3]):.2f} s, max {a[:, 3].max():.2f} s")
    if truth_rows:
        t = np.array(truth_rows, float)
        for i, what in enumerate(("sample", "after refine_shared_radius", "3-vertex pure-O3")):
            v = t[:, i]
            print(
                f"against the truth, {what}: rms {np.sqrt(np.nanmean(v**2)):.3f}, mean "
                f"{np.nanmean(v):+.3f}, range {np.nanmin(v):+.3f} .. {np.nanmax(v):+.3f} of the "
                f"gap ({int(np.isfinite(v).sum())} runs)"
            )
        n_o1, n_meas, n_low = np.sum(o1_rows, axis=0)
        print(
            f"pure O1 patterns: share measured in {n_meas} of {n_o1} "
            f"({n_meas / max(n_o1, 1):.0%}), below the O1/both threshold in {n_low}"
        )


def truth_radius(hx, labels, model, min_radii=5):
    """Median precise radius of pure-O3 patterns' 4+- and 3-vertex hexagons, and their counts.

    ``hx``: the whole scan's hexagons; ``labels``: truth labels per pattern (1 = pure O3).
    The hexagons on the model's first-phase shared ring, as the model selects them. ``None``
    where fewer than ``min_radii`` 4+-vertex radii exist.
    """
    sh = min(r.radius_invA for r in model.rings if r.phase == 0 and not r.marker)
    fine = hx["radius_fine_invA"]
    on = (labels[hx["dp_index"]] == 1) & np.isfinite(fine)
    on &= np.abs(fine / sh - 1) < model.ring_tolerance
    four, three = on & (hx["inliers"] >= 4), on & (hx["inliers"] == 3)
    if four.sum() < min_radii:
        return None
    r3 = float(np.median(fine[three])) if three.any() else np.nan
    return float(np.median(fine[four])), r3, int(four.sum()), int(three.sum())


if __name__ == "__main__":
    main()
