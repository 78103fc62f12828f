"""What the data contradicts reaches summary.json: a wrong calibration, a scan with no hexagon."""

from __future__ import annotations

import json

import numpy as np

from stemtf.analysis import AnalyzeConfig, analyze
from stemtf.scenes import FieldConditions, simulate_scan


def _run(scan, out, **kw):
    config = AnalyzeConfig(input_path=scan, out_dir=out, denoise="none", **kw)
    analyze(config, progress=False)
    return json.loads((out / "summary.json").read_text())


def test_wrong_calibration_is_a_warning_naming_both_values(tmp_path, kinematic_library):
    scan, _ = simulate_scan(
        tmp_path / "scan.h5",
        shape=(24, 24),
        dose_e=1e4,
        seed=3,
        library=kinematic_library,
        field=FieldConditions(calibration_error=0.04),
    )
    summary = _run(scan, tmp_path / "out")
    given = kinematic_library.q_sampling_invA * 1.04
    hits = [w for w in summary["warnings"] if "q_sampling_invA" in w and "rings" in w]
    assert len(hits) == 1, summary["warnings"]
    assert f"{given:.6g}" in hits[0] and f"{kinematic_library.q_sampling_invA:.4g}" in hits[0]


def test_a_scan_without_any_hexagon_says_so(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.poisson(0.5, size=(6, 7, 64, 64)).astype(np.float32)
    d[..., 32, 32] += 500
    np.save(tmp_path / "vac.npy", d)
    summary = _run(
        tmp_path / "vac.npy",
        tmp_path / "out",
        q_sampling_invA=0.0125,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )
    assert any("no hexagon of the phases O3, O1" in w for w in summary["warnings"])
