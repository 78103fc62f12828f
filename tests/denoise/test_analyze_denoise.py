"""``analyze`` with a denoiser: frame, self-check and decision reach summary.json.

Real tiny SavedModels (no card: unknown domain): one that outputs zeros (destroys every count)
must lose the self-check, so ``auto`` analyses without it and says so; naming it forces it.
The real bundled model on a 128 px pattern scan records its domain, frame and verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from stemtf.analysis import AnalyzeConfig, analyze

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "analysis"))
sys.path.insert(0, str(HERE))
from scene import Q_SAMPLING_INVA, scene  # noqa: E402

BUNDLED = HERE.parents[1] / "saved_models" / "rdunet" / "1"


def _save_zero_model(path):
    import tensorflow as tf

    class Zero(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32)])
        def serve(self, counts):
            return {"denoised": 0.0 * counts}

    module = Zero()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory):
    data, _, _ = scene((6, 7), seed=1)
    path = tmp_path_factory.mktemp("scan") / "scan.npy"
    np.save(path, data)
    return path


@pytest.fixture(scope="module")
def zero_model(tmp_path_factory):
    return _save_zero_model(tmp_path_factory.mktemp("models") / "zero" / "1")


def _run(scan, out, denoise):
    cfg = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise=denoise,
        q_sampling_invA=Q_SAMPLING_INVA,
        energy_eV=200e3,
        semiangle_mrad=1.0,
        scheduler="synchronous",
        sample_dps=42,
    )
    analyze(cfg, progress=False)
    return json.loads((out / "summary.json").read_text())


def test_auto_drops_a_count_destroying_model_and_a_named_one_is_forced(
    scan_file, zero_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("STEMTF_MODEL_DIR", str(zero_model))
    s = _run(scan_file, tmp_path / "auto", "auto")
    d = s["denoiser"]
    assert d["kind"] == "none" and d["decision"] == "none"
    assert d["self_check"]["model_wins"] is False
    assert (
        d["self_check"]["deviance_per_dp"]["model"]
        > d["self_check"]["deviance_per_dp"]["classical"]
    )
    assert d["domain"] is None  # no card: unknown domain, said in one line
    assert any("unknown domain" in w for w in s["warnings"])
    assert any("WITHOUT denoising" in w for w in s["warnings"])
    forced = _run(scan_file, tmp_path / "forced", str(zero_model))
    assert forced["denoiser"]["decision"].startswith("model (forced")
    assert any("named explicitly" in w for w in forced["warnings"])
    assert forced["denoiser"]["frame"]["zoom"] == [1.0, 1.0]


@pytest.mark.skipif(not (BUNDLED / "saved_model.pb").is_file(), reason="bundled model missing")
def test_bundled_model_domain_frame_and_verdict_recorded(scan_file, tmp_path):
    s = _run(scan_file, tmp_path / "named", str(BUNDLED))
    d = s["denoiser"]
    assert d["domain"]["disk_radius_px"] == pytest.approx(3.19, abs=0.01)
    assert d["data_geometry"]["q_sampling_invA"] == Q_SAMPLING_INVA
    sc = d["self_check"]
    assert set(sc["deviance_per_dp"]) == {"raw", "classical", "model"}
    assert d["decision"] == ("model" if sc["model_wins"] else "model (forced: named explicitly)")
    assert d["frame"]["zoom"][0] == pytest.approx(3.19 / 1.994, abs=0.05)  # disks 2 -> 3.19 px
    # same beam (200 kV, 1 mrad): resampled to the model's disk radius, the q-sampling in the
    # model's frame is the model's too (0.02 / 1.58 = 0.0126), and the dose is in range
    assert not [w for w in s["warnings"] if "outside its training domain" in w]


def test_classical_filter_named_runs_at_the_scans_disk_scale(tmp_path):
    """``--denoise classical``: the scan's disk radius sets the Gaussian; the map stays right."""
    from stemtf.physics import disk_radius_px

    data, truth, _ = scene((6, 7), seed=1)
    scan = tmp_path / "scan.npy"
    np.save(scan, data)
    s = _run(scan, tmp_path / "classical", "classical")
    d = s["denoiser"]
    r = disk_radius_px(1.0, 200e3, Q_SAMPLING_INVA)
    assert d["kind"] == "classical" and d["decision"].startswith("classical")
    assert d["disk_radius_px"] == pytest.approx(r, rel=1e-3)
    assert d["sigma_px"] == pytest.approx(np.clip(0.45 * r, 0.7, 4.0), rel=1e-3)
    import h5py

    with h5py.File(tmp_path / "classical" / "results.h5", "r") as f:
        labels = np.asarray(f["labels"])
    assert np.mean(labels == truth) >= 0.9  # bright, clean patterns: the filter must not hurt
