#!/usr/bin/env python
"""Phase-map accuracy on synthetic NMC811 scans against dose, without denoising.

For each dose: a synthetic scan (stemtf.scenes: abTEM clean-pattern library, noise model),
then the analysis flow of ``stemtf analyze`` in memory (calibrate on a 256-pattern sample,
phase model from the reference structures, first pass, refine the ring radii, final pass) and
the per-class precision/recall/F1 against the truth.

    python scripts/phase_accuracy.py --out runs/phase_accuracy [--shape 64 64] [--seeds 0 1]

Writes ``accuracy.json`` and ``accuracy.png`` (macro-F1 and per-class F1 against dose).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from stemtf.fileio import atomic_path, ensure_writable_dir, write_json_atomic
from stemtf.phase import PhaseModel, calibrate, identify_phases
from stemtf.phase.learn import (
    correct_camera_length,
    refine_ellipticity,
    refine_on_sample,
    refine_shared_radius,
)
from stemtf.phase.metrics import format_metrics, phase_metrics
from stemtf.scenes import SceneRenderer, build_library, make_layout, scan_noise_params

log = logging.getLogger("phase_accuracy")
DOSES_E = (1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5)


def render(library, shape, dose_e, seed):
    """A scene in memory: (dps (N, H, W) float32, truth (Ry, Rx) uint8)."""
    rng = np.random.default_rng([seed, 0])
    layout = make_layout(
        shape, rng, n_rotations=len(library.rotations_deg), n_thicknesses=len(library.thicknesses_A)
    )
    params = scan_noise_params(dose_e, rng)
    scene = SceneRenderer(layout, library, dose_e=dose_e, seed=seed, params=params)
    dps = np.concatenate([scene[r] for r in range(shape[0])])
    return dps, layout.labels


def analyse(dps, library, seed, n_sample=256):
    """The analyze flow: calibrate, model from structures, refine on a sample, label all."""
    cal, model, taken, sample = sample_model(dps, library, seed, n_sample)
    model = refine_shared_radius(_more_batches(dps, taken, sample, seed, n_sample), cal, model)
    t0 = time.perf_counter()
    res = identify_phases(dps, cal, model)
    return res, cal, model, time.perf_counter() - t0


def sample_model(dps, library, seed, n_sample=256, *, camera_length=False):
    """Calibration and model refined on a seeded sample; the sample and its indices too.

    ``camera_length``: also :func:`correct_camera_length` as ``analyze`` does (``analyse``
    leaves it out, as the tuning runs of earlier sessions did).
    """
    rng = np.random.default_rng(seed)
    taken = np.sort(rng.choice(len(dps), size=min(n_sample, len(dps)), replace=False))
    sample = dps[taken]
    cal = calibrate(
        sample,
        q_sampling_invA=library.q_sampling_invA,
        energy_eV=library.energy_eV,
        semiangle_mrad=library.semiangle_mrad,
    )
    model = PhaseModel.from_materials(list(library.material_ids), cal)
    if not camera_length:
        cal = refine_ellipticity(sample, cal, model)
        return cal, refine_on_sample(sample, cal, model), taken, sample
    cal = refine_ellipticity(sample, cal, model, seed=seed)
    first = identify_phases(sample, cal, model, seed=seed)
    given = cal
    cal, model = correct_camera_length(sample, cal, model, seed=seed, identified=first)
    first = first if cal == given else None
    return cal, refine_on_sample(sample, cal, model, seed=seed, identified=first), taken, sample


def _more_batches(dps, taken, sample, seed, size):
    """The sample, then the other patterns in seeded random batches (as ``analyze``'s pass 1)."""
    from stemtf.analysis.sample import more_positions

    yield sample
    # the scan as one row of len(dps) positions: the order analyze draws for ``seed``
    rest = more_positions((0, 1, 0, len(dps)), np.zeros_like(taken), taken, seed)[1]
    for i in range(0, rest.size, size):
        yield dps[np.sort(rest[i : i + size])]


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doses = sorted({r["dose_e"] for r in rows})
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for key, style in (
        ("macro_f1", "k-o"),
        ("none", "C7--"),
        ("O3", "C1--"),
        ("O1", "C0--"),
        ("both", "C2--"),
    ):
        vals = [
            np.mean(
                [
                    (r["macro_f1"] if key == "macro_f1" else r["classes"][key]["f1"])
                    for r in rows
                    if r["dose_e"] == d
                ]
            )
            for d in doses
        ]
        ax.plot(doses, vals, style, label="macro-F1" if key == "macro_f1" else f"F1 {key}")
    ax.axhline(0.95, color="r", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("dose [e$^-$ per pattern]")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.02)
    ax.set_title("Phase map vs dose (synthetic NMC811, no denoising)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", type=int, nargs=2, default=(64, 64))
    ap.add_argument("--doses", type=float, nargs="+", default=list(DOSES_E))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("numba", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ensure_writable_dir(args.out)
    library = build_library(cache_dir=args.cache_dir)
    rows = []
    for dose in args.doses:
        for seed in args.seeds:
            dps, truth = render(library, tuple(args.shape), dose, seed)
            res, cal, model, dt = analyse(dps, library, seed)
            m = phase_metrics(res.labels.reshape(truth.shape), truth)
            log.info(
                "dose %.0f seed %d (%.2f ms/DP)\n%s",
                dose,
                seed,
                1e3 * dt / len(dps),
                format_metrics(m),
            )
            rows.append(
                {
                    "dose_e": dose,
                    "seed": seed,
                    "shape": list(args.shape),
                    "identify_ms_per_dp": 1e3 * dt / len(dps),
                    "calibration": cal.to_dict(),
                    "model": model.to_dict(),
                    **m,
                }
            )
    summary = {
        d: float(np.mean([r["macro_f1"] for r in rows if r["dose_e"] == d])) for d in args.doses
    }
    write_json_atomic(
        args.out / "accuracy.json",
        {
            "library": library.info(),
            "macro_f1_by_dose": {f"{d:g}": v for d, v in summary.items()},
            "runs": rows,
        },
    )
    plot(rows, args.out / "accuracy.png")
    for d, v in summary.items():
        print(f"dose {d:>8g} e-/DP   macro-F1 {v:.4f}")


if __name__ == "__main__":
    main()
