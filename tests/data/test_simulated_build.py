"""build-dataset's simulation stage on the real simulator (abTEM), tiny: two materials (slow: ~40 s)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stemtf.data.pipeline import build_dataset
from stemtf.data.specs import get_spec


@pytest.mark.slow
def test_simulate_then_build_tiny(tmp_path):
    pytest.importorskip("abtem")
    spec = dataclasses.replace(
        get_spec("small"),
        name="tiny",
        n_materials=2,
        include_materials=("nmc811-o3", "nmc811-o1"),
        zone_axes_per_material=1,
        thicknesses_A=(100.0,),
        detector_px=64,
        realisations=1,
    )
    result = build_dataset(spec, tmp_path, progress=False)
    names = sorted(p.name for p in result.shard_dir.glob("*.h5"))
    assert (
        len(names) == 2
        and names[0].startswith("nmc811-o1__")
        and names[1].startswith("nmc811-o3__")
    )
    assert result.split_examples == {"test": 2}  # the NMC811 phases are held out of train
    import tensorflow_datasets as tfds

    b = tfds.builder_from_directory(str(result.dataset_dir))
    ex = list(b.as_dataset(split="test", shuffle_files=False).as_numpy_iterator())
    assert {e["material_id"].decode() for e in ex} == {"nmc811-o3", "nmc811-o1"}
    for e in ex:
        assert (
            e["noisy"].shape == (64, 64) and np.isfinite(e["noisy"]).all() and e["clean"].sum() > 0
        )
    # rerun: shards are reused and the records are not rewritten
    mtimes = {p.name: p.stat().st_mtime_ns for p in result.shard_dir.glob("*.h5")}
    again = build_dataset(spec, tmp_path, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in again.shard_dir.glob("*.h5")} == mtimes
    assert again.split_examples == result.split_examples
