"""GrpcDenoiser against a local gRPC PredictionService running a real SavedModel."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from stemtf.errors import InputError, StemtfError
from stemtf.serving.client import GrpcDenoiser
from stemtf.serving.errors import ServingError

FAST = {"retries": 0, "backoff_s": 0.0, "timeout_s": 5.0}


def test_matches_in_process_denoising(grpc_server, counts, reference):
    with GrpcDenoiser(grpc_server.url, batch_size=2) as denoiser:
        assert denoiser.input.key == "counts" and denoiser.output_name == "output_0"
        out = denoiser(counts)
        assert denoiser.info == {
            "kind": "grpc",
            "model": "tiny",
            "version": "1",
            "url": grpc_server.url,
        }
        clone = pickle.loads(pickle.dumps(denoiser))  # dask ships denoisers to workers
        np.testing.assert_array_equal(clone(counts[:2]), out[:2])
        clone.close()
    assert out.shape == counts.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, reference(counts))  # raw float32 bytes both ways


def test_failures_are_clear(grpc_server, counts, free_port):
    with pytest.raises(ServingError, match=r"UNAVAILABLE.*up to 2 attempts, gRPC retry policy"):
        GrpcDenoiser(f"grpc://127.0.0.1:{free_port}/tiny", retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(InputError, match=r"retries=5 is not allowed for gRPC"):
        GrpcDenoiser(grpc_server.url, retries=5)
    with pytest.raises(InputError, match=r"not found \(NOT_FOUND: Servable not found"):
        GrpcDenoiser(grpc_server.url.replace("/tiny", "/nope"), **FAST)
    with pytest.raises(InputError, match=r"has no signature 'other'"):
        GrpcDenoiser(grpc_server.url, signature="other", **FAST)
    with pytest.raises(InputError, match="not of the form grpc://"):
        GrpcDenoiser("http://127.0.0.1:8500/tiny")


def test_server_side_rejection_and_partial_answer(grpc_server, counts):
    blind = GrpcDenoiser(grpc_server.url, signature="serving_default", check_metadata=False, **FAST)
    with pytest.raises(
        InputError, match=r"rejected .*INVALID_ARGUMENT.*Missing but required: \{counts\}"
    ):
        GrpcDenoiser(grpc_server.url, input_name="x", check_metadata=False, **FAST)(counts)

    def drop_row(response):
        import tensorflow as tf

        for key in response.outputs:
            full = tf.make_ndarray(response.outputs[key])
            response.outputs[key].CopyFrom(tf.make_tensor_proto(full[:-1]))
        return response

    grpc_server.response_hook = drop_row
    with pytest.raises(ServingError, match=r"incomplete answer: 4 patterns returned for 5 sent"):
        blind(counts)


def test_unavailable_is_retried_by_grpcs_policy(grpc_server, counts, reference):
    import grpc

    calls = []

    def flaky(context):
        calls.append(1)
        if len(calls) <= 2:
            context.abort(grpc.StatusCode.UNAVAILABLE, "Servable not available")

    with GrpcDenoiser(grpc_server.url, batch_size=8, retries=2, backoff_s=0.01) as denoiser:
        grpc_server.request_hook = flaky
        np.testing.assert_array_equal(denoiser(counts), reference(counts))
        assert len(calls) == 3  # two refusals, then the answer: gRPC retried twice
    calls.clear()
    with GrpcDenoiser(grpc_server.url, batch_size=8, **FAST) as denoiser:
        with pytest.raises(ServingError, match=r"UNAVAILABLE: Servable not available"):
            denoiser(counts)
        assert len(calls) == 1  # retries=0: one attempt


def test_missing_serving_api_says_how_to_install():
    """Without tensorflow-serving-api the error names the install command (not a traceback)."""
    code = (
        "import sys; sys.modules['tensorflow_serving'] = None\n"
        "from stemtf.serving.client import GrpcDenoiser\n"
        "from stemtf.errors import StemtfError\n"
        "try:\n    GrpcDenoiser('grpc://127.0.0.1:1/m')\n"
        "except StemtfError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert 'pip install -e ".[serving]"' in out.stdout, out.stderr[-500:]
    assert issubclass(ServingError, StemtfError)
