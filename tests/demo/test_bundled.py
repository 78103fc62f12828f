"""``--denoise auto``: the bundled model, $STEMTF_MODEL_DIR, and the no-model fallback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import stemtf
from stemtf.denoise import IdentityDenoiser, load
from stemtf.denoise import bundled as bundled_mod
from stemtf.denoise.bundled import ENV_VAR, find_bundled_model, package_model_root
from stemtf.errors import InputError


@pytest.fixture
def no_bundled_model(tmp_path, monkeypatch) -> Path:
    """No env override and an empty repository model folder."""
    root = tmp_path / "saved_models" / "rdunet"
    (root / "7").mkdir(parents=True)  # a version folder without saved_model.pb is no model
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(bundled_mod, "package_model_root", lambda: root)
    return root


def test_package_root_is_beside_the_installed_package():
    root = package_model_root()
    assert root.parts[-2:] == ("saved_models", "rdunet")
    assert (root.parents[1] / "stemtf" / "__init__.py").resolve() == Path(stemtf.__file__).resolve()


def test_env_folder_gives_highest_numeric_version(exported_models, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(exported_models))
    found = find_bundled_model()
    assert found.version_dir == exported_models / "3" and found.source == "env"
    assert found.note is None
    monkeypatch.setenv(ENV_VAR, str(exported_models / "1"))  # a version folder itself
    assert find_bundled_model().version_dir == exported_models / "1"


def test_env_without_model_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(InputError, match=ENV_VAR):
        load("auto")


def test_env_none_switches_auto_off(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "none")
    d = load("auto")
    assert isinstance(d, IdentityDenoiser) and d.info["note"].endswith("WITHOUT denoising")


def test_auto_runs_the_bundled_model(exported_models, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(exported_models))
    counts = np.random.default_rng(0).poisson(3.0, (5, 20, 24)).astype(np.float32)
    auto = load("AUTO", batch_size=2)
    direct = load(str(exported_models / "3"))
    np.testing.assert_allclose(auto(counts), direct(counts), rtol=1e-5, atol=1e-5)
    assert auto.info["requested"] == "auto" and auto.info["version"] == "3"
    assert auto.batch_size == 2


def test_auto_without_model_falls_back_with_warning_and_note(no_bundled_model, caplog):
    with caplog.at_level(logging.WARNING, logger="stemtf.denoise.bundled"):
        d = load("auto")
    assert isinstance(d, IdentityDenoiser)
    assert "WITHOUT denoising" in d.info["note"] and str(no_bundled_model) in d.info["note"]
    assert any("WITHOUT denoising" in r.getMessage() for r in caplog.records)
    assert "note" not in IdentityDenoiser.info  # the class default stays clean
    x = np.ones((2, 8, 8), np.float32)
    assert np.array_equal(d(x), x)


def test_analyze_cli_defaults_to_auto(no_bundled_model, tmp_path, monkeypatch):
    from stemtf.analysis import worker
    from stemtf.cli import app

    monkeypatch.setattr(worker, "_DENOISERS", {})
    data = np.random.default_rng(0).poisson(0.5, (3, 4, 64, 64)).astype(np.float32)
    data[..., 32, 32] += 500
    np.save(tmp_path / "scan.npy", data)
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            str(tmp_path / "scan.npy"),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
            "--q-sampling-invA",
            "0.0125",
            "--energy-keV",
            "200",
            "--semiangle-mrad",
            "1",
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["denoiser"]["requested"] == "auto"
    assert "WITHOUT denoising" in summary["denoiser"]["note"]
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert json.loads(f["provenance"].attrs["config"])["denoise"] == "auto"
