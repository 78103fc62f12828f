"""Precise hexagon radius from disk centroids: known radii, blends of two lattices, distortion."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase.ringfit import hexagon_radius_fine

from .conftest import render_pattern

Q = 0.0125
DISK_PX = 3.2


def _hexagon(radius_px, *, center=(61.7, 66.2), rotation=17.0, shape=(127, 131), **kw):
    return render_pattern(
        [(radius_px * Q, rotation, 1.0)],
        shape=shape,
        center_yx=center,
        q_sampling=Q,
        disk_radius_px=DISK_PX,
        central=0.0,
        **kw,
    )


def _fit(img, start_radius, *, center=(61.7, 66.2), rotation=17.0, **kw):
    r, s = hexagon_radius_fine(
        img[None],
        np.array([0]),
        np.array([center]),
        np.array([start_radius]),
        np.array([rotation]),
        disk_radius_px=DISK_PX,
        **kw,
    )
    return float(r[0]), float(s[0])


def test_known_radius_is_recovered_from_a_rough_start():
    img = 5e3 * _hexagon(55.37)
    r, s = _fit(img, 55.37 + 0.8)  # the RANSAC radius can be most of a pixel off
    assert abs(r - 55.37) < 0.03 and s > 0.9 * img.sum()


def test_blend_of_two_lattices_sits_at_the_intensity_weighted_radius():
    r3, r1 = 55.0, 55.0 * 1.0177  # O3 and O1 {110}: 1 px apart at 128 px
    for w in (0.0, 0.25, 0.5, 0.8, 1.0):
        img = 1e4 * ((1 - w) * _hexagon(r3) + w * _hexagon(r1))
        r, _ = _fit(img, 0.5 * (r3 + r1))
        assert abs((r - r3) / (r1 - r3) - w) < 0.04, (w, r)


def test_shot_noise_leaves_the_share_measurable():
    rng = np.random.default_rng(3)
    r3, r1 = 55.0, 55.0 * 1.0177
    shares = [
        (_fit(rng.poisson(600 * _hexagon(r1)).astype(np.float32), r3)[0] - r3) / (r1 - r3)
        for _ in range(20)
    ]  # 100 counts per disk
    assert abs(np.mean(shares) - 1) < 0.08 and np.std(shares) < 0.15


def test_ellipticity_and_missing_vertices():
    ell = (1.03, 25.0)
    img = 5e3 * _hexagon(50.0, ellipticity=ell)
    r, _ = _fit(img, 50.0, ellipticity_ratio=ell[0], ellipticity_angle_deg=ell[1])
    assert abs(r - 50.0) < 0.05
    # a mistilted grain: three neighbouring vertices dark, no complete Friedel pair -> the
    # vertices' distance to the beam centre
    half = _hexagon(50.0)
    yy, xx = np.mgrid[:127, :131]
    half[np.arctan2(yy - 61.7, xx - 66.2) < 0] = 0
    r, s = _fit(5e3 * half, 50.6, rotation=17.0)
    assert abs(r - 50.0) < 0.05 and s > 0


def test_empty_and_bad_input():
    r, s = _fit(np.zeros((127, 131)), 50.0)
    assert np.isnan(r) and s == 0
    r, s = hexagon_radius_fine(
        np.zeros((1, 8, 8)),
        np.zeros(0, int),
        np.zeros((0, 2)),
        np.zeros(0),
        np.zeros(0),
        disk_radius_px=2.0,
    )
    assert r.shape == s.shape == (0,)
    with pytest.raises(InputError, match="disk_radius_px"):
        hexagon_radius_fine(np.zeros((1, 8, 8)), [0], [[4, 4]], [2.0], [0.0], disk_radius_px=0)
    with pytest.raises(InputError, match="batch"):
        hexagon_radius_fine(np.zeros((8, 8)), [0], [[4, 4]], [2.0], [0.0], disk_radius_px=1)


def _big_disks(radius_px, disk_px, *, center=(127.3, 128.6), rotation=23.0, blur=1.0):
    """Six flat disks of radius ``disk_px`` (edges blurred by ``blur`` px) on a 256 px frame."""
    from scipy.ndimage import gaussian_filter

    img = render_pattern(
        [(radius_px * Q, rotation, 1.0)],
        shape=(256, 256),
        center_yx=center,
        q_sampling=Q,
        disk_radius_px=disk_px,
        central=0.0,
    )
    img = gaussian_filter(img, blur)
    return img / img.sum()


def _fit_big(imgs, start, disk_px, method, *, center=(127.3, 128.6), rotation=23.0):
    r, _ = hexagon_radius_fine(
        np.asarray(imgs, np.float32),
        np.arange(len(imgs)),
        np.tile(center, (len(imgs), 1)),
        np.full(len(imgs), start),
        np.full(len(imgs), rotation),
        disk_radius_px=disk_px,
        method=method,
    )
    return r


def test_disk_fit_is_unbiased_and_more_precise_than_centroids_on_large_disks():
    """7.7 px disks (a 256 px camera), 60 counts per disk on a background of 0.02 counts/px:
    the maximum-likelihood disk fit finds the known radius and scatters less than centroids."""
    rng = np.random.default_rng(11)
    true_r, disk = 90.3, 7.7
    clean = _big_disks(true_r, disk)
    imgs = [rng.poisson(360 * clean + 0.02) for _ in range(60)]
    r_c = _fit_big(imgs, true_r + 0.6, disk, "centroid")
    r_m = _fit_big(imgs, true_r + 0.6, disk, "ml")
    assert abs(np.mean(r_m) - true_r) < 0.08, np.mean(r_m)
    assert abs(np.mean(r_c) - true_r) < 0.15, np.mean(r_c)
    assert np.std(r_m) < 0.85 * np.std(r_c), (np.std(r_m), np.std(r_c))


def test_disk_fit_of_a_two_lattice_blend_moves_with_the_share():
    r3, disk = 90.3, 7.7
    r1 = r3 * 1.0177
    est = []
    for w in (0.0, 0.5, 1.0):
        img = 2e4 * ((1 - w) * _big_disks(r3, disk) + w * _big_disks(r1, disk))
        est.append((_fit_big([img], 0.5 * (r3 + r1), disk, "ml")[0] - r3) / (r1 - r3))
    assert abs(est[0]) < 0.05 and abs(est[2] - 1) < 0.05 and 0.25 < est[1] < 0.75, est


def test_unknown_method_is_refused():
    with pytest.raises(InputError, match="method"):
        _fit(np.zeros((127, 131), np.float32), 50.0, method="gauss")


def _tilted_hexagon(radius_px, disk, *, center=(127.3, 128.6), bright=300.0, faint=15.0):
    """A mistilted grain: three neighbouring disks bright, the opposite three faint, plus the
    transmitted disk (5,000 counts) at ``center``; expected counts."""
    clean = _big_disks(radius_px, disk, center=center)
    yy, xx = np.mgrid[:256, :256]
    lit = np.arctan2(yy - center[0], xx - center[1]) < 0
    per_disk = clean / clean.sum() * 6
    beam = render_pattern([], shape=(256, 256), center_yx=center, disk_radius_px=disk, central=1.0)
    return per_disk * np.where(lit, bright, faint) + 5e3 * beam / beam.sum() + 0.02


def _fit_tilted(imgs, start, disk, **kw):
    c = (127.3, 128.6)
    return hexagon_radius_fine(
        np.asarray(imgs, np.float32),
        np.arange(len(imgs)),
        np.tile(c, (len(imgs), 1)),
        np.full(len(imgs), start),
        np.full(len(imgs), 23.0),
        disk_radius_px=disk,
        **kw,
    )[0]


def test_beam_held_circle_fit_is_more_precise_when_half_the_hexagon_is_dim():
    """Under mistilt each Friedel pair has one faint disk: the circle fit with the centre held to
    the transmitted beam (located by its own counts) measures the radius from the bright disks
    and scatters much less than the pair estimate, without bias."""
    from stemtf.phase.ringfit import count_centroids, radius_sigma_px

    rng = np.random.default_rng(5)
    true_r, disk = 90.3, 7.7
    expected = _tilted_hexagon(true_r, disk)
    imgs = np.array([rng.poisson(expected) for _ in range(60)], np.float32)
    n = len(imgs)
    # the beam located from each pattern's own transmitted disk, as identify does
    by, bx, s, _ = count_centroids(
        imgs, np.arange(n), np.full((n, 1), 127.0), np.full((n, 1), 129.0), disk, iterations=3
    )
    beam = np.column_stack([by[:, 0], bx[:, 0]])
    sd = np.sqrt(0.1**2 + radius_sigma_px(s[:, 0], disk) ** 2)
    r_pairs = _fit_tilted(imgs, true_r + 0.6, disk)
    r_beam = _fit_tilted(imgs, true_r + 0.6, disk, beam_yx=beam, beam_sd_px=sd)
    assert abs(np.mean(r_beam) - true_r) < 0.1, np.mean(r_beam)
    assert np.std(r_beam) < 0.7 * np.std(r_pairs), (np.std(r_beam), np.std(r_pairs))
    # a beam known only loosely: the fit frees the centre and stays on the known radius
    r_free = _fit_tilted(imgs, true_r + 0.6, disk, beam_yx=beam + 3.0, beam_sd_px=np.full(n, 1e3))
    assert abs(np.mean(r_free) - true_r) < 0.15, np.mean(r_free)


def test_beam_held_circle_fit_equals_pairs_on_a_full_hexagon_and_refuses_bad_input():
    true_r, disk = 90.3, 7.7
    img = 2e4 * _big_disks(true_r, disk)
    c = np.array([[127.3, 128.6]])
    r_pairs = _fit_big([img], true_r + 0.6, disk, "centroid")[0]
    r_beam = _fit_tilted([img], true_r + 0.6, disk, beam_yx=c, beam_sd_px=np.array([0.1]))[0]
    assert abs(r_beam - true_r) < 0.03 and abs(r_beam - r_pairs) < 0.03, (r_beam, r_pairs)
    with pytest.raises(InputError, match="beam_sd_px"):
        _fit_tilted([img], true_r, disk, beam_yx=c)
    with pytest.raises(InputError, match="beam_sd_px"):
        _fit_tilted([img], true_r, disk, beam_yx=c, beam_sd_px=np.array([0.0]))
