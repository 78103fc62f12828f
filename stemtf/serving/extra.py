"""The optional ``serving`` extra (``tensorflow-serving-api``): import it, or say how to get it.

TF Serving's own protobuf classes (``PredictRequest``, ``PredictionLog``, ``ModelServerConfig``,
the ``PredictionService`` stub) come from that package. It is an extra, not a dependency,
because only the warm-up file, ``models.config`` and the gRPC client need it.
"""

from __future__ import annotations

from types import SimpleNamespace

from stemtf.errors import StemtfError

__all__ = ["import_serving_api", "INSTALL"]

INSTALL = (
    'pip install -e ".[serving]" (or pip install tensorflow-serving-api matching your '
    "TensorFlow version)"
)


def import_serving_api(what: str, alternative: str = "") -> SimpleNamespace:
    """TF Serving's generated protobuf modules, imported on demand.

    Parameters
    ----------
    what
        What needs them, for the message, e.g. ``"writing TF Serving warm-up requests"``.
    alternative
        Appended to the message, e.g. ``"; or use the REST URL ..."``.

    Returns
    -------
    types.SimpleNamespace
        ``predict_pb2``, ``prediction_log_pb2``, ``get_model_metadata_pb2``,
        ``prediction_service_pb2_grpc`` and ``model_server_config_pb2``.

    Raises
    ------
    StemtfError
        One line: ``tensorflow-serving-api`` is not installed and how to install it.
    """
    try:
        from tensorflow_serving.apis import (
            get_model_metadata_pb2,
            predict_pb2,
            prediction_log_pb2,
            prediction_service_pb2_grpc,
        )
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        raise StemtfError(
            f"{what} needs the tensorflow-serving-api package: {INSTALL}{alternative}"
        ) from None
    return SimpleNamespace(
        predict_pb2=predict_pb2,
        prediction_log_pb2=prediction_log_pb2,
        get_model_metadata_pb2=get_model_metadata_pb2,
        prediction_service_pb2_grpc=prediction_service_pb2_grpc,
        model_server_config_pb2=model_server_config_pb2,
    )
