"""Hexagon RANSAC against synthetic lattices with known radius and rotation."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import SpotTable, find_hexagons_batch, ransac_hexagons
from stemtf.phase.lattice import fit_hexagons, hexagon_vertices, wrap60


def _lattice(rng, centre, radius, rotation, *, noise_px=0.15, n_outliers=6, drop=0):
    v = hexagon_vertices(centre, radius, rotation) + rng.normal(0, noise_px, (6, 2))
    v = v[drop:]
    out = rng.uniform(5, 123, (n_outliers, 2))
    pts = np.vstack([v, out])
    inten = np.r_[np.full(len(v), 10.0), rng.uniform(1, 5, n_outliers)]
    return np.column_stack([pts, inten])


def _rot_err(a, b):
    d = wrap60(a - b + 30.0) - 30.0
    return abs(d)


@pytest.mark.parametrize("seed", range(8))
def test_ransac_recovers_radius_and_rotation(seed):
    rng = np.random.default_rng(seed)
    centre = np.array([64.0, 64.0]) + rng.normal(0, 1, 2)
    radius, rot = rng.uniform(30, 58), rng.uniform(0, 60)
    pts = _lattice(rng, centre, radius, rot)
    hx = ransac_hexagons(
        pts, centre, rng=np.random.default_rng(seed), tolerance_px=2.0, min_matches=4
    )
    assert hx.size >= 1
    best = hx[0]
    assert abs(best["radius_px"] / radius - 1) < 0.005
    assert _rot_err(best["rotation_deg"], rot) < 1.0
    assert best["inliers"] == 6


def test_batched_search_matches_ransac_on_many_patterns():
    rng = np.random.default_rng(11)
    n = 40
    rows, truth = [], []
    centres = 64 + rng.normal(0, 1, (n, 2))
    for i in range(n):
        radius, rot = rng.uniform(30, 58), rng.uniform(0, 60)
        inner = hexagon_vertices(centres[i], radius / np.sqrt(3), rot + 30)
        pts = _lattice(rng, centres[i], radius, rot, drop=i % 3)
        pts = np.vstack([pts, np.column_stack([inner, np.full(6, 3.0)])])
        rows.append(pts)
        truth.append((radius, rot))
    dp = np.concatenate([np.full(len(p), i) for i, p in enumerate(rows)])
    allp = np.concatenate(rows)
    table = SpotTable(dp, allp[:, 0], allp[:, 1], allp[:, 2], allp[:, 2])
    fast = find_hexagons_batch(table, centres, tolerance_px=2.0, min_matches=3)
    for i, (radius, rot) in enumerate(truth):
        mine = fast[fast["dp_index"] == i]
        ref = ransac_hexagons(
            rows[i],
            centres[i],
            rng=np.random.default_rng(i),
            tolerance_px=2.0,
            min_matches=3,
            max_trials=500,
        )
        for hx in (mine, ref):
            big = hx[np.argmin(np.abs(hx["radius_px"] - radius))]
            small = hx[np.argmin(np.abs(hx["radius_px"] - radius / np.sqrt(3)))]
            assert abs(big["radius_px"] / radius - 1) < 0.005
            assert _rot_err(big["rotation_deg"], rot) < 1.0
            assert abs(small["radius_px"] * np.sqrt(3) / radius - 1) < 0.01
            assert _rot_err(small["rotation_deg"], rot + 30) < 1.5


def test_no_spots_no_hexagons():
    assert ransac_hexagons(np.empty((0, 3)), (10, 10), rng=0).size == 0
    table = SpotTable(*(np.empty(0) for _ in range(5)))
    out = find_hexagons_batch(table, np.zeros((3, 2)))
    assert out.size == 0


def test_random_spots_rarely_make_hexagons():
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.uniform(0, 128, (12, 2)), np.ones(12)])
    hx = ransac_hexagons(pts, (64, 64), rng=rng, tolerance_px=1.5, min_matches=4)
    assert hx.size == 0


def test_lattice_fit_is_exact_on_exact_points():
    verts = hexagon_vertices(np.array([30.5, 40.25]), 21.0, 12.5)
    fit = fit_hexagons(np.zeros(6, int), verts[:, 0], verts[:, 1], np.arange(6), 1)
    assert abs(fit["radius_px"][0] - 21.0) < 1e-9
    assert abs(fit["rotation_deg"][0] - 12.5) < 1e-9
    assert abs(fit["center_y"][0] - 30.5) < 1e-9 and abs(fit["center_x"][0] - 40.25) < 1e-9


def test_bad_parameters():
    with pytest.raises(InputError):
        ransac_hexagons(np.zeros((3, 3)), (0, 0), tolerance_px=0)
    with pytest.raises(InputError):
        ransac_hexagons(np.zeros((3, 3)), (0, 0), min_matches=7)
