"""Export a trained RDUNet as a SavedModel in TF Serving layout with a model card.

``<out>/<name>/<version>/`` holds the SavedModel whose ``serving_default`` signature takes
``counts``: float32 detector counts of shape (B, H, W) or (B, H, W, 1) (declared with unknown
rank; any batch size and any H, W) and returns ``denoised`` counts of the same shape. A
scan-context model (``RDUNet(context=k)``) takes (B, H, W, 1 + k): the pattern, then its scan
context (:mod:`stemtf.denoise.context`), and returns (B, H, W). The
normalisation (scaled Anscombe transform and its exact inverse) and the padding to the U-Net
stride are inside the model. ``model_card.json``/``.md`` and TF Serving warm-up requests
(``assets.extra/``) are written in the same folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import ensure_writable_dir
from stemtf.training.model_card import write_model_card
from stemtf.training.runlog import read_run_config

__all__ = ["export_saved_model", "load_keras_model", "resolve_model_source", "SIGNATURE"]

log = logging.getLogger(__name__)

SIGNATURE = {
    "name": "serving_default",
    "input": "counts: float32 (B, H, W) or (B, H, W, 1) detector counts",
    "output": "denoised: float32 denoised counts, same shape as the input",
}
SIGNATURE_CONTEXT = {
    "name": "serving_default",
    "input": "counts: float32 (B, H, W, 2): channel 0 the pattern's detector counts, channel 1 "
    "the mean counts of its 8 neighbouring probe positions (stemtf.denoise.context)",
    "output": "denoised: float32 (B, H, W) denoised counts of the pattern",
}
WARMUP_SIZES_PX = (64, 128)


def resolve_model_source(
    run: str | Path | None, model: str | Path | None
) -> tuple[Path, Path | None]:
    """Return ``(model.keras path, run folder or None)`` from ``--run`` / ``--model``."""
    if (run is None) == (model is None):
        raise InputError("give exactly one of --run DIR (a training run) or --model FILE.keras")
    if run is not None:
        run = Path(run)
        path = run / "model.keras"
        if not path.is_file():
            raise InputError(
                f"run folder {str(run)!r} has no model.keras: train it first (stemtf train --out {run})"
            )
        return path, run
    path = Path(model)
    if path.suffix != ".keras" or not path.is_file():
        raise InputError(f"--model {str(path)!r} is not an existing .keras file")
    return path, None


def load_keras_model(path: str | Path):
    """Load a ``.keras`` RDUNet with Keras safe mode on (registers the stemtf layers first)."""
    import keras

    import stemtf.models  # noqa: F401  (registers the layers)

    try:
        return keras.saving.load_model(str(path), safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras raises many types for a bad file
        msg = " ".join(str(e).split())[:300]
        raise InputError(
            f"model file {str(path)!r} cannot be loaded: {type(e).__name__}: {msg}"
        ) from None


def _serving_fn(model):
    import tensorflow as tf

    context = int(getattr(model, "context", 0))
    if context:

        def serve_context(counts):
            counts = tf.convert_to_tensor(counts, tf.float32)
            tf.debugging.assert_rank(
                counts, 4, message=f"counts must be (B, H, W, {1 + context}): pattern + context"
            )
            x = tf.ensure_shape(counts, [None, None, None, 1 + context])
            y = tf.cast(model(x, training=False), tf.float32)
            return {"denoised": y[..., 0]}

        return serve_context

    def serve(counts):
        counts = tf.convert_to_tensor(counts, tf.float32)
        shape = tf.shape(counts)
        tf.debugging.assert_rank_in(
            counts, [3, 4], message="counts must be (B, H, W) or (B, H, W, 1)"
        )
        x = tf.reshape(counts, tf.concat([shape[:3], [1]], axis=0))
        x = tf.ensure_shape(x, [None, None, None, 1])
        y = tf.cast(model(x, training=False), tf.float32)
        return {"denoised": tf.reshape(y, shape)}

    return serve


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        log.warning("%s is not readable JSON; left out of the model card", path)
        return None


def export_saved_model(
    model_path: str | Path,
    out_dir: str | Path,
    name: str = "rdunet",
    version: int = 1,
    *,
    run_dir: str | Path | None = None,
    warmup: bool = True,
) -> Path:
    """Export ``model_path`` (.keras) to ``<out_dir>/<name>/<version>/``; return that folder.

    Parameters
    ----------
    model_path : path
        A ``.keras`` RDUNet.
    out_dir : path
        TF Serving model base folder (e.g. ``saved_models``).
    name : str
        Model name (folder under ``out_dir``).
    version : int
        Version number (a new folder; an existing version is never overwritten).
    run_dir : path, optional
        Training run folder: its config, dataset version and metrics go into the model card.
    warmup : bool
        Write TF Serving warm-up requests (needs :mod:`stemtf.serving`).
    """
    import keras
    import tensorflow as tf

    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise InputError(f"name={name!r} is not allowed: use letters, digits, '-', '_' or '.'")
    if isinstance(version, bool) or int(version) != version or version < 1:
        raise InputError(f"version={version!r} is not allowed: it must be an integer >= 1")
    base = ensure_writable_dir(Path(out_dir) / name, "model folder")
    final = base / str(int(version))
    if final.exists():
        raise InputError(
            f"{str(final)!r} already exists: TF Serving versions are immutable, choose another --version"
        )
    model = load_keras_model(model_path)
    if int(getattr(model, "context", 0)) not in (0, 1):
        raise InputError(
            f"model {str(model_path)!r} takes {model.context} scan-context channels; allowed: 0 "
            "or 1 (the 8 neighbours' mean, stemtf.denoise.context)"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=base))
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            name="serving_default",
            fn=_serving_fn(model),
            input_signature=[tf.TensorSpec(shape=None, dtype=tf.float32, name="counts")],
        )
        shutil.rmtree(tmp)
        archive.write_out(str(tmp), verbose=False)
        if warmup:
            _write_warmup(tmp, name, int(getattr(model, "context", 0)))
        write_model_card(tmp, _card(model, name, int(version), run_dir))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s", model_path, final)
    return final


def _write_warmup(version_dir: Path, name: str, context: int = 0) -> None:
    try:
        from stemtf.serving import write_serving_assets
    except ImportError:
        log.warning("stemtf.serving is not available: no TF Serving warm-up requests written")
        return
    rng = np.random.default_rng(0)
    shape = (1 + context,) if context else ()
    batches = [rng.poisson(2.0, size=(1, s, s) + shape).astype(np.float32) for s in WARMUP_SIZES_PX]
    write_serving_assets(version_dir, batches, model_name=name)


def training_domain(train_cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    """The model card's ``domain`` record from the training run's dataset config, or None.

    The run's own ``domain`` record when it has one (``scripts/train_field_denoiser.py``);
    else known only for the named dataset configs of :data:`stemtf.data.specs.SPECS` (detector,
    q-sampling, beam, dose range and noise-model conditions); otherwise the card records no
    domain and ``analyze`` treats the model as unknown domain.
    """
    from stemtf.data.specs import SPECS
    from stemtf.denoise.domain import ModelDomain

    if (train_cfg or {}).get("domain"):  # a run that records its own domain (field pairs)
        return ModelDomain.from_card({"domain": train_cfg["domain"]}).to_dict()
    name = (train_cfg or {}).get("dataset_config")
    if (train_cfg or {}).get("synthetic") or name not in SPECS:
        return None
    spec = SPECS[name]
    noise = spec.noise.to_dict()
    doses = (train_cfg or {}).get("renoise_dose_range_e") or spec.noise.dose_range_e
    conditions = tuple(k for k, v in noise.items() if v is True) + tuple(
        f"thickness_A={t:g}" for t in spec.thicknesses_A
    )
    return ModelDomain.from_spec(
        spec.detector_px,
        spec.q_sampling_invA,
        spec.energy_eV,
        spec.semiangle_mrad,
        tuple(float(d) for d in doses),
        conditions,
    ).to_dict()


def _card(model, name: str, version: int, run_dir: str | Path | None) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    import stemtf

    run_cfg = read_run_config(run_dir) if run_dir is not None else None
    metrics: dict[str, Any] = {}
    if run_dir is not None:
        metrics.update(_read_json(Path(run_dir) / "metrics.json") or {})
        evaluation = _read_json(Path(run_dir) / "evaluation.json")
        if evaluation:
            metrics["evaluation"] = evaluation.get("summary", evaluation)
            if "methods" in evaluation and "dose_bins_e" in evaluation:
                metrics["evaluation_per_dose_bin"] = {
                    "source": evaluation.get("source"),
                    "dose_bins_e": evaluation["dose_bins_e"],
                    "methods": {k: v.get("per_bin") for k, v in evaluation["methods"].items()},
                }
    return {
        "name": name,
        "version": version,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": type(model).__name__,
        "reference": "Gurrola-Ramos, Dalmau, Alarcon, IEEE Access 9:31742 (2021), RDUNet",
        "parameters": int(model.count_params()),
        "model_config": model.get_config(),
        "signature": SIGNATURE_CONTEXT if getattr(model, "context", 0) else SIGNATURE,
        # what the model takes beside each pattern (stemtf.denoise.context); None: nothing
        "scan_context": "neighbour_mean_8" if getattr(model, "context", 0) else None,
        "normalization": (
            "inside the model: y = s (2 sqrt(x + 3/8) - 2 sqrt(3/8)) of counts x, network, exact "
            f"inverse; s = norm_scale; H, W padded to a multiple of {getattr(model, 'size_multiple', 1)} and cropped back"
        ),
        "dataset_version": (run_cfg or {}).get("dataset_version"),
        "domain": training_domain((run_cfg or {}).get("train")),
        "training": (run_cfg or {}).get("train"),
        "metrics": metrics,
        "versions": {
            "stemtf": stemtf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
