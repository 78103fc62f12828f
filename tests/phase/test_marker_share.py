"""The marker share check: O1/both calls need a marker share O3 alone cannot give."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import identify_phases
from stemtf.phase.marker_share import MarkerShareParams, check_marker_share, marker_share


def _disk(yy, xx, y, x):
    one = np.clip(3.7 - np.hypot(yy - y, xx - x), 0, 1)
    return one / one.sum()


def _lattice_patterns(model, calibration, shares, lattice_counts, rng, bg=0.2, rotation=21.0):
    """Patterns (shares.shape + (128, 128)): a central disk and the {110} hexagon holding
    ``lattice_counts`` (80 % / 20 %), the marker hexagon ``share`` times that, on ``bg``
    counts/px of diffuse background; Poisson counts."""
    marker = [r for r in model.rings if r.marker][0]
    shared = [r for r in model.rings if not r.marker and r.phase == 0][0]
    yy, xx = np.mgrid[:128, :128]
    cy, cx = calibration.center_yx
    beam = _disk(yy, xx, cy, cx)

    def hexagon(ring):
        r = ring.radius_invA / calibration.q_sampling_invA
        out = np.zeros((128, 128))
        for k in range(6):
            a = np.deg2rad(ring.rotation_deg + rotation + 60 * k)
            out += _disk(yy, xx, cy + r * np.sin(a), cx + r * np.cos(a)) / 6
        return out

    lat = 0.8 * beam + 0.2 * hexagon(shared)
    mk = hexagon(marker)
    out = np.empty(shares.shape + (128, 128), np.float32)
    for i in np.ndindex(shares.shape):
        img = lattice_counts * (lat + shares[i] * mk) + bg
        out[i] = rng.poisson(img)
    return out


def test_a_weak_marker_share_is_o3_and_a_real_o1_share_stays(kin, model, calibration):
    """Left half: O3 whose marker disks hold 0.5 % of its lattice's counts (thick O3's own
    reflections); right half: 8 % (a column with O1). Every pattern called both at 10^4
    counts: the left half returns to O3, the right half stays; pure O1 calls with the weak
    share go to O3 too; O3 and none calls are never changed."""
    rng = np.random.default_rng(3)
    shares = np.full((6, 6), 0.005)
    shares[:, 3:] = 0.08
    grid = _lattice_patterns(model, calibration, shares, 10000.0, rng)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    has_lattice = np.isin(np.arange(36), res.hexagons["dp_index"])
    assert has_lattice.mean() > 0.9
    left = (np.arange(36) % 6) < 3

    # the photometry itself: the share within a few tenths of a percent of the truth
    rot = np.full(36, np.nan)
    shared = [r for r in model.rings if not r.marker and r.phase == 0][0]
    rot[:] = (shared.rotation_deg + 21.0) % 60.0
    ph = marker_share(grid.reshape(-1, 128, 128), res.centers_yx, rot, calibration, model)
    share = ph.marker / (ph.beam + ph.lattice)
    assert np.all(np.abs(share[left] - 0.005) < 0.003)
    assert np.all(np.abs(share[~left] - 0.08) < 0.01)

    for call in (3, 2, 0, 1):
        out, conf, changed = check_marker_share(
            grid,
            np.full(36, call, np.uint8),
            np.ones(36),
            res.hexagons,
            res.centers_yx,
            calibration,
            model,
        )
        if call in (0, 1):  # never adds a second-phase call, never touches O3 / none
            assert not changed.any() and np.all(out == call)
            continue
        assert np.all(out[left & has_lattice] == 1)
        assert np.all(out[~left] == call)
        assert np.all(conf[changed] == 0.5) and not changed[~left].any()


def test_at_low_dose_a_real_o1_share_stays_and_only_a_resolved_weak_one_goes(
    kin, model, calibration
):
    """300 counts per pattern: the 8 % share is kept; the 0.4 % share returns to O3 on a clean
    pattern (the pooled photometry resolves it) but stands on a background of 1 count/px (55 times
    the lattice's counts: the share's standard error then exceeds half the threshold)."""
    rng = np.random.default_rng(4)
    # the lattices (hexagons, beam centres) as the spot finder sees them at 10^4 counts; the
    # same geometry at 300 counts is what is checked
    bright = _lattice_patterns(model, calibration, np.full((6, 6), 0.004), 10000.0, rng)
    res = identify_phases(bright.reshape(-1, 128, 128), calibration, model)
    has_lattice = np.isin(np.arange(36), res.hexagons["dp_index"])
    assert has_lattice.all()
    for share, bg, expect in ((0.08, 0.02, 3), (0.004, 0.01, 1), (0.004, 1.0, 3)):
        grid = _lattice_patterns(model, calibration, np.full((6, 6), share), 300.0, rng, bg=bg)
        out, _, _ = check_marker_share(
            grid,
            np.full(36, 3, np.uint8),
            np.ones(36),
            res.hexagons,
            res.centers_yx,
            calibration,
            model,
        )
        # corners and edges pool fewer neighbours: the interior must be decided as expected
        inner = np.zeros((6, 6), bool)
        inner[1:-1, 1:-1] = True
        assert np.all(out[has_lattice & inner.ravel()] == expect), (share, bg, out)
        assert np.mean(out[has_lattice] == expect) >= 0.8


def test_a_pattern_without_a_hexagon_is_measured_at_its_neighbours_rotation(
    kin, model, calibration
):
    """A both call with no hexagon of its own inside weak-share O3: measured at the nearest
    hexagon's rotation and returned to O3; with no hexagon within reach it is left alone."""
    rng = np.random.default_rng(5)
    grid = _lattice_patterns(model, calibration, np.full((5, 5), 0.004), 10000.0, rng)
    res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
    assert np.isin(np.arange(25), res.hexagons["dp_index"]).all()
    hx = res.hexagons[res.hexagons["dp_index"] != 12]
    lone = np.zeros(25, np.uint8)
    lone[12] = 3
    for labels in (np.full(25, 3, np.uint8), lone):
        out, _, changed = check_marker_share(
            grid, labels, np.ones(25), hx, res.centers_yx, calibration, model
        )
        assert changed[12] and out[12] == 1
    # no hexagon anywhere and no lattice in the counts: nothing fixes the marker's positions
    empty = rng.poisson(np.full((5, 5, 128, 128), 0.2)).astype(np.float32)
    out, _, changed = check_marker_share(
        empty, lone, np.ones(25), hx[:0], res.centers_yx, calibration, model
    )
    assert not changed.any() and out[12] == 3


def test_a_pattern_far_from_any_hexagon_is_measured_at_its_neighbourhoods_ring_rotation(
    kin, model, calibration
):
    """No hexagon within reach: the rotation comes from the 3 x 3 neighbourhood's {110} ring
    counts (the matched filter's rotation scan), so a weak-share call still returns to O3,
    and a real O1 share is still kept."""
    rng = np.random.default_rng(6)
    lone = np.zeros(25, np.uint8)
    lone[12] = 3
    for share, expect in ((0.004, 1), (0.08, 3)):
        grid = _lattice_patterns(model, calibration, np.full((5, 5), share), 10000.0, rng)
        res = identify_phases(grid.reshape(-1, 128, 128), calibration, model)
        out, _, _ = check_marker_share(
            grid,
            lone,
            np.ones(25),
            res.hexagons[:0],
            res.centers_yx,
            calibration,
            model,
            MarkerShareParams(reach=1),
        )
        assert out[12] == expect


@pytest.mark.parametrize(
    "kw",
    [
        {"min_share": 0.0},
        {"min_share": 1.5},
        {"z_below": float("nan")},
        {"own_precision": "a"},
        {"reach": -1},
        {"reach": 1.5},
    ],
)
def test_bad_parameters(kw):
    with pytest.raises(InputError):
        MarkerShareParams(**kw)
