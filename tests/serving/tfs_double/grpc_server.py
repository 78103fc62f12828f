"""A small in-process gRPC ``PredictionService`` (Predict, GetModelMetadata) over a SavedModel.

The gRPC counterpart of :mod:`tfs_double.rest_server`, for tests and local trials
without ``tensorflow_model_server``: it implements TF Serving's ``PredictionService`` from
``tensorflow-serving-api`` and runs the model with
:class:`~tfs_double.runner.SavedModelRunner`. Binds 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

from stemtf.serving.extra import import_serving_api
from tfs_double.runner import SavedModelRunner, ServingStatus

__all__ = ["LocalGrpcServer"]

ResponseHook = Callable[[Any], Any]


class LocalGrpcServer:
    """Serve one SavedModel on ``127.0.0.1`` with TF Serving's gRPC PredictionService.

    Parameters
    ----------
    runner
        The model.
    port
        TCP port; 0 picks a free one.
    response_hook
        Optional function applied to every ``PredictResponse`` before it is sent (tests use it
        to send incomplete answers).

    ``request_hook(context)``, when set, runs first on every Predict call (tests use it to
    abort calls with a status code).
    """

    def __init__(
        self,
        runner: SavedModelRunner,
        *,
        port: int = 0,
        response_hook: ResponseHook | None = None,
        max_message_mb: int = 256,
    ) -> None:
        import grpc

        apis = import_serving_api("the local gRPC test server")
        self.runner = runner
        self.response_hook = response_hook
        self.request_hook: Callable[[Any], None] | None = None
        size = max_message_mb * 1024 * 1024
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2),
            options=[
                ("grpc.max_send_message_length", size),
                ("grpc.max_receive_message_length", size),
            ],
        )
        servicer = _make_servicer(self, apis)
        apis.prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            servicer, self._server
        )
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")

    @property
    def url(self) -> str:
        """``grpc://127.0.0.1:PORT/NAME``."""
        return f"grpc://127.0.0.1:{self.port}/{self.runner.name}"

    def start(self) -> LocalGrpcServer:
        """Start serving (gRPC's own threads)."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop at once, cancelling calls in flight."""
        self._server.stop(grace=None).wait(timeout=5)

    def __enter__(self) -> LocalGrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_servicer(owner: LocalGrpcServer, apis: Any) -> Any:
    import grpc
    import tensorflow as tf
    from google.protobuf import json_format

    runner = owner.runner

    def check_spec(spec: Any) -> None:
        version = spec.version.value if spec.HasField("version") else None
        runner.check_spec(spec.name, version, spec.version_label or None)

    class Servicer(apis.prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC method name)
            if owner.request_hook is not None:
                owner.request_hook(context)
            try:
                check_spec(request.model_spec)
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                outputs = runner.predict(request.model_spec.signature_name, inputs)
            except ServingStatus as err:
                context.abort(getattr(grpc.StatusCode, err.code), err.message)
            response = apis.predict_pb2.PredictResponse()
            response.model_spec.name = runner.name
            response.model_spec.version.value = runner.version
            response.model_spec.signature_name = request.model_spec.signature_name or (
                "serving_default"
            )
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            hook = owner.response_hook
            return hook(response) if hook is not None else response

        def GetModelMetadata(self, request, context):  # noqa: N802 (gRPC method name)
            try:
                check_spec(request.model_spec)
                if list(request.metadata_field) != ["signature_def"]:
                    raise ServingStatus(
                        "INVALID_ARGUMENT",
                        "Metadata field signature_def is the only one supported",
                    )
            except ServingStatus as err:
                context.abort(getattr(grpc.StatusCode, err.code), err.message)
            signature_map = apis.get_model_metadata_pb2.SignatureDefMap()
            json_format.ParseDict({"signature_def": runner.signature_def_map}, signature_map)
            response = apis.get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = runner.name
            response.model_spec.version.value = runner.version
            response.metadata["signature_def"].Pack(signature_map)
            return response

    return Servicer()
