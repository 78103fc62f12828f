"""Beam centres weighed against the scan: a descan plane recovered from a few counts per
pattern, a jitter the counts resolve kept, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase.center import scan_smoothed_centers
from stemtf.phase.spots import SpotTable, aperture_centroids

DISK_PX = 5.0
SHAPE = (12, 14)


def _scan(rng, counts: float, jitter_px: float, background: float = 0.02):
    """(Ry, Rx, 72, 72) patterns of one transmitted disk on a flat background, and the true
    centres: a descan plane (4 px across the scan) plus Gaussian jitter."""
    ry, rx = SHAPE
    iy, ix = np.mgrid[:ry, :rx]
    true = np.stack([34.3 + 0.3 * iy - 0.1 * ix, 37.6 - 0.05 * iy + 0.2 * ix], axis=-1)
    true = true + rng.normal(0.0, jitter_px, true.shape)
    yy, xx = np.mgrid[:72, :72]
    grid = np.empty((ry, rx, 72, 72), np.float32)
    for y, x in np.ndindex(ry, rx):
        inside = np.hypot(yy - true[y, x, 0], xx - true[y, x, 1]) <= DISK_PX
        img = inside / inside.sum() * counts + background
        grid[y, x] = rng.poisson(img)
    return grid, true.reshape(-1, 2)


def _own_centroids(grid, start):
    n = start.shape[0]
    z = np.zeros(n)
    t = SpotTable(np.arange(n), start[:, 0], start[:, 1], z, z)
    f = aperture_centroids(grid.reshape((n,) + grid.shape[2:]), t, DISK_PX, iterations=2)
    return np.stack([f.y, f.x], axis=1)


def test_a_descan_plane_is_recovered_from_a_few_counts_per_pattern():
    rng = np.random.default_rng(0)
    grid, true = _scan(rng, counts=15.0, jitter_px=0.0)
    # the identification's centres: off by up to 2 px each
    start = true + rng.uniform(-2.0, 2.0, true.shape)
    own = _own_centroids(grid, start)
    smooth = scan_smoothed_centers(grid, start, DISK_PX)
    err_own = np.median(np.hypot(*(own - true).T))
    err_smooth = np.median(np.hypot(*(smooth - true).T))
    # 15 counts in a 5 px disk: a centroid alone is good to ~0.9 px; 48 neighbours to ~0.2 px
    assert err_own > 0.5
    assert err_smooth < 0.3
    assert err_smooth < 0.4 * err_own
    # the scan's edges and corners too (the local fit is a plane, not a mean)
    edge = np.zeros(SHAPE, bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    assert np.median(np.hypot(*(smooth - true)[edge.ravel()].T)) < 0.4


def test_a_jitter_the_counts_resolve_is_kept():
    rng = np.random.default_rng(1)
    grid, true = _scan(rng, counts=3000.0, jitter_px=0.6)
    start = np.rint(true)
    smooth = scan_smoothed_centers(grid, start, DISK_PX)
    # each pattern measures its own centre to ~0.05 px: the 0.6 px jitter is not averaged away
    assert np.median(np.hypot(*(smooth - true).T)) < 0.12


def test_empty_patterns_take_their_neighbours_centre():
    rng = np.random.default_rng(2)
    grid, true = _scan(rng, counts=200.0, jitter_px=0.0)
    grid[5, 6] = 0.0  # no counts at all: no centre of its own
    start = true.copy()
    start[5 * SHAPE[1] + 6] = (10.0, 60.0)
    smooth = scan_smoothed_centers(grid, start, DISK_PX)
    assert np.hypot(*(smooth[5 * SHAPE[1] + 6] - true[5 * SHAPE[1] + 6])) < 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"half_window": 0}, "half_window=0"),
        ({"min_jitter_px": 0.0}, "min_jitter_px=0.0"),
    ],
)
def test_bad_parameters_are_one_line_errors(kwargs, match):
    grid = np.zeros((3, 3, 16, 16), np.float32)
    with pytest.raises(InputError, match=match):
        scan_smoothed_centers(grid, np.full((9, 2), 8.0), 2.0, **kwargs)
    with pytest.raises(InputError, match="Ry, Rx, H, W"):
        scan_smoothed_centers(grid[0], np.full((3, 2), 8.0), 2.0)
