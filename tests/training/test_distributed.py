"""Data-parallel training really runs and agrees: mirrored over 2 logical CPUs, 2 local workers."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from stemtf.training import TrainConfig
    from stemtf.training.loop import train
    tiny = json.loads(sys.argv[1]); out = sys.argv[2]
    m = train(TrainConfig(**tiny, steps=3, strategy="mirrored", cpu_devices=2), out + "/mirrored")
    d = train(TrainConfig(**tiny, steps=3, strategy="default"), out + "/default")
    replicas_agree = all(
        all(np.array_equal(v.value.values[0].numpy(), r.numpy()) for r in v.value.values)
        for v in m.model.weights
    )
    n_replicas = len(m.model.weights[0].value.values)
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(m.model.weights, d.model.weights))
    scale = max(float(np.max(np.abs(b.numpy()))) for b in d.model.weights)
    print(json.dumps({"replicas": n_replicas, "replicas_agree": replicas_agree, "max_diff": diff,
                      "scale": scale, "loss": [m.metrics["loss"], d.metrics["loss"]]}))
    """
)


def _last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_mirrored_two_cpus_matches_single_device(tmp_path, tiny):
    r = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(tiny), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = _last_json(r.stdout)
    assert res["replicas"] == 2 and res["replicas_agree"]
    # same global batch, loss summed / global batch: the 2-replica step equals the 1-device step
    assert res["max_diff"] < 1e-4 * res["scale"], res
    assert (tmp_path / "mirrored" / "model.keras").is_file()


def test_multiworker_two_local_workers_agree(tmp_path, tiny_cli, ports, stemtf_cmd):
    keras = pytest.importorskip("keras")
    import stemtf.models  # noqa: F401  (registers the layers for loading)

    workers = [f"127.0.0.1:{p}" for p in ports(2)]
    out = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [
            *stemtf_cmd,
            "train",
            "--out",
            str(out),
            "--strategy",
            "multiworker",
            "--steps",
            "3",
            *tiny_cli,
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    assert "trained to step 3" in results[0][0]
    chief = keras.saving.load_model(out / "model.keras")
    other = keras.saving.load_model(out / "workers" / "worker-1" / "model.keras")
    for a, b in zip(chief.weights, other.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["strategy"]["replicas"] == 2 and cfg["strategy"]["task"] == "worker-0"
    # the weights moved: training happened on both workers
    fresh = type(chief).from_config(chief.get_config())
    assert any(
        not np.allclose(a.numpy(), b.numpy())
        for a, b in zip(chief.weights, fresh.weights, strict=True)
    )
