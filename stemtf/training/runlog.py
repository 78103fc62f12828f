"""Run-folder bookkeeping: config.json, CSV log, TensorBoard scalars, metrics.json."""

from __future__ import annotations

import csv
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

from stemtf.errors import InputError
from stemtf.fileio import atomic_path, write_json_atomic
from stemtf.training.config import MODEL_KEYS, TrainConfig

__all__ = ["RunLog", "check_same_architecture", "read_run_config", "CSV_FIELDS"]

CSV_FIELDS = (
    "step",
    "time_s",
    "learning_rate",
    "loss",
    "val_loss",
    "val_psnr_db",
    "val_ssim",
    "steps_per_s",
)


def read_run_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``config.json`` of a run folder, or None if there is none."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"run config {str(path)!r} cannot be read: {e}") from None


def check_same_architecture(run_dir: str | Path, config: TrainConfig) -> None:
    """Raise InputError if ``run_dir`` holds a run of a different architecture."""
    old = read_run_config(run_dir)
    if old is None or "train" not in old:
        return
    # a key missing from an older run's config had its present default then
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    diffs = [
        f"{k}={old['train'].get(k, defaults[k])!r} (now {getattr(config, k)!r})"
        for k in MODEL_KEYS
        if old["train"].get(k, defaults[k]) != getattr(config, k)
    ]
    if diffs:
        raise InputError(
            f"run folder {str(run_dir)!r} holds checkpoints of a different architecture: "
            f"{', '.join(diffs)}; use a new --out folder or the same model options"
        )


def _scalar_metadata():
    """TensorBoard ``scalars`` plugin metadata, written without the tensorboard package."""
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    ).SerializeToString()


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import stemtf

    return {
        "stemtf": stemtf.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


class RunLog:
    """Writes the run's config, CSV rows and TensorBoard scalars (chief only writes)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir = run_dir
        self.enabled = enabled
        self._writer = None
        self._t0 = time.perf_counter()

    def write_config(self, config: TrainConfig, extra: dict[str, Any]) -> None:
        """Save the full config, seed, versions and ``extra`` (strategy, dataset) as JSON."""
        if not self.enabled:
            return
        doc = {
            "train": config.to_dict(),
            "model": config.model_config(),
            "seed": config.seed,
            "versions": _versions(),
            **extra,
        }
        write_json_atomic(self.run_dir / "config.json", doc)

    def row(self, step: int, values: dict[str, float]) -> None:
        """Append one CSV row and the TensorBoard scalars for ``step``."""
        if not self.enabled:
            return
        import tensorflow as tf

        path = self.run_dir / "log.csv"
        new = not path.is_file()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(
                {
                    "step": step,
                    "time_s": round(time.perf_counter() - self._t0, 3),
                    **{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()},
                }
            )
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.run_dir / "tensorboard"))
        with self._writer.as_default(step=step):
            for k, v in values.items():
                if v is not None:
                    tf.summary.write(k, tf.constant(float(v)), metadata=_scalar_metadata())
        self._writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drop CSV rows logged after ``step``.

        A killed run may have logged past its last checkpoint; the resumed run logs those
        steps again.
        """
        path = self.run_dir / "log.csv"
        if not self.enabled or not path.is_file():
            return
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) <= step]
        if len(keep) == len(rows):
            return
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(keep)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """Save the final metrics as ``metrics.json``."""
        if self.enabled:
            write_json_atomic(self.run_dir / "metrics.json", metrics)

    def close(self) -> None:
        """Close the TensorBoard writer (if any)."""
        if self._writer is not None:
            self._writer.close()
