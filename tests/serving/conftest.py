"""Fixtures: a tiny real SavedModel in TF Serving layout and local servers that run it.

The servers are test doubles of TF Serving in ``tfs_double/`` (this folder is put on
``sys.path`` so tests and ``scripts/bench_serving.py`` import them as ``tfs_double``).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

MODEL_NAME = "tiny"


def save_tiny_denoiser(version_dir: Path) -> None:
    """Save a small denoiser: counts -> 3x3 local mean (its own normalisation inside).

    ``serving_default`` takes float32 ``counts`` of shape [None, None, None] and returns the
    denoised counts (output key ``output_0``), as the RDUNet export does.
    """
    import tensorflow as tf

    class TinyDenoiser(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(1.0, name="scale")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="counts")])
        def serve(self, counts):
            total = tf.reduce_sum(counts, axis=[1, 2], keepdims=True) + 1.0
            x = (counts / total)[..., tf.newaxis]
            y = tf.nn.avg_pool2d(x, ksize=3, strides=1, padding="SAME")[..., 0]
            return y * total * self.scale

    module = TinyDenoiser()
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """``<tmp>/tiny`` holding version 1 of the tiny denoiser (TF Serving base path)."""
    base = tmp_path_factory.mktemp("saved_models") / MODEL_NAME
    save_tiny_denoiser(base / "1")
    return base


@pytest.fixture(scope="session")
def reference(tiny_base):
    """In-process denoising: the SavedModel's signature called directly (the clients' truth)."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(tiny_base / "1")).signatures["serving_default"]

    def run(batch: np.ndarray) -> np.ndarray:
        return signature(counts=tf.constant(batch, tf.float32))["output_0"].numpy()

    return run


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def runner(tiny_base):
    from tfs_double import SavedModelRunner

    return SavedModelRunner(MODEL_NAME, tiny_base)


@pytest.fixture(scope="session")
def _rest_server(runner):
    from tfs_double import LocalRestServer

    server = LocalRestServer(runner).start()
    yield server
    server.stop()


@pytest.fixture
def rest_server(_rest_server):
    """The local REST server with no answer hook; hooks set by a test are removed after it."""
    _rest_server.set_answer_hook(None)
    yield _rest_server
    _rest_server.set_answer_hook(None)


@pytest.fixture
def counts() -> np.ndarray:
    """Five Poisson-noisy 16 x 12 patterns (float32 counts), seeded."""
    rng = np.random.default_rng(7)
    lam = np.full((5, 16, 12), 2.0)
    lam[:, 8, 6] = 200.0
    return rng.poisson(lam).astype(np.float32)


@pytest.fixture(scope="session")
def _grpc_server(runner):
    pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api not installed")
    from tfs_double import LocalGrpcServer

    server = LocalGrpcServer(runner).start()
    yield server
    server.stop()


@pytest.fixture
def grpc_server(_grpc_server):
    """The local gRPC server with no hooks; hooks set by a test are removed after it."""
    _grpc_server.response_hook = _grpc_server.request_hook = None
    yield _grpc_server
    _grpc_server.response_hook = _grpc_server.request_hook = None
