import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.errors import InputError
from stemtf.evaluation import evaluate_methods, format_table, synthetic_eval_set

pytest.importorskip("tensorflow")

MATERIALS = ["nmc811-o3", "nmc811-o1", "synth-a", "synth-b", "synth-c"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A real tiny dataset (64 px) built by stemtf.data from synthetic clean shards."""
    from stemtf.data import get_spec
    from stemtf.data.pipeline import build_dataset
    from stemtf.data.synthetic import write_synthetic_shards

    root = tmp_path_factory.mktemp("eval_data")
    write_synthetic_shards(
        root / "shards", MATERIALS, zone_axes=1, thicknesses_A=(80.0, 200.0), detector_px=64
    )
    spec = dataclasses.replace(get_spec("small"), detector_px=64, name="tiny64")
    build_dataset(spec, root / "data", shard_dir=root / "shards", progress=False)
    return root / "data"


def test_oracle_and_noisy_on_synthetic():
    data = synthetic_eval_set(6, 48, seed=5)
    lookup = {data.noisy[i].tobytes(): data.target[i] for i in range(len(data.noisy))}

    def oracle(batch):
        return np.stack([lookup[b.tobytes()] * 1.001 for b in batch])

    report = evaluate_methods(data, {"oracle": oracle}, batch=4)
    o = report["methods"]["oracle"]["overall"]
    n = report["methods"]["noisy"]["overall"]
    assert o["recall"] == 1.0 and o["invented_per_dp"] == 0.0 and o["position_error_px"] < 1e-3
    assert o["psnr_db"] > n["psnr_db"] + 10 and o["ssim"] > n["ssim"]
    assert sum(b["n"] for b in report["methods"]["oracle"]["per_bin"]) == 6
    table = format_table(report)
    assert "oracle" in table and "all" in table


def test_train_on_dataset_then_evaluate_cli(dataset, tmp_path):
    """stemtf train --data-dir on the built dataset, then stemtf evaluate on its test split."""
    run = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--out",
            str(run),
            "--data-dir",
            str(dataset),
            "--dataset-config",
            "tiny64",
            "--width",
            "4",
            "--levels",
            "3",
            "--blocks",
            "1",
            "--patch-px",
            "32",
            "--batch-size",
            "2",
            "--steps",
            "2",
            "--eval-every",
            "2",
            "--log-every",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset_version"].startswith("tiny64/")
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(run),
            "--data-dir",
            str(dataset),
            "--dataset-config",
            "tiny64",
            "--split",
            "test",
            "--self-ensemble",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "rdunet+" in r.output and "nlm" in r.output and "weak rec" in r.output
    report = json.loads((run / "evaluation.json").read_text())
    assert report["n_patterns"] == 12 and report["source"].startswith("tiny64/")
    assert {"noisy", "rdunet", "rdunet+", "gaussian", "median", "nlm"} <= set(report["methods"])
    assert report["summary"]["rdunet"]["n"] == 12
    png = (run / "evaluation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_bad_inputs(dataset, tmp_path):
    from stemtf.evaluation.run import run_evaluation

    with pytest.raises(InputError, match="exactly one"):
        run_evaluation(tmp_path / "m.keras", tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        run_evaluation(tmp_path / "m.keras", tmp_path, data_dir=tmp_path / "none")
    with pytest.raises(InputError, match="no built dataset"):
        run_evaluation(tmp_path / "m.keras", tmp_path, data_dir=tmp_path)
    with pytest.raises(InputError, match="split='nope'"):
        run_evaluation(
            tmp_path / "m.keras", tmp_path, data_dir=dataset, dataset_config="tiny64", split="nope"
        )
    with pytest.raises(InputError, match="is not a .keras file"):
        run_evaluation(tmp_path / "m.keras", tmp_path, synthetic=2)
