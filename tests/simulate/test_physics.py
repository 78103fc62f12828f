"""Physical correctness of simulated patterns against pymatgen's lattices (known truth)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.materials import get


def _ring(sp, radius, rel=0.01):
    return sp[np.abs(sp[:, 0] - radius) < rel * radius]


@pytest.mark.parametrize(
    ("mid", "hkl_first"), [("ase-bulk-Si-diamond", (2, 2, 0)), ("nmc811-o3", (1, 1, 0))]
)
def test_spot_radii_equal_inverse_d_spacing(simulated, spots, tiny_config, mid, hkl_first):
    patterns, table = simulated(mid)
    lattice = get(mid).structure.lattice
    sp = spots(patterns[-1], tiny_config.q_sampling_invA)
    sp = sp[sp[:, 0] > 0.05]  # not the direct beam
    assert len(sp) >= 6
    # the innermost spots are the first allowed ring, at 1/d_hkl within 0.5 %
    first = sp[sp[:, 0] < sp[:, 0].min() * 1.05]
    expected = 1.0 / lattice.d_hkl(hkl_first)
    assert len(first) == 6 if mid.startswith("nmc") else len(first) == 4
    np.testing.assert_allclose(first[:, 0], expected, rtol=0.005)
    # every spot on the detector sits at 1/d of some zero-order Laue zone reflection [uvw].hkl = 0
    rng = range(-6, 7)
    inv_d = np.array(
        sorted({1.0 / lattice.d_hkl((h, k, 0)) for h in rng for k in rng if (h, k) != (0, 0)})
    )
    nearest = np.min(np.abs(sp[:, 0][:, None] - inv_d[None, :]) / inv_d[None, :], axis=1)
    assert nearest.max() < 0.005


def test_si_001_has_fourfold_220_at_45_degrees(simulated, spots, tiny_config):
    patterns, _ = simulated("ase-bulk-Si-diamond")
    sp = spots(patterns[-1], tiny_config.q_sampling_invA)
    inner = sp[(sp[:, 0] > 0.05) & (sp[:, 0] < 0.6)]
    angles = np.sort(np.mod(inner[:, 1] - inner[0, 1], 360))
    np.testing.assert_allclose(np.diff(angles), 90.0, atol=0.5)
    # {200} is forbidden in diamond: nothing at 1/d_200
    assert len(_ring(sp, 1 / get("ase-bulk-Si-diamond").structure.lattice.d_hkl((2, 0, 0)))) == 0


def _ring_sums(dp, lattice, q):
    yy, xx = np.mgrid[: dp.shape[0], : dp.shape[1]]
    rad = np.hypot(yy - dp.shape[0] // 2, xx - dp.shape[1] // 2) * q
    r100, r110 = 1 / lattice.d_hkl((1, 0, 0)), 1 / lattice.d_hkl((1, 1, 0))
    return dp[np.abs(rad - r100) < 0.05].sum(), dp[np.abs(rad - r110) < 0.05].sum()


def test_o3_001_has_no_100_spots(simulated, tiny_config):
    """R-3m: -h+k+l = 3n, so every {100} of the zero-order Laue zone is extinct.

    A crystal of a whole number of c periods shows (almost) nothing there; other thicknesses
    keep only the weak tails of the (1 0 1)-type relrods of the truncated crystal (a real 3D
    effect of multislice, about 1 % of {110}). Ordered LiNiO2 and the random NMC811 alloy agree.
    """
    from dataclasses import replace

    from stemtf.simulate import simulate_patterns

    o3 = get("nmc811-o3")
    c = o3.structure.lattice.c
    whole = replace(tiny_config, thicknesses_A=(2 * c, 4 * c), slice_thickness_A=c / 7)
    patterns, _ = simulate_patterns(o3, (0, 0, 1), whole)
    for dp in patterns:
        r100, r110 = _ring_sums(dp, o3.structure.lattice, tiny_config.q_sampling_invA)
        assert r110 > 0.005 and r100 < 5e-4 * r110
    patterns, _ = simulated("nmc811-o3")
    for dp in patterns:
        r100, r110 = _ring_sums(dp, o3.structure.lattice, tiny_config.q_sampling_invA)
        assert r110 > 0.005 and r100 < 2e-2 * r110


def test_o1_001_inner_hexagon_at_0577_rotated_30_degrees(simulated, spots, tiny_config):
    patterns, _ = simulated("nmc811-o1")
    sp = spots(patterns[-1], tiny_config.q_sampling_invA)
    sp = sp[sp[:, 0] > 0.05]
    inner = sp[sp[:, 0] < 0.5]
    lattice = get("nmc811-o1").structure.lattice
    r110 = 1 / lattice.d_hkl((1, 1, 0))
    outer = _ring(sp, r110)
    assert len(inner) == 6 and len(outer) == 6
    np.testing.assert_allclose(inner[:, 0].mean() / outer[:, 0].mean(), 1 / np.sqrt(3), rtol=0.005)
    # rotated by 30 degrees: angles modulo 60 differ by 30
    inner_mod = np.mod(inner[:, 1], 60)
    outer_mod = np.mod(outer[:, 1], 60)
    d = np.abs(np.mod(inner_mod[:, None] - outer_mod[None, :] + 30, 60) - 30)
    np.testing.assert_allclose(d, 30.0, atol=1.0)


def test_disk_radius_is_alpha_over_lambda(simulated, tiny_config):
    patterns, _ = simulated("nmc811-o3")
    dp = patterns[0]
    h = dp.shape[0]
    centre = dp[h // 2 - 8 : h // 2 + 9, h // 2 - 8 : h // 2 + 9]
    area_px = (centre > 0).sum() - 0.5 * ((centre > 0) & (centre < centre.max() * 0.99)).sum()
    r_px = np.sqrt(area_px / np.pi)
    assert tiny_config.wavelength_A == pytest.approx(0.02508, abs=1e-5)
    assert r_px == pytest.approx(
        tiny_config.disk_radius_invA / tiny_config.q_sampling_invA, rel=0.1
    )


def test_normalised_float32_nonnegative(simulated):
    patterns, table = simulated("nmc811-o3")
    assert patterns.dtype == np.float32 and patterns.shape == (2, 128, 128)
    np.testing.assert_allclose(patterns.sum(axis=(1, 2), dtype=np.float64), 1.0, rtol=1e-5)
    assert patterns.min() >= 0
    assert table["thickness_A"] == pytest.approx([20.0, 60.0], abs=1.5)
    from stemtf.shards import TABLE_COLUMNS

    assert set(table) == set(TABLE_COLUMNS) and {len(v) for v in table.values()} == {2}


def test_seed_determinism_and_seeded_alloy(simulated, tiny_config):
    from stemtf.simulate import simulate_patterns

    a, _ = simulated("nmc811-o3", seed=3)
    b, _ = simulate_patterns(get("nmc811-o3"), (0, 0, 1), tiny_config, seed=3)
    np.testing.assert_array_equal(a, b)
    c, _ = simulated("nmc811-o3", seed=4)
    assert not np.array_equal(a, c)  # another random Ni/Mn/Co arrangement
    np.testing.assert_allclose(a, c, atol=2e-3)  # ... with nearly the same pattern


def test_rotation_turns_the_pattern(tiny_config, spots):
    from stemtf.simulate import simulate_patterns

    p0, _ = simulate_patterns(get("nmc811-o1"), (0, 0, 1), tiny_config)
    p1, t1 = simulate_patterns(get("nmc811-o1"), (0, 0, 1), tiny_config, rotation_deg=17.0)
    a0 = spots(p0[0], tiny_config.q_sampling_invA)
    a1 = spots(p1[0], tiny_config.q_sampling_invA)
    r0 = a0[(a0[:, 0] > 0.3) & (a0[:, 0] < 0.5)]
    r1 = a1[(a1[:, 0] > 0.3) & (a1[:, 0] < 0.5)]
    d = np.mod(r1[:, 1][:, None] - r0[:, 1][None, :], 60)
    assert np.min(np.abs(d - 17.0)) < 0.5
    assert t1["rotation_deg"] == [17.0, 17.0]


def test_frozen_phonons_and_tilt(tiny_config, spots):
    """Frozen phonons change intensities reproducibly per seed; a tilt breaks Friedel symmetry, not positions."""
    from dataclasses import replace

    from stemtf.simulate import simulate_patterns

    si = get("ase-bulk-Si-diamond")
    base = replace(tiny_config, thicknesses_A=(60.0,))
    static, _ = simulate_patterns(si, (0, 0, 1), base)
    fp = replace(base, frozen_phonons=2, phonon_sigma_A=0.1)
    a, _ = simulate_patterns(si, (0, 0, 1), fp, seed=5)
    b, _ = simulate_patterns(si, (0, 0, 1), fp, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, static)
    assert a.sum() == pytest.approx(1.0, rel=1e-5)
    tilted, t = simulate_patterns(si, (0, 0, 1), replace(base, tilt_mrad=(4.0, 0.0)))
    assert t["tilt_mrad"] == [[4.0, 0.0]]
    s0 = spots(static[0], base.q_sampling_invA)
    s1 = spots(tilted[0], base.q_sampling_invA)
    strong0 = s0[s0[:, 3] > s0[:, 3].max() * 0.01]
    for r, ang, *_ in strong0:
        d = np.hypot(
            s1[:, 0] * np.cos(np.radians(s1[:, 1])) - r * np.cos(np.radians(ang)),
            s1[:, 0] * np.sin(np.radians(s1[:, 1])) - r * np.sin(np.radians(ang)),
        )
        assert d.min() < 0.2 * base.q_sampling_invA  # same exact positions
    # Friedel pair (+g, -g) along the tilt: equal without tilt, unequal with it
    q = base.q_sampling_invA
    h = static.shape[1] // 2
    g = 1 / si.structure.lattice.d_hkl((2, 2, 0))
    off = int(round(g / np.sqrt(2) / q))
    pair = [(h + off, h + off), (h - off, h - off)]
    i0 = [static[0][y - 1 : y + 2, x - 1 : x + 2].sum() for y, x in pair]
    i1 = [tilted[0][y - 1 : y + 2, x - 1 : x + 2].sum() for y, x in pair]
    assert i0[0] == pytest.approx(i0[1], rel=1e-3)
    assert abs(i1[0] - i1[1]) > 0.05 * max(i1)
