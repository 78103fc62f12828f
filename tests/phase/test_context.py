"""Scan context: sparse patterns of a grain take the lattice their neighbourhood shows, vacuum
beside the grain does not; a faint core enclosed by a grain takes its label only where its pooled
counts show the lattice."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import identify_phases
from stemtf.phase.context import (
    VoteParams,
    grow_grains,
    label_faint_regions,
    label_from_neighbours,
    unassign_faint_crystals,
    unassign_isolated_calls,
    vote_on_mixed_calls,
)
from stemtf.phase.model import LABEL_BOTH, LABEL_FIRST, LABEL_NONE, LABEL_SECOND, LABEL_UNASSIGNED


def _grid(kin, model, rng, dose):
    """4 x 5 probe positions: an O3 grain in columns 0-2, vacuum in columns 3-4; half of every
    pattern's counts in a broad halo (thick specimen, inelastic background)."""
    yy, xx = np.mgrid[:128, :128]
    halo = np.exp(-np.hypot(yy - 64, xx - 64) / 30.0)
    halo /= halo.sum()
    rows = []
    for _ in range(4):
        kinds = [1, 1, 1, 0, 0]
        clean = [kin.make_pattern(model, k, rng, dose=None, rotation_deg=17.0) for k in kinds]
        rows.append(np.stack([rng.poisson((0.5 * c + 0.5 * halo) * dose) for c in clean]))
    return np.stack(rows).astype(np.float32)


def test_sparse_grain_is_found_from_its_neighbourhood(kin, model, calibration):
    rng = np.random.default_rng(5)
    grid = _grid(kin, model, rng, dose=200.0)
    truth = np.tile([1, 1, 1, 0, 0], 4)
    flat = grid.reshape(-1, *grid.shape[2:])
    res = identify_phases(flat, calibration, model)
    assert (res.labels[truth == 1] == 1).mean() < 0.7  # too sparse on their own
    labels, conf, rel = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    assert (labels[truth == 1] == 1).mean() >= 0.8
    assert np.all(labels[truth == 0] == 0)  # vacuum beside the grain stays none
    assert np.all(rel <= (res.labels == 0)) and np.all(conf[rel] <= 0.5)
    # deterministic
    again = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    np.testing.assert_array_equal(again[0], labels)


def test_nothing_to_do_and_bad_input(kin, model, calibration):
    grid = np.zeros((2, 2, 128, 128), np.float32)
    labels, conf, rel = label_from_neighbours(
        grid, np.zeros(4, np.uint8), np.ones(4), calibration, model
    )
    assert not labels.any() and not rel.any()
    with pytest.raises(InputError, match="grid"):
        label_from_neighbours(grid[0], np.zeros(2), np.ones(2), calibration, model)
    with pytest.raises(InputError, match="radius"):
        label_from_neighbours(grid, np.zeros(4), np.ones(4), calibration, model, radius=0)
    with pytest.raises(InputError, match="min_marker_z"):
        label_from_neighbours(
            grid, np.zeros(4), np.ones(4), calibration, model, min_marker_z=float("nan")
        )


def _particle(kin, model, rng, *, core_diffracted, dose=2000.0, vacuum_core=False):
    """9 x 9 probe positions: vacuum on the border, an O3 grain inside whose 3 x 3 core
    diffracts only ``core_diffracted`` of its counts (an extinction thickness), or nothing at
    all (``vacuum_core``: a void); a flat background of 10 % everywhere."""
    vac = kin.make_pattern(model, 0, rng, dose=None)
    o3 = kin.make_pattern(model, 1, rng, dose=None, rotation_deg=17.0)
    vac, o3 = vac / vac.sum(), o3 / o3.sum()
    faint = vac if vacuum_core else (1 - core_diffracted) * vac + core_diffracted * o3
    flat = np.full(vac.shape, 1.0 / vac.size)
    truth = np.zeros((9, 9), np.uint8)
    truth[1:8, 1:8] = 1
    grid = np.empty((9, 9) + vac.shape, np.float32)
    for iy in range(9):
        for ix in range(9):
            core = 3 <= iy <= 5 and 3 <= ix <= 5
            clean = faint if core else (o3 if truth[iy, ix] else vac)
            grid[iy, ix] = rng.poisson((0.9 * clean + 0.1 * flat) * dose)
    return grid, truth.ravel()


def _pipeline(grid, calibration, model):
    flat = grid.reshape(-1, *grid.shape[2:])
    res = identify_phases(flat, calibration, model)
    labels, conf, _ = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    return res, labels, conf


@pytest.mark.parametrize("dose", [3000.0, 1000.0])
def test_faint_core_enclosed_by_a_grain_takes_its_label(kin, model, calibration, dose):
    """At 10^3 e-/DP the core's 2 % leaves ~20 scattered electrons per pattern, nearly all
    single counts: clipping each pixel to its neighbours' maximum erased them; counting every
    electron (hot pixels removed only where shot noise cannot explain them) finds the lattice
    in the pooled core."""
    rng = np.random.default_rng(21)
    grid, truth = _particle(kin, model, rng, core_diffracted=0.02, dose=dose)
    core = np.zeros((9, 9), bool)
    core[3:6, 3:6] = True
    core = core.ravel()
    res, labels, conf = _pipeline(grid, calibration, model)
    assert np.all(labels[core] == 0)  # too faint pattern by pattern and in 3 x 3 sums
    out, out_conf, rel = label_faint_regions(grid, labels, conf, res.hexagons, calibration)
    assert np.all(out[core] == 1) and np.all(rel == core)
    assert np.all(out[truth == 0] == 0)  # vacuum around the particle is not enclosed
    assert np.all(out_conf[core] <= 0.25)
    again = label_faint_regions(grid, labels, conf, res.hexagons, calibration)
    np.testing.assert_array_equal(again[0], out)


def test_a_hole_ringed_by_unassigned_patterns_is_not_pooled(kin, model, calibration):
    """Inside an off-zone grain (rim called unassigned) two stray phase calls must not make
    the enclosed none patterns that phase: the pooled counts would confirm the grain's own
    pseudo-hexagon. Here the counts hold a real lattice, so only the rim's votes can stop it."""
    rng = np.random.default_rng(21)
    grid, truth = _particle(kin, model, rng, core_diffracted=0.02, dose=3000.0)
    res, labels, conf = _pipeline(grid, calibration, model)
    rim = np.zeros((9, 9), bool)
    rim[2:7, 2:7] = True
    rim[3:6, 3:6] = False
    rim = rim.ravel()
    assert np.all(labels[rim] == 1)
    off = labels.copy()
    off[np.flatnonzero(rim)[2:]] = 4  # 14 of the 16 rim patterns unassigned, two O3 calls left
    out, _, rel = label_faint_regions(grid, off, conf, res.hexagons, calibration)
    assert not rel.any()
    # half and half: still not a phase's faint core
    half = labels.copy()
    half[np.flatnonzero(rim)[8:]] = 4
    assert not label_faint_regions(grid, half, conf, res.hexagons, calibration)[2].any()


@pytest.mark.parametrize("dose", [3000.0, 1000.0])
def test_a_void_inside_a_grain_stays_none(kin, model, calibration, dose):
    rng = np.random.default_rng(22)
    grid, truth = _particle(kin, model, rng, core_diffracted=0.0, dose=dose, vacuum_core=True)
    res, labels, conf = _pipeline(grid, calibration, model)
    out, _, rel = label_faint_regions(grid, labels, conf, res.hexagons, calibration)
    assert not rel.any()
    core = np.zeros((9, 9), bool)
    core[3:6, 3:6] = True
    assert np.all(out[core.ravel()] == 0)


def test_faint_regions_bad_input(calibration):
    grid = np.zeros((2, 2, 128, 128), np.float32)
    empty = np.zeros(0, dtype=[("dp_index", np.int64), ("phase", np.uint8)])
    with pytest.raises(InputError, match="grid"):
        label_faint_regions(grid[0], np.zeros(2), np.ones(2), empty, calibration)
    with pytest.raises(InputError, match="min_z"):
        label_faint_regions(grid, np.zeros(4), np.ones(4), empty, calibration, min_z=0)
    with pytest.raises(InputError, match="control_deg"):
        label_faint_regions(grid, np.zeros(4), np.ones(4), empty, calibration, control_deg=(5.0,))


def _grain_beside_vacuum(kin, rng, spots, dose):
    """4 x 5 probe positions: a grain with hexagons ``spots`` in columns 0-2, vacuum in 3-4;
    40 % of every pattern's counts in a broad halo."""
    yy, xx = np.mgrid[:128, :128]
    halo = np.exp(-np.hypot(yy - 64, xx - 64) / 30.0)
    halo /= halo.sum()
    crystal = kin.render_pattern(spots)
    crystal /= crystal.sum()
    vac = kin.render_pattern([])
    vac /= vac.sum()
    rows = [
        np.stack(
            [
                rng.poisson((0.6 * (crystal if ix < 3 else vac) + 0.4 * halo) * dose)
                for ix in range(5)
            ]
        )
        for _ in range(4)
    ]
    return np.stack(rows).astype(np.float32)


def test_sparse_off_zone_grain_is_unassigned_from_its_neighbourhood(kin, model, calibration):
    """A grain no phase fits (hexagons at 0.55 and 0.95 1/A, at 400 e-/DP): its
    neighbourhood sum shows significant Friedel pairs, the patterns' own counts at those spots
    confirm them -> unassigned; vacuum beside it stays none."""
    rng = np.random.default_rng(9)
    off = [(0.55, 11.0, 1.0), (0.55 * 3**0.5, 41.0, 0.6)]
    grid = _grain_beside_vacuum(kin, rng, off, 400.0)
    truth = np.tile([4, 4, 4, 0, 0], 4)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    assert not np.any(res.labels[truth == 4] == 4)  # too sparse on their own
    labels, _, rel = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    assert (labels[truth == 4] == 4).mean() >= 0.8
    assert np.all(labels[truth == 0] == 0)


def _faint_off_zone_grain(kin, rng, dose, kind=None, model=None, width=5, flat=0.0):
    """6 x 8 probe positions: a grain in columns 0 to ``width`` - 1, vacuum beyond; 40 % of
    every pattern's counts in a broad halo (30 % and ``flat`` spread evenly where ``flat`` >
    0). The grain is off-zone (hexagons at 0.55 and 0.95 1/A, no phase fits) or, with
    ``kind``, that label's kinematic pattern."""
    yy, xx = np.mgrid[:128, :128]
    halo = np.exp(-np.hypot(yy - 64, xx - 64) / 30.0)
    halo /= halo.sum()
    if kind is None:
        crystal = kin.render_pattern([(0.55, 11.0, 1.0), (0.55 * 3**0.5, 41.0, 0.6)])
    else:
        crystal = kin.make_pattern(model, kind, rng, dose=None, rotation_deg=17.0)
    crystal = crystal / crystal.sum()
    vac = kin.render_pattern([])
    vac /= vac.sum()
    grid = np.stack(
        [
            np.stack(
                [
                    rng.poisson(
                        (
                            (0.6 - flat) * (crystal if ix < width else vac)
                            + (0.3 if flat else 0.4) * halo
                            + flat / vac.size
                        )
                        * dose
                    )
                    for ix in range(8)
                ]
            )
            for _ in range(6)
        ]
    ).astype(np.float32)
    return grid, np.tile([1] * width + [0] * (8 - width), 6).astype(bool)


def test_faint_off_zone_grain_is_unassigned_from_a_wider_neighbourhood(kin, model, calibration):
    """At 150 e-/DP an off-zone grain's 3 x 3 sums show its Friedel pairs for under half of
    its patterns; the 5 x 5 sums for most, confirmed by each pattern's own counts -> unassigned.
    Vacuum beside it stays none; a grain a phase fits is not touched (its sums are that phase)."""
    rng = np.random.default_rng(1)
    grid, grain = _faint_off_zone_grain(kin, rng, 150.0)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    assert not np.any(res.labels[grain] == LABEL_UNASSIGNED)
    narrow, conf, _ = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    assert (narrow[grain] == LABEL_UNASSIGNED).mean() <= 0.5
    labels, conf2, changed = unassign_faint_crystals(grid, narrow, conf, calibration, model)
    assert (labels[grain] == LABEL_UNASSIGNED).mean() >= 0.75
    assert np.all(labels[~grain] == LABEL_NONE) and not changed[~grain].any()
    # only none patterns change, and only to unassigned
    assert np.all(narrow[changed] == LABEL_NONE) and np.all(labels[changed] == LABEL_UNASSIGNED)
    np.testing.assert_array_equal(labels[~changed], narrow[~changed])
    assert np.all((conf2[changed] > 0) & (conf2[changed] <= 0.5))
    # an O3 grain at a dose where its patterns stay none: its wide sums are O3, not unassigned
    grid3, grain3 = _faint_off_zone_grain(kin, np.random.default_rng(2), 60.0, LABEL_FIRST, model)
    none = np.zeros(grain3.size, np.uint8)
    labels3, _, changed3 = unassign_faint_crystals(
        grid3, none, np.ones(none.size, np.float32), calibration, model
    )
    assert not np.any(labels3 == LABEL_UNASSIGNED) and not changed3.any()
    with pytest.raises(InputError, match="radius"):
        unassign_faint_crystals(grid, narrow, conf, calibration, model, radius=1)


def test_faint_off_zone_grain_grows_from_its_unassigned_patterns(kin, model, calibration):
    """A grain three positions wide on an even background (40 % of the counts): the 5 x 5 sums
    at its edge are mostly vacuum, and too noisy to show its lattice, where the sum of its
    own unassigned neighbours shows it; the growth passes take those patterns (own counts
    confirming), the vacuum beside the grain stays none."""
    rng = np.random.default_rng(2)
    grid, grain = _faint_off_zone_grain(kin, rng, 400.0, width=3, flat=0.4)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    narrow, conf, _ = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    wide, _, _ = unassign_faint_crystals(grid, narrow, conf, calibration, model, grow_passes=0)
    grown, _, changed = unassign_faint_crystals(grid, narrow, conf, calibration, model)
    n_wide = int((wide[grain] == LABEL_UNASSIGNED).sum())
    n_grown = int((grown[grain] == LABEL_UNASSIGNED).sum())
    assert n_grown >= n_wide + 2 and n_grown >= 0.7 * grain.sum(), (n_wide, n_grown)
    assert np.all(grown[~grain] == LABEL_NONE) and not changed[~grain].any()
    # growth only adds unassigned patterns to what the wide sums gave
    assert np.all(grown[wide == LABEL_UNASSIGNED] == LABEL_UNASSIGNED)
    for bad in ({"grow_passes": -1}, {"min_members": 0}, {"grow_passes": 1.5}):
        with pytest.raises(InputError, match=next(iter(bad))):
            unassign_faint_crystals(grid, narrow, conf, calibration, model, **bad)


def _two_domains(rng, sd, rot_right=20.0):
    """A 16 x 16 scan: pure second phase (share 1) on the left half, both (share 0.3) on the
    right; shares measured with noise ``sd``; labels from the threshold as the classifier
    decides them."""
    ry = rx = 16
    truth = np.full((ry, rx), LABEL_SECOND, np.uint8)
    truth[:, rx // 2 :] = LABEL_BOTH
    true_share = np.where(truth == LABEL_SECOND, 1.0, 0.3)
    share = true_share + rng.normal(0.0, sd, truth.shape)
    labels = np.where(share >= 0.65, LABEL_SECOND, LABEL_BOTH).astype(np.uint8)
    rot = np.full(truth.shape, 10.0)
    rot[:, rx // 2 :] = rot_right
    return truth.ravel(), labels.ravel(), share.ravel(), np.full(ry * rx, sd), rot.ravel()


def test_vote_on_mixed_calls_removes_speckle_and_keeps_the_domain_boundary(model):
    grid = np.zeros((16, 16, 4, 4), np.float32)  # only its shape is used
    truth, labels, share, sd, rot = _two_domains(np.random.default_rng(0), 0.3)
    conf = np.ones(labels.size, np.float32)
    before = int((labels != truth).sum())
    out, out_conf, changed = vote_on_mixed_calls(grid, labels, conf, share, sd, rot, model)
    after = int((out != truth).sum())
    assert before >= 20 and after <= before // 3
    assert np.array_equal(changed, out != labels) and np.all(out_conf[changed] <= 0.75)
    # one grain: the vote may not carry the boundary across (both half stays mostly both)
    right = truth == LABEL_BOTH
    assert (out[right] == LABEL_BOTH).mean() >= 0.9
    # precise shares (|z| far beyond eight neighbours' votes) keep their own calls
    truth2, labels2, share2, _, rot2 = _two_domains(np.random.default_rng(1), 0.02)
    precise = np.full(share2.size, 0.02)
    share2[5] = 0.2  # a genuine both column inside the pure domain
    labels2[5] = LABEL_BOTH
    out2, _, _ = vote_on_mixed_calls(grid, labels2, conf, share2, precise, rot2, model)
    assert out2[5] == LABEL_BOTH and np.array_equal(out2, labels2)
    # no shares measured (a classifier without them): nothing changes
    out3, _, changed3 = vote_on_mixed_calls(grid, labels, conf, None, None, None, model)
    assert np.array_equal(out3, labels) and not changed3.any()


def test_vote_counts_only_neighbours_of_the_same_grain(model):
    grid = np.zeros((3, 3, 4, 4), np.float32)
    labels = np.full(9, LABEL_BOTH, np.uint8)
    labels[4] = LABEL_SECOND
    share = np.full(9, 0.3)
    share[4] = 0.9  # z = +0.25 / sqrt(0.3^2 + 0.1^2) ~ 0.8: eight both neighbours overrule it
    sd = np.full(9, 0.3)
    conf = np.ones(9, np.float32)
    out, _, _ = vote_on_mixed_calls(grid, labels, conf, share, sd, np.full(9, 12.0), model)
    assert out[4] == LABEL_BOTH
    other_grain = np.full(9, 40.0)
    other_grain[4] = 12.0
    out, _, _ = vote_on_mixed_calls(grid, labels, conf, share, sd, other_grain, model)
    assert out[4] == LABEL_SECOND
    with pytest.raises(InputError, match="beta"):
        VoteParams(beta=-1.0)


def test_lone_calls_inside_an_off_zone_grain_become_unassigned(model):
    U, O3, O1, B, V = LABEL_UNASSIGNED, LABEL_FIRST, LABEL_SECOND, LABEL_BOTH, LABEL_NONE
    lab = np.full((8, 8), U, np.uint8)  # an off-zone grain
    lab[:, 6:] = O3  # a zone-axis O3 grain beside it
    lab[2, 1] = O1  # pseudo-hexagons read as O1 / both inside the off-zone grain
    lab[5, 5] = B  # at the grain boundary: 5 unassigned neighbours
    lab[7, :4] = O1  # a lamella along the grain's edge: its calls neighbour each other
    lab[0, 6] = O1  # a lone O1 call in the O3 grain (2 unassigned neighbours): left alone
    lab[0, 0] = V
    grid = np.zeros((8, 8, 2, 2), np.float32)
    conf = np.full(64, 0.3, np.float32)
    out, out_conf, changed = unassign_isolated_calls(grid, lab.ravel(), conf, model)
    want = lab.copy()
    want[2, 1] = want[5, 5] = U
    assert np.array_equal(out.reshape(8, 8), want)
    assert np.array_equal(changed, out != lab.ravel()) and changed.sum() == 2
    assert np.array_equal(out_conf, conf)
    # fewer unassigned neighbours than asked: nothing changes
    out2, _, changed2 = unassign_isolated_calls(grid, lab.ravel(), conf, model, min_unassigned=8)
    assert changed2.sum() == 1 and out2.reshape(8, 8)[2, 1] == U  # (2, 1) has 8 of 8
    with pytest.raises(InputError, match="min_unassigned"):
        unassign_isolated_calls(grid, lab.ravel(), conf, model, min_unassigned=0)


def test_lone_o1_or_both_calls_inside_an_o3_grain_become_o3(model):
    from stemtf.phase.context import first_phase_for_lone_calls

    O3, O1, B, V = LABEL_FIRST, LABEL_SECOND, LABEL_BOTH, LABEL_NONE
    lab = np.full((8, 8), O3, np.uint8)
    lab[2, 2] = B  # all 8 neighbours O3: O3's thickness {100}, not a degraded column
    lab[4, 5] = O1  # likewise
    lab[5:, 1] = O1  # a lamella one position wide, 3 long: kept
    lab[6, 5] = lab[6, 6] = B  # a touching pair inside the grain: O3
    lab[0, 7] = B  # a corner: 3 neighbours only (fewer than 5): left alone
    lab[3, 7] = B  # on the edge: 5 neighbours, all O3
    lab[0, 4] = B  # beside vacuum (2 of 5 neighbours): left alone
    lab[0, 3] = lab[1, 4] = V
    lab[5, 3] = B  # one vacuum neighbour of 8 (a faint position): O3
    lab[4, 2] = V
    grid = np.zeros((8, 8, 2, 2), np.float32)
    conf = np.full(64, 0.8, np.float32)
    out, out_conf, changed = first_phase_for_lone_calls(grid, lab.ravel(), conf, model)
    want = lab.copy()
    want[2, 2] = want[4, 5] = want[3, 7] = want[5, 3] = want[6, 5] = want[6, 6] = O3
    assert np.array_equal(out.reshape(8, 8), want)
    assert changed.sum() == 6 and np.all(out_conf[changed] == 0.5)
    assert np.all(out_conf[~changed] == 0.8)
    # a family model's codes 2 and 3 are other phases (here H3 and O3+O1...): nothing changes
    from stemtf.phase import PhaseModel

    family = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1", "nmc811-h3"])
    assert family.label_names[3] != "both"
    same, _, none_changed = first_phase_for_lone_calls(grid, lab.ravel(), conf, family)
    assert not none_changed.any() and np.array_equal(same, lab.ravel())
    one = PhaseModel.from_materials(["nmc811-o3"])  # labels none, O3, unassigned
    same, _, none_changed = first_phase_for_lone_calls(grid, lab.ravel(), conf, one)
    assert not none_changed.any()
    strict, _, changed0 = first_phase_for_lone_calls(grid, lab.ravel(), conf, model, max_other=0)
    assert changed0.sum() == 5 and strict.reshape(8, 8)[5, 3] == B
    single, _, changed1 = first_phase_for_lone_calls(grid, lab.ravel(), conf, model, max_size=1)
    assert changed1.sum() == 4 and single.reshape(8, 8)[6, 5] == B
    with pytest.raises(InputError, match="min_neighbours"):
        first_phase_for_lone_calls(grid, lab.ravel(), conf, model, min_neighbours=2)
    with pytest.raises(InputError, match="max_other"):
        first_phase_for_lone_calls(grid, lab.ravel(), conf, model, max_other=3)


def test_surrounded_first_phase_calls_join_their_grains_degraded_domain(model):
    from stemtf.phase.context import second_phase_for_surrounded_calls

    O3, O1, B, V = LABEL_FIRST, LABEL_SECOND, LABEL_BOTH, LABEL_NONE
    lab = np.full((10, 10), O3, np.uint8)
    lab[1:6, 1:6] = O1  # an O1 domain 5 x 5 with a hole and a notch
    lab[3, 3] = O3  # the hole: 8 O1 neighbours -> O1
    lab[5, 3] = O3  # a notch in the domain's edge: 5 O1 neighbours -> O1
    lab[7:10, 6:10] = B  # an O3+O1 corner domain with a hole on the scan edge
    lab[9, 8] = O3  # 5 neighbours inside the scan, all both -> both
    lab[1:6, 8] = B  # a one-wide lamella beside O3: its O3 neighbours see 3 calls, kept
    grid = np.zeros((10, 10, 2, 2), np.float32)
    conf = np.full(100, 0.8, np.float32)
    out, out_conf, changed = second_phase_for_surrounded_calls(grid, lab.ravel(), conf, None, model)
    want = lab.copy()
    want[3, 3] = want[5, 3] = O1
    want[9, 8] = B
    assert np.array_equal(out.reshape(10, 10), want)
    assert changed.sum() == 3 and np.all(out_conf[changed] == 0.5)
    assert np.all(out_conf[~changed] == 0.8)
    # the O3 call along the O1 domain's straight edge (3 O1 neighbours) and the grain outside
    # it keep O3
    assert out.reshape(10, 10)[6, 2] == O3 and out.reshape(10, 10)[0, 0] == O3
    # neighbours of another grain (lattice rotated by more than 3 deg) are no evidence;
    # neighbours without a measured rotation are
    rot = np.full((10, 10), 20.0)
    rot[1:6, 1:6] = 32.0  # the O1 domain is another grain than the hole's O3 call
    rot[3, 3] = 20.0
    rot[4, 2:5] = np.nan  # three O1 neighbours below the hole were labelled by context
    out_rot, _, ch_rot = second_phase_for_surrounded_calls(
        grid, lab.ravel(), conf, rot.ravel(), model
    )
    assert out_rot.reshape(10, 10)[3, 3] == O3  # 3 same-grain O1 neighbours only
    # the notch lies in the O1 domain's grain: 2 O1 neighbours alike and 3 unmeasured
    assert out_rot.reshape(10, 10)[5, 3] == O1 and out_rot.reshape(10, 10)[9, 8] == B
    assert ch_rot.sum() == 2
    rot[1:6, 1:6] = 21.5 + 60.0  # the same grain (rotations are mod 60 deg)
    rot[3, 3] = 20.0
    out_same, _, _ = second_phase_for_surrounded_calls(grid, lab.ravel(), conf, rot.ravel(), model)
    assert out_same.reshape(10, 10)[3, 3] == O1
    # one pass: the calls made here do not make further O3 calls surrounded
    two = np.full((6, 6), O3, np.uint8)
    two[0:3, :] = O1
    two[3, 1] = O1  # O3 at (3, 0) and (3, 2) see 4 O1 neighbours: kept
    once, _, ch = second_phase_for_surrounded_calls(
        np.zeros((6, 6, 1, 1), np.float32), two.ravel(), np.ones(36, np.float32), None, model
    )
    assert not ch.any()
    # vacuum neighbours do not count; a family model's codes mean other things
    hole = np.full((3, 3), O1, np.uint8)
    hole[1, 1] = O3
    hole[0, :] = V
    g3 = np.zeros((3, 3, 1, 1), np.float32)
    out_v, _, ch_v = second_phase_for_surrounded_calls(g3, hole.ravel(), np.ones(9), None, model)
    assert ch_v.sum() == 1  # 5 O1 neighbours
    hole[1, 0] = V
    assert not second_phase_for_surrounded_calls(g3, hole.ravel(), np.ones(9), None, model)[2].any()
    from stemtf.phase import PhaseModel

    family = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1", "nmc811-h3"])
    same, _, none_changed = second_phase_for_surrounded_calls(grid, lab.ravel(), conf, None, family)
    assert not none_changed.any() and np.array_equal(same, lab.ravel())
    with pytest.raises(InputError, match="min_mixed"):
        second_phase_for_surrounded_calls(grid, lab.ravel(), conf, None, model, min_mixed=0)
    with pytest.raises(InputError, match="max_rotation_deg"):
        second_phase_for_surrounded_calls(
            grid, lab.ravel(), conf, None, model, max_rotation_deg=float("nan")
        )


def test_remove_hot_pixels_keeps_every_count_shot_noise_can_explain():
    from stemtf.phase.dog import remove_hot_pixels, suppress_hot_pixels

    rng = np.random.default_rng(3)
    sparse = rng.poisson(0.02, (8, 128, 128)).astype(np.float32)  # ~330 counts per pattern
    hot = sparse.copy()
    ys, xs = rng.integers(2, 126, (2, 40))
    hot[0, ys, xs] = 4095.0
    kept = remove_hot_pixels(sparse)
    np.testing.assert_array_equal(kept, sparse)  # no count of a Poisson pattern is touched
    assert suppress_hot_pixels(sparse).sum() < 0.2 * sparse.sum()  # the clip removes most
    cleaned = remove_hot_pixels(hot)
    assert cleaned.max() < 20 and np.array_equal(cleaned[1:], sparse[1:])
    # a bright disk keeps its shape (shot-noise peaks inside it are not hot)
    yy, xx = np.mgrid[:32, :32]
    disk = rng.poisson(np.where(np.hypot(yy - 16, xx - 16) <= 4, 400.0, 1.0)).astype(np.float32)
    np.testing.assert_array_equal(remove_hot_pixels(disk), disk)
    # exactly the rule, at a dose where many pixels are local maxima: a pixel above its largest
    # 8-neighbour m by more than 4 sqrt(m + 1) + 2 counts takes m, every other pixel is kept
    from scipy.ndimage import maximum_filter

    mid = rng.poisson(5.0, (4, 64, 64)).astype(np.float32)
    mid[1, 10, 10], mid[2, 30, 31], mid[3, 5, 5] = 40.0, 60.0, 13.0
    tall = mid.reshape(-1, 64)
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    m = maximum_filter(tall, footprint=ring, mode="nearest")
    want = np.where(tall > m + 4.0 * np.sqrt(m + 1.0) + 2.0, m, tall).reshape(mid.shape)
    got = remove_hot_pixels(mid)
    np.testing.assert_array_equal(got, want)
    assert got[1, 10, 10] < 40 and got[2, 30, 31] < 60


def test_remove_hot_pixels_removes_touching_pairs_and_edge_pixels():
    """Two touching saturated pixels shield each other from the largest-neighbour test (each
    is the other's largest neighbour); a pixel on the pattern's edge sees itself through a
    replicated border. Both go; a two-pixel-radius Bragg disk and sparse counts stay."""
    from stemtf.phase.dog import remove_hot_pixels

    rng = np.random.default_rng(4)
    base = rng.poisson(0.02, (3, 64, 64)).astype(np.float32)
    yy, xx = np.mgrid[:64, :64]
    base[2] += rng.poisson(np.where(np.hypot(yy - 40, xx - 40) <= 2, 500.0, 0.0))
    hot = base.copy()
    hot[0, 10, 10] = hot[0, 10, 11] = 4095.0  # side by side
    hot[1, 20, 20] = hot[1, 21, 21] = 4095.0  # diagonal
    hot[1, 30, 0] = 4095.0  # left edge
    hot[2, 0, 5] = hot[2, 1, 5] = 4095.0  # a pair on the top edge
    hot[2, 50, 63] = 900.0  # right edge, not saturated
    got = remove_hot_pixels(hot)
    assert got.max(axis=(1, 2))[:2].max() < 20
    hot_px = [(0, 10, 10), (0, 10, 11), (1, 20, 20), (1, 21, 21), (1, 30, 0), (2, 0, 5)]
    hot_px += [(2, 1, 5), (2, 50, 63)]
    for b, y, x in hot_px:
        assert got[b, y, x] <= 5, (b, y, x, got[b, y, x])
    keep = np.ones(hot.shape, bool)
    for b, y, x in hot_px:
        keep[b, y, x] = False
    np.testing.assert_array_equal(got[keep], base[keep])  # the disk and every other count


def test_hot_pixels_side_by_side_in_neighbouring_patterns_make_no_spot(kin, model, calibration):
    """Two patterns' saturated pixels next to each other become a two-pixel cluster in their
    neighbourhood sum that no neighbour clip removes; each pattern is cleaned before summing."""
    rng = np.random.default_rng(5)
    grid = _grid(kin, model, rng, dose=200.0)
    truth = np.tile([1, 1, 1, 0, 0], 4)
    flat = grid.reshape(-1, *grid.shape[2:])
    res = identify_phases(flat, calibration, model)
    clean, _, _ = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    hot = grid.copy()
    for y in range(4):
        for x in range(5):
            py, px = rng.integers(3, 125, (2, 15))
            hot[y, x, py, px] = 4095.0
            if x > 0:  # and 8 right beside hot pixels of the pattern to the left
                qy, qx = rng.integers(3, 124, (2, 8))
                hot[y, x, qy, qx + 1] = 4095.0
                hot[y, x - 1, qy, qx] = 4095.0
    labels, _, _ = label_from_neighbours(hot, res.labels, res.confidence, calibration, model)
    assert (labels[truth == 1] == 1).mean() >= 0.8
    assert np.all(labels[truth == 0] == 0)
    np.testing.assert_array_equal(labels, clean)


@pytest.mark.parametrize("inner", [False, True])
def test_an_off_axis_crystal_imitating_the_marker_is_unassigned(kin, model, calibration, inner):
    """A sparse grain (150 e-/DP) whose only hexagon sits on O1's {100} ring reads as O1 from
    its neighbourhood; the same grain with a hexagon at 0.21 1/A too (a layered crystal seen
    from the side: its (003) row), which no phase has along [001], is unassigned instead."""
    rng = np.random.default_rng(9)
    marker = [r for r in model.rings if r.marker][0]
    spots = [(marker.radius_invA, marker.rotation_deg + 7.0, 1.0)]
    if inner:
        spots.append((0.21, 7.0, 0.8))
    grid = _grain_beside_vacuum(kin, rng, spots, 150.0)
    grain = np.tile([True, True, True, False, False], 4)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    labels, _, rel = label_from_neighbours(grid, res.labels, res.confidence, calibration, model)
    assert rel[grain].sum() >= 6  # most of the grain is too sparse on its own
    if inner:
        assert (labels[rel] == LABEL_UNASSIGNED).all()
    else:
        assert (labels[rel] == LABEL_SECOND).all()
    assert np.all(labels[~grain] == LABEL_NONE)


def test_a_three_vertex_call_alone_in_vacuum_becomes_none(model):
    from stemtf.phase.classify import HEXAGON_DTYPE
    from stemtf.phase.context import none_for_lone_calls_in_vacuum

    grid = np.zeros((6, 6, 4, 4), np.float32)
    lab = np.zeros((6, 6), np.uint8)
    lab[1, 1] = LABEL_SECOND  # alone in vacuum, three vertices: a chance hexagon
    lab[4, 4] = LABEL_SECOND  # alone in vacuum, five vertices: kept
    lab[0, 4] = LABEL_FIRST  # three vertices beside an O3 call: kept
    lab[0, 5] = LABEL_FIRST
    lab[3, 0] = LABEL_SECOND  # alone, no hexagon of its own (a context step's call): kept
    hx = np.zeros(4, HEXAGON_DTYPE)
    hx["dp_index"] = [1 * 6 + 1, 4 * 6 + 4, 0 * 6 + 4, 0 * 6 + 5]
    hx["phase"] = [2, 2, 1, 1]
    hx["inliers"] = [3, 5, 3, 3]
    conf = np.ones(36, np.float32)
    out, out_conf, changed = none_for_lone_calls_in_vacuum(grid, lab.ravel(), conf, hx, model)
    assert np.flatnonzero(changed).tolist() == [1 * 6 + 1]
    assert out[1 * 6 + 1] == LABEL_NONE and out_conf[1 * 6 + 1] == 0.5
    keep = np.ones(36, bool)
    keep[1 * 6 + 1] = False
    np.testing.assert_array_equal(out[keep], lab.ravel()[keep])
    with pytest.raises(InputError, match="max_vertices"):
        none_for_lone_calls_in_vacuum(grid, lab.ravel(), conf, hx, model, max_vertices=2)


def test_a_mixed_call_from_the_neighbourhood_needs_the_patterns_own_marker(kin, model, calibration):
    """At 300 e-/DP (half in a flat background) an O3 grain (columns 0-3) meets an O1 lamella
    (columns 4-7): the 3 x 3 sums along the boundary hold both lattices and read "both". An O3
    pattern there has no counts at the marker disks and takes O3; an O1 pattern keeps its O1
    call (O1 or both)."""
    rng = np.random.default_rng(31)
    o3 = kin.make_pattern(model, 1, rng, dose=None, rotation_deg=17.0)
    o1 = kin.make_pattern(model, 2, rng, dose=None, rotation_deg=17.0)
    o3, o1 = o3 / o3.sum(), o1 / o1.sum()
    flat = np.full(o3.shape, 1.0 / o3.size)
    truth = np.tile(np.r_[np.ones(4, np.uint8), np.full(4, 2, np.uint8)], 6)
    grid = np.stack(
        [
            np.stack(
                [
                    rng.poisson((0.5 * (o3 if c < 4 else o1) + (1 - 0.5) * flat) * 300.0)
                    for c in range(8)
                ]
            )
            for _ in range(6)
        ]
    ).astype(np.float32)
    res = identify_phases(grid.reshape(-1, *grid.shape[2:]), calibration, model)
    outs = {}
    for mz in (2.0, -np.inf):
        outs[mz] = label_from_neighbours(
            grid, res.labels, res.confidence, calibration, model, min_marker_z=mz
        )
    lab, _, rel = outs[2.0]
    old, _, old_rel = outs[-np.inf]
    o3_from_nbr = rel & (truth == 1)
    assert np.isin(old[old_rel & (truth == 1)], (LABEL_BOTH,)).any()  # the boundary sums read both
    assert not np.isin(lab[o3_from_nbr], (LABEL_SECOND, LABEL_BOTH)).any()
    o1_from_nbr = rel & (truth == 2)
    assert np.isin(lab[o1_from_nbr], (LABEL_SECOND, LABEL_BOTH)).all()


def _laue_limited_grain(kin, model, rng, *, dose, rotation_deg=0.0, shared_rot=None):
    """5 x 7 probe positions: a grain's full O3 hexagons in columns 0-1; in columns 2-4 the
    same lattice (turned by ``rotation_deg``) with only two adjacent shared-ring disks left (a
    grain tilted so far that the Laue circle keeps one sector); vacuum in columns 5-6."""
    rings = kin.phase_rings(model, 0)
    full = kin.render_pattern(rings)
    part = kin.render_pattern(rings, rotation_deg=rotation_deg)
    yy, xx = np.mgrid[:128, :128]
    r = np.hypot(yy - 64, xx - 64)
    rot = rings[0][1] + rotation_deg if shared_rot is None else shared_rot
    ang = (np.degrees(np.arctan2(yy - 64, xx - 64)) - rot + 20.0) % 360.0
    part = np.where((r < 6) | (ang < 100.0), part, 0.0)  # the beam and vertices 0, 1 only
    part /= part.sum()
    vac = kin.render_pattern([])
    halo = np.exp(-r / 30.0)
    halo /= halo.sum()
    cols = [full, full, part, part, part, vac, vac]
    return np.stack(
        [np.stack([rng.poisson((0.7 * c + 0.3 * halo) * dose) for c in cols]) for _ in range(5)]
    ).astype(np.float32)


def test_tilted_grain_keeping_two_disks_takes_its_neighbours_label(kin, model, calibration):
    rng = np.random.default_rng(31)
    grid = _laue_limited_grain(kin, model, rng, dose=2000.0)
    res, labels, conf = _pipeline(grid, calibration, model)
    cols = np.tile(np.arange(7), 5)
    assert np.all(labels[cols < 3] == LABEL_FIRST)  # column 2: its 3 x 3 sums hold column 1
    assert np.all(labels[cols >= 3] == LABEL_NONE)  # two disks: no hexagon, own or summed
    out, out_conf, rel = grow_grains(
        grid, labels, conf, res.hexagons, res.centers_yx, calibration, model
    )
    part = (cols >= 3) & (cols < 5)
    assert np.all(out[part] == LABEL_FIRST)  # column 4 in the second pass
    assert np.all(out[cols >= 5] == LABEL_NONE)  # vacuum beside the grain
    assert np.array_equal(rel, part)
    assert np.all(out_conf[rel] <= 0.5 * conf.max())


def test_unassigned_crystal_grows_with_its_own_hexagon(kin, model, calibration):
    """An off-zone grain (unassigned, its hexagon fits no phase ring: phase 0 in the table)
    grows into its two-disk neighbours as ``unassigned``, never as a phase."""
    rng = np.random.default_rng(31)
    grid = _laue_limited_grain(kin, model, rng, dose=2000.0)
    res, labels, conf = _pipeline(grid, calibration, model)
    crystal = np.where(labels == LABEL_FIRST, LABEL_UNASSIGNED, labels).astype(labels.dtype)
    hexagons = np.asarray(res.hexagons).copy()
    hexagons["phase"] = 0
    out, _, rel = grow_grains(grid, crystal, conf, hexagons, res.centers_yx, calibration, model)
    cols = np.tile(np.arange(7), 5)
    assert np.array_equal(rel, (cols >= 3) & (cols < 5))
    assert np.all(out[rel] == LABEL_UNASSIGNED) and np.all(out[cols >= 5] == LABEL_NONE)
    # an unassigned pattern whose hexagon is a phase's lends nothing
    out, _, rel = grow_grains(grid, crystal, conf, res.hexagons, res.centers_yx, calibration, model)
    assert not rel.any()


@pytest.mark.parametrize("call", [LABEL_BOTH, LABEL_SECOND])
def test_o1_and_both_calls_do_not_grow(kin, model, calibration, call):
    """Both rests on the column's share of each lattice, O1 on its marker ring (which an
    off-zone grain's pseudo-hexagon imitates): two disks confirm neither."""
    rng = np.random.default_rng(31)
    grid = _laue_limited_grain(kin, model, rng, dose=2000.0)
    res, labels, conf = _pipeline(grid, calibration, model)
    other = np.where(labels == LABEL_FIRST, call, labels).astype(labels.dtype)
    out, _, rel = grow_grains(grid, other, conf, res.hexagons, res.centers_yx, calibration, model)
    assert not rel.any()
    np.testing.assert_array_equal(out, other)


def test_two_disks_off_the_neighbours_lattice_stay_none(kin, model, calibration):
    """The same two bright disks turned 25 deg off the grain's lattice are another crystal."""
    rng = np.random.default_rng(32)
    grid = _laue_limited_grain(kin, model, rng, dose=2000.0, rotation_deg=25.0)
    res, labels, conf = _pipeline(grid, calibration, model)
    out, _, rel = grow_grains(grid, labels, conf, res.hexagons, res.centers_yx, calibration, model)
    assert not rel.any()
    np.testing.assert_array_equal(out, labels)


def test_grow_grains_bad_input(model, calibration):
    grid = np.zeros((2, 2, 128, 128), np.float32)
    empty = np.zeros(0, dtype=[("dp_index", np.int64), ("phase", np.uint8)])
    centres = np.full((4, 2), 64.0)
    with pytest.raises(InputError, match="min_z"):
        grow_grains(grid, np.zeros(4), np.ones(4), empty, centres, calibration, model, min_z=0)
    with pytest.raises(InputError, match="control_deg"):
        grow_grains(
            grid, np.zeros(4), np.ones(4), empty, centres, calibration, model, control_deg=(5.0,)
        )
