"""Shared test configuration: the path of the real detector files beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `stemtf analyze` defaults to the bundled denoiser (--denoise auto). Tests choose their denoiser
# explicitly so their phase-label expectations do not depend on the shipped weights; tests/demo
# and tests/demo/test_bundled_model.py exercise `auto` and the real bundled model.
os.environ.setdefault("STEMTF_MODEL_DIR", "none")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALDATA = SHARED / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Folder of small real detector files (../shared/realdata); skip if absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real detector files not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def load_script():
    """Import ``scripts/<name>.py`` (not a package) by path: ``load_script("bench_field")``."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(scope="session")
def invoke():
    """Run the CLI in-process through ``StemtfApp.__call__`` (its one-line errors and exit
    codes), as the shell does; returns ``(exit code, stdout + stderr)``."""
    from typer.testing import CliRunner

    from stemtf.cli import app

    runner = CliRunner()

    def run(args: list[str]) -> tuple[int, str]:
        with runner.isolation() as streams:
            out, err = streams[0], streams[1]
            try:
                app(args=args, prog_name="stemtf")
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            return code, out.getvalue().decode() + err.getvalue().decode()

    return run
