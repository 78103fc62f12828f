"""Scan context: sparse patterns of a grain take the lattice their neighbourhood shows, vacuum
beside the grain does not."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import identify_phases
from stemtf.phase.context import label_from_neighbours


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
