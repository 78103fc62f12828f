"""Build ``small`` from synthetic clean shards, read it back with tfds and ``stemtf.data.load``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from stemtf.data import get_spec, load  # noqa: E402
from stemtf.data.pipeline import build_dataset  # noqa: E402
from stemtf.data.synthetic import write_synthetic_shards  # noqa: E402
from stemtf.errors import InputError  # noqa: E402

MATERIALS = ["nmc811-o3", "nmc811-o1", *(f"synth-{c}" for c in "abcdef")]


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    write_synthetic_shards(d, MATERIALS, zone_axes=2, thicknesses_A=(80.0, 200.0))
    # a truncated shard and one of the wrong detector size: both must be skipped by name
    good = d / "synth-a__0_0_1.h5"
    (d / "zz-truncated__0_0_1.h5").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    write_synthetic_shards(d / "small64", ["zz-small"], detector_px=64)
    (d / "small64" / "zz-small__0_0_1.h5").rename(d / "zz-small__0_0_1.h5")
    return d


@pytest.fixture(scope="module")
def built(shard_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    result = build_dataset(
        get_spec("small"), data, shard_dir=shard_dir, preview=data / "preview.png", progress=False
    )
    return data, result


def _examples(dataset_dir, split):
    b = tfds.builder_from_directory(str(dataset_dir))
    return sorted(
        b.as_dataset(split=split, shuffle_files=False).as_numpy_iterator(), key=lambda e: e["index"]
    )


def test_read_back_with_disjoint_material_splits(built):
    data, result = built
    b = tfds.builder_from_directory(str(result.dataset_dir))
    counts = {k: v.num_examples for k, v in b.info.splits.items()}
    assert counts == result.split_examples
    assert (
        sum(counts.values()) == len(MATERIALS) * 2 * 2 * 2
    )  # materials x zone axes x thicknesses x realisations
    materials = {
        s: {e["material_id"].decode() for e in _examples(result.dataset_dir, s)} for s in counts
    }
    assert materials["train"].isdisjoint(materials["validation"])
    assert materials["train"].isdisjoint(materials["test"])
    assert materials["validation"].isdisjoint(materials["test"])
    assert {"nmc811-o3", "nmc811-o1"} <= materials["test"]
    assert set().union(*materials.values()) == set(MATERIALS)
    skipped = b.info.metadata["skipped_shards"]
    assert len(skipped) == 2
    assert any("zz-truncated__0_0_1.h5" in s for s in skipped) and any(
        "zz-small__0_0_1.h5" in s for s in skipped
    )
    # also loadable through tfds.load with the registered builder
    ds = tfds.load("stem_diffraction/small", split="validation", data_dir=str(data), download=False)
    assert sum(1 for _ in ds) == counts["validation"]


def test_examples_carry_physics_and_noise_params(built):
    _, result = built
    ex = _examples(result.dataset_dir, "train")
    for e in ex:
        p = e["noise"]
        assert e["clean"].shape == e["noisy"].shape == (128, 128) and e["clean"].dtype == np.float32
        assert e["dose_e"] == pytest.approx(p["dose_e"]) and 1e3 <= e["dose_e"] <= 1e5
        assert tuple(e["zone_axis"]) in {(0, 0, 1), (1, 0, 0)} and e["thickness_A"] in (80.0, 200.0)
        if p["beam_stop"] == 0 and p["spot_dim_count"] == 0:  # target sum = expected elastic counts
            assert e["clean"].sum() == pytest.approx(
                e["dose_e"] * (1 - p["background_fraction"]), rel=1e-3
            )
    assert len({e["index"] for e in ex}) == len(ex)


def test_same_seed_same_examples_other_seed_differs(built, shard_dir, tmp_path):
    _, result = built
    again = build_dataset(
        get_spec("small"), tmp_path / "again", shard_dir=shard_dir, progress=False
    )
    other = build_dataset(
        get_spec("small", seed=5), tmp_path / "other", shard_dir=shard_dir, progress=False
    )
    assert other.dataset_dir.parent.name == "small_seed5"
    for split in result.split_examples:
        a, b = _examples(result.dataset_dir, split), _examples(again.dataset_dir, split)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x["noisy"], y["noisy"])
            np.testing.assert_array_equal(x["clean"], y["clean"])
            assert x["material_id"] == y["material_id"] and x["dose_e"] == y["dose_e"]
    c = _examples(other.dataset_dir, "test")
    assert not np.array_equal(c[0]["noisy"], _examples(result.dataset_dir, "test")[0]["noisy"])


def test_card_and_preview(built):
    import json

    data, result = built
    card = json.loads(result.card_json.read_text())
    assert {k: v["examples"] for k, v in card["splits"].items()} == result.split_examples
    assert sum(sum(v["dose_e_histogram"]) for v in card["splits"].values()) == sum(
        result.split_examples.values()
    )
    assert "nmc811-o3" in card["splits"]["test"]["materials"]
    assert result.card_md.read_text().startswith("# stem_diffraction/small")
    assert (data / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_batches_shapes_and_determinism(built):
    data, _ = built
    ds = load(data, "train", batch_size=4, patch_px=48, seed=3)
    batches = [(n.numpy(), t.numpy()) for n, t in ds.take(3)]
    again = [
        (n.numpy(), t.numpy())
        for n, t in load(data, "train", batch_size=4, patch_px=48, seed=3).take(3)
    ]
    for (n, t), (n2, t2) in zip(batches, again, strict=True):
        assert n.shape == t.shape == (4, 48, 48, 1) and n.dtype == np.float32
        np.testing.assert_array_equal(n, n2)
        np.testing.assert_array_equal(t, t2)
    full = next(iter(load(data, "validation", batch_size=2, shuffle=False, augment=False)))
    assert full[0].shape == (2, 128, 128, 1)


def test_augmentation_is_identical_for_noisy_and_target(built):
    data, _ = built
    plain = next(iter(load(data, "test", batch_size=6, shuffle=False, augment=False)))
    aug = next(iter(load(data, "test", batch_size=6, shuffle=False, augment=True, seed=1)))
    n_changed = 0
    for i in range(6):
        n0, t0 = plain[0][i, ..., 0].numpy(), plain[1][i, ..., 0].numpy()
        n1, t1 = aug[0][i, ..., 0].numpy(), aug[1][i, ..., 0].numpy()
        found = [
            (k, f)
            for k in range(4)
            for f in (False, True)
            if np.array_equal(np.rot90(np.fliplr(t0) if f else t0, k), t1)
            and np.array_equal(np.rot90(np.fliplr(n0) if f else n0, k), n1)
        ]
        assert found, (
            f"example {i}: augmented pair is not one dihedral transform of the stored pair"
        )
        n_changed += not np.array_equal(t0, t1)
    assert n_changed >= 1


def test_renoise_draws_fresh_noise_deterministically(built):
    data, _ = built
    stored = next(iter(load(data, "test", batch_size=4, shuffle=False, augment=False)))
    r1 = next(
        iter(load(data, "test", batch_size=4, shuffle=False, augment=False, renoise=True, seed=2))
    )
    r2 = next(
        iter(load(data, "test", batch_size=4, shuffle=False, augment=False, renoise=True, seed=2))
    )
    np.testing.assert_array_equal(r1[0].numpy(), r2[0].numpy())
    assert not np.array_equal(r1[0].numpy(), stored[0].numpy())
    # the new target has the stored target's shape, rescaled to the newly drawn dose
    for i in range(4):
        a, b = stored[1][i].numpy(), r1[1][i].numpy()
        if a.sum() > 0:
            np.testing.assert_allclose(b / b.sum(), a / a.sum(), atol=1e-6)


def test_renoise_at_a_chosen_dose_range(built):
    data, _ = built
    kw = dict(batch_size=8, shuffle=False, augment=False, renoise=True, seed=5)
    low = next(iter(load(data, "test", dose_range_e=(40.0, 60.0), **kw)))
    high = next(iter(load(data, "test", dose_range_e=(4e4, 6e4), **kw)))
    # the target holds the scattered electrons of the drawn dose (minus blocked and background)
    t_low, t_high = low[1].numpy().sum(axis=(1, 2, 3)), high[1].numpy().sum(axis=(1, 2, 3))
    assert np.all(t_low <= 60.0) and np.all(t_low > 10.0)
    assert np.all(t_high <= 6e4) and np.all(t_high > 1e4)
    noisy = low[0].numpy()
    # shot noise at ~50 e-: tens of counts, besides the noise model's saturated hot pixels
    assert np.median(np.where(noisy < 1000, noisy, 0).sum(axis=(1, 2, 3))) < 150.0
    with pytest.raises(InputError, match="needs renoise=True"):
        load(data, "test", batch_size=2, dose_range_e=(50.0, 100.0))


def test_load_errors_name_the_problem(built, tmp_path):
    data, _ = built
    with pytest.raises(InputError, match="no built dataset 'default'"):
        load(data, "train", config="default")
    with pytest.raises(InputError, match="split='training'"):
        load(data, "training")
    with pytest.raises(InputError, match="patch_px=512"):
        load(data, "train", patch_px=512)


def test_changed_builtin_spec_refused(shard_dir, tmp_path):
    spec = dataclasses.replace(get_spec("small"), realisations=1)
    with pytest.raises(InputError, match="taken by a built-in config"):
        build_dataset(spec, tmp_path, shard_dir=shard_dir, progress=False)


def test_no_usable_shard_refused(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "x__0_0_1.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="no usable clean shards"):
        build_dataset(get_spec("small", seed=1), tmp_path / "data", shard_dir=d, progress=False)
