"""Training configuration: one frozen, validated dataclass saved with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from stemtf.errors import InputError, check_positive, check_range

__all__ = ["TrainConfig", "MODEL_KEYS", "STRATEGIES", "LOSSES", "SCHEDULES", "PRECISIONS"]

STRATEGIES = ("default", "mirrored", "multiworker")
LOSSES = ("l1", "poisson")
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
#: Fields that define the network architecture (a checkpoint only fits the same values).
MODEL_KEYS = ("width", "levels", "blocks", "norm_scale", "space_to_depth")

# The paper's optimiser settings (Gurrola-Ramos et al. 2021): AdamW, lr 1e-4, weight decay 1e-5.
PAPER_LEARNING_RATE = 1e-4
PAPER_WEIGHT_DECAY = 1e-5


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name}={value!r} is not allowed: choose one of {', '.join(allowed)}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    Parameters
    ----------
    width, levels, blocks, norm_scale, space_to_depth
        RDUNet architecture (see :class:`stemtf.models.RDUNet`).
    data_dir : str or None
        Dataset folder for :func:`stemtf.data.load`; ``None`` with ``synthetic > 0``.
    dataset_config : str
        Dataset builder config name (``small``, ...).
    renoise_dose_range_e : (float, float) or None
        Draw fresh detector noise for every training example at a total dose log-uniform in
        this range [e-/DP] (the dataset's noise model otherwise unchanged; the stored noisy
        frames are not used). ``None``: train on the stored pairs. Validation always uses the
        stored pairs.
    synthetic : int
        Train on this many in-memory synthetic spot-lattice pairs instead of ``data_dir``.
    patch_px : int
        Training patch size [px] (the paper: 64); synthetic patterns have this size.
    batch_size : int
        Global batch size (split over all replicas; must be a multiple of their number).
    steps : int
        Total optimizer steps of the run (a resumed run continues up to this number).
    learning_rate, weight_decay : float
        AdamW settings (the paper's 1e-4 and 1e-5 by default).
    lr_schedule : str
        ``cosine`` (decay to 1 % over ``steps`` after ``warmup_steps``) or ``constant``.
    loss : str
        ``l1`` on the variance-stabilised scale (the paper's L1) or ``poisson`` (Poisson
        deviance on counts, per pattern relative to its mean).
    strategy : str
        ``default``, ``mirrored`` (all local devices) or ``multiworker`` (TF_CONFIG cluster).
    cpu_devices : int
        Split the CPU into this many logical devices (0: leave as is); lets ``mirrored`` run
        data-parallel on a machine without GPUs.
    precision : str
        Keras dtype policy: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
    log_every, eval_every, checkpoint_every : int
        Intervals in steps for progress lines, validation (+ CSV/TensorBoard) and checkpoints.
    eval_batches : int
        Validation batches per evaluation.
    keep_checkpoints : int
        Checkpoints kept on disk.
    seed : int
        Seed for weight initialisation, data order and synthetic data.
    """

    width: int = 32
    levels: int = 4
    blocks: int = 2
    norm_scale: float = 0.1
    space_to_depth: int = 1
    data_dir: str | None = None
    dataset_config: str = "small"
    renoise_dose_range_e: tuple[float, float] | None = None
    synthetic: int = 0
    patch_px: int = 64
    batch_size: int = 8
    steps: int = 1000
    learning_rate: float = PAPER_LEARNING_RATE
    weight_decay: float = PAPER_WEIGHT_DECAY
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    loss: str = "l1"
    strategy: str = "default"
    cpu_devices: int = 0
    precision: str = "float32"
    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 4
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("width", self.width, 2, 1024)
        check_range("levels", self.levels, 1, 8)
        check_range("blocks", self.blocks, 1, 16)
        check_positive("norm_scale", self.norm_scale)
        check_range("space_to_depth", self.space_to_depth, 1, 8)
        if self.renoise_dose_range_e is not None:
            lo_hi = tuple(float(v) for v in self.renoise_dose_range_e)
            if len(lo_hi) != 2 or not 1.0 <= lo_hi[0] <= lo_hi[1] <= 1e9:
                raise InputError(
                    f"renoise_dose_range_e={self.renoise_dose_range_e!r} is not allowed: "
                    "two doses [e-/DP], 1 <= low <= high <= 1e9"
                )
            object.__setattr__(self, "renoise_dose_range_e", lo_hi)
            if self.synthetic:
                raise InputError(
                    "renoise_dose_range_e needs a dataset (--data-dir); synthetic pairs have no "
                    "stored target to re-noise"
                )
        check_range("synthetic", self.synthetic, 0, 10_000_000)
        if self.data_dir is None and self.synthetic == 0:
            raise InputError(
                "no training data: give a dataset folder (--data-dir) or --synthetic N"
            )
        if self.data_dir is not None and self.synthetic:
            raise InputError(
                f"data_dir={self.data_dir!r} and synthetic={self.synthetic}: give only one of them"
            )
        check_range("patch_px", self.patch_px, 8, 4096)
        check_range("batch_size", self.batch_size, 1, 65536)
        check_range("steps", self.steps, 1, 10**9)
        check_positive("learning_rate", self.learning_rate)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("warmup_steps", self.warmup_steps, 0, self.steps)
        check_range("cpu_devices", self.cpu_devices, 0, 256)
        for name in (
            "log_every",
            "eval_every",
            "checkpoint_every",
            "eval_batches",
            "keep_checkpoints",
        ):
            check_range(name, getattr(self, name), 1, 10**9)
        _choice("lr_schedule", self.lr_schedule, SCHEDULES)
        _choice("loss", self.loss, LOSSES)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("precision", self.precision, PRECISIONS)

    def model_config(self) -> dict[str, Any]:
        """Constructor arguments of the RDUNet this run trains."""
        return {
            "width": self.width,
            "levels": self.levels,
            "channels": 1,
            "blocks": self.blocks,
            "norm_scale": self.norm_scale,
            "space_to_depth": self.space_to_depth,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise InputError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"training config has unknown keys {unknown}: allowed {sorted(names)}")
        return cls(**d)
