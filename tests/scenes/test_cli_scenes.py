"""stemtf simulate-scan and stemtf evaluate-phases through the CLI."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app

runner = CliRunner()


def _run_app(args, capsys):
    """The real entry point (with its one-line errors): exit code and stderr lines."""
    with pytest.raises(SystemExit) as exc:
        app(args, prog_name="stemtf")
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


def _truth(path, labels):
    with h5py.File(path, "w") as f:
        f.create_dataset("labels", data=labels.astype(np.uint8))


def test_evaluate_phases_prints_and_writes_metrics(tmp_path):
    truth = np.array([[0, 1, 1, 2], [3, 3, 1, 0]], np.uint8)
    pred = np.array([[0, 1, 2, 2], [3, 1, 1, 0]], np.uint8)
    _truth(tmp_path / "truth.h5", truth)
    (tmp_path / "res").mkdir()
    _truth(tmp_path / "res" / "results.h5", pred)
    r = runner.invoke(
        app,
        [
            "evaluate-phases",
            "--results",
            str(tmp_path / "res"),
            "--truth",
            str(tmp_path / "truth.h5"),
            "--json",
            str(tmp_path / "m.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["classes"]["none"]["f1"] == 1.0
    assert abs(m["classes"]["O3"]["precision"] - 2 / 3) < 1e-9
    assert abs(m["classes"]["O3"]["recall"] - 2 / 3) < 1e-9
    assert abs(m["classes"]["both"]["recall"] - 0.5) < 1e-9
    # F1: none 1, O3 2/3, O1 (p 1/2, r 1) 2/3, both (p 1, r 1/2) 2/3
    assert abs(m["macro_f1"] - (1.0 + 3 * 2 / 3) / 4) < 1e-9
    assert m["confusion"][1][2] == 1


def test_evaluate_phases_bad_inputs(tmp_path, capsys):
    _truth(tmp_path / "truth.h5", np.zeros((2, 2)))
    (tmp_path / "res").mkdir()
    args = [
        "evaluate-phases",
        "--results",
        str(tmp_path / "res"),
        "--truth",
        str(tmp_path / "truth.h5"),
    ]
    code, err = _run_app(args, capsys)
    assert code == 2 and len(err) == 1 and "results.h5" in err[0]
    _truth(tmp_path / "res" / "results.h5", np.zeros((3, 2)))
    code, err = _run_app(args, capsys)
    assert code == 2 and len(err) == 1 and "do not match" in err[0]


def test_simulate_scan_refuses_bad_options(tmp_path, capsys):
    code, err = _run_app(["simulate-scan", "--out", str(tmp_path / "x.txt")], capsys)
    assert code == 2 and len(err) == 1 and "unknown scan format" in err[0]
    code, err = _run_app(
        ["simulate-scan", "--out", str(tmp_path / "x.h5"), "--dose-e", "0"], capsys
    )
    assert code == 2 and len(err) == 1 and "dose" in err[0]


def test_simulate_scan_field_options(tmp_path):
    import json

    out = tmp_path / "f.h5"
    r = runner.invoke(
        app,
        [
            "simulate-scan",
            "--out",
            str(out),
            "--shape",
            "4",
            "5",
            "--detector-px",
            "32",
            "--q-sampling-invA",
            "0.05",
            "--thickness-range-A",
            "40",
            "40",
            "--thickness-steps",
            "1",
            "--descan-px",
            "6",
            "--descan-jitter-px",
            "0.2",
            "--ellipticity",
            "0.03",
            "--calibration-error",
            "0.04",
            "--carbon-fraction",
            "0.1",
            "--halo-per-100A",
            "0.1",
            "--gain-sigma",
            "0.03",
            "--dead-cols",
            "1",
            "--hot-fraction",
            "0.001",
            "--uint16",
            "--both-o1-fraction",
            "0.2",
            "0.8",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        data = f["data/scan/data"]
        assert data.dtype == np.uint16 and data.shape == (4, 5, 32, 32)
    with h5py.File(tmp_path / "f_truth.h5") as f:
        assert f.attrs["q_sampling_invA"] == pytest.approx(0.05 * 1.04)
        assert f.attrs["q_sampling_true_invA"] == pytest.approx(0.05)
        meta = json.loads(f.attrs["scene"])
    assert meta["field"]["carbon_fraction"] == 0.1 and meta["library"]["thicknesses_A"] == [40.0]


def test_simulate_scan_refuses_bad_field_options(tmp_path, capsys):
    code, err = _run_app(
        ["simulate-scan", "--out", str(tmp_path / "x.h5"), "--ellipticity", "0.5"], capsys
    )
    assert code == 2 and len(err) == 1 and "ellipticity" in err[0]
