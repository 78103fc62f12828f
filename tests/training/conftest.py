import socket
import subprocess
import sys

import pytest

TINY = dict(
    width=4,
    levels=3,
    blocks=1,
    synthetic=16,
    patch_px=32,
    batch_size=4,
    log_every=1,
    eval_every=2,
    eval_batches=1,
    checkpoint_every=2,
    seed=3,
)
TINY_CLI = [
    "--width",
    "4",
    "--levels",
    "3",
    "--blocks",
    "1",
    "--synthetic",
    "16",
    "--patch-px",
    "32",
    "--batch-size",
    "4",
    "--log-every",
    "1",
    "--eval-every",
    "2",
    "--checkpoint-every",
    "2",
    "--seed",
    "3",
]


@pytest.fixture(scope="session")
def tiny():
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_cli():
    return list(TINY_CLI)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def ports():
    return free_ports


@pytest.fixture(scope="session")
def stemtf_cmd():
    return [sys.executable, "-c", "from stemtf.cli import app; app()"]


def run(cmd, timeout, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_cli):
    """A 4-step training run made with the CLI (shared by the training and export tests)."""
    from typer.testing import CliRunner

    from stemtf.cli import app

    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(app, ["train", "--out", str(out), "--steps", "4", *tiny_cli])
    assert result.exit_code == 0, result.output
    return out, result
