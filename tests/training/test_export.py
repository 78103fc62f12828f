import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.errors import InputError

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_run):
    run, _ = trained_run
    out = tmp_path_factory.mktemp("saved_models")
    r = CliRunner().invoke(
        app, ["export", "--run", str(run), "--name", "rdunet", "--version", "3", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    return run, out / "rdunet" / "3"


def test_export_layout_and_card(exported):
    run, version_dir = exported
    names = {p.name for p in version_dir.iterdir()}
    assert {
        "saved_model.pb",
        "variables",
        "model_card.json",
        "model_card.md",
        "assets.extra",
    } <= names
    assert (version_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
    card = json.loads((version_dir / "model_card.json").read_text())
    assert card["model_config"]["width"] == 4 and card["version"] == 3
    assert card["dataset_version"].startswith("synthetic")
    assert "val_psnr_db" in card["metrics"] and card["training"]["weight_decay"] == 1e-5
    assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".export")]


def test_saved_model_matches_keras(exported):
    import keras

    from stemtf.training.export import load_keras_model

    run, version_dir = exported
    model = load_keras_model(run / "model.keras")
    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    rng = np.random.default_rng(1)
    for shape in [(3, 32, 32), (1, 20, 27), (2, 16, 16, 1)]:
        x = rng.poisson(4.0, size=shape).astype(np.float32)
        y = serve(counts=tf.constant(x))["denoised"].numpy()
        assert y.shape == x.shape
        ref = keras.ops.convert_to_numpy(model(x.reshape(*shape[:3], 1))).reshape(shape)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-4)


def test_saved_model_cli_lists_signature(exported):
    _, version_dir = exported
    exe = (
        Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parents[2] / ".venv"))
        / "bin"
        / "saved_model_cli"
    )
    if not exe.exists():
        pytest.skip("saved_model_cli not installed")
    r = subprocess.run(
        [str(exe), "show", "--dir", str(version_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "signature_def['serving_default']" in r.stdout
    assert "inputs['counts']" in r.stdout and "outputs['denoised']" in r.stdout


def test_export_refuses_bad_input(exported, tmp_path):
    from stemtf.training.export import export_saved_model, resolve_model_source

    run, version_dir = exported
    with pytest.raises(InputError, match="already exists"):
        export_saved_model(run / "model.keras", version_dir.parents[1], "rdunet", 3)
    with pytest.raises(InputError, match="exactly one"):
        resolve_model_source(None, None)
    with pytest.raises(InputError, match="no model.keras"):
        resolve_model_source(tmp_path, None)
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be loaded"):
        export_saved_model(bad, tmp_path / "sm", "x", 1)


def test_evaluate_the_saved_model(exported, tmp_path):
    from stemtf.evaluation.run import run_evaluation

    _, version_dir = exported
    report, table = run_evaluation(version_dir, tmp_path, synthetic=3, with_baselines=False)
    assert report["model"]["kind"] == "savedmodel"
    assert set(report["methods"]) == {"noisy", "rdunet"} and "rdunet" in table
    assert (tmp_path / "evaluation.png").is_file()
