"""Denoise detector patterns with a model hosted by TF Serving, through its gRPC API.

Sends ``PredictRequest`` protobufs (raw float32 tensor bytes, far cheaper than JSON for whole
scans) to ``tensorflow.serving.PredictionService``. Needs the optional
``tensorflow-serving-api`` package (``pip install -e ".[serving]"``). Retries are gRPC's own:
a retry policy in the channel's service config (:func:`grpc_service_config`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.serving.client_base import ServingDenoiser
from stemtf.serving.endpoint import parse_grpc_url
from stemtf.serving.errors import ServingError
from stemtf.serving.extra import import_serving_api
from stemtf.serving.rest_transport import MAX_DELAY_S, one_line
from stemtf.serving.signature import signatures_from_json

__all__ = ["GrpcDenoiser", "grpc_service_config", "RETRYABLE_CODES", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)
#: Status codes gRPC's retry policy retries (a deadline is per call, retries included).
RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED")
#: gRPC makes at most this many attempts of a call, whatever the policy asks.
MAX_ATTEMPTS = 5
_SERVICE = "tensorflow.serving.PredictionService"
_BAD_REQUEST = ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE")


def grpc_service_config(retries: int, backoff_s: float) -> dict[str, Any]:
    """The channel's service config: gRPC's retry policy for the PredictionService.

    ``retries`` more attempts (at most ``MAX_ATTEMPTS - 1``) after ``UNAVAILABLE``,
    ``RESOURCE_EXHAUSTED`` or ``ABORTED``; gRPC waits a random time up to ``backoff_s``
    before the first retry, the bound doubling each time up to 30 s. No retries: an empty
    config.
    """
    if retries == 0:
        return {}
    policy = {
        "maxAttempts": retries + 1,
        "initialBackoff": f"{max(backoff_s, 1e-3):.3f}s",
        "maxBackoff": f"{MAX_DELAY_S:g}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": list(RETRYABLE_CODES),
    }
    return {"methodConfig": [{"name": [{"service": _SERVICE}], "retryPolicy": policy}]}


def _serving_api() -> Any:
    return import_serving_api(
        "gRPC access to TF Serving", ", or use the REST URL http://HOST:8501/v1/models/NAME"
    )


def _channel_options(max_message_mb: int, retries: int, backoff_s: float) -> list[tuple]:
    size = int(max_message_mb) * 1024 * 1024
    options: list[tuple] = [
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
    ]
    config = grpc_service_config(retries, backoff_s)
    if config:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config))]
    return options


class GrpcDenoiser(ServingDenoiser):
    """A stemtf Denoiser backed by TF Serving's gRPC ``PredictionService``.

    Parameters
    ----------
    url
        ``grpc://HOST:8500/NAME`` (optionally ``/versions/N`` or ``/labels/L``).
    batch_size
        Patterns per request.
    timeout_s
        Deadline per call [s], retries included.
    retries
        Extra attempts after a transient failure (``UNAVAILABLE``, ``RESOURCE_EXHAUSTED``,
        ``ABORTED``), 0 to 4, made by gRPC's retry policy (:func:`grpc_service_config`).
    backoff_s
        Bound of gRPC's random wait before the first retry [s]; it doubles for each later
        one.
    signature
        Signature to call.
    input_name, output_name
        Signature input to feed and output to read; ``None`` takes the only one.
    check_metadata
        Call ``GetModelMetadata`` now and check the signature.
    max_message_mb
        Largest message sent or received [MiB] (gRPC's default of 4 MiB is 64 patterns of
        128 x 128 float32).

    Raises
    ------
    StemtfError
        ``tensorflow-serving-api`` is not installed (the message says how to install it).
    InputError
        Malformed address or settings, unknown model, a signature that does not take detector
        counts, a batch the server rejects.
    ServingError
        Server unreachable after the retries, server errors, incomplete answers.
    """

    kind = "grpc"

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 16,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        signature: str = "serving_default",
        input_name: str | None = None,
        output_name: str | None = None,
        check_metadata: bool = True,
        max_message_mb: int = 256,
    ) -> None:
        self.endpoint = parse_grpc_url(url)
        self.where = f"model {self.endpoint.name!r} at grpc://{self.endpoint.target}"
        self._configure(
            str(url),
            name=self.endpoint.name,
            version=self.endpoint.version,
            batch_size=batch_size,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            signature=signature,
            input_name=input_name,
            output_name=output_name,
        )
        if retries >= MAX_ATTEMPTS:
            raise InputError(
                f"retries={retries!r} is not allowed for gRPC: its retry policy makes at most "
                f"{MAX_ATTEMPTS} attempts (retries 0 to {MAX_ATTEMPTS - 1})"
            )
        self.max_message_mb = int(max_message_mb)
        self._apis = _serving_api()
        import grpc

        self._grpc = grpc
        self._open()
        if check_metadata:
            self._check_metadata()

    def _open(self) -> None:
        self._channel = self._grpc.insecure_channel(
            self.endpoint.target,
            options=_channel_options(self.max_message_mb, self.retries, self.backoff_s),
        )
        self._stub = self._apis.prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the channel (for dask workers); it is reopened on unpickling."""
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("_channel", "_stub", "_apis", "_grpc")
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        import grpc

        self.__dict__.update(state)
        self._apis = _serving_api()
        self._grpc = grpc
        self._open()

    def __repr__(self) -> str:
        return f"GrpcDenoiser('grpc://{self.endpoint.target}/{self.endpoint.name}')"

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcDenoiser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill_spec(self, spec: Any) -> None:
        spec.name = self.endpoint.name
        spec.signature_name = self.signature
        if self.endpoint.version is not None:
            spec.version.value = self.endpoint.version
        if self.endpoint.label is not None:
            spec.version_label = self.endpoint.label

    def _call(self, method: Any, request: Any) -> Any:
        """One call; gRPC's retry policy has already retried transient failures."""
        try:
            return method(request, timeout=self.timeout_s)
        except self._grpc.RpcError as err:
            code = err.code().name if err.code() is not None else "UNKNOWN"
            details = one_line(err.details() or "")
            if code in RETRYABLE_CODES:
                n = self.retries + 1
                raise ServingError(
                    f"TF Serving {self.where}: {code}: {details} (gave up after up to {n} "
                    f"attempt{'s' if n > 1 else ''}, gRPC retry policy)"
                ) from None
            if code == "DEADLINE_EXCEEDED":
                raise ServingError(
                    f"TF Serving {self.where}: no answer within {self.timeout_s:g} s "
                    f"({code}: {details})"
                ) from None
            if code == "NOT_FOUND":
                raise InputError(f"{self.where}: not found ({code}: {details})") from None
            if code in _BAD_REQUEST:
                raise InputError(f"{self.where} rejected the request ({code}: {details})") from None
            raise ServingError(f"{self.where}: server error ({code}: {details})") from None

    def _check_metadata(self) -> None:
        from google.protobuf import json_format

        pb = self._apis.get_model_metadata_pb2
        request = pb.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._fill_spec(request.model_spec)
        request.model_spec.ClearField("signature_name")
        response = self._call(self._stub.GetModelMetadata, request)
        signature_map = pb.SignatureDefMap()
        if "signature_def" not in response.metadata or not response.metadata[
            "signature_def"
        ].Unpack(signature_map):
            raise ServingError(f"{self.where}: metadata answer has no SignatureDefMap")
        signatures = signatures_from_json(
            json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
        )
        version = response.model_spec.version
        self._adopt(
            signatures, str(version.value) if response.model_spec.HasField("version") else None
        )

    def _predict(self, sent: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        request = self._apis.predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec)
        request.inputs[self.input_name or "counts"].CopyFrom(
            tf.make_tensor_proto(np.ascontiguousarray(sent))
        )
        outputs = self._call(self._stub.Predict, request).outputs
        key = self.output_name or (next(iter(outputs)) if len(outputs) == 1 else None)
        if key is None or key not in outputs:
            raise ServingError(
                f"{self.where}: answer has outputs [{', '.join(sorted(outputs))}], "
                f"not {self.output_name!r}"
            )
        try:
            return tf.make_ndarray(outputs[key])
        except (ValueError, TypeError) as err:
            raise ServingError(f"{self.where}: malformed output tensor ({err})") from None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Denoise float32 ``(B, H, W)`` counts; returns float32 ``(B, H, W)``."""
        return self._denoise(batch, self._predict)
