"""Warm-up requests: the TFRecord of PredictionLog that TF Serving replays when it loads a model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.serving import write_serving_assets

pytest.importorskip("tensorflow_serving.apis", reason="tensorflow-serving-api not installed")


@pytest.fixture
def version_dir(tiny_base, tmp_path):
    """A private copy of ``saved_models/tiny/1`` to write assets into."""
    target = tmp_path / "saved_models" / "tiny" / "1"
    shutil.copytree(tiny_base / "1", target)
    return target


def _records(path):
    import tensorflow as tf

    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def decode_predict_log(record: bytes):
    """``(model name, signature name, {input: array})`` of one warm-up record, decoded by TF
    Serving's own ``PredictionLog`` class."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog.FromString(record)
    assert log.WhichOneof("log_type") == "predict_log"
    request = log.predict_log.request
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    return request.model_spec.name, request.model_spec.signature_name, inputs


def test_warmup_file_decodes_to_predict_log(version_dir, counts):
    path = write_serving_assets(version_dir, counts)
    assert path == version_dir / "assets.extra" / "tf_serving_warmup_requests"
    [record] = _records(path)  # TFRecordDataset reads it: valid TFRecord framing and CRCs
    name, signature, inputs = decode_predict_log(record)
    assert (name, signature, sorted(inputs)) == ("tiny", "serving_default", ["counts"])
    np.testing.assert_array_equal(inputs["counts"], counts)
    assert not list(version_dir.glob("assets.extra/.stemtf-tmp*"))  # atomic write left no temp


def test_warmup_matches_tensorflow_serving_protos(version_dir, counts):
    """Decoded by TF Serving's own PredictionLog class, and byte-identical to its serialisation."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = write_serving_assets(version_dir, [counts, counts[:2, :8, :8]])
    records = _records(path)
    assert len(records) == 2
    for record, batch in zip(records, [counts, counts[:2, :8, :8]], strict=True):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.name == "tiny"
        assert request.model_spec.signature_name == "serving_default"
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs["counts"]), batch)
        official = predict_pb2.PredictRequest()
        official.model_spec.name = "tiny"
        official.model_spec.signature_name = "serving_default"
        official.inputs["counts"].CopyFrom(tf.make_tensor_proto(batch))
        expected = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=official)
        ).SerializeToString()
        assert record == expected


def test_warmup_requests_run_on_the_model(version_dir, counts, runner, reference):
    """Replaying the records as TF Serving does at load gives the model's answers."""
    path = write_serving_assets(version_dir, counts[:3])
    for record in _records(path):
        _, signature, inputs = decode_predict_log(record)
        out = runner.predict(signature, inputs)
        np.testing.assert_allclose(out["output_0"], reference(counts[:3]), rtol=1e-6)


def test_channel_last_signature(tmp_path, counts):
    import tensorflow as tf

    class Channel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
        def serve(self, x):
            return x

    module = Channel()
    folder = tmp_path / "ch" / "2"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    [record] = _records(write_serving_assets(folder, counts))
    _, _, inputs = decode_predict_log(record)
    assert inputs["x"].shape == counts.shape + (1,)


def test_bad_input(version_dir, tmp_path, counts):
    with pytest.raises(InputError, match="has no saved_model.pb"):
        write_serving_assets(tmp_path, counts)
    with pytest.raises(InputError, match=r"\(B, H, W\)"):
        write_serving_assets(version_dir, counts[0])
    with pytest.raises(InputError, match="at most 1000"):
        write_serving_assets(version_dir, [counts[:1]] * 1001)
    with pytest.raises(InputError, match="has no signature 'other'"):
        write_serving_assets(version_dir, counts, signature="other")
    with pytest.raises(InputError, match="finite"):
        write_serving_assets(version_dir, np.full((1, 4, 4), np.nan, np.float32))
    assert not (version_dir / "assets.extra" / "tf_serving_warmup_requests").exists()


def test_missing_serving_extra_is_one_line(version_dir, counts):
    """Without tensorflow-serving-api the export path says what to install, in one line."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['tensorflow_serving'] = None\n"
        "import numpy as np\n"
        "from stemtf.errors import StemtfError\n"
        "from stemtf.serving import write_models_config, write_serving_assets\n"
        "for call in (lambda: write_serving_assets(sys.argv[1], np.ones((1, 4, 4), np.float32)),\n"
        "             lambda: write_models_config(sys.argv[1] + '/m.config', 'm', '/models/m')):\n"
        "    try:\n        call()\n    except StemtfError as e:\n        print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(version_dir)], capture_output=True, text=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout + out.stderr[-500:]
    assert lines[0].startswith("writing TF Serving warm-up requests")
    assert lines[1].startswith("writing models.config")
    assert all(
        'needs the tensorflow-serving-api package: pip install -e ".[serving]"' in x for x in lines
    )
    assert not (version_dir / "assets.extra").exists()
