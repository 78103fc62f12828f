import csv
import json
import os
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.errors import InputError
from stemtf.training import TrainConfig, train


class Interrupt(KeyboardInterrupt):
    pass


def _stop_at(n):
    def hook(step):
        if step == n:
            raise Interrupt

    return hook


@pytest.fixture
def cli_run(trained_run):
    return trained_run


def test_cli_train_writes_a_complete_run(cli_run):
    out, result = cli_run
    assert "trained to step 4" in result.output
    for name in ("config.json", "log.csv", "metrics.json", "model.keras", "checkpoints/checkpoint"):
        assert (out / name).exists(), name
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    import tensorflow as tf

    tags = {
        (v.tag, e.step)
        for f in events
        for e in tf.compat.v1.train.summary_iterator(str(f))
        for v in e.summary.value
    }
    assert {("val_psnr_db", 2), ("val_psnr_db", 4), ("loss", 4)} <= tags
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["train"]["weight_decay"] == 1e-5
    assert cfg["versions"]["keras"].startswith("3.")
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4]
    m = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(m["val_psnr_db"]) and 0 < m["val_ssim"] <= 1


def test_interrupted_run_resumes_where_it_stopped(tmp_path, tiny):
    config = TrainConfig(**{**tiny, "eval_every": 1}, steps=6)
    with pytest.raises(Interrupt):
        train(config, tmp_path, on_step=_stop_at(5))  # checkpoints at 2 and 4, CSV row at 5
    seen = []
    result = train(config, tmp_path, on_step=seen.append)
    assert result.resumed_from == 4
    assert seen == [5, 6]
    rows = [int(r["step"]) for r in csv.DictReader((tmp_path / "log.csv").open())]
    assert rows == [1, 2, 3, 4, 5, 6]  # the row of the lost step 5 is not duplicated
    again = train(config, tmp_path)  # complete: nothing to do
    assert again.resumed_from == 6 and again.step == 6


def test_checkpoint_of_another_architecture_is_refused(cli_run, tiny, tmp_path):
    out, _ = cli_run
    config = TrainConfig(**{**tiny, "width": 6}, steps=6)
    with pytest.raises(InputError, match="different architecture") as e:
        train(config, out)
    assert "width=4" in str(e.value)
    tmp = tmp_path
    (tmp / "checkpoints").symlink_to(out / "checkpoints")
    with pytest.raises(InputError, match="does not fit this model"):
        train(config, tmp)


def _one_line_input_error(result, fragment):
    assert isinstance(result.exception, InputError), result.output
    assert fragment in str(result.exception) and "\n" not in str(result.exception)


def test_cli_bad_inputs_one_line(tmp_path, monkeypatch):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--out", str(tmp_path), "--data-dir", str(tmp_path / "none")])
    _one_line_input_error(r, "no built dataset")
    r = runner.invoke(
        app, ["train", "--out", str(tmp_path), "--strategy", "ring", "--synthetic", "4"]
    )
    assert r.exit_code == 2 and "ring" in r.output
    r = runner.invoke(
        app, ["train", "--out", str(tmp_path), "--synthetic", "4", "--batch-size", "0"]
    )
    _one_line_input_error(r, "batch_size=0")
    monkeypatch.setenv("TF_CONFIG", "{oops")
    r = runner.invoke(
        app, ["train", "--out", str(tmp_path), "--strategy", "multiworker", "--synthetic", "4"]
    )
    _one_line_input_error(r, "TF_CONFIG is malformed")


def test_malformed_tf_config_exit_status(tmp_path, stemtf_cmd):
    env = {
        **os.environ,
        "TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
    }
    r = subprocess.run(
        [
            *stemtf_cmd,
            "train",
            "--out",
            str(tmp_path),
            "--strategy",
            "multiworker",
            "--synthetic",
            "4",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip().splitlines()[-1].startswith("error: TF_CONFIG is malformed: task index 3")
    )
    assert "Traceback" not in r.stderr


def test_mixed_float16_with_poisson_loss(tmp_path, tiny):
    import keras

    result = train(
        TrainConfig(**tiny, steps=2, precision="mixed_float16", loss="poisson"), tmp_path
    )
    assert result.step == 2 and np.isfinite(result.metrics["loss"])
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert result.model.get_layer("unstabilize").compute_dtype == "float32"


@pytest.mark.slow
def test_killed_process_resumes(tmp_path, tiny_cli, stemtf_cmd):
    """SIGKILL a real `stemtf train` after its first checkpoint, rerun, and it continues."""
    import signal
    import time

    cmd = [*stemtf_cmd, "train", "--out", str(tmp_path), "--steps", "40", *tiny_cli]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((tmp_path / "checkpoints").glob("ckpt-*.index")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = max(int(p.stem.split("-")[1]) for p in (tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert 2 <= saved < 40
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed from {saved}" in r.stdout
    steps = [int(row["step"]) for row in csv.DictReader((tmp_path / "log.csv").open())]
    assert steps[-1] == 40 and steps == sorted(set(steps))


def test_run_of_an_older_version_without_space_to_depth_is_the_same_architecture(tmp_path, tiny):
    from stemtf.training.runlog import check_same_architecture

    old = {k: v for k, v in TrainConfig(**tiny).to_dict().items() if k != "space_to_depth"}
    (tmp_path / "config.json").write_text(json.dumps({"train": old}))
    check_same_architecture(tmp_path, TrainConfig(**tiny))  # the key's default then: 1
    with pytest.raises(InputError, match="space_to_depth=1 .now 2."):
        check_same_architecture(tmp_path, TrainConfig(**{**tiny, "space_to_depth": 2}))
