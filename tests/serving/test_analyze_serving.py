"""``stemtf analyze --denoise http://...`` end to end against the local TF Serving REST server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ANALYZE = ["--q-sampling-invA", "0.0125", "--energy-keV", "200", "--semiangle-mrad", "1.0"]


@pytest.fixture
def scan(tmp_path) -> Path:
    """A 3 x 4 scan of 32 x 32 Poisson patterns with a bright central beam (.npy)."""
    rng = np.random.default_rng(3)
    data = rng.poisson(0.5, size=(3, 4, 32, 32)).astype(np.float32)
    data[..., 16, 16] += 500
    path = tmp_path / "scan.npy"
    np.save(path, data)
    return path


def _analyze(scan: Path, out: Path, denoise: str):
    pytest.importorskip("stemtf.cli.analyze", reason="stemtf analyze not built yet")
    from typer.testing import CliRunner

    from stemtf.cli import app

    args = ["analyze", str(scan), "--out", str(out), "--denoise", denoise, *ANALYZE]
    return CliRunner().invoke(app, [*args, "--scheduler", "synchronous"])


def _numeric(path: Path) -> dict[str, np.ndarray]:
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                found.__setitem__(name, obj[()])
                if hasattr(obj, "dtype") and obj.dtype.kind in "fiu"
                else None
            )
        )
    return found


def test_rest_results_equal_savedmodel_results(scan, tmp_path, rest_server, tiny_base):
    by_rest = _analyze(scan, tmp_path / "rest", rest_server.url)
    assert by_rest.exit_code == 0, by_rest.output
    by_folder = _analyze(scan, tmp_path / "folder", str(tiny_base))
    assert by_folder.exit_code == 0, by_folder.output
    rest, folder = _numeric(tmp_path / "rest/results.h5"), _numeric(tmp_path / "folder/results.h5")
    assert rest.keys() == folder.keys() and "labels" in rest
    for name in rest:
        np.testing.assert_allclose(rest[name], folder[name], rtol=1e-5, err_msg=name)
    import h5py

    with h5py.File(tmp_path / "rest/results.h5", "r") as f:
        denoiser = json.loads(f["provenance"].attrs["denoiser"])
    served = {k: denoiser.get(k) for k in ("kind", "model", "version", "url")}
    assert served == {"kind": "rest", "model": "tiny", "version": "1", "url": rest_server.url}


def test_partial_answers_write_no_results(scan, tmp_path, rest_server):
    def drop_last(method, path, status, body):
        if method != "POST":
            return status, body
        obj = json.loads(body)
        obj["outputs"] = obj["outputs"][:-1]
        return status, json.dumps(obj).encode()

    rest_server.set_answer_hook(drop_last)
    result = _analyze(scan, tmp_path / "out", rest_server.url)
    assert result.exit_code != 0
    assert "incomplete answer" in str(result.exception)
    assert not (tmp_path / "out/results.h5").exists()


def test_unreachable_server_is_one_error_line(scan, tmp_path, free_port):
    """The installed command: exit status 2, one ``error:`` line, no traceback, no results."""
    pytest.importorskip("stemtf.cli.analyze", reason="stemtf analyze not built yet")
    stemtf = Path(sys.executable).parent / "stemtf"
    url = f"http://127.0.0.1:{free_port}/v1/models/rdunet"
    done = subprocess.run(
        [
            str(stemtf),
            "-q",
            "analyze",
            str(scan),
            "--out",
            str(tmp_path / "out"),
            "--denoise",
            url,
            *ANALYZE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-800:]
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "cannot connect" in errors[0] and url in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out/results.h5").exists()
