"""``stemtf demo`` end to end on a 6 x 6 scan: simulate, analyse, evaluate against the truth."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.denoise.bundled import ENV_VAR
from stemtf.phase.metrics import phase_metrics
from stemtf.scenes import read_truth

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_denoiser_cache(monkeypatch):
    """analyze keeps one denoiser per spec and process; each test resolves ``auto`` afresh."""
    from stemtf.analysis import worker

    monkeypatch.setattr(worker, "_DENOISERS", {})


def _demo(out, cache, *extra):
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--shape", "6", "6", "--cache-dir", str(cache), *extra]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output, json.loads((out / "evaluation.json").read_text())


def test_demo_without_denoising_scores_the_map_against_the_truth(tmp_path, library_cache):
    out = tmp_path / "demo"
    output, ev = _demo(out, library_cache, "--denoise", "none", "--dose-e", "2e4")
    for name in (
        "scan.h5",
        "scan_truth.h5",
        "truth_vs_map.png",
        "analysis/report.html",
        "analysis/results.h5",
        "analysis/summary.json",
        "analysis/phase_map.png",
    ):
        assert (out / name).is_file(), name
    with h5py.File(out / "analysis" / "results.h5") as f:
        pred = np.asarray(f["labels"])
    truth, meta = read_truth(out / "scan_truth.h5")
    assert pred.shape == truth.shape == (6, 6) and meta["dose_e"] == 2e4
    expected = phase_metrics(pred, truth)
    assert ev["macro_f1"] == expected["macro_f1"] and ev["confusion"] == expected["confusion"]
    assert ev["accuracy"] >= 0.9, ev["confusion"]  # clean enough at 2e4 e-/DP to map well
    assert f"macro-F1 {ev['macro_f1']:.4f}" in output
    assert f"report: {(out / 'analysis' / 'report.html').resolve()}" in output
    assert "denoiser: none" in output and ev["denoiser"]["kind"] == "none"


def test_demo_uses_the_bundled_model_by_default(
    tmp_path, library_cache, exported_models, monkeypatch
):
    monkeypatch.setenv(ENV_VAR, str(exported_models))
    out = tmp_path / "demo"
    output, ev = _demo(out, library_cache)
    assert ev["denoise"] == "auto"
    # auto finds the highest version; the self-check on the scan decides whether it is used
    used = ev["denoiser"]["decision"] == "model"
    found = ev["denoiser"] if used else ev["denoiser"]["candidate"]
    assert found["path"] == str((exported_models / "3").resolve())
    summary = json.loads((out / "analysis" / "summary.json").read_text())
    assert summary["denoiser"]["requested"] == "auto" and found["version"] == "3"
    assert (
        f"denoiser: {(exported_models / '3').resolve()}" in output
        if used
        else "NOTE: self-check: the denoiser rdunet/3 does not win" in output
    )
    assert 0.0 <= ev["macro_f1"] <= 1.0


def test_demo_without_bundled_model_says_so(tmp_path, library_cache, monkeypatch):
    from stemtf.denoise import bundled

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(bundled, "package_model_root", lambda: tmp_path / "nothing")
    out = tmp_path / "demo"
    output, ev = _demo(out, library_cache, "--seed", "1")
    assert "NOTE: --denoise auto: no bundled denoiser" in output
    summary = json.loads((out / "analysis" / "summary.json").read_text())
    assert "WITHOUT denoising" in summary["denoiser"]["note"]
    with h5py.File(out / "analysis" / "results.h5") as f:
        assert "WITHOUT denoising" in f["provenance"].attrs["denoiser"]


def test_demo_refuses_bad_arguments(tmp_path, library_cache):
    from stemtf.errors import InputError

    for extra in (["--dose-e", "0"], ["--shape", "1", "6"]):
        result = runner.invoke(
            app,
            [
                "demo",
                "--out",
                str(tmp_path / "x"),
                "--cache-dir",
                str(library_cache),
                "--denoise",
                "none",
                *extra,
            ],
        )
        assert result.exit_code != 0 and isinstance(result.exception, InputError), extra
    assert not (tmp_path / "x" / "scan.h5").exists()
