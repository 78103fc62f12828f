"""The camera length from the sample's mean radial profile (known ring scales, faint lattices)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.phase.camera import camera_scale_from_profile
from stemtf.phase.identify import identify_phases
from stemtf.phase.learn import correct_camera_length


def _sample(kin, model, *, scale, dose, lattice, n=160, seed=3):
    """Faint lattices (``lattice`` of the counts; one pattern in four O1, the rest O3) at
    random rotations with their rings at ``scale`` times the radii the calibration predicts,
    on the transmitted beam and a flat background."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 128, 128), np.float32)
    for i in range(n):
        c = (64 + rng.normal(0, 1), 64 + rng.normal(0, 1))
        rot = rng.uniform(0, 60)
        img = 0.8 * kin.render_pattern([], center_yx=c) + (0.2 - lattice) / 128**2
        if lattice:
            rings = kin.phase_rings(model, 1 if i % 4 == 3 else 0)
            lat = kin.render_pattern(rings, rotation_deg=rot, scale=scale, center_yx=c, central=0)
            img = img + lattice * lat
        out[i] = rng.poisson(img * dose)
    return out


def _o3_radius(model):
    return [r for r in model.rings if r.phase == 0 and not r.marker][0].radius_invA


@pytest.mark.parametrize("scale", [1.0, 1.05, 0.95])
def test_profile_scale_matches_the_rendered_ring_scale(kin, model, calibration, scale):
    dps = _sample(kin, model, scale=scale, dose=100, lattice=0.05)
    res = identify_phases(dps, calibration, model)
    found = camera_scale_from_profile(dps, res.centers_yx, calibration, _o3_radius(model))
    assert found.significant() and found.patterns == dps.shape[0]
    # a quarter of the patterns are O1, whose {110} lies 1.8 % further out (up to +0.5 %);
    # at ~17 sigma the ring's position scatters by ~0.5 % (seeds 0-5: -0.1 ... +1.2 %)
    assert -0.005 <= found.scale / scale - 1 <= 0.015


def test_no_lattice_is_no_ring(kin, model, calibration):
    dps = _sample(kin, model, scale=1.0, dose=300, lattice=0.0)
    res = identify_phases(dps, calibration, model)
    found = camera_scale_from_profile(dps, res.centers_yx, calibration, _o3_radius(model))
    assert not found.significant()
    cal, m = correct_camera_length(dps, calibration, model)
    assert cal == calibration and m.warnings == model.warnings


def test_faint_scan_with_a_wrong_pixel_size_is_corrected_and_says_so(kin, model, calibration):
    dps = _sample(kin, model, scale=1.05, dose=100, lattice=0.05)
    res = identify_phases(dps, calibration, model)
    assert not model.refine(res.hexagons).radii_learned  # too faint for the hexagon route
    cal, m = correct_camera_length(dps, calibration, model)
    q_true = calibration.q_sampling_invA / 1.05
    assert abs(cal.q_sampling_invA / q_true - 1) < 0.01
    assert cal.center_yx == calibration.center_yx
    assert len(m.warnings) == len(model.warnings) + 1
    assert "q_sampling_invA=0.0125" in m.warnings[-1] and "analysed with" in m.warnings[-1]
    assert "mean radial profile" in m.history[-1]
    # the right pixel size is left alone
    dps = _sample(kin, model, scale=1.0, dose=100, lattice=0.05)
    cal, m = correct_camera_length(dps, calibration, model)
    assert cal == calibration and m.warnings == model.warnings


def test_bright_scan_leaves_the_camera_length_to_the_hexagons(kin, model, calibration):
    dps = _sample(kin, model, scale=1.05, dose=2000, lattice=0.1, n=64)
    res = identify_phases(dps, calibration, model)
    assert model.refine(res.hexagons).radii_learned
    cal, m = correct_camera_length(dps, calibration, model)
    assert cal == calibration and m is model


def _foreign(kin, model, *, scale, dose, n=96, seed=5):
    """A bright four-fold crystal (not NMC811) whose first ring lies at ``scale`` times the
    O3 {110} radius: a ring in the mean radial profile, but no hexagon."""
    rng = np.random.default_rng(seed)
    r_px = scale * _o3_radius(model) / 0.0125  # the fixtures' q-sampling [1/Å per px]
    yy, xx = np.mgrid[:128, :128]
    out = np.empty((n, 128, 128), np.float32)
    for i in range(n):
        cy, cx = 64 + rng.normal(0, 1), 64 + rng.normal(0, 1)
        img = 0.8 * kin.render_pattern([], center_yx=(cy, cx)) + 0.05 / 128**2
        lat = np.zeros((128, 128))
        rot = rng.uniform(0, 90)
        for k in range(4):
            a = np.deg2rad(rot + 90 * k)
            d = np.hypot(yy - cy - r_px * np.sin(a), xx - cx - r_px * np.cos(a))
            lat += np.clip(3.7 - d, 0, 1)
        out[i] = rng.poisson((img + 0.15 * lat / lat.sum()) * dose)
    return out


def test_a_foreign_crystals_ring_does_not_change_the_camera_length(kin, model, calibration):
    # bright: the phases' hexagons would show at the corrected pixel size; none does
    dps = _foreign(kin, model, scale=0.94, dose=3000)
    res = identify_phases(dps, calibration, model)
    found = camera_scale_from_profile(dps, res.centers_yx, calibration, _o3_radius(model))
    assert found.significant() and abs(found.scale - 0.94) < 0.01  # the ring is there
    cal, m = correct_camera_length(dps, calibration, model)
    assert cal == calibration and m.warnings == model.warnings
    assert "no hexagon of the phases" in m.history[-1]
    # faint (below CONFIRM_MIN_COUNTS): the profile alone decides, as before
    dps = _sample(kin, model, scale=1.05, dose=100, lattice=0.05)
    assert correct_camera_length(dps, calibration, model)[0] != calibration
