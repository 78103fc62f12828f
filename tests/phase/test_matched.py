"""Matched filter on raw counts: sparse grains found where spot finding sees nothing; vacuum
and bright patterns are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import identify_phases
from stemtf.phase.matched import (
    EnclosedParams,
    MarkerCheckParams,
    MatchedParams,
    _tent_pooled,
    check_marker_on_counts,
    hexagon_scan,
    label_sparse_patterns,
    second_phase_for_enclosed_patterns,
)


def _scan(kin, model, rng, kinds, dose, rotation=21.0):
    """(Ry, Rx) of kinematic patterns (label per position) at ``dose`` counts each."""
    out = np.empty(kinds.shape + (128, 128), np.float32)
    for iy, ix in np.ndindex(kinds.shape):
        img = kin.make_pattern(model, int(kinds[iy, ix]), rng, dose=None, rotation_deg=rotation)
        out[iy, ix] = rng.poisson(img / img.sum() * dose)
    return out


def test_hexagon_scan_finds_the_rotation_of_a_faint_hexagon(kin, model, calibration):
    rng = np.random.default_rng(1)
    marker = [r for r in model.rings if r.marker][0]
    img = kin.render_pattern([(marker.radius_invA, 0.0, 1.0)], rotation_deg=37.0, central=0.0)
    dps = np.stack([rng.poisson(img / img.sum() * 150 + 0.05) for _ in range(8)])
    ex, var = hexagon_scan(
        dps.astype(np.float32),
        np.tile(calibration.center_yx, (8, 1)),
        marker.radius_invA / calibration.q_sampling_invA,
        calibration,
    )
    best = np.argmax(ex / np.sqrt(var), axis=1) * 0.5
    assert np.all(np.abs((best - (37.0 + marker.rotation_deg) % 60 + 30) % 60 - 30) <= 2.5)
    with pytest.raises(InputError, match="radius_px"):
        hexagon_scan(dps, np.zeros((8, 2)), 0.0, calibration)


def test_sparse_o1_grain_is_found_and_vacuum_stays_none(kin, model, calibration):
    """A 6 x 4 O1 grain beside vacuum at 100 counts per pattern: the spot finder sees it in
    few patterns, the matched filter finds the marker hexagon; vacuum stays none."""
    rng = np.random.default_rng(3)
    kinds = np.zeros((6, 7), int)
    kinds[:, :4] = 2
    grid = _scan(kin, model, rng, kinds, dose=100.0)
    flat = grid.reshape(-1, 128, 128)
    res = identify_phases(flat, calibration, model)
    truth = kinds.ravel()
    assert (res.labels[truth == 2] == 2).mean() < 0.4
    labels, conf, rel = label_sparse_patterns(
        grid, res.labels, res.confidence, res.centers_yx, calibration, model
    )
    assert (labels[truth == 2] == 2).mean() >= 0.85
    assert np.all(labels[truth == 0] == 0)
    assert np.all(conf[rel] <= 0.3) and np.all(rel <= (res.labels == 0))


def test_the_filter_extends_a_seen_phase_and_leaves_bright_patterns(kin, model, calibration):
    rng = np.random.default_rng(3)
    kinds = np.full((3, 3), 2)
    grid = _scan(kin, model, rng, kinds, dose=150.0)
    seeded = np.zeros(9, np.uint8)
    seeded[0] = 2  # the spot finder saw the grain at one position
    centers = np.tile(calibration.center_yx, (9, 1))
    low = label_sparse_patterns(grid, seeded, np.zeros(9), centers, calibration, model)
    high = label_sparse_patterns(
        grid,
        seeded,
        np.zeros(9),
        centers,
        calibration,
        model,
        MatchedParams(max_beam_counts=1.0, bright_own_only=False),
    )
    assert low[2].sum() >= 6 and not high[2].any()
    # where the spot finder saw the phase nowhere, the filter's own candidates start it ...
    alone = label_sparse_patterns(
        grid, np.zeros(9, np.uint8), np.zeros(9), centers, calibration, model
    )
    assert alone[2].sum() >= 6 and np.all(np.isin(alone[0], (0, 2)))

    # ... unless told to extend only what the spot finder saw
    def run(**kw):
        prm = MatchedParams(**kw)
        return label_sparse_patterns(
            grid, np.zeros(9, np.uint8), np.zeros(9), centers, calibration, model, prm
        )[0]

    assert not run(start_where_unseen=False, min_seed_cluster=0).any()
    # a cluster of candidates as large as the grain still seeds it when clusters may
    assert run(start_where_unseen=False, min_seed_cluster=4).sum() >= 6
    assert not run(start_where_unseen=False, min_seed_cluster=10).any()


def test_a_large_cluster_of_candidates_seeds_a_grain_the_spot_finder_missed(
    kin, model, calibration
):
    """Two faint O1 grains three O3 columns apart; the spot finder saw only the first. The
    second grain's candidates (9 positions) join only where clusters of that size seed."""
    rng = np.random.default_rng(7)
    kinds = np.full((3, 9), 2)
    kinds[:, 3:6] = 1
    grid = _scan(kin, model, rng, kinds, dose=150.0)
    seeded = np.zeros(27, np.uint8)
    seeded[0] = 2
    centers = np.tile(calibration.center_yx, (27, 1))
    cols = np.arange(27) % 9

    def run(k):
        prm = MatchedParams(min_seed_cluster=k)
        return label_sparse_patterns(grid, seeded, np.zeros(27), centers, calibration, model, prm)[
            0
        ]

    off, small, big = run(0), run(5), run(10)
    assert (off[cols <= 2] == 2).mean() >= 0.8 and not np.any(off[cols >= 6] == 2)
    assert (small[cols >= 6] == 2).mean() >= 0.8
    assert not np.any(big[cols >= 6] == 2)
    assert not np.any(small[(cols >= 3) & (cols <= 5)] == 2)  # the O3 columns stay O3 or none


def test_no_phase_is_given_near_an_unassigned_pattern(kin, model, calibration):
    """A faint O1 row beside a crystal no phase fits: within two positions of the
    ``unassigned`` pattern nothing is given from the raw counts (off-zone pseudo-hexagons),
    farther away the filter extends the phase as usual."""
    rng = np.random.default_rng(5)
    kinds = np.full((3, 7), 2)
    grid = _scan(kin, model, rng, kinds, dose=150.0)
    seeded = np.zeros(21, np.uint8)
    seeded[6] = 2  # the spot finder saw the grain at the far end
    seeded[0] = 4  # and an off-zone crystal at the other
    centers = np.tile(calibration.center_yx, (21, 1))
    labels, _, _ = label_sparse_patterns(grid, seeded, np.zeros(21), centers, calibration, model)
    cols = np.arange(21) % 7
    assert not np.any(labels[cols <= 2] == 2)
    assert np.all(labels[cols >= 4] == 2)
    near, _, _ = label_sparse_patterns(
        grid, seeded, np.zeros(21), centers, calibration, model, MatchedParams(unassigned_reach=1)
    )
    assert np.all(near[(cols == 2)] == 2)


def test_bad_parameters():
    with pytest.raises(InputError, match="min_own_z"):
        MatchedParams(min_own_z=0)
    with pytest.raises(InputError, match="max_beam_counts"):
        MatchedParams(max_beam_counts=float("nan"))
    with pytest.raises(InputError, match="unassigned_reach=-1"):
        MatchedParams(unassigned_reach=-1)
    with pytest.raises(InputError, match="start_where_unseen='yes'"):
        MatchedParams(start_where_unseen="yes")
    with pytest.raises(InputError, match="min_seed_cluster=-1"):
        MatchedParams(min_seed_cluster=-1)
    with pytest.raises(InputError, match="both_pooled_z=0"):
        MatchedParams(both_pooled_z=0)
    with pytest.raises(InputError, match="both_min_ratio=-0.1"):
        MatchedParams(both_min_ratio=-0.1)


def test_the_tent_sum_and_its_variance_weights():
    """5 x 5 weights (1 2 3 2 1)^2: 81 in all, 361 squared, for an interior position; a unit
    excess at one position reaches two positions and no further."""
    ones = np.ones((7 * 7, 1))
    assert _tent_pooled(ones, (7, 7))[3 * 7 + 3, 0] == 81.0
    assert _tent_pooled(ones, (7, 7), 2)[3 * 7 + 3, 0] == 361.0
    spot = np.zeros((7 * 7, 1))
    spot[3 * 7 + 3] = 1.0
    out = _tent_pooled(spot, (7, 7)).reshape(7, 7)
    assert out[3, 3] == 9.0 and out[1, 1] == 1.0 and out[3, 5] == 3.0
    assert out[0].sum() == 0 and out[:, 6].sum() == 0


def test_a_ring_off_the_detector_gives_no_evidence(kin, model, calibration):
    """A 32 px detector cannot hold the rings: no label, no division by zero."""
    rng = np.random.default_rng(4)
    grid = rng.poisson(0.5, size=(3, 4, 32, 32)).astype(np.float32)
    grid[..., 16, 16] += 500
    seeded = np.zeros(12, np.uint8)
    seeded[0] = 1
    ex, var = hexagon_scan(grid[0], np.full((4, 2), 16.0), 200.0, calibration)
    assert not ex.any() and np.all(var == 1)
    out = label_sparse_patterns(
        grid, seeded, np.zeros(12), np.full((12, 2), 16.0), calibration, model
    )
    assert not out[2].any()


def test_a_mixed_call_stands_only_where_the_marker_counts_show(kin, model, calibration):
    """O3 and O3+O1 (30 % O1) halves of a scan at 3000 counts per pattern: the spot finder's
    lattices fix where O1's {100} disks lie. O3 patterns called both or pure O1 are put right
    by the counts there, true mixed calls (called both or O1) are kept; the check never adds a
    second-phase call, and none is left alone."""
    rng = np.random.default_rng(5)
    kinds = np.ones((6, 6), int)
    kinds[:, 3:] = 3
    grid = _scan(kin, model, rng, kinds, dose=3000.0)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    truth = kinds.ravel()
    has_lattice = np.isin(np.arange(36), res.hexagons["dp_index"])
    assert has_lattice.mean() > 0.9
    # every pattern called both: the O3 half goes back to O3 away from the boundary (where
    # the pooled neighbourhood holds both kinds), the mixed half stays
    out, conf, changed = check_marker_on_counts(
        grid,
        np.full(36, 3, np.uint8),
        np.ones(36),
        res.hexagons,
        res.centers_yx,
        calibration,
        model,
    )
    inner = has_lattice & np.isin(np.arange(36) % 6, (0, 1, 4, 5))
    assert np.array_equal(out[inner], truth[inner])
    assert np.all(out[truth == 3] == 3)
    assert np.all(conf[changed] == 0.5) and np.all(changed <= has_lattice)
    # never adds: the mixed half called O3 stays O3; right calls are kept
    o3 = np.ones(36, np.uint8)
    assert not check_marker_on_counts(
        grid, o3, np.ones(36), res.hexagons, res.centers_yx, calibration, model
    )[2].any()
    right, _, changed = check_marker_on_counts(
        grid, truth.astype(np.uint8), np.ones(36), res.hexagons, res.centers_yx, calibration, model
    )
    assert np.array_equal(right, truth) and not changed.any()
    # pure O1 calls: those without marker counts (the O3 half) go back to O3 away from the
    # boundary, those with them (the mixed half) stay; without check_second all are left
    other = np.where(truth == 1, 2, 0).astype(np.uint8)
    same, _, changed = check_marker_on_counts(
        grid,
        other,
        np.ones(36),
        res.hexagons,
        res.centers_yx,
        calibration,
        model,
        MarkerCheckParams(check_second=False),
    )
    assert not changed.any() and np.array_equal(same, other)
    o1 = np.full(36, 2, np.uint8)
    fixed, conf, changed = check_marker_on_counts(
        grid, o1, np.ones(36), res.hexagons, res.centers_yx, calibration, model
    )
    assert np.all(fixed[inner & (truth == 1)] == 1) and np.all(fixed[truth == 3] == 2)
    assert np.all(conf[changed] == 0.5) and np.all(changed <= has_lattice)
    none = np.zeros(36, np.uint8)
    assert not check_marker_on_counts(
        grid, none, np.ones(36), res.hexagons, res.centers_yx, calibration, model
    )[2].any()


def test_marker_check_parameters():
    with pytest.raises(InputError, match="keep_own_z"):
        MarkerCheckParams(keep_own_z=float("nan"))
    with pytest.raises(InputError, match="keep_pooled_z"):
        MarkerCheckParams(keep_pooled_z=float("inf"))
    with pytest.raises(InputError, match="max_excess_variance"):
        MarkerCheckParams(max_excess_variance=0.5)
    with pytest.raises(InputError, match="check_second"):
        MarkerCheckParams(check_second="yes")


def _marker_scan(kin, model, calibration, rng, vertices, counts_per_disk=12.0, n=3):
    """(n, n) patterns: a transmitted disk and disks at ``vertices`` (indices 0-5) of the O1
    marker hexagon only (no {110} ring: O1 at a thickness where it is near extinction)."""
    marker = [r for r in model.rings if r.marker][0]
    yy, xx = np.mgrid[:128, :128]
    cy, cx = calibration.center_yx
    r = marker.radius_invA / calibration.q_sampling_invA
    img = np.zeros((128, 128))
    for k in vertices:
        a = np.deg2rad(marker.rotation_deg + 21.0 + 60 * k)
        d = np.hypot(yy - (cy + r * np.sin(a)), xx - (cx + r * np.cos(a)))
        img += np.clip(3.2 + 0.5 - d, 0, 1)
    img *= counts_per_disk / img.sum() * len(vertices)
    img += 150.0 * np.clip(3.7 - np.hypot(yy - cy, xx - cx), 0, 1) / 43.0
    return rng.poisson(np.broadcast_to(img + 0.02, (n, n, 128, 128))).astype(np.float32)


def test_a_six_fold_marker_hexagon_needs_no_110_ring_and_a_friedel_pair_is_not_one(
    kin, model, calibration
):
    rng = np.random.default_rng(7)
    seeded = np.zeros(9, np.uint8)
    seeded[0] = 2  # the spot finder saw O1 at one position
    centers = np.tile(calibration.center_yx, (9, 1))
    hexagon = _marker_scan(kin, model, calibration, rng, range(6))
    got, _, rel = label_sparse_patterns(hexagon, seeded, np.zeros(9), centers, calibration, model)
    assert (got == 2).sum() >= 7  # six-fold in the neighbourhood: O1 without its {110}
    off = MatchedParams(min_sixfold_vertices=7, min_arc_vertices=7)  # only the {110} test
    got7, _, _ = label_sparse_patterns(
        hexagon, seeded, np.zeros(9), centers, calibration, model, off
    )
    assert (got7 == 2).sum() == 1
    # an off-zone grain's pseudo-hexagon: one Friedel pair near the marker radius, as strong
    pair = _marker_scan(kin, model, calibration, rng, (0, 3), counts_per_disk=12.0)
    got_pair, _, _ = label_sparse_patterns(pair, seeded, np.zeros(9), centers, calibration, model)
    assert (got_pair == 2).sum() == 1
    # a mistilted grain: the Laue circle lights three adjacent vertices
    arc = _marker_scan(kin, model, calibration, rng, (1, 2, 3), counts_per_disk=12.0)
    got_arc, _, _ = label_sparse_patterns(arc, seeded, np.zeros(9), centers, calibration, model)
    assert (got_arc == 2).sum() >= 7
    no_arc = MatchedParams(min_arc_vertices=7)
    got_no, _, _ = label_sparse_patterns(
        arc, seeded, np.zeros(9), centers, calibration, model, no_arc
    )
    assert (got_no == 2).sum() == 1
    with pytest.raises(InputError, match="min_sixfold_vertices"):
        MatchedParams(min_sixfold_vertices=0)
    with pytest.raises(InputError, match="min_arc_vertices"):
        MatchedParams(min_arc_vertices=8)


def test_the_filter_counts_every_electron_of_a_sparse_hexagon(kin, model, calibration):
    """Single electrons in the six disks (no two side by side, as at 10^2 e-/DP) are all counted,
    while saturated hot pixels elsewhere add nothing: the neighbour clip of the spot finder
    would have erased every one of those electrons."""
    rng = np.random.default_rng(4)
    marker = [r for r in model.rings if r.marker][0]
    r_px = marker.radius_invA / calibration.q_sampling_invA
    cy, cx = calibration.center_yx
    dp = np.zeros((128, 128), np.float32)
    per_disk = 3
    for k in range(6):
        a = np.radians(37.0 + 60.0 * k)
        y0, x0 = cy + r_px * np.sin(a), cx + r_px * np.cos(a)
        for j in range(per_disk):  # isolated single counts within the disk
            dy, dx = (np.array([-1.5, 0.0, 1.5])[j], np.array([1.5, -1.5, 1.5])[j])
            dp[int(round(y0 + dy)), int(round(x0 + dx))] = 1.0
    hot = rng.integers(5, 123, (2, 30))
    far = np.abs(np.hypot(hot[0] - cy, hot[1] - cx) - r_px) > 10
    dp[hot[0][far], hot[1][far]] = 4095.0
    ex, var = hexagon_scan(dp[None], np.array([[cy, cx]]), r_px, calibration)
    best = int(np.argmax(ex[0]))
    assert abs(best * 0.5 - 37.0) <= 3.0  # a disk-wide window: a plateau, not a peak
    assert ex[0, 74] == pytest.approx(6 * per_disk, abs=1.0)  # at the true 37 deg


def _tilted_grain(model, calibration, rng, n, marker_per_disk, shared_per_disk, bg=0.3):
    """(n, n) patterns of a grain off its zone: the full {110} hexagon, only three adjacent
    marker disks (the Laue circle's arc), on a diffuse background of ``bg`` counts/px (a
    support film / halo, which lifts the six-window sum's variance)."""
    marker = [r for r in model.rings if r.marker][0]
    shared = [r for r in model.rings if not r.marker and r.phase == 0][0]
    yy, xx = np.mgrid[:128, :128]
    cy, cx = calibration.center_yx
    img = np.zeros((128, 128))
    for ring, vertices, per_disk in (
        (shared, range(6), shared_per_disk),
        (marker, (1, 2, 3), marker_per_disk),
    ):
        r = ring.radius_invA / calibration.q_sampling_invA
        for k in vertices:
            a = np.deg2rad(ring.rotation_deg + 21.0 + 60 * k)
            one = np.clip(
                3.7 - np.hypot(yy - (cy + r * np.sin(a)), xx - (cx + r * np.cos(a))), 0, 1
            )
            img += one / one.sum() * per_disk
    img += 150.0 * np.clip(3.7 - np.hypot(yy - cy, xx - cx), 0, 1) / 43.0
    return rng.poisson(np.broadcast_to(img + bg, (n, n, 128, 128))).astype(np.float32)


def test_a_faint_marker_arc_of_a_tilted_grain_shows_the_second_phase(model, calibration):
    """Three lit marker disks of ~6 counts on a 0.3 count/px background: the six-window sum
    often stays under ``min_pooled_z``, so the {110} ring alone gave the first phase; the
    faint-marker test (``arc_*``) gives the second phase there, and never to a grain with
    the {110} ring and no marker."""
    cen = np.tile(calibration.center_yx, (16, 1))
    none = np.zeros(16, np.uint8)
    off = MatchedParams(arc_pooled_z=float("inf"))
    with_arc = without = false_o1 = 0
    for seed in range(11, 17):
        grain = _tilted_grain(model, calibration, np.random.default_rng(seed), 4, 6.0, 8.0)
        new, _, _ = label_sparse_patterns(grain, none, np.zeros(16), cen, calibration, model)
        old, _, _ = label_sparse_patterns(grain, none, np.zeros(16), cen, calibration, model, off)
        with_arc += int((new == 2).sum())
        without += int((old == 2).sum())
        assert np.all((new == 2) | (old != 2))  # the test only adds second-phase calls
        o3 = _tilted_grain(model, calibration, np.random.default_rng(seed + 100), 4, 0.0, 8.0)
        got, _, _ = label_sparse_patterns(o3, none, np.zeros(16), cen, calibration, model)
        false_o1 += int((got == 2).sum())
    assert with_arc >= without + 4, (with_arc, without)
    assert false_o1 == 0
    with pytest.raises(InputError, match="arc_min_ratio"):
        MatchedParams(arc_min_ratio=float("nan"))
    with pytest.raises(InputError, match="arc_pooled_z"):
        MatchedParams(arc_pooled_z=0.0)


def test_o3_columns_with_a_faint_o1_share_are_called_mixed_and_pure_o3_is_not(
    kin, model, calibration
):
    """O1 | O3 | O3+O1 columns at 300 counts per pattern on 0.5 count/px of background; the
    mixed columns' marker disks hold 0.25 of a {110} disk. Per pattern (and 3 x 3) the marker
    is mostly too faint, so they took the first phase from the {110} ring; the 5 x 5 sum of
    first-phase patterns at the rotation the lattice fixes shows it. Pure O3 between the O1
    grain and the mixed band turns mixed only within the sum's reach (two positions); with the
    test off (``both_pooled_z=inf``) nothing is mixed."""
    marker = [r for r in model.rings if r.marker][0]
    shared = [r for r in model.rings if not r.marker and r.phase == 0][0]
    o3 = [(shared.radius_invA, shared.rotation_deg, 1.0)]
    mixed = o3 + [(marker.radius_invA, marker.rotation_deg, 0.25)]
    kinds = np.full((9, 20), 1)
    kinds[:, :3] = 2
    kinds[:, 11:] = 3
    rng = np.random.default_rng(5)
    grid = np.empty(kinds.shape + (128, 128), np.float32)
    for iy, ix in np.ndindex(kinds.shape):
        k = int(kinds[iy, ix])
        rings = kin.phase_rings(model, 1) if k == 2 else (mixed if k == 3 else o3)
        img = kin.render_pattern(rings, rotation_deg=21.0, central=6.0)
        grid[iy, ix] = rng.poisson(img * 300.0 + 0.5)
    truth = kinds.ravel()
    n = truth.size
    centers = np.tile(calibration.center_yx, (n, 1))

    def run(**kw):
        none = np.zeros(n, np.uint8)
        prm = MatchedParams(**kw)
        return label_sparse_patterns(grid, none, np.zeros(n), centers, calibration, model, prm)[0]

    off, on = run(both_pooled_z=float("inf")), run()
    mixed_band = truth == 3
    assert (off[mixed_band] == 1).mean() >= 0.6  # the {110} ring alone: the first phase
    assert not np.any(off == 3)
    col = np.arange(n) % kinds.shape[1]
    inner = mixed_band & (col >= 13) & (off == 1)  # full 5 x 5
    assert (on[inner] == 3).mean() >= 0.8
    # the 5 x 5 sum blurs a boundary by at most two positions; beyond that O3 stays O3
    assert not np.any(on[(truth == 1) & (col >= 6) & (col <= 8)] == 3)
    assert (on[truth == 1] == 3).mean() <= 0.15
    assert np.all((on == off) | ((off == 1) & (on == 3)))  # the test only adds mixed calls
    # a stricter ratio than the band's ~0.2 adds none
    assert not np.any(run(both_min_ratio=0.6) == 3)
    # the same columns already called O3 (the spot finder's calls, given as input) are
    # re-tested alike
    given = label_sparse_patterns(grid, off, np.zeros(n), centers, calibration, model)
    assert (given[0][inner] == 3).mean() >= 0.8
    assert not np.any(given[0][(truth == 1) & (col >= 6) & (col <= 8)] == 3)
    assert np.all(given[2] == (given[0] != off)) and np.all(given[1][given[2]] == 0.3)


def test_bright_patterns_with_a_partial_hexagon_are_scored_on_their_own_counts(
    kin, model, calibration
):
    """A grain far off its zone at 3000 counts per pattern: two adjacent disks of the O3 {110}
    hexagon lit (a Laue-circle arc), too few for the spot finder; an on-zone O3 grain beside it
    the spot finder sees. Bright patterns are scored on their own counts only: the tilted grain
    becomes O3, the bright vacuum stays none; with ``bright_own_only=False`` (the old gate) the
    tilted grain stays none. Without the on-zone grain (the spot finder saw no lattice in the
    grid, as on a real detector's foreign crystal at 10^5 counts) the arcs seed nothing."""
    rng = np.random.default_rng(11)
    ring = [r for r in model.rings if r.phase == 0 and not r.marker][0]
    rot = 17.0
    full = kin.render_pattern([(ring.radius_invA, ring.rotation_deg, 1.0)], rotation_deg=rot)
    yy, xx = np.mgrid[:128, :128]
    ang = np.rad2deg(np.arctan2(yy - 64, xx - 64))
    mid = ring.rotation_deg + rot + 30.0  # between vertices 0 and 1
    arc = (np.abs((ang - mid + 180) % 360 - 180) <= 45) & (np.hypot(yy - 64, xx - 64) > 10)
    beam = kin.render_pattern([], central=1.0)
    tilted = 0.97 * beam + 0.03 * (full * arc) / (full * arc).sum()  # 1.5 % per lit disk
    on_zone = 0.91 * beam + 0.09 * full / full.sum()  # 1.5 % per disk, all six
    kinds = np.zeros((4, 7), int)
    kinds[:, :3] = 1
    kinds[:, 6] = 2
    grid = np.empty((4, 7, 128, 128), np.float32)
    for iy, ix in np.ndindex(kinds.shape):
        img = (beam, tilted, on_zone)[kinds[iy, ix]]
        grid[iy, ix] = rng.poisson(img * 3000.0)

    def run(g, **kw):
        res = identify_phases(g.reshape(-1, 128, 128), calibration, model)
        new = label_sparse_patterns(
            g, res.labels, res.confidence, res.centers_yx, calibration, model, MatchedParams(**kw)
        )[0]
        return res.labels, new

    truth = kinds.ravel()
    spots, new = run(grid)
    assert np.all(spots[truth == 2] == 1)  # the spot finder sees the on-zone grain ...
    assert (spots[truth == 1] == 1).mean() < 0.5  # ... and misses the tilted one
    assert (new[truth == 1] == 1).mean() >= 0.9
    assert np.all(new[truth == 0] == 0)
    assert np.all(run(grid, bright_own_only=False)[1] == spots)
    spots, new = run(grid[:, :6])  # no lattice the spot finder sees in the grid
    assert not spots.any() and not new.any()


def test_a_faint_grain_shows_in_the_wide_neighbourhood_and_o3_and_vacuum_do_not(
    kin, model, calibration
):
    """At 30 counts per pattern an O1 grain's marker hexagon stands under the 3 x 3 tests in
    most positions; the tent-weighted 5 x 5 route (``wide_*``) finds more of the grain, gives
    vacuum beside it nothing the 3 x 3 route does not, and never calls an O3 grain O1."""
    off = MatchedParams(wide_pooled_z=float("inf"))
    on_o1 = off_o1 = vacuum_on = vacuum_off = o3_as_o1 = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        kinds = np.zeros((8, 9), int)
        kinds[:, :6] = 2
        grid = np.empty(kinds.shape + (128, 128), np.float32)
        for iy, ix in np.ndindex(kinds.shape):
            img = kin.make_pattern(model, int(kinds[iy, ix]), rng, dose=None, rotation_deg=21.0)
            grid[iy, ix] = rng.poisson(img / img.sum() * 30.0 + 0.02)
        n = kinds.size
        cen = np.tile(calibration.center_yx, (n, 1))
        none = np.zeros(n, np.uint8)
        on, _, _ = label_sparse_patterns(grid, none, np.zeros(n), cen, calibration, model)
        old, _, _ = label_sparse_patterns(grid, none, np.zeros(n), cen, calibration, model, off)
        truth = kinds.ravel()
        assert np.all((on == 2) | (old != 2))  # the route only adds second-phase calls
        on_o1 += int((on[truth == 2] == 2).sum())
        off_o1 += int((old[truth == 2] == 2).sum())
        vacuum_on += int((on[truth == 0] != 0).sum())
        vacuum_off += int((old[truth == 0] != 0).sum())
        o3 = grid.copy()
        for iy, ix in np.ndindex(kinds.shape):
            img = kin.make_pattern(
                model, 1 if kinds[iy, ix] else 0, rng, dose=None, rotation_deg=21.0
            )
            o3[iy, ix] = rng.poisson(img / img.sum() * 30.0 + 0.02)
        got, _, _ = label_sparse_patterns(o3, none, np.zeros(n), cen, calibration, model)
        o3_as_o1 += int((got == 2).sum())
    assert on_o1 >= off_o1 + 10, (on_o1, off_o1)
    assert vacuum_on <= vacuum_off + 1, (vacuum_on, vacuum_off)
    assert o3_as_o1 == 0
    for bad in ({"wide_pooled_z": 0.0}, {"wide_min_ratio": float("nan")}):
        with pytest.raises(InputError, match=next(iter(bad))):
            MatchedParams(**bad)


def test_none_patterns_enclosed_by_a_second_phase_domain_join_it_and_vacuum_does_not(
    kin, model, calibration
):
    """An O1 domain at 40 counts per pattern, its calls given; interior O1 patterns left
    ``none`` (the holes a faint marker leaves) join the domain, vacuum patterns inside it and
    the vacuum beside it stay ``none``, and a hole among O3+O1 calls takes both."""
    filled = holes = vacuum_filled = edge_filled = 0
    for seed in range(4):
        rng = np.random.default_rng(10 + seed)
        kinds = np.full((9, 10), 2)
        kinds[:, 8:] = 0  # vacuum beside the domain (at most 3 O1 neighbours each)
        vac_holes = [(2, 3), (6, 5)]
        for yx in vac_holes:
            kinds[yx] = 0
        grid = _scan(kin, model, rng, kinds, dose=40.0)
        grid += rng.poisson(0.02, grid.shape).astype(np.float32)
        labels = np.where(kinds == 2, 2, 0).astype(np.uint8)
        o1_holes = [(1, 1), (3, 6), (4, 2), (5, 4), (7, 7), (7, 2)]
        for yx in o1_holes:
            labels[yx] = 0
        n = kinds.size
        cen = np.tile(calibration.center_yx, (n, 1))
        out, conf, rel = second_phase_for_enclosed_patterns(
            grid, labels.ravel(), np.full(n, 0.6), cen, calibration, model
        )
        out = out.reshape(kinds.shape)
        filled += sum(int(out[yx] == 2) for yx in o1_holes)
        holes += len(o1_holes)
        vacuum_filled += sum(int(out[yx] != 0) for yx in vac_holes)
        edge_filled += int((out[:, 8:] != 0).sum())
        assert np.all(conf[rel] == 0.3) and np.all(labels.ravel()[rel] == 0)
        # the same hole among O3+O1 calls is given both
        mixed = np.where(labels == 2, 3, labels).astype(np.uint8)
        out_b, _, rel_b = second_phase_for_enclosed_patterns(
            grid, mixed.ravel(), np.full(n, 0.6), cen, calibration, model
        )
        assert np.all(out_b[rel_b] == 3) and rel_b.sum() == rel.sum()
    assert filled >= 0.75 * holes, (filled, holes)
    assert vacuum_filled <= 1 and edge_filled == 0, (vacuum_filled, edge_filled)
    # a pattern with fewer second-phase neighbours than asked is left alone
    sparse = np.zeros(kinds.shape, np.uint8)
    sparse[4, 3:6] = 2
    out, _, rel = second_phase_for_enclosed_patterns(
        grid, sparse.ravel(), np.zeros(n), cen, calibration, model
    )
    assert not rel.any()
    # a 3 x 3 cluster of holes: its corners see 5 O1 neighbours, its edge centres 3 (5 once
    # the corners are in: the second pass), its centre none until then
    rng = np.random.default_rng(5)
    kinds = np.full((9, 9), 2)
    grid = _scan(kin, model, rng, kinds, dose=60.0)
    labels = np.full((9, 9), 2, np.uint8)
    labels[3:6, 3:6] = 0
    cen = np.tile(calibration.center_yx, (81, 1))
    one, _, _ = second_phase_for_enclosed_patterns(
        grid, labels.ravel(), np.zeros(81), cen, calibration, model, EnclosedParams(passes=1)
    )
    two, _, _ = second_phase_for_enclosed_patterns(
        grid, labels.ravel(), np.zeros(81), cen, calibration, model, EnclosedParams(passes=2)
    )
    one, two = one.reshape(9, 9)[3:6, 3:6], two.reshape(9, 9)[3:6, 3:6]
    edges = [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert all(one[yx] == 0 for yx in edges + [(1, 1)])
    assert sum(two[yx] == 2 for yx in edges) >= 3 and two[1, 1] == 0
    bad_values = ({"min_neighbours": 0}, {"min_neighbours": 9}, {"min_fraction": float("nan")})
    for bad in bad_values + ({"passes": 0},):
        with pytest.raises(InputError, match=next(iter(bad))):
            EnclosedParams(**bad)
