"""`stemtf analyze --phases`: 1-8 ids or CIF files, label names, summary, bad input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from stemtf.phase import PhaseModel

FIVE = "nmc811-o3,nmc811-o1,nmc811-h3,nmc811-spinel,nmc811-rocksalt"
Q = 0.0125
CAL = ["--q-sampling-invA", str(Q), "--energy-keV", "200", "--semiangle-mrad", "1.0"]
#: Scan rows: an O3 matrix (the majority the camera length is learned from) and one row each.
ROWS = ("O3", "O3", "O3", "O1", "H3", "spinel", "rock salt", "O3+O1", "none")


def _pattern(model, names, rng, rot):
    """Kinematic Gaussian spots of the phases ``names`` (mixture: 70/30) on 128 px, counts."""
    n = 128
    yy, xx = np.mgrid[:n, :n].astype(float)
    img = 400.0 * np.exp(-((yy - 64) ** 2 + (xx - 64) ** 2) / (2 * 1.8**2))
    shares = {0: (), 1: (1.0,), 2: (0.7, 0.3)}[len(names)]
    for share, name in zip(shares, names, strict=True):
        p = model.phases.index(name)
        for r in (r for r in model.rings if r.phase == p):
            amp = share * 80.0 * (max(4 * r.intensity, 0.3) if r.marker else r.intensity)
            for k in range(6):
                t = np.deg2rad(r.rotation_deg + rot + 60 * k)
                y, x = 64 + r.radius_invA / Q * np.sin(t), 64 + r.radius_invA / Q * np.cos(t)
                img += amp * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.8**2))
    return rng.poisson(img + 0.2).astype(np.float32)


@pytest.fixture(scope="module")
def family_scan(tmp_path_factory):
    model = PhaseModel.from_materials(FIVE.split(","))
    rng = np.random.default_rng(5)
    cols = 8
    data = np.zeros((len(ROWS), cols, 128, 128), np.float32)
    for i, lab in enumerate(ROWS):
        for j in range(cols):
            names = () if lab == "none" else tuple(lab.split("+"))
            data[i, j] = _pattern(model, names, rng, rng.uniform(0, 60))
    path = tmp_path_factory.mktemp("fam") / "family.npy"
    np.save(path, data)
    return path


def test_five_phases_map_with_label_names_and_summary(invoke, family_scan, tmp_path):
    code, out = invoke(["analyze", str(family_scan), "--out", str(tmp_path), *CAL, "--denoise",
                        "none", "--phases", FIVE, "--no-progress"])  # fmt: skip
    assert code == 0, out
    with h5py.File(tmp_path / "results.h5") as f:
        names = json.loads(f["labels"].attrs["label_names"])
        labels = f["labels"][...]
    assert names[:6] == ["none", "O3", "O1", "H3", "spinel", "rock salt"]
    assert {"O3+O1", "O3|H3"} <= set(names) and names[-1] == "unassigned"
    pred = np.array(names)[labels]
    for i, lab in enumerate(ROWS):
        assert np.mean(pred[i] == lab) >= 0.85, (lab, list(pred[i]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    fam = summary["phase_family"]
    assert summary["label_names"] == names
    assert fam["calibration_learned"] and fam["calibration_accuracy"] < 0.005
    assert "O3/H3 (absolute)" in fam["could_separate"] and fam["could_not_separate"] == []
    assert summary["phases"]["rock salt"] == "nmc811-rocksalt"
    assert (tmp_path / "phase_map.png").stat().st_size > 0


def test_default_run_keeps_its_codes(invoke, family_scan, tmp_path):
    code, out = invoke(["analyze", str(family_scan), "--out", str(tmp_path), *CAL, "--denoise",
                        "none", "--no-progress"])  # fmt: skip
    assert code == 0, out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["label_names"] == ["none", "O3", "O1", "both", "unassigned"]
    assert "phase_family" not in summary


def test_unknown_phase_is_one_line_naming_it(invoke, family_scan, tmp_path):
    code, out = invoke(["analyze", str(family_scan), "--out", str(tmp_path), *CAL,
                        "--phases", "nmc811-o3,nmc811-o4", "--no-progress"])  # fmt: skip
    assert code == 2 and "phase 'nmc811-o4'" in out and "Traceback" not in out
    assert len([ln for ln in out.splitlines() if "nmc811-o4" in ln]) == 1


def test_unusable_phases_are_dropped_and_said(invoke, family_scan, tmp_path):
    junk = tmp_path / "junk.cif"
    junk.write_text("data_junk\nnot a crystal\n")
    code, out = invoke(["analyze", str(family_scan), "--out", str(tmp_path / "o"), *CAL,
                        "--denoise", "none", "--phases", f"nmc811-o3,pmg-VO2,{junk}",
                        "--no-progress"])  # fmt: skip
    assert code == 0, out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["label_names"] == ["none", "O3", "unassigned"]
    dropped = summary["phase_family"]["dropped"]
    assert len(dropped) == 2 and "no hexagonal zone" in dropped[0] and "junk.cif" in dropped[1]
    assert any("pmg-VO2" in w for w in summary["warnings"])
    assert "warning: phase 'pmg-VO2'" in out


def test_nothing_usable_left_is_an_error(invoke, family_scan, tmp_path):
    code, out = invoke(["analyze", str(family_scan), "--out", str(tmp_path), *CAL,
                        "--phases", "pmg-VO2", "--no-progress"])  # fmt: skip
    assert code == 2 and "no usable phase is left" in out and "pmg-VO2" in out
