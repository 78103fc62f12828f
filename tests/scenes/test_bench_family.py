"""scripts/bench_family.py: labels matched by name, O1-present, splits shared with bench_field."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.scenes.family import family_label_names

TRUTH_NAMES = list(family_label_names())


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench_family")


def test_splits_are_bench_fields(bench):
    assert bench.SPLITS is bench.BF.SPLITS
    assert not set(bench.SPLITS["tune"]["seeds"]) & set(bench.SPLITS["report"]["seeds"])
    assert set(bench.CLASSES) <= set(TRUTH_NAMES)


def test_names_not_codes(bench):
    order = ("O3", "O1", "H3")
    assert bench.canonical("both", order) == "O3+O1"
    assert bench.canonical("O1+O3", order) == "O3+O1"
    assert bench.canonical("spinel|rock salt", order) == "rock salt|spinel"
    for name, want in (
        ("O1", True),
        ("O3+O1", True),
        ("O1|O3+O1", True),
        ("O3|O1", False),
        ("O3", False),
        ("none", False),
    ):
        assert bench.o1_present(name) is want, name
    truth = np.array([[1, 2, 6, 5], [4, 3, 0, 1]])  # O3 O1 O3+O1 rock salt / spinel H3 none O3
    # a prediction written with other codes for the same names scores perfectly
    pred_names = ["none", "rock salt", "both", "O1", "O3", "spinel", "H3", "H3|O3", "unassigned"]
    code = {n: i for i, n in enumerate(pred_names)}
    same = np.vectorize(lambda t: code["both" if t == 6 else TRUTH_NAMES[t]])(truth)
    s = bench.score(same, pred_names, truth, TRUTH_NAMES)
    assert all(s["f1"][c] == 1.0 for c in bench.CLASSES)
    assert s["o1_present_f1"] == 1.0 and s["mean_class_f1"] == 1.0
    # every O3 called by code 1 of the truth (= rock salt in this prediction): O3 F1 0
    wrong = same.copy()
    wrong[truth == 1] = 1
    s = bench.score(wrong, pred_names, truth, TRUTH_NAMES)
    assert s["f1"]["O3"] == 0.0 and s["f1"]["rock salt"] == pytest.approx(2 / 4)
    # an ambiguity is no class; O1-present only when every alternative holds O1
    amb = same.copy()
    amb[truth == 3] = code["H3|O3"]
    s = bench.score(amb, pred_names, truth, TRUTH_NAMES)
    assert s["f1"]["H3"] == 0.0 and s["o1_present_f1"] == 1.0
