"""`analyze` of a faint scan whose given pixel size is 5 % off: pass 1 corrects it and says so."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from stemtf.analysis import AnalyzeConfig, analyze
from stemtf.phase import PhaseModel

_spec = importlib.util.spec_from_file_location(
    "kinematic_patterns", Path(__file__).parents[1] / "phase" / "conftest.py"
)
kin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kin)

Q_TRUE = 0.0125  # 1/Å per px the rings are rendered with


@pytest.fixture(scope="module")
def faint_scan(tmp_path_factory):
    """12 x 12 scan, 100 e-/DP, 5 % of the counts in O3 (three in four) or O1 lattices at
    random rotations, on the beam and a flat background: too faint for the hexagon route."""
    model = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])
    rng = np.random.default_rng(5)
    data = np.empty((12, 12, 128, 128), np.uint16)
    for i, (r, c) in enumerate(np.ndindex(12, 12)):
        centre = (64 + rng.normal(0, 1), 64 + rng.normal(0, 1))
        rings = kin.phase_rings(model, 1 if i % 4 == 3 else 0)
        lat = kin.render_pattern(
            rings, rotation_deg=rng.uniform(0, 60), center_yx=centre, central=0.0
        )
        img = 0.8 * kin.render_pattern([], center_yx=centre) + 0.05 * lat + 0.15 / 128**2
        data[r, c] = rng.poisson(img * 100.0)
    path = tmp_path_factory.mktemp("scan") / "faint.npy"
    np.save(path, data)
    return path


def _summary(scan: Path, out: Path, q: float) -> dict:
    cfg = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise="none",
        q_sampling_invA=q,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )
    analyze(cfg, progress=False)
    return json.loads((out / "summary.json").read_text())


def test_wrong_pixel_size_is_corrected_with_a_warning(faint_scan, tmp_path):
    given = 1.05 * Q_TRUE  # rings 4.8 % inside where the given pixel size puts them
    s = _summary(faint_scan, tmp_path / "wrong", given)
    assert abs(s["calibration"]["q_sampling_invA"] / Q_TRUE - 1) < 0.01
    said = [w for w in s["warnings"] if "mean radial profile" in w]
    assert len(said) == 1 and f"q_sampling_invA={given:.6g}" in said[0]
    assert any("mean radial profile" in h for h in s["phase_model_history"])
    s = _summary(faint_scan, tmp_path / "right", Q_TRUE)
    assert s["calibration"]["q_sampling_invA"] == Q_TRUE
    assert not [w for w in s["warnings"] if "mean radial profile" in w]
