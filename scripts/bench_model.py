#!/usr/bin/env python
"""Benchmark RDUNet on this machine: training steps/s, input-pipeline pairs/s, inference DPs/s.

    python scripts/bench_model.py                       # widths 16 32 64, 128^2 and 256^2
    python scripts/bench_model.py --data-dir DATA --dataset-config small   # + the real pipeline
    python scripts/bench_model.py --json bench_model.json
    python scripts/bench_model.py --widths 8 --levels 3 --blocks 1 --space-to-depth 1 2 4 --sizes 128 --infer-batch 32 --infer-reps 6

Training: the custom step of ``stemtf train`` (L1 on the stabilised scale, AdamW) on
``--patch-px`` patches, global batch ``--batch-size``, default strategy. Pipeline: batches/s of
the synthetic in-memory pipeline and, with ``--data-dir``, of ``stemtf.data.load`` (shuffle,
augment, crop). Inference: ``model(x)`` in a ``tf.function`` on full patterns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def bench_training(width: int, s2d: int, args) -> float:
    import numpy as np
    import tensorflow as tf

    from stemtf.models import RDUNet
    from stemtf.training import TrainConfig
    from stemtf.training.loop import build_optimizer
    from stemtf.training.losses import make_loss

    cfg = TrainConfig(
        width=width,
        levels=args.levels,
        blocks=args.blocks,
        space_to_depth=s2d,
        synthetic=1,
        patch_px=args.patch_px,
        batch_size=args.batch_size,
    )
    model = RDUNet(**cfg.model_config())
    opt = build_optimizer(cfg)
    loss_fn = make_loss("l1", cfg.norm_scale)
    rng = np.random.default_rng(0)
    x = tf.constant(
        rng.poisson(5.0, (args.batch_size, args.patch_px, args.patch_px, 1)).astype("float32")
    )
    y = tf.constant(rng.poisson(5.0, x.shape).astype("float32"))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(model(x, training=True), y))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return 1.0 / _timed(lambda: step().numpy(), args.train_steps)


def bench_pipeline(ds, batches: int, batch_size: int) -> float:
    it = iter(ds)
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - t0)


def bench_inference(width: int, s2d: int, size: int, batch: int, args) -> float:
    import numpy as np
    import tensorflow as tf

    from stemtf.models import RDUNet

    model = RDUNet(width=width, levels=args.levels, blocks=args.blocks, space_to_depth=s2d)
    x = tf.constant(np.random.default_rng(0).poisson(5.0, (batch, size, size, 1)).astype("float32"))
    f = tf.function(lambda a: model(a, training=False))
    return batch / _timed(lambda: f(x).numpy(), args.infer_reps)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--levels", type=int, default=4, help="RDUNet levels (all widths)")
    p.add_argument("--blocks", type=int, default=2, help="denoising blocks per level and side")
    p.add_argument(
        "--space-to-depth", type=int, nargs="+", default=[1], help="fold factors to compare"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--patch-px", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--infer-batch", type=int, default=4)
    p.add_argument("--infer-reps", type=int, default=2)
    p.add_argument("--pipeline-batches", type=int, default=50)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset-config", default="small")
    p.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    args = p.parse_args()

    import tensorflow as tf

    from stemtf.training import TrainConfig
    from stemtf.training.data import make_datasets

    res = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        },
        "args": vars(args),
        "train_steps_per_s": {},
        "pipeline_pairs_per_s": {},
        "inference_dps_per_s": {},
    }

    cfg = TrainConfig(synthetic=256, patch_px=args.patch_px, batch_size=args.batch_size)
    train_ds, _ = make_datasets(cfg, args.batch_size)
    res["pipeline_pairs_per_s"]["synthetic"] = bench_pipeline(
        train_ds, args.pipeline_batches, args.batch_size
    )
    if args.data_dir:
        from stemtf.data import load

        ds = load(
            args.data_dir,
            "train",
            config=args.dataset_config,
            batch_size=args.batch_size,
            patch_px=args.patch_px,
            shuffle=True,
            augment=True,
            repeat=True,
        )
        res["pipeline_pairs_per_s"][f"stemtf.data.load({args.dataset_config})"] = bench_pipeline(
            ds, args.pipeline_batches, args.batch_size
        )
    for w in args.widths:
        for s2d in args.space_to_depth:
            key = str(w) if s2d == 1 else f"{w}/s2d{s2d}"
            sps = bench_training(w, s2d, args)
            res["train_steps_per_s"][key] = sps
            print(
                f"train width {w:3d} space_to_depth {s2d}: {sps:7.3f} steps/s = "
                f"{sps * args.batch_size:7.1f} pairs/s (batch {args.batch_size}, {args.patch_px}^2)",
                flush=True,
            )
            for s in args.sizes:
                batch = (
                    max(1, args.infer_batch * (128 // s) ** 2)
                    if s <= 128
                    else max(1, args.infer_batch // 4)
                )
                dps = bench_inference(w, s2d, s, batch, args)
                res["inference_dps_per_s"][f"{key}@{s}"] = dps
                print(
                    f"infer width {w:3d} space_to_depth {s2d} at {s}^2: {dps:8.2f} DPs/s "
                    f"({1e3 / dps:.2f} ms/DP)",
                    flush=True,
                )
    for k, v in res["pipeline_pairs_per_s"].items():
        print(f"pipeline {k}: {v:9.1f} pairs/s")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(res, f, indent=2)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
