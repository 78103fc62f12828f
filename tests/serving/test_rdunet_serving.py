"""A tiny RDUNet exported by ``stemtf export`` and served through TF Serving's APIs.

The served model must give the same denoised counts as the Keras model in-process; the export
must carry warm-up requests TF Serving can replay, in the layout the Dockerfile's serving stage
copies (``saved_models/rdunet/<version>/``). Where ``stemtf export`` is not built yet, the
SavedModel is written by a minimal wrapper with the same signature contract instead.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from stemtf.serving.client import GrpcDenoiser, RestDenoiser

HAVE_EXPORT = importlib.util.find_spec("stemtf.cli.export") is not None


def _wrap_and_save(model, version_dir) -> None:
    """Fallback SavedModel with the export contract: float32 (B, H, W) counts -> denoised."""
    import tensorflow as tf

    from stemtf.serving import write_serving_assets

    class Serve(tf.Module):
        def __init__(self, keras_model):
            super().__init__()
            self.model = keras_model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="counts")])
        def serve(self, counts):
            return {"denoised": self.model(counts[..., tf.newaxis], training=False)[..., 0]}

    module = Serve(model)
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})
    write_serving_assets(version_dir, [np.ones((1, 64, 64), np.float32)])


@pytest.fixture(scope="module")
def rdunet(tmp_path_factory):
    """(keras model, base path ``saved_models/rdunet``) for a width-4, 2-level RDUNet."""
    import keras

    from stemtf.models import RDUNet

    keras.utils.set_random_seed(11)
    model = RDUNet(width=4, levels=2, blocks=1)
    tmp = tmp_path_factory.mktemp("export")
    base = tmp / "saved_models" / "rdunet"
    if HAVE_EXPORT:
        from typer.testing import CliRunner

        from stemtf.cli import app

        model.save(tmp / "tiny.keras")
        args = ["export", "--model", str(tmp / "tiny.keras"), "--out", str(tmp / "saved_models")]
        result = CliRunner().invoke(app, [*args, "--name", "rdunet", "--version", "1"])
        assert result.exit_code == 0, result.output
    else:
        _wrap_and_save(model, base / "1")
    return model, base


@pytest.fixture
def patterns():
    """Four Poisson patterns of an odd detector size (13 x 17: the model pads and crops)."""
    rng = np.random.default_rng(5)
    lam = np.full((4, 13, 17), 1.5)
    lam[:, 6, 8] = 300.0
    return rng.poisson(lam).astype(np.float32)


def test_export_layout_and_warmup_replay(rdunet):
    import tensorflow as tf

    pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api not installed")
    from tensorflow_serving.apis import prediction_log_pb2
    from tfs_double import SavedModelRunner, latest_version

    _, base = rdunet
    assert latest_version(base) == (1, base / "1")  # what the serving image's entrypoint loads
    warmup = base / "1" / "assets.extra" / "tf_serving_warmup_requests"
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(warmup))]
    assert 1 <= len(records) <= 1000
    runner = SavedModelRunner("rdunet", base)
    for record in records:  # replay them as TF Serving does when it loads the version
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        name, signature = request.model_spec.name, request.model_spec.signature_name
        assert (name, signature, list(request.inputs)) == ("rdunet", "serving_default", ["counts"])
        sent = tf.make_ndarray(request.inputs["counts"])
        out = runner.predict(signature, {"counts": sent})
        assert list(out) == ["denoised"] and out["denoised"].shape == sent.shape


def test_rdunet_through_rest_and_grpc_equals_keras(rdunet, patterns):
    from tfs_double import LocalRestServer, SavedModelRunner

    model, base = rdunet
    expected = model.predict(patterns[..., np.newaxis], verbose=0)[..., 0]
    runner = SavedModelRunner("rdunet", base)
    with LocalRestServer(runner) as server:
        denoiser = RestDenoiser(server.url, batch_size=3)
        assert denoiser.output_name == "denoised"
        np.testing.assert_allclose(denoiser(patterns), expected, rtol=1e-5, atol=1e-4)
    pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api not installed")
    from tfs_double import LocalGrpcServer

    with LocalGrpcServer(runner) as server, GrpcDenoiser(server.url, batch_size=3) as denoiser:
        np.testing.assert_allclose(denoiser(patterns), expected, rtol=1e-5, atol=1e-4)
