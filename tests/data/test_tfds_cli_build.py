"""The real ``tfds build`` command code on the builder folder (datasets/stem_diffraction).

``tfds`` 4.9.10's entry point imports apache_beam for an unrelated sub-command
(convert_format), so this drives the same ``build`` sub-command class the entry point
dispatches to, with the same arguments a user would type.
"""

from __future__ import annotations

from pathlib import Path

import pytest

simple_parsing = pytest.importorskip("simple_parsing")
tfds = pytest.importorskip("tensorflow_datasets")

FOLDER = Path(__file__).resolve().parents[2] / "datasets" / "stem_diffraction"


def test_tfds_build_on_the_builder_folder(tmp_path, monkeypatch):
    from tensorflow_datasets.scripts.cli import build

    monkeypatch.chdir(tmp_path)
    args = simple_parsing.parse(
        build.Args,
        args=[str(FOLDER), "--config", "small", "--manual_dir", str(FOLDER / "dummy_data"), "--data_dir", str(tmp_path)],
    )
    args.execute()
    b = tfds.builder_from_directory(str(tmp_path / "stem_diffraction" / "small" / "1.0.0"))
    assert {k: v.num_examples for k, v in b.info.splits.items()} == {"train": 8, "validation": 4, "test": 12}
    assert b.info.metadata["materials"]["test"] == ["nmc811-o1", "nmc811-o3", "synth-c"]
