"""models.config: TF Serving's ModelServerConfig in protobuf text format."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemtf.errors import InputError
from stemtf.serving import write_models_config
from stemtf.serving.models_config import models_config_text

REPO = Path(__file__).resolve().parents[2]


def _parse(text: str):
    pytest.importorskip("tensorflow_serving.config", reason="tensorflow-serving-api not installed")
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_written_config_parses_as_model_server_config(tmp_path):
    path = write_models_config(tmp_path / "models.config", "rdunet", "/models/rdunet")
    [config] = _parse(path.read_text()).model_config_list.config
    assert (config.name, config.base_path, config.model_platform) == (
        "rdunet",
        "/models/rdunet",
        "tensorflow",
    )


def test_deploy_example_is_valid_and_current():
    example = (REPO / "deploy" / "models.config").read_text()
    [config] = _parse(example).model_config_list.config
    assert (config.name, config.base_path) == ("rdunet", "/models/rdunet")
    body = [ln for ln in example.splitlines() if not ln.startswith("#")]
    assert "\n".join(body) + "\n" == models_config_text([("rdunet", "/models/rdunet")])


def test_bad_values(tmp_path):
    with pytest.raises(InputError, match="absolute path on the server"):
        write_models_config(tmp_path / "m.config", "rdunet", "saved_models/rdunet")
    with pytest.raises(InputError, match="model name 'a/b'"):
        write_models_config(tmp_path / "m.config", "a/b", "/models/x")
    with pytest.raises(InputError, match="appears twice"):
        models_config_text([("a", "/m/a"), ("a", "/m/b")])
    assert models_config_text([("a", "gs://bucket/a")]).count("config {") == 1
    assert not (tmp_path / "m.config").exists()
