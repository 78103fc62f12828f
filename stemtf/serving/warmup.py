"""Write TF Serving's warm-up requests into a SavedModel version folder.

TF Serving replays ``<version>/assets.extra/tf_serving_warmup_requests`` when it loads the
model (SavedModel Warmup docs): a TFRecord file whose records are serialised
``tensorflow.serving.PredictionLog`` messages (built with ``tensorflow_serving.apis``, the
optional ``serving`` extra), at most 1000 of them, representative of real
requests. Each record here is one predict request on the ``serving_default`` signature with an
example batch of detector counts, so the first real request does not pay for graph
initialisation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import atomic_path, ensure_writable_dir
from stemtf.serving.extra import import_serving_api
from stemtf.serving.signature import denoiser_input, signatures_from_saved_model

__all__ = ["write_serving_assets", "WARMUP_FILE", "MAX_WARMUP_RECORDS"]

log = logging.getLogger(__name__)
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's documented limit


def _model_name(version_dir: Path) -> str:
    """``saved_models/<name>/<version>`` -> ``<name>``; otherwise the folder's own name."""
    resolved = version_dir.resolve()
    return resolved.parent.name if resolved.name.isdigit() else resolved.name


def _as_batches(example_batch: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(example_batch, np.ndarray):
        return [example_batch]
    if isinstance(example_batch, (list, tuple)) and example_batch:
        return [np.asarray(b) for b in example_batch]
    raise InputError(
        f"example_batch of type {type(example_batch).__name__} is not allowed: give a float32 "
        "(B, H, W) array or a non-empty list of them"
    )


def _fit_rank(batch: np.ndarray, shape: tuple[int, ...] | None, index: int) -> np.ndarray:
    if batch.ndim == 4 and batch.shape[3] == 1:
        batch = batch[..., 0]
    # (B, H, W, C > 1): a scan-context model's pattern and context channels
    if batch.ndim not in (3, 4) or batch.shape[0] < 1 or 0 in batch.shape:
        raise InputError(
            f"example_batch[{index}] has shape {batch.shape}: a non-empty (B, H, W) or "
            "(B, H, W, 1) array of counts (or (B, H, W, C): pattern and scan context) is needed"
        )
    if not np.issubdtype(batch.dtype, np.number) or not np.all(np.isfinite(batch)):
        raise InputError(f"example_batch[{index}] must hold finite numbers (detector counts)")
    out = batch.astype(np.float32)
    if shape is not None and len(shape) == 4 and out.ndim == 3:
        out = out[..., np.newaxis]
    if shape is not None:
        fixed = [(i, s) for i, s in enumerate(shape) if s != -1 and s != out.shape[i]]
        if fixed:
            raise InputError(
                f"example_batch[{index}] has shape {out.shape} but the signature input is "
                f"{list(shape)} (-1 = any)"
            )
    return out


def write_serving_assets(
    version_dir: str | os.PathLike,
    example_batch: np.ndarray | Sequence[np.ndarray],
    *,
    signature: str = "serving_default",
    input_name: str | None = None,
    model_name: str | None = None,
) -> Path:
    """Write ``assets.extra/tf_serving_warmup_requests`` into a SavedModel version folder.

    Parameters
    ----------
    version_dir
        ``saved_models/<name>/<version>/`` holding ``saved_model.pb`` (call after
        ``tf.saved_model.save``).
    example_batch
        Detector counts, float32 ``(B, H, W)`` (or ``(B, H, W, 1)``), or a list of such batches
        (one warm-up request each, e.g. several sizes), at most 1000.
    signature
        Signature the requests call.
    input_name
        Signature input to feed; ``None`` takes the signature's only input.
    model_name
        ``ModelSpec.name`` of the requests; default ``<name>`` from the folder layout.

    Returns
    -------
    Path
        The warm-up file.

    Raises
    ------
    InputError
        No SavedModel in ``version_dir``, a signature that is not a denoiser's, or example
        batches of the wrong shape, dtype or number.
    StemtfError
        ``tensorflow-serving-api`` (the ``serving`` extra) is not installed; the message says
        how to install it.
    """
    apis = import_serving_api(
        "writing TF Serving warm-up requests (stemtf export --warmup)",
        "; or export without them: stemtf export --no-warmup",
    )
    import tensorflow as tf

    folder = Path(version_dir)
    where = f"SavedModel {str(folder)!r}"
    info = denoiser_input(signatures_from_saved_model(folder), signature, input_name, where)
    batches = _as_batches(example_batch)
    if len(batches) > MAX_WARMUP_RECORDS:
        raise InputError(
            f"example_batch has {len(batches)} batches: TF Serving reads at most "
            f"{MAX_WARMUP_RECORDS} warm-up records"
        )
    name = model_name if model_name is not None else _model_name(folder)
    records = []
    for i, batch in enumerate(batches):
        request = apis.predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.model_spec.signature_name = signature
        request.inputs[info.key].CopyFrom(tf.make_tensor_proto(_fit_rank(batch, info.shape, i)))
        log_entry = apis.prediction_log_pb2.PredictionLog(
            predict_log=apis.prediction_log_pb2.PredictLog(request=request)
        )
        records.append(log_entry.SerializeToString())
    target = folder / WARMUP_FILE
    ensure_writable_dir(target.parent, "SavedModel assets.extra folder")
    with atomic_path(target) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in records:
            writer.write(record)
    log.info("wrote %d warm-up request(s) to %s", len(records), target)
    return target
