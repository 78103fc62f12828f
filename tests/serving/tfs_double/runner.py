"""Run a SavedModel the way TF Serving does, for the local test servers.

:class:`SavedModelRunner` loads the latest numbered version under a model base path (TF
Serving's default version policy), answers metadata requests with the ``SignatureDefMap`` read
from ``saved_model.pb`` and runs predict requests through the loaded signature. Failures carry
the gRPC status code TF Serving would use (``NOT_FOUND``, ``INVALID_ARGUMENT``, ``INTERNAL``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.denoise.savedmodel import find_version_dir
from stemtf.errors import InputError
from stemtf.serving.signature import read_signature_def_map

__all__ = ["SavedModelRunner", "ServingStatus", "latest_version"]


@dataclass
class ServingStatus(Exception):
    """A failed request: gRPC status code name and TF Serving-style message."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def latest_version(base_path: str | os.PathLike) -> tuple[int, Path]:
    """``(version, folder)`` of the highest numbered SavedModel folder under ``base_path``.

    The package's one finder (:func:`stemtf.denoise.savedmodel.find_version_dir`) picks it.
    """
    folder = find_version_dir(base_path)
    if folder is None or not folder.name.isdigit():
        raise InputError(
            f"model base path {str(base_path)!r} has no numbered SavedModel version folder "
            "(expected <base>/<version>/saved_model.pb)"
        )
    return int(folder.name), folder


def _check_shape(name: str, shape: tuple[int, ...], tensor_shape: dict[str, Any]) -> None:
    """Raise ``INVALID_ARGUMENT`` when ``shape`` does not fit the signature's TensorShape."""
    if tensor_shape.get("unknown_rank"):
        return
    dims = [int(d.get("size", -1)) for d in tensor_shape.get("dim", [])]
    fits = len(dims) == len(shape) and all(d in (-1, s) for d, s in zip(dims, shape, strict=True))
    if not fits:
        raise ServingStatus(
            "INVALID_ARGUMENT",
            f"input {name!r} has shape {list(shape)}, incompatible with the signature's "
            f"{dims} (-1 = any)",
        )


class SavedModelRunner:
    """The latest version of one model, loaded with ``tf.saved_model.load``.

    Parameters
    ----------
    name
        Model name served (the ``NAME`` of ``/v1/models/NAME``).
    base_path
        Folder of numbered versions (``saved_models/<name>``).
    """

    def __init__(self, name: str, base_path: str | os.PathLike) -> None:
        import tensorflow as tf

        self.name = name
        self.version, folder = latest_version(base_path)
        self.signature_def_map = read_signature_def_map(folder)
        self.model = tf.saved_model.load(str(folder))
        self._tf = tf

    def check_spec(self, name: str, version: int | None, label: str | None) -> None:
        """Raise ``NOT_FOUND`` unless the request names this model (and its version)."""
        if name != self.name or (version is not None and version != self.version):
            what = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise ServingStatus("NOT_FOUND", f"Servable not found for request: {what}")
        if label is not None:
            raise ServingStatus("NOT_FOUND", f"Unrecognized servable version label: {label}")

    def metadata(self) -> dict[str, Any]:
        """The REST metadata answer: model spec and ``{"signature_def": SignatureDefMap}``."""
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": self.signature_def_map}},
        }

    def signature_inputs(self, signature: str) -> dict[str, Any]:
        """Input name -> TensorInfo JSON of ``signature``; ``INVALID_ARGUMENT`` if unknown."""
        key = signature or "serving_default"
        if key not in self.signature_def_map:
            raise ServingStatus(
                "INVALID_ARGUMENT", f'Serving signature name: "{key}" not found in signature def'
            )
        return self.signature_def_map[key].get("inputs", {})

    def predict(self, signature: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run ``signature`` on ``inputs`` (name -> nested list or array)."""
        from tensorflow.core.framework import types_pb2

        tf = self._tf
        key = signature or "serving_default"
        wanted = self.signature_inputs(key)
        if set(inputs) != set(wanted):
            extra = ",".join(sorted(set(inputs) - set(wanted)))
            missing = ",".join(sorted(set(wanted) - set(inputs)))
            raise ServingStatus(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(inputs)}!={len(wanted)} "
                f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{extra}}}. Missing but required: {{{missing}}}.",
            )
        fn = self.model.signatures[key]
        feed = {}
        for name, value in inputs.items():
            dtype = tf.dtypes.as_dtype(
                types_pb2.DataType.Value(wanted[name].get("dtype", "DT_FLOAT"))
            )
            try:
                array = np.asarray(value, dtype=dtype.as_numpy_dtype)
            except (ValueError, TypeError) as err:
                raise ServingStatus("INVALID_ARGUMENT", f"input {name!r}: {err}") from None
            _check_shape(name, array.shape, wanted[name].get("tensor_shape", {}))
            feed[name] = tf.convert_to_tensor(array)
        try:
            outputs = fn(**feed)
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
            raise ServingStatus("INVALID_ARGUMENT", " ".join(str(err).split())) from None
        except tf.errors.OpError as err:
            raise ServingStatus("INTERNAL", " ".join(str(err).split())) from None
        return {k: v.numpy() for k, v in outputs.items()}
