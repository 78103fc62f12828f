"""The truth-given matched-filter reference: known hexagons found, thresholds chosen right."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.evaluation.marker_reference import (
    best_threshold_f1,
    marker_reference,
    marker_statistics,
)


def test_best_threshold_f1_closed_form():
    stat = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    present = np.array([1, 1, 0, 1, 0], bool)
    f1, t = best_threshold_f1(stat, present)
    # cut after 2: tp 2, k 2 -> 0.8; after 4: tp 3, k 4 -> 6/7 (best)
    assert f1 == pytest.approx(6 / 7) and t == 2.0
    # a tie is never split: both 3.0 values go in or out together
    f1, t = best_threshold_f1(np.array([3.0, 3.0, 1.0]), np.array([1, 0, 0], bool))
    assert f1 == pytest.approx(2 / 3) and t == 3.0
    assert np.isnan(best_threshold_f1(stat, np.zeros(5, bool))[0])
    with pytest.raises(InputError):
        best_threshold_f1(stat, present[:3])


def _hexagon_scan(has, rng, counts_per_disk, size=96, radius=30.0, disk=3.0, shifts=None):
    """Poisson patterns; positions with ``has`` show a hexagon of disks at ``radius``."""
    ry, rx = has.shape
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((ry, rx, size, size), np.float32)
    shifts = np.zeros((ry, rx, 2)) if shifts is None else shifts
    for i in range(ry):
        for j in range(rx):
            cy, cx = size / 2 + shifts[i, j, 0], size / 2 + shifts[i, j, 1]
            lam = np.full((size, size), 0.05)
            lam += 200.0 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= disk**2) / (np.pi * disk**2)
            if has[i, j]:
                rot = np.radians(17.0)
                for k in range(6):
                    a = rot + k * np.pi / 3
                    m = (yy - cy - radius * np.sin(a)) ** 2 + (xx - cx - radius * np.cos(a)) ** 2
                    lam += counts_per_disk * (m <= disk**2) / (np.pi * disk**2)
            out[i, j] = rng.poisson(lam)
    return out


def test_bright_hexagons_are_found_where_they_are_and_nowhere_else():
    rng = np.random.default_rng(0)
    has = np.zeros((6, 6), bool)
    has[:, :3] = True
    shifts = rng.uniform(-3, 3, (6, 6, 2))
    g = _hexagon_scan(has, rng, 40.0, shifts=shifts)
    own, pooled = marker_statistics(g, shifts + 48.0, 30.0, 3.0)
    assert own[has].min() > own[~has].max()
    labels = np.where(has, 2, 1)
    q = 0.4095 / 30.0  # the marker ring at 30 px
    ref = marker_reference(g, labels, shifts, q, 3.0)
    assert ref.own_f1 == 1.0
    # pooling mixes the columns next to the boundary: never better than perfect, still high
    assert 0.8 <= ref.pooled_f1 <= 1.0


def test_pooling_finds_faint_hexagons_a_single_pattern_cannot():
    rng = np.random.default_rng(1)
    has = np.zeros((8, 8), bool)
    has[:, :4] = True
    g = _hexagon_scan(has, rng, 1.5)  # 1.5 counts per disk: ~9 counts on the ring
    own, pooled = marker_statistics(g, np.full((8, 8, 2), 48.0), 30.0, 3.0)
    f_own, _ = best_threshold_f1(own, has)
    f_pool, _ = best_threshold_f1(pooled, has)
    assert f_pool > f_own + 0.1
    # the wrong centre (half the ring off) loses the signal the true centre has
    _, pooled_wrong = marker_statistics(g, np.full((8, 8, 2), 40.0), 30.0, 3.0)
    assert best_threshold_f1(pooled_wrong, has)[0] < f_pool


def test_bad_shapes_are_refused():
    g = np.zeros((2, 2, 32, 32), np.float32)
    with pytest.raises(InputError, match="centers_yx"):
        marker_statistics(g, np.zeros((2, 2)), 10.0, 2.0)
    with pytest.raises(InputError, match="grid"):
        marker_statistics(g[0], np.zeros((2, 2, 2)), 10.0, 2.0)
    with pytest.raises(InputError, match="radius_px"):
        marker_statistics(g, np.zeros((2, 2, 2)), 0.0, 2.0)
