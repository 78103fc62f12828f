"""A tiny RDUNet served through TF Serving's APIs gives the same denoised counts as in-process Keras."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.serving import write_serving_assets
from stemtf.serving.client import GrpcDenoiser, RestDenoiser


def _save_rdunet(model, version_dir) -> None:
    """SavedModel with the exported contract: float32 (B, H, W) counts -> denoised counts."""
    import tensorflow as tf

    class Serve(tf.Module):
        def __init__(self, keras_model):
            super().__init__()
            self.model = keras_model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="counts")])
        def serve(self, counts):
            return {"denoised": self.model(counts[..., tf.newaxis], training=False)[..., 0]}

    module = Serve(model)
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})


@pytest.fixture(scope="module")
def rdunet(tmp_path_factory):
    """(keras model, base path ``saved_models/rdunet``) for a width-4, 2-level RDUNet."""
    import keras

    from stemtf.models import RDUNet

    keras.utils.set_random_seed(11)
    model = RDUNet(width=4, levels=2, blocks=1)
    base = tmp_path_factory.mktemp("saved_models") / "rdunet"
    _save_rdunet(model, base / "1")
    return model, base


@pytest.fixture
def patterns():
    """Four Poisson patterns of an odd detector size (13 x 17: the model pads and crops)."""
    rng = np.random.default_rng(5)
    lam = np.full((4, 13, 17), 1.5)
    lam[:, 6, 8] = 300.0
    return rng.poisson(lam).astype(np.float32)


def test_rdunet_through_rest_and_grpc_equals_keras(rdunet, patterns):
    from stemtf.serving.local_rest_server import LocalRestServer
    from stemtf.serving.runner import SavedModelRunner

    model, base = rdunet
    expected = model.predict(patterns[..., np.newaxis], verbose=0)[..., 0]
    warmup = write_serving_assets(base / "1", patterns[:2])
    assert warmup.is_file()
    runner = SavedModelRunner("rdunet", base)
    with LocalRestServer(runner) as server:
        denoiser = RestDenoiser(server.url, batch_size=3)
        assert denoiser.output_name == "denoised"
        np.testing.assert_allclose(denoiser(patterns), expected, rtol=1e-5, atol=1e-4)
    pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api not installed")
    from stemtf.serving.local_grpc_server import LocalGrpcServer

    with LocalGrpcServer(runner) as server, GrpcDenoiser(server.url, batch_size=3) as denoiser:
        np.testing.assert_allclose(denoiser(patterns), expected, rtol=1e-5, atol=1e-4)
