"""Scan-fixed detector response and the amorphous-carbon background, against known truth."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.noise import NoiseConfig, apply_with_params, draw_params
from stemtf.noise.background import amorphous_carbon_shape, radial_k_invA
from stemtf.noise.detector import fixed_defects


def test_given_gain_map_multiplies_the_expected_counts():
    n = 32
    clean = np.full((n, n), 1.0 / n**2)
    gain = np.linspace(0.9, 1.1, n * n).reshape(n, n)
    params = draw_params(NoiseConfig.clean_only(dose_range_e=(1e4, 1e4)), np.random.default_rng(0))
    r = apply_with_params(clean, params, np.random.default_rng(1), q_sampling_invA=0.02, gain=gain)
    np.testing.assert_allclose(r.noisy, 1e4 / n**2 * gain, rtol=1e-5)
    np.testing.assert_allclose(r.target, 1e4 / n**2, rtol=1e-5)  # the target has no gain
    with pytest.raises(InputError, match="gain map"):
        apply_with_params(
            clean, params, np.random.default_rng(1), q_sampling_invA=0.02, gain=gain[:-1]
        )


def test_fixed_defects_counts_and_lines():
    dead, hot = fixed_defects(
        (64, 48), np.random.default_rng(2), dead_rows=2, dead_cols=1, hot_fraction=1e-2
    )
    assert np.sum(np.all(dead, axis=1)) == 2 and np.sum(np.all(dead, axis=0)) == 1
    assert hot.sum() == round(1e-2 * 64 * 48) and not np.any(hot & dead)
    rows = np.flatnonzero(np.all(dead, axis=1))
    assert rows.min() >= 4 and rows.max() < 60  # lines cross the pattern, not its rim


def test_carbon_rings_peak_at_0p47_and_0p85():
    k = radial_k_invA((201, 201), (100, 100), 0.01)
    img = amorphous_carbon_shape(k)
    assert img.sum() == pytest.approx(1.0)
    profile = img[100, 100:]  # along a radius, k = 0 .. 1.0 1/Å
    ks = np.arange(101) * 0.01
    inner = ks[np.argmax(np.where(ks < 0.65, profile, 0))]
    outer = ks[np.argmax(np.where(ks > 0.65, profile, 0))]
    assert inner == pytest.approx(0.47, abs=0.011) and outer == pytest.approx(0.85, abs=0.011)
