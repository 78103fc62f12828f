"""Material split assignment, material selection and dataset specs (no TensorFlow)."""

from __future__ import annotations

import pytest

from stemtf.data.materials_plan import select_materials
from stemtf.data.specs import SPECS, DatasetSpec, get_spec
from stemtf.data.splits import assign_splits
from stemtf.errors import InputError

IDS = [f"mat-{i:03d}" for i in range(40)] + ["nmc811-o3", "nmc811-o1", "nmc811-h3"]


def test_splits_are_by_material_with_nmc_held_out():
    s = assign_splits(
        IDS, seed=0, validation_fraction=0.1, test_fraction=0.1, holdout_prefixes=("nmc811-",)
    )
    assert set(s) == set(IDS)
    assert {s[m] for m in IDS if m.startswith("nmc811-")} == {"test"}
    counts = {k: sum(v == k for v in s.values()) for k in ("train", "validation", "test")}
    assert counts == {"train": 32, "validation": 4, "test": 4 + 3}


def test_splits_depend_only_on_set_and_seed():
    a = assign_splits(IDS, seed=3, validation_fraction=0.2, test_fraction=0.1)
    b = assign_splits(
        list(reversed(IDS)) + IDS[:5], seed=3, validation_fraction=0.2, test_fraction=0.1
    )
    c = assign_splits(IDS, seed=4, validation_fraction=0.2, test_fraction=0.1)
    assert a == b
    assert a != c


def test_few_materials_all_train():
    assert set(
        assign_splits(["a", "b"], seed=0, validation_fraction=0.1, test_fraction=0.1).values()
    ) == {"train"}


def test_select_materials_includes_nmc_and_is_fixed():
    spec = DatasetSpec(name="t", n_materials=10, include_materials=("nmc811-o3", "nmc811-o1"))
    a = select_materials(spec, IDS)
    assert a[:2] == ["nmc811-o3", "nmc811-o1"] and len(set(a)) == 10
    assert a == select_materials(spec.with_seed(9), list(reversed(IDS)))  # seed-independent
    with pytest.raises(InputError, match="not in the library"):
        select_materials(DatasetSpec(name="t", include_materials=("nope",)), IDS)
    with pytest.raises(InputError, match="needs 100 materials"):
        select_materials(DatasetSpec(name="t", n_materials=100, include_materials=()), IDS)


def test_specs_sizes():
    full = SPECS["full"]
    assert full.n_materials is None and full.zone_axes_per_material == 60
    # >= 350 materials x >= 20 zone axes each x thicknesses x realisations >= 28,000 pairs
    assert 350 * 20 * len(full.thicknesses_A) * full.realisations >= 28_000
    assert get_spec("small", 7).name == "small_seed7" and get_spec("small", 7).seed == 7
    with pytest.raises(InputError, match="unknown: allowed small, default, full"):
        get_spec("huge")
    with pytest.raises(InputError, match="realisations"):
        DatasetSpec(name="x", realisations=0)
