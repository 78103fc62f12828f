"""scripts/bench_field.py: disjoint tune/report splits, its conditions and its scores."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench_field")


def test_tune_and_report_share_no_seed_rotation_or_tilt(bench):
    tune, report = bench.SPLITS["tune"], bench.SPLITS["report"]
    for key in ("rotations_deg", "seeds", "tilt_azimuths_deg"):
        assert not set(tune[key]) & set(report[key]), key
    assert tune["library_seed"] != report["library_seed"]
    # rotations are distinct modulo the 60 deg symmetry of the [001] patterns too
    assert not {r % 60 for r in tune["rotations_deg"]} & {r % 60 for r in report["rotations_deg"]}


def test_conditions_each_change_one_thing_and_all_has_them_all(bench):
    conds = bench.conditions()
    assert list(conds)[0] == "ideal-128" and list(conds)[-1] == "all"
    base = conds["detector-256"][1]
    every = conds["all"][1]
    for name, (det, field) in conds.items():
        assert field.both_o1_fraction == (0.2, 0.8)
        if name in ("ideal-128", "detector-256", "all"):
            continue
        assert det == "256"
        changed = {k for k, v in field.to_dict().items() if v != base.to_dict()[k]}
        assert changed and all(getattr(every, k) == getattr(field, k) for k in changed), name


def test_scores_o1_present_and_off_zone_share(bench):
    truth = np.array([[0, 1, 2, 3, 4, 4]])
    pred = np.array([[0, 1, 3, 1, 2, 4]])
    off = (truth == 4).astype(np.uint8)
    s = bench.score(pred, truth, off)
    # O1-present: truth {2, 3} at columns 2, 3; predicted {2, 3} at columns 2, 4 -> tp 1, F1 0.5
    assert s["o1_present_f1"] == pytest.approx(0.5)
    assert s["offzone_called_o1_or_both"] == pytest.approx(0.5)
    assert s["offzone_called_unassigned"] == pytest.approx(0.5)
    assert s["f1"]["unassigned"] == pytest.approx(2 / 3)
    assert bench.score(pred, np.array([[0, 1, 1, 1, 4, 4]]), off)["o1_present_f1"] is None


def test_stress_conditions_go_past_the_tuned_ones_and_stay_out_of_the_default_set(bench):
    conds, stress = bench.conditions(), bench.stress_conditions()
    assert not set(conds) & set(stress)
    assert set(bench.all_conditions()) == set(conds) | set(stress)
    base = conds["detector-256"][1].to_dict()
    every = conds["all"][1]
    for name, (det, field) in stress.items():
        if det.endswith("-thick"):  # the library past the tuned thickness, the field unchanged
            assert (
                field.to_dict()
                == (conds["ideal-128"] if det == "128-thick" else conds["detector-256"])[
                    1
                ].to_dict()
            )
            continue
        assert det in ("256", "256-t30"), name
        changed = {k for k, v in field.to_dict().items() if v != base[k]}
        assert changed, name
        for k in changed:  # each changed setting lies beyond the tuned conditions' value
            tuned, v = getattr(every, k), getattr(field, k)
            if isinstance(v, bool) or tuned in (None, True):
                continue
            assert abs(v) > abs(tuned), (name, k, v, tuned)
    assert stress["mistilt-30mrad"][1].max_tilt_mrad > bench.MAX_TILT_MRAD
    assert stress["mistilt-30mrad"][0] == "256-t30"
    from stemtf.scenes.library import FIELD_THICKNESSES_A

    for split in bench.SPLITS.values():  # every split's thick series lies past the tuned one
        assert min(split["thick_A"]) > max(FIELD_THICKNESSES_A)
    assert {stress["thick-128"][0], stress["thick-256"][0]} == {"128-thick", "256-thick"}
