"""Beam centre from the transmitted disk's counts, dead pixels, ellipticity from Friedel pairs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stemtf.phase import Calibration, PhaseModel, calibrate
from stemtf.phase.center import beam_centers, refine_beam_centers
from stemtf.phase.dog import fill_dead_pixels, suppress_hot_pixels
from stemtf.phase.learn import refine_ellipticity

DISK_PX = 7.7  # 256 px detector at 0.0078 1/Å/px, 1.5 mrad


def _beam_patterns(rng, n, counts, *, shape=(96, 96), background=0.02):
    """Transmitted disks of ``counts`` at random sub-pixel centres, Poisson noise."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    truth = np.column_stack([rng.uniform(40, 56, n), rng.uniform(40, 56, n)])
    out = np.empty((n, h, w), np.float32)
    for i, (cy, cx) in enumerate(truth):
        disk = np.clip(DISK_PX + 0.5 - np.hypot(yy - cy, xx - cx), 0.0, 1.0)
        out[i] = rng.poisson(counts * disk / disk.sum() + background)
    return out, truth


def test_transmitted_disk_counts_locate_the_beam_better_than_the_dog_peak():
    rng = np.random.default_rng(0)
    dps, truth = _beam_patterns(rng, 64, 2000.0)
    dps = suppress_hot_pixels(dps)
    dog, _ = beam_centers(dps, sigma_px=0.6 * DISK_PX)
    refined = refine_beam_centers(dps, dog, DISK_PX)
    err_dog = np.sqrt(np.mean((dog - truth) ** 2))
    err = np.sqrt(np.mean((refined - truth) ** 2))
    # shot-noise limit of a centroid: R / 2 / sqrt(N) ~ 0.09 px per axis
    assert err < 0.15
    assert err < 0.5 * err_dog
    # an empty pattern keeps its centre
    empty = np.zeros((1, 96, 96), np.float32)
    assert np.allclose(refine_beam_centers(empty, [[47.0, 48.0]], DISK_PX), [[47.0, 48.0]])


def test_a_dead_column_through_the_beam_is_filled_before_the_centre_is_measured():
    rng = np.random.default_rng(1)
    dps, truth = _beam_patterns(rng, 64, 2000.0)
    dead_col = 48  # crosses most of the disks
    dps[:, :, dead_col] = 0.0
    dim = (5, 5)  # a live pixel far from the disk that happens to read 0 in every pattern
    dps[:, dim[0], dim[1]] = 0.0
    filled = fill_dead_pixels(suppress_hot_pixels(dps))
    start, _ = beam_centers(filled, sigma_px=0.6 * DISK_PX)
    err_filled = np.abs(refine_beam_centers(filled, start, DISK_PX) - truth)[:, 1]
    err_dead = np.abs(refine_beam_centers(suppress_hot_pixels(dps), start, DISK_PX) - truth)[:, 1]
    assert np.sqrt(np.mean(err_filled**2)) < 0.15
    assert np.sqrt(np.mean(err_dead**2)) > 1.5 * np.sqrt(np.mean(err_filled**2))
    # the column holds its neighbours' counts now; the dim pixel (neighbours ~1 count in the
    # whole batch) is not taken for dead
    assert filled[:, :, dead_col].sum() > 0.5 * dps[:, :, dead_col - 1].sum()
    assert np.all(filled[:, dim[0], dim[1]] == 0)
    # nothing dead: the data come back unchanged
    clean, _ = _beam_patterns(rng, 8, 2000.0)
    assert np.array_equal(fill_dead_pixels(clean), clean)


def _elliptic_sample(kin, model, rng, ellipticity, n=96):
    labels = [1, 1, 2, 3]
    return np.stack(
        [
            kin.make_pattern(
                model,
                labels[i % 4],
                rng,
                dose=2e4,
                rotation_deg=rng.uniform(0, 60),
                center_yx=(64 + rng.uniform(-3, 3), 64 + rng.uniform(-3, 3)),
                ellipticity=ellipticity,
            )
            for i in range(n)
        ]
    )


def test_ellipticity_refit_from_friedel_pairs_recovers_the_distortion(kin, model):
    rng = np.random.default_rng(2)
    truth_ratio, truth_angle = 1.03, 25.0
    dps = _elliptic_sample(kin, model, rng, (truth_ratio, truth_angle))
    cal = calibrate(dps, q_sampling_invA=kin.Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0)
    pm = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"], cal)
    # from a calibration that knows nothing of the distortion
    blind = replace(cal, ellipticity_ratio=1.0, ellipticity_angle_deg=0.0)
    refit = refine_ellipticity(dps, blind, pm)
    assert abs(refit.ellipticity_ratio - truth_ratio) < 0.004
    assert abs((refit.ellipticity_angle_deg - truth_angle + 90) % 180 - 90) < 4
    # round rings stay round
    round_dps = _elliptic_sample(kin, model, rng, None)
    cal0 = Calibration(q_sampling_invA=kin.Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0)
    assert abs(refine_ellipticity(round_dps, cal0, pm).ellipticity_ratio - 1.0) < 0.003
    # too few hexagons (vacuum): the calibration comes back unchanged
    vac = np.stack([kin.make_pattern(model, 0, rng, dose=2e4) for _ in range(8)])
    assert refine_ellipticity(vac, blind, pm) == blind


def _tilted_elliptic_sample(kin, model, rng, ellipticity, dose, n=96):
    """Like :func:`_elliptic_sample` but each pattern mistilted: the disks on one side of a
    random line through the beam dimmed to 0.3 %, so no Friedel pair keeps both disks bright."""
    labels = [1, 1, 2, 3]
    yy, xx = np.mgrid[:128, :128]
    out = []
    for i in range(n):
        c = (64 + rng.uniform(-3, 3), 64 + rng.uniform(-3, 3))
        img = kin.make_pattern(
            model,
            labels[i % 4],
            rng,
            dose=None,
            rotation_deg=rng.uniform(0, 60),
            center_yx=c,
            ellipticity=ellipticity,
        )
        az = rng.uniform(0, 2 * np.pi)
        dy, dx = yy - c[0], xx - c[1]
        dim = (np.cos(az) * dx + np.sin(az) * dy < 0) & (np.hypot(dy, dx) > 8)
        img = np.where(dim, 0.003 * img, img)
        out.append(rng.poisson(img / img.sum() * dose + 0.01))
    return np.asarray(out, np.float32)


def test_ellipticity_refit_from_single_disks_when_mistilt_leaves_no_friedel_pairs(kin, model):
    """Half of every hexagon dimmed: the Friedel-pair refit has nothing to fit; the bright
    disks' offsets from their pattern's beam recover the distortion, round rings stay round,
    and at a dose where single disks cannot tell a distortion the calibration is kept."""
    rng = np.random.default_rng(7)
    truth_ratio, truth_angle = 1.03, 25.0
    dps = _tilted_elliptic_sample(kin, model, rng, (truth_ratio, truth_angle), 2e4)
    cal = Calibration(q_sampling_invA=kin.Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0)
    pm = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"], cal)
    refit = refine_ellipticity(dps, cal, pm)
    assert abs(refit.ellipticity_ratio - truth_ratio) < 0.006, refit
    assert abs((refit.ellipticity_angle_deg - truth_angle + 90) % 180 - 90) < 6
    round_dps = _tilted_elliptic_sample(kin, model, rng, None, 2e4)
    assert abs(refine_ellipticity(round_dps, cal, pm).ellipticity_ratio - 1.0) < 0.004
    faint = _tilted_elliptic_sample(kin, model, rng, None, 150.0)
    assert refine_ellipticity(faint, cal, pm) == cal


def test_a_stuck_hot_pixel_pair_is_filled_and_the_beam_keeps_its_own_centre(kin, model):
    """Two touching pixels saturated in every pattern keep each other above the neighbour clip
    of ``suppress_hot_pixels``; unfilled, the pair outshines the transmitted beam in every
    pattern, every beam counts as blocked and its centre falls back to the scan's global one.
    Filled (a batch statistic: bright in every pattern, far above its 3 x 3 median), each
    pattern's beam is located by its own disk again."""
    from stemtf.phase import identify_phases

    rng = np.random.default_rng(4)
    n = 48
    centres = np.column_stack([64 + rng.uniform(-3, 3, n), 64 + rng.uniform(-3, 3, n)])
    dps = np.stack(
        [
            kin.make_pattern(model, 1, rng, dose=2e3, rotation_deg=17.0, center_yx=tuple(c))
            for c in centres
        ]
    ).astype(np.float32)
    dps[:, 20, 100] = dps[:, 21, 101] = 4095.0  # a diagonal pair, stuck in every frame
    filled = fill_dead_pixels(suppress_hot_pixels(dps))
    assert filled[:, 20, 100].max() < 20 and filled[:, 21, 101].max() < 20
    # everything else as before: disks and the beam are never taken for stuck pixels
    rest = np.ones(dps.shape[1:], bool)
    rest[20, 100] = rest[21, 101] = False
    assert np.array_equal(filled[:, rest], suppress_hot_pixels(dps)[:, rest])
    cal = Calibration(
        q_sampling_invA=kin.Q_SAMPLING,
        energy_eV=200e3,
        semiangle_mrad=1.0,
        center_yx=(64.0, 64.0),
    )
    res = identify_phases(dps, cal, PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"], cal))
    err = np.hypot(*(np.asarray(res.centers_yx, float) - centres).T)
    assert np.median(err) < 0.3, np.median(err)
