"""The denoiser shipped in saved_models/rdunet: present, documented, and better than the baselines.

The patterns are kinematic hexagonal lattices (not the abTEM simulations the model was trained
on) passed through the real noise model at low dose, so this also checks that the model
generalises beyond its training distribution.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemtf.denoise import load
from stemtf.denoise.bundled import package_model_root

MAX_MODEL_BYTES = 50 * 2**20
LOW_DOSE_E = (1e3, 1e4)


@pytest.fixture(scope="module")
def version_dir():
    root = package_model_root()
    versions = sorted((p for p in root.glob("[0-9]*") if p.is_dir()), key=lambda p: int(p.name))
    if not versions:
        pytest.fail(f"no bundled model under {root}")
    return versions[-1]


def test_bundled_model_layout_and_card(version_dir):
    for name in (
        "saved_model.pb",
        "model_card.json",
        "model_card.md",
        "model.keras",
        "assets.extra/tf_serving_warmup_requests",
    ):
        assert (version_dir / name).is_file(), name
    size = sum(p.stat().st_size for p in version_dir.rglob("*") if p.is_file())
    assert size < MAX_MODEL_BYTES
    card = json.loads((version_dir / "model_card.json").read_text())
    metrics = card["metrics"]
    if (card.get("training") or {}).get("dataset_config") == "field":
        # trained on field-scene pairs (scripts/train_field_denoiser.py): the card holds its
        # domain, the doses auto uses it at, and its validation against where it started
        lo, hi = card["domain"]["auto_dose_range_e"]
        assert card["domain"]["dose_range_e"][0] <= lo < hi
        assert metrics["val_l1"] < metrics["val_l1_init_model"] < metrics["val_l1_raw_input"]
        assert "train_field_denoiser.py" in (version_dir / "model_card.md").read_text()
        return
    assert card["dataset_version"].startswith("default/")
    per_bin = metrics["evaluation_per_dose_bin"]
    assert "median" in per_bin["methods"] and "rdunet" in per_bin["methods"]


def test_bundled_model_beats_median_at_low_dose(version_dir, monkeypatch):
    from stemtf.data.synthetic import hexagonal_pattern
    from stemtf.evaluation.baselines import baselines
    from stemtf.evaluation.metrics import psnr
    from stemtf.noise import NoiseConfig, apply

    monkeypatch.delenv("STEMTF_MODEL_DIR", raising=False)
    denoiser = load("auto")
    rng = np.random.default_rng(11)
    config = NoiseConfig().replace(dose_range_e=LOW_DOSE_E)
    noisy, target = [], []
    for k in range(12):
        clean = hexagonal_pattern(
            (128, 128),
            ring_invA=0.696 if k % 2 else 0.402,
            rotation_deg=7.0 * k,
            q_sampling_invA=0.0125,
            disk_px=3.0,
        )
        res = apply(clean, config, rng, q_sampling_invA=0.0125)
        noisy.append(res.noisy)
        target.append(res.target)
    noisy, target = np.stack(noisy), np.stack(target)
    out = denoiser(noisy)
    assert out.shape == noisy.shape and np.all(np.isfinite(out))
    median = baselines(include_bm3d=False)["median"]
    gain_model = np.mean([psnr(o, t) for o, t in zip(out, target, strict=True)])
    gain_median = np.mean([psnr(median(n), t) for n, t in zip(noisy, target, strict=True)])
    assert gain_model > gain_median + 3.0, (gain_model, gain_median)
