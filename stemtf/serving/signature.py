"""Signatures of a served model, read from TF Serving metadata or from a SavedModel on disk.

TF Serving's REST metadata API returns ``{"model_spec": ..., "metadata": {"signature_def":
<SignatureDefMap as JSON>}}``; its gRPC ``GetModelMetadata`` returns the same
``SignatureDefMap`` packed in an ``Any``. Both reach :func:`signatures_from_json` as the JSON
form of a ``SignatureDefMap`` (proto field names, 64-bit sizes as strings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemtf.errors import InputError

__all__ = [
    "TensorInfo",
    "Signature",
    "signatures_from_json",
    "signatures_from_saved_model",
    "read_signature_def_map",
    "denoiser_input",
    "denoiser_output",
]

DENOISER_INPUT = "float32 (B, H, W) or (B, H, W, 1) counts"


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output of a signature.

    ``shape`` is ``None`` for unknown rank; unknown dimensions are ``-1``.
    """

    key: str
    dtype: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Signature:
    """A SignatureDef: its key, named inputs and outputs, and method name."""

    key: str
    inputs: dict[str, TensorInfo] = field(default_factory=dict)
    outputs: dict[str, TensorInfo] = field(default_factory=dict)
    method_name: str = ""


def _tensor_info(key: str, info: dict[str, Any]) -> TensorInfo:
    shape_json = info.get("tensor_shape", {}) or {}
    if shape_json.get("unknown_rank"):
        shape = None
    else:
        shape = tuple(int(d.get("size", -1)) for d in shape_json.get("dim", []))
    return TensorInfo(key=key, dtype=str(info.get("dtype", "DT_INVALID")), shape=shape)


def signatures_from_json(signature_def_map: dict[str, Any]) -> dict[str, Signature]:
    """Signatures from the JSON form of a ``tensorflow.serving.SignatureDefMap``.

    Raises
    ------
    ValueError
        When the object has no ``signature_def`` map (the caller names the source).
    """
    defs = signature_def_map.get("signature_def") if isinstance(signature_def_map, dict) else None
    if not isinstance(defs, dict):
        raise ValueError("no 'signature_def' map in the model metadata")
    out = {}
    for key, sig in defs.items():
        out[key] = Signature(
            key=key,
            inputs={k: _tensor_info(k, v) for k, v in (sig.get("inputs") or {}).items()},
            outputs={k: _tensor_info(k, v) for k, v in (sig.get("outputs") or {}).items()},
            method_name=str(sig.get("method_name", "")),
        )
    return out


def read_signature_def_map(version_dir: str | os.PathLike) -> dict[str, Any]:
    """JSON form of the ``serve`` MetaGraph's signatures in ``version_dir/saved_model.pb``.

    Returns the ``signature_def`` map as TF Serving's metadata API prints it (proto field names,
    default values included). Reads the protobuf only; no graph is loaded. Raises
    :class:`InputError` when the folder holds no SavedModel.
    """
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(version_dir) / "saved_model.pb"
    if not pb.is_file():
        raise InputError(f"SavedModel folder {str(version_dir)!r} has no saved_model.pb")
    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString(pb.read_bytes())
    except Exception as err:  # protobuf's DecodeError derives from Exception only
        raise InputError(f"{str(pb)!r} is not a SavedModel protobuf: {err}") from None
    graphs = [g for g in model.meta_graphs if "serve" in g.meta_info_def.tags]
    if not graphs:
        raise InputError(f"SavedModel {str(version_dir)!r} has no MetaGraph tagged 'serve'")
    as_json = json_format.MessageToDict(
        graphs[0], preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return as_json.get("signature_def", {})


def signatures_from_saved_model(version_dir: str | os.PathLike) -> dict[str, Signature]:
    """Signatures of the ``serve`` MetaGraph of the SavedModel in ``version_dir``."""
    return signatures_from_json({"signature_def": read_signature_def_map(version_dir)})


def denoiser_input(
    signatures: dict[str, Signature],
    signature: str,
    input_name: str | None,
    where: str,
) -> TensorInfo:
    """The input a stemtf denoiser feeds, checked against the denoiser contract.

    The signature must exist, have one float input (or ``input_name``) of rank 3 ``(B, H, W)``,
    rank 4 ``(B, H, W, 1)`` or unknown rank, and at least one output.

    Parameters
    ----------
    signatures
        All signatures of the model.
    signature
        Key of the signature to use (``serving_default``).
    input_name
        Input to feed; ``None`` picks the only input.
    where
        Names the model in messages, e.g. ``"model 'rdunet' at http://host:8501"``.

    Raises
    ------
    InputError
        One line naming the model, the signature, what it has and what is needed.
    """
    if signature not in signatures:
        have = ", ".join(sorted(k for k in signatures if not k.startswith("__"))) or "none"
        raise InputError(f"{where} has no signature {signature!r} (it has: {have})")
    sig = signatures[signature]
    if not sig.outputs:
        raise InputError(f"{where}: signature {signature!r} has no outputs")
    if input_name is None:
        if len(sig.inputs) != 1:
            have = ", ".join(sorted(sig.inputs)) or "none"
            raise InputError(
                f"{where}: signature {signature!r} has inputs [{have}]; a denoiser needs exactly "
                "one (or pass input_name)"
            )
        info = next(iter(sig.inputs.values()))
    elif input_name in sig.inputs:
        info = sig.inputs[input_name]
    else:
        have = ", ".join(sorted(sig.inputs)) or "none"
        raise InputError(
            f"{where}: signature {signature!r} has no input {input_name!r} (it has: {have})"
        )
    shape_ok = (
        info.shape is None
        or len(info.shape) == 3
        or (len(info.shape) == 4 and info.shape[3] in (1, -1))
    )
    if info.dtype != "DT_FLOAT" or not shape_ok:
        shape = "unknown" if info.shape is None else list(info.shape)
        raise InputError(
            f"{where}: signature {signature!r} input {info.key!r} is {info.dtype} of shape {shape}; "
            f"a stemtf denoiser needs {DENOISER_INPUT}"
        )
    return info


def denoiser_output(
    signatures: dict[str, Signature], signature: str, output_name: str | None, where: str
) -> str:
    """Name of the output holding the denoised counts: ``output_name`` or the only output.

    Raises :class:`InputError` when the output is missing or several exist and none is named.
    """
    outputs = signatures[signature].outputs
    if output_name is None and len(outputs) > 1:
        raise InputError(
            f"{where}: signature {signature!r} has outputs [{', '.join(sorted(outputs))}]; "
            "pass output_name"
        )
    if output_name is not None and output_name not in outputs:
        raise InputError(
            f"{where}: signature {signature!r} has no output {output_name!r} "
            f"(it has: {', '.join(sorted(outputs))})"
        )
    return output_name or next(iter(outputs))
