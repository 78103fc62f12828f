"""``stemtf build-dataset``: one-line errors, a build from existing shards, and resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.data.synthetic import write_synthetic_shards

runner = CliRunner()
MATERIALS = ["nmc811-o3", "nmc811-o1", *(f"synth-{c}" for c in "abcdefgh")]


def _run_app(args, capsys):
    """Run the real app entry point (with its error handling); return (exit code, stderr lines)."""
    with pytest.raises(SystemExit) as exc:
        app(args, prog_name="stemtf")
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


def test_unknown_config_is_one_line(tmp_path, capsys):
    code, err = _run_app(["build-dataset", "--config", "huge", "--data-dir", str(tmp_path)], capsys)
    assert code == 2
    assert err == ["error: dataset config 'huge' is unknown: allowed small, default, full"]


def test_unwritable_data_dir_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _run_app(["build-dataset", "--data-dir", str(blocker / "sub")], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: data dir") and "sub" in err[0]


def test_missing_shard_folder_is_one_line(tmp_path, capsys):
    code, err = _run_app(
        ["build-dataset", "--data-dir", str(tmp_path), "--shards", str(tmp_path / "none")], capsys
    )
    assert code == 2 and len(err) == 1 and err[0].startswith("error: shard folder")


def _records(dataset_dir):
    import tensorflow_datasets as tfds

    b = tfds.builder_from_directory(str(dataset_dir))
    out = {}
    for split in b.info.splits:
        for e in b.as_dataset(split=split, shuffle_files=False).as_numpy_iterator():
            out[(split, int(e["index"]))] = (
                e["material_id"],
                e["noisy"].tobytes(),
                e["clean"].tobytes(),
            )
    return out


def test_killed_build_rerun_gives_same_examples(tmp_path):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, MATERIALS, zone_axes=3, thicknesses_A=(60.0, 120.0, 200.0))
    cmd = [sys.executable, "-c", "from stemtf.cli import app; app()"]
    args = ["build-dataset", "--config", "small", "--shards", str(shards), "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, *args, "--data-dir", str(killed_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    config_dir = killed_dir / "stem_diffraction" / "small"
    deadline = time.monotonic() + 120
    # kill while tfds is writing records (an incomplete.* folder exists)
    while time.monotonic() < deadline and proc.poll() is None:
        if config_dir.is_dir() and any(
            p.name.startswith("incomplete.") for p in config_dir.iterdir()
        ):
            time.sleep(0.3)
            break
        time.sleep(0.05)
    was_running = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if not was_running:
        pytest.skip("the build finished before it could be killed")
    assert not (config_dir / "1.0.0" / "dataset_info.json").exists()
    r = subprocess.run(
        [*cmd, *args, "--data-dir", str(killed_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert not any(p.name.startswith("incomplete.") for p in config_dir.iterdir())
    whole = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    a = _records(config_dir / "1.0.0")
    b = _records(tmp_path / "whole" / "stem_diffraction" / "small" / "1.0.0")
    assert a.keys() == b.keys() and len(a) == len(MATERIALS) * 3 * 3 * 2
    assert all(a[k] == b[k] for k in a)
    assert np.frombuffer(a[next(iter(a))][1], np.float32).size == 128 * 128
