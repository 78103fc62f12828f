"""Phase model rings from the reference structures, refinement on data, serialisation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import HEXAGON_DTYPE, Calibration, PhaseModel, identify_phases


def test_rings_from_reciprocal_lattice(model):
    o3 = [r for r in model.rings if r.phase == 0]
    o1 = [r for r in model.rings if r.phase == 1]
    assert [r.hkl for r in o3] == [(1, 1, 0)]  # {100} extinct in R-3m along [001]
    assert abs(o3[0].radius_invA - 2 / 2.87) < 0.005 * 0.697
    inner = [r for r in o1 if r.marker]
    outer = [r for r in o1 if not r.marker]
    assert inner[0].hkl == (1, 0, 0)
    assert abs(inner[0].radius_invA / outer[0].radius_invA - 1 / np.sqrt(3)) < 1e-6
    assert abs((inner[0].rotation_deg - outer[0].rotation_deg) % 60 - 30) < 1e-6
    assert model.reference_radius_invA == o3[0].radius_invA


def test_refine_learns_camera_length_error(kin, model, calibration):
    rng = np.random.default_rng(0)
    scale = 1.04  # rings 4 % further out than the nominal calibration says
    truth = np.tile(np.arange(4), 30)
    dps = np.stack(
        [
            kin.make_pattern(
                model, int(t), rng, dose=1e4, scale=scale, rotation_deg=rng.uniform(0, 60)
            )
            for t in truth
        ]
    )
    first = identify_phases(dps, calibration, model)
    refined = model.refine(first.hexagons)
    assert refined.refined and not model.refined
    r3 = [r for r in refined.rings if r.phase == 0][0].radius_invA
    r1 = [r for r in refined.rings if r.phase == 1 and r.marker][0].radius_invA
    assert abs(r3 / (scale * 0.69686) - 1) < 0.005
    assert abs(r1 / (scale * 0.40947) - 1) < 0.01
    # the precise first-phase {110} radius is learned from the patterns without the marker
    assert abs(refined.shared_radius_invA / (scale * 0.69686) - 1) < 0.002
    assert 0.02 <= refined.share_sigma < 0.2
    assert refined.lattice_ratio == pytest.approx(model.lattice_ratio)
    second = identify_phases(dps, calibration, refined)
    assert (second.labels == truth).mean() >= 0.97
    assert abs(np.median(second.hexagons["radius_norm"][second.hexagons["phase"] == 1]) - 1) < 0.01


def test_dict_round_trip_is_json(model):
    d = json.loads(json.dumps(model.to_dict()))
    assert PhaseModel.from_dict(d) == model


def test_one_to_eight_phases_and_unknown_ids():
    with pytest.raises(InputError, match="1 to 8"):
        PhaseModel.from_materials([])
    with pytest.raises(InputError, match="1 to 8"):
        PhaseModel.from_materials([f"nmc811-{p}" for p in ("o3", "o1", "h3")] * 3)
    with pytest.raises(InputError):
        PhaseModel.from_materials(["nmc811-o3", "no-such-material"])


def test_detector_check(model):
    cal = Calibration(q_sampling_invA=0.0125, center_yx=(32.0, 32.0))
    with pytest.raises(InputError, match="too small"):
        model.check_detector((64, 64), cal)
    model.check_detector((128, 128), Calibration(q_sampling_invA=0.0125, center_yx=(64.0, 64.0)))
    # the standard 128 px detector with the beam 3 px off-centre (the noise model's largest
    # descan shift): the {110} spots at ~57 px are still whole on the detector -> no complaint
    off = Calibration(q_sampling_invA=0.0125, center_yx=(59.5, 66.0))  # 200 kV, 1 mrad
    assert model.reach_px(off) < 59.5 < model.radii_px(off).max() + off.disk_radius_px
    model.check_detector((128, 128), off)


def test_no_shared_radius_learned_without_first_phase(kin, model, calibration):
    rng = np.random.default_rng(1)
    dps = np.stack(
        [
            kin.make_pattern(model, 2, rng, dose=1e4, rotation_deg=rng.uniform(0, 60))
            for _ in range(40)
        ]
    )
    refined = model.refine(identify_phases(dps, calibration, model).hexagons)
    assert refined.shared_radius_invA == 0.0 and "not learned" in refined.history[-1]
    assert np.all(identify_phases(dps, calibration, refined).labels == 2)


def test_refine_warns_with_both_calibrations_and_when_nothing_is_found(kin, model, calibration):
    rng = np.random.default_rng(4)
    dps = np.stack(
        [
            kin.make_pattern(model, 1, rng, dose=1e4, scale=1.04, rotation_deg=rng.uniform(0, 60))
            for _ in range(30)
        ]
    )
    refined = model.refine(
        identify_phases(dps, calibration, model).hexagons, q_sampling_invA=0.0125
    )
    assert len(refined.warnings) == 1
    msg = refined.warnings[0]
    assert "+4.0 %" in msg and "0.0125" in msg and "0.0120" in msg  # given and implied
    # within 2 %: no warning
    dps = np.stack(
        [
            kin.make_pattern(model, 1, rng, dose=1e4, scale=1.01, rotation_deg=rng.uniform(0, 60))
            for _ in range(30)
        ]
    )
    assert (
        model.refine(
            identify_phases(dps, calibration, model).hexagons, q_sampling_invA=0.0125
        ).warnings
        == ()
    )
    empty = model.refine(np.zeros(0, HEXAGON_DTYPE))
    assert "no hexagon of the phases O3, O1" in empty.warnings[0] and not empty.refined
    assert PhaseModel.from_dict(json.loads(json.dumps(refined.to_dict()))) == refined


def _hexagons(rows):
    """A HEXAGON_DTYPE table from (dp_index, radius_invA, inliers, radius_fine_invA) rows."""
    hx = np.zeros(len(rows), HEXAGON_DTYPE)
    for k, (i, r, n, fine) in enumerate(rows):
        hx[k]["dp_index"], hx[k]["radius_invA"], hx[k]["inliers"] = i, r, n
        hx[k]["radius_fine_invA"] = fine
    return hx


def test_shared_radius_comes_from_four_vertex_hexagons_however_many_patterns(model):
    # Pure-O3 patterns: 30 with 4+-vertex hexagons at the true radius, 200 with 3-vertex ones
    # 0.4 gap further out (thick or tilted patterns); 20 O1 patterns show their marker only as
    # a 3-vertex hexagon and their shared ring (a full gap out) with 5 vertices.
    rng = np.random.default_rng(3)
    r0 = [r.radius_invA for r in model.rings if r.phase == 0 and not r.marker][0]
    marker = [r.radius_invA for r in model.rings if r.marker][0]
    gap = r0 * (model.lattice_ratio - 1)
    rows = [(i, r0, 4 + i % 3, r0 + 0.1 * gap * rng.standard_normal()) for i in range(30)]
    rows += [(i, r0, 3, r0 + gap * (0.4 + 0.1 * rng.standard_normal())) for i in range(30, 230)]
    for i in range(230, 250):
        rows += [(i, marker, 3, np.nan), (i, r0 * model.lattice_ratio, 5, r0 + gap)]
    hx = _hexagons(rows)
    model = replace(model, refined=True)
    for part in (hx, hx[::2], hx[hx["dp_index"] % 3 != 0]):
        learned = model.learn_shared_radius(part)
        n4 = np.count_nonzero(part["dp_index"] < 30)
        assert learned.shared_radius_n == n4  # the O1 patterns' shared rings are left out
        assert abs(learned.shared_radius_invA - r0) < 0.1 * gap
        assert learned.shared_radius_se == pytest.approx(1.2533 * learned.share_sigma / np.sqrt(n4))
        assert "4+-vertex hexagons" in learned.history[-1]
    # fewer than 10 hexagons of 4+ vertices: the 3-vertex ones are all there is
    few = model.learn_shared_radius(hx[(hx["dp_index"] >= 25) & (hx["dp_index"] < 230)])
    assert few.shared_radius_n == 205 and "3+-vertex hexagons" in few.history[-1]
    assert abs((few.shared_radius_invA - r0) / gap - 0.4) < 0.05
