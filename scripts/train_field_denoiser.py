#!/usr/bin/env python
"""Train the RDUNet denoiser on the field scenes, under any Keras 3 backend, resumable.

Two steps:

``data``  renders field scenes (``scripts/bench_field.py``'s conditions on the ``tune`` and
          ``check`` split libraries; never ``report``, which the benchmarks quote) into
          noisy/target pairs in the model's frame (:func:`stemtf.scenes.pairs.field_pairs`) and
          writes them as one compressed ``.npz`` (float16; written atomically)::

              STEMTF_CACHE=... python scripts/train_field_denoiser.py data --out pairs.npz \\
                  --scenes 400 --seed 0

``train`` trains an RDUNet (by default starting from the bundled model) on random 64 px patches
          of those pairs with the project's L1 loss on the variance-stabilised scale, AdamW and
          a cosine learning rate, and writes a run folder that ``stemtf export --run`` exports
          (``model.keras``, ``config.json`` with the training domain, ``metrics.json``). It
          imports Keras only (no TensorFlow), so it runs on the TF backend here or under
          ``KERAS_BACKEND=jax`` on a GPU machine; rerunning the same command resumes from the
          last saved ``model.keras``. ``--max-seconds`` stops early (saved and recorded)::

              KERAS_BACKEND=jax python scripts/train_field_denoiser.py train --data pairs.npz \\
                  --out RUN --steps 20000 --batch 64 --max-seconds 300

The ``tf.distribute`` trainer (``stemtf train``) stays the path for tfds datasets and
multi-worker runs; this script is the single-device path for the field pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("train_field_denoiser")
HERE = Path(__file__).resolve().parent
BUNDLED = HERE.parent / "saved_models" / "rdunet" / "1" / "model.keras"
DATA_SPLITS = ("tune", "check")
F16_MAX = 65000.0  # counts stored as float16 (max 65504): saturated hot pixels clip here
FIELD_CONDITIONS = (
    "field_scenes",
    "thickness_A=30-200",
    "mistilt<=20mrad",
    "descan<=12px",
    "ellipticity<=3%",
    "calibration_error<=4%",
    "carbon_support",
    "gain_map",
    "dead_lines",
    "hot_pixels",
    "uint16",
    "off_zone_grains",
    "detectors=128px@0.0125,256px@0.0078",
)


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def cmd_data(args) -> None:
    sys.path.insert(0, str(HERE))
    import bench_field as bf

    from stemtf.scenes.pairs import PairSource, field_pairs

    card = json.loads((BUNDLED.parent / "model_card.json").read_text())
    model_r = float(card["domain"]["disk_radius_px"])
    conds = bf.conditions()
    sources = []
    for split in DATA_SPLITS:
        libs = bf.libraries(bf.SPLITS[split], args.cache_dir)
        for name, (det, field) in conds.items():
            sources.append(PairSource(f"{split}:{name}", libs[det], field, bf.N_GRAINS))
    t0 = time.perf_counter()

    def progress(k: int) -> None:
        if k % 25 == 0 or k == args.scenes:
            log.info("%d / %d scenes (%.0f s)", k, args.scenes, time.perf_counter() - t0)

    noisy, target, records = field_pairs(
        sources,
        n_scenes=args.scenes,
        model_disk_radius_px=model_r,
        dose_range_e=tuple(args.dose_range),
        frame_px=args.frame_px,
        seed=args.seed,
        progress=progress,
        context=args.context,
    )
    meta = {
        "sources": [s.name for s in sources],
        "dose_range_e": list(args.dose_range),
        "seed": args.seed,
        "model_disk_radius_px": model_r,
        "frame_px": args.frame_px,
        "scan_context": "neighbour_mean_8" if args.context else None,
        "scenes": records,
        "conditions": list(FIELD_CONDITIONS),
    }
    out = Path(args.out)
    _atomic_savez(
        out,
        noisy=np.minimum(noisy, F16_MAX).astype(np.float16),
        target=target.astype(np.float16),
        meta=np.array(json.dumps(meta)),
    )
    log.info(
        "wrote %s: %d pairs of %d px%s (%.1f MB)",
        out,
        len(noisy),
        args.frame_px,
        " with their neighbours' mean" if args.context else "",
        out.stat().st_size / 1e6,
    )


def _augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """The same random 90-degree rotation and flip for a batch of pairs (the patterns' symmetry)."""
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
    if rng.integers(2):
        x, y = x[:, :, ::-1], y[:, :, ::-1]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _patches(noisy, target, idx, patch, rng):
    """Random ``patch`` px crops (the same place in both) of pairs ``idx``, float32.

    ``noisy`` is ``(N, h, w)`` or, with scan context, ``(N, h, w, C)``; the crops keep its
    channels, and ``target`` is ``(N, h, w)``.
    """
    h, w = noisy.shape[1:3]
    ys = rng.integers(0, h - patch + 1, len(idx))
    xs = rng.integers(0, w - patch + 1, len(idx))
    x = np.empty((len(idx), patch, patch) + noisy.shape[3:], np.float32)
    y = np.empty((len(idx), patch, patch), np.float32)
    for k, (i, a, b) in enumerate(zip(idx, ys, xs, strict=True)):
        x[k] = noisy[i, a : a + patch, b : b + patch]
        y[k] = target[i, a : a + patch, b : b + patch]
    return x, y


def _source_counts(meta: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in meta["scenes"]:
        counts[rec["source"]] = counts.get(rec["source"], 0) + int(rec["pairs"])
    return counts


def cmd_train(args) -> None:
    import keras
    from keras import ops

    import stemtf.models  # noqa: F401  (registers the layers)
    from stemtf.models.normalization import stabilize
    from stemtf.training.losses import l1_stabilized

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    data = np.load(args.data)
    noisy, target = data["noisy"], data["target"]
    data_meta = json.loads(str(data["meta"]))
    n = len(noisy)
    if args.no_context and noisy.ndim == 4:  # the same pairs without their neighbours
        noisy = noisy[..., 0]
    ctx = noisy.shape[3] - 1 if noisy.ndim == 4 else 0  # scan-context channels
    n_val = max(1, int(round(args.val_fraction * n)))
    train_idx, val_idx = np.arange(n - n_val), np.arange(n - n_val, n)

    state = json.loads(state_path.read_text()) if state_path.is_file() else {"step": 0}
    resume = out / "model.keras"
    if state["step"] > 0 and resume.is_file():
        model = keras.saving.load_model(str(resume), safe_mode=True, compile=False)
        log.info("resuming at step %d from %s (AdamW moments restart)", state["step"], resume)
    else:
        init = Path(args.init) if args.init else None
        if init is not None:
            model = keras.saving.load_model(str(init), safe_mode=True, compile=False)
            if ctx and not getattr(model, "context", 0):
                model = stemtf.models.with_scan_context(model, ctx)
                log.info("scan context: %d channel(s) added to the starting model", ctx)
        else:
            model = stemtf.models.RDUNet(
                width=args.width,
                levels=args.levels,
                blocks=args.blocks,
                space_to_depth=args.space_to_depth,
                context=ctx,
            )
        state = {"step": 0}
    scale = float(model.get_config().get("norm_scale", 0.1))

    def l1(y_true, y_pred):
        # the tf.distribute trainer's loss, averaged over the batch as Model.fit expects
        return ops.mean(l1_stabilized(y_pred, y_true, scale))

    opt = keras.optimizers.AdamW(learning_rate=args.lr, weight_decay=args.weight_decay)
    model.compile(optimizer=opt, loss=l1, jit_compile=not args.no_jit)

    def save() -> None:
        """model.keras without the training loss (an uncompiled copy), written atomically."""
        bare = model.__class__.from_config(model.get_config())
        bare(np.zeros((1, args.patch, args.patch, 1 + ctx), np.float32))
        bare.set_weights(model.get_weights())
        tmp = out / ".model.keras.tmp.keras"
        bare.save(str(tmp))
        os.replace(tmp, resume)

    rng = np.random.default_rng([args.seed, state["step"]])
    val_rng = np.random.default_rng([args.seed, 10**9])
    vx, vy = _patches(noisy, target, np.repeat(val_idx, 4), args.patch, val_rng)
    vx, vy = (vx if ctx else vx[..., None]), vy[..., None]
    vy_stable = np.asarray(stabilize(vy, scale))

    def val_l1(pred) -> float:
        """The loss on the validation patches, in NumPy (for inputs other than the model's)."""
        return float(np.mean(np.abs(vy_stable - np.asarray(stabilize(pred, scale)))))

    raw_l1 = val_l1(vx[..., :1])

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        f = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, f)))

    history = state.get("history", [])
    t0 = time.perf_counter()
    chunk = args.chunk
    timing: list[tuple[int, float]] = []
    while state["step"] < args.steps:
        if args.max_seconds and time.perf_counter() - t0 > args.max_seconds:
            log.info(
                "stopping at step %d: --max-seconds %.0f reached", state["step"], args.max_seconds
            )
            break
        steps = min(chunk, args.steps - state["step"])
        model.optimizer.learning_rate.assign(lr_at(state["step"] + steps // 2))
        idx = rng.choice(train_idx, size=steps * args.batch)
        x, y = _patches(noisy, target, idx, args.patch, rng)
        x, y = _augment(x, y, rng)
        h = model.fit(
            x if ctx else x[..., None],
            y[..., None],
            batch_size=args.batch,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        state["step"] += steps
        state["backend"] = keras.backend.backend()  # the backend that trained
        timing.append((state["step"], time.perf_counter()))
        if args.fit_steps_to_time and args.max_seconds and len(timing) == 3:
            # the schedule's length from the measured rate (chunks 2-3, compiled)
            rate = (timing[2][0] - timing[0][0]) / max(1e-6, timing[2][1] - timing[0][1])
            left = args.max_seconds - (timing[2][1] - t0)
            args.steps = max(state["step"] + chunk, int(state["step"] + 0.9 * rate * left))
            args.steps -= args.steps % chunk
            log.info("%.1f steps/s: schedule set to %d steps", rate, args.steps)
        if state["step"] % args.eval_every < chunk or state["step"] >= args.steps:
            val = float(model.evaluate(vx, vy, batch_size=args.batch, verbose=0))
            rec = {
                "step": state["step"],
                "train_l1": float(h.history["loss"][-1]),
                "val_l1": val,
                "val_l1_raw_input": raw_l1,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            history.append(rec)
            log.info("%s", rec)
            save()
            state["history"] = history
            state_path.write_text(json.dumps(state))
    save()
    state["history"] = history
    state_path.write_text(json.dumps(state))
    domain = {
        "q_sampling_invA": 0.0125,
        "disk_radius_px": float(data_meta["model_disk_radius_px"]),
        "detector_px": 128,
        "energy_eV": 200e3,
        "semiangle_mrad": 1.0,
        "dose_range_e": [float(v) for v in data_meta["dose_range_e"]],
        "conditions": list(data_meta["conditions"]),
    }
    if ctx:
        domain["scan_context"] = data_meta.get("scan_context") or "neighbour_mean_8"
    if args.auto_dose_range:
        domain["auto_dose_range_e"] = [float(v) for v in args.auto_dose_range]
    # the probes of the training scenes (bench_field's detectors), widened by 10 %: where auto
    # may use the model (stemtf.denoise.domain.ModelDomain.auto_disk_radius_invA)
    sys.path.insert(0, str(HERE))
    import bench_field as bf

    from stemtf.physics import electron_wavelength_A

    disks = [
        d["semiangle_mrad"] * 1e-3 / electron_wavelength_A(200e3) for d in bf.DETECTORS.values()
    ]
    domain["auto_disk_radius_invA"] = [round(0.9 * min(disks), 4), round(1.1 * max(disks), 4)]
    config = {
        "train": {
            "dataset_config": "field",
            "data": str(args.data),
            "pairs": int(n),
            "val_pairs": int(n_val),
            "init": str(args.init) if args.init else None,
            "steps": args.steps,
            "steps_done": state["step"],
            "batch_size": args.batch,
            "patch_px": args.patch,
            "learning_rate": args.lr,
            "weight_decay": args.weight_decay,
            "lr_schedule": "cosine",
            "warmup_steps": args.warmup,
            "loss": "l1",
            "norm_scale": scale,
            "seed": args.seed,
            "backend": state.get("backend", keras.backend.backend()),
            "keras": keras.__version__,
            "domain": domain,
        }
    }
    (out / "config.json").write_text(json.dumps(config, indent=1))
    last = history[-1] if history else {}
    metrics = {
        "val_l1": last.get("val_l1"),
        "val_l1_raw_input": raw_l1,
        "train_l1": last.get("train_l1"),
        "steps_done": state["step"],
        "train_seconds_last_session": last.get("seconds"),
        "val_pairs": int(n_val),
    }
    if args.init:  # the starting model on the same validation patches
        start = keras.saving.load_model(str(args.init), safe_mode=True, compile=False)
        sx = vx[..., : 1 + getattr(start, "context", 0)]
        pred = np.concatenate([np.asarray(start(sx[i : i + 64])) for i in range(0, len(sx), 64)])
        metrics["val_l1_init_model"] = val_l1(pred)
    metrics["history"] = history
    metrics["data_sources"] = _source_counts(data_meta)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    log.info("done: %s", last)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="render field scenes into model-frame pairs (.npz)")
    d.add_argument("--out", required=True)
    d.add_argument("--scenes", type=int, default=400)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--dose-range", type=float, nargs=2, default=(50.0, 1e5))
    d.add_argument("--frame-px", type=int, default=112)
    d.add_argument("--cache-dir", default=None)
    d.add_argument(
        "--context",
        action="store_true",
        help="scan context: a second channel with the mean of the 8 neighbouring patterns",
    )
    t = sub.add_parser("train", help="train (or resume) on the pairs; any Keras backend")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--init", default=str(BUNDLED), help="starting .keras ('' = fresh RDUNet)")
    t.add_argument("--width", type=int, default=8)
    t.add_argument("--levels", type=int, default=3)
    t.add_argument("--blocks", type=int, default=1)
    t.add_argument("--space-to-depth", type=int, default=1)
    t.add_argument("--steps", type=int, default=5000)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--patch", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--weight-decay", type=float, default=1e-5)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument(
        "--chunk", type=int, default=100, help="steps per fit call (LR updated per chunk)"
    )
    t.add_argument("--eval-every", type=int, default=1000)
    t.add_argument("--val-fraction", type=float, default=0.05)
    t.add_argument("--max-seconds", type=float, default=0.0)
    t.add_argument(
        "--fit-steps-to-time",
        action="store_true",
        help="with --max-seconds: set --steps from the measured rate so the cosine ends in time",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-jit", action="store_true", help="no XLA compile (tiny test runs)")
    t.add_argument(
        "--no-context",
        action="store_true",
        help="train on the pattern channel alone of scan-context pairs (the per-pattern control)",
    )
    t.add_argument(
        "--auto-dose-range",
        type=float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="doses [e-/DP] at which --denoise auto may use the model (the card's "
        "domain.auto_dose_range_e: where it improved the phase map on the tune split); "
        "rerun a finished run with it to record it",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"data": cmd_data, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
