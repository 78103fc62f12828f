"""The real ``tfds build`` command code on the builder folder (datasets/stem_diffraction).

``tfds`` 4.9.10's entry point imports apache_beam and mlcroissant for unrelated sub-commands
(convert_format, croissant), so the first test drives the same ``build`` sub-command class the
entry point dispatches to, with the same arguments a user would type; the second runs the
``tfds`` executable itself where the ``tfds-cli`` extra is installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

simple_parsing = pytest.importorskip("simple_parsing")
tfds = pytest.importorskip("tensorflow_datasets")

FOLDER = Path(__file__).resolve().parents[2] / "datasets" / "stem_diffraction"


def _check_built(data_dir: Path) -> None:
    b = tfds.builder_from_directory(str(data_dir / "stem_diffraction" / "small" / "1.0.0"))
    assert {k: v.num_examples for k, v in b.info.splits.items()} == {
        "train": 8,
        "validation": 4,
        "test": 12,
    }
    assert b.info.metadata["materials"]["test"] == ["nmc811-o1", "nmc811-o3", "synth-c"]


def test_tfds_build_on_the_builder_folder(tmp_path, monkeypatch):
    from tensorflow_datasets.scripts.cli import build

    monkeypatch.chdir(tmp_path)
    args = simple_parsing.parse(
        build.Args,
        args=[
            str(FOLDER),
            "--config",
            "small",
            "--manual_dir",
            str(FOLDER / "dummy_data"),
            "--data_dir",
            str(tmp_path),
        ],
    )
    args.execute()
    _check_built(tmp_path)


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("apache_beam", "mlcroissant")),
    reason="the tfds executable needs the tfds-cli extra (apache-beam, mlcroissant)",
)
def test_tfds_executable_builds_the_builder_folder(tmp_path):
    exe = shutil.which("tfds", path=str(Path(sys.executable).parent))
    assert exe, "tensorflow-datasets installs a tfds executable beside python"
    p = subprocess.run(
        [
            exe,
            "build",
            str(FOLDER),
            "--config",
            "small",
            "--manual_dir",
            str(FOLDER / "dummy_data"),
            "--data_dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    _check_built(tmp_path)
