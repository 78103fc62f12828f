"""The classical baseline denoiser: known disks keep their place and counts; defects go."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.denoise import load
from stemtf.denoise.classical import ClassicalDenoiser
from stemtf.errors import InputError


def _disk_pattern(rng, radius_px: float, centre=(31.3, 28.6), total=4000.0, size=64):
    y, x = np.mgrid[:size, :size]
    disk = ((y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius_px**2).astype(float)
    lam = total * disk / disk.sum() + 0.02
    return rng.poisson(lam).astype(np.float32), lam


@pytest.mark.parametrize("radius", [2.0, 5.0, 12.0])
def test_a_disk_keeps_its_centre_and_counts(radius):
    rng = np.random.default_rng(3)
    raw, lam = _disk_pattern(rng, radius)
    out = ClassicalDenoiser(radius)(raw[None])[0]
    assert out.shape == raw.shape and out.dtype == np.float32
    assert out.sum() == pytest.approx(raw.sum(), rel=0.01)
    y, x = np.mgrid[: raw.shape[0], : raw.shape[1]]
    cy, cx = (out * y).sum() / out.sum(), (out * x).sum() / out.sum()
    assert abs(cy - 31.3) < 0.3 and abs(cx - 28.6) < 0.3


@pytest.mark.parametrize("radius", [5.0, 12.0])
def test_at_low_dose_it_is_closer_to_the_expected_counts_than_raw(radius):
    rng = np.random.default_rng(5)
    raw, lam = _disk_pattern(rng, radius, total=150.0)
    out = ClassicalDenoiser(radius)(raw[None])[0]
    assert np.abs(out - lam).mean() < 0.7 * np.abs(raw - lam).mean()


def test_an_isolated_hot_pixel_is_removed():
    rng = np.random.default_rng(4)
    raw, _ = _disk_pattern(rng, 4.0)
    raw[5, 50] = 60000.0
    out = ClassicalDenoiser(4.0)(raw[None])[0]
    assert out[3:8, 48:53].max() < 5.0


def test_width_follows_the_disk_radius_and_bad_radius_is_refused():
    assert ClassicalDenoiser(1.0).sigma_px == pytest.approx(0.7)
    assert ClassicalDenoiser(4.0).sigma_px == pytest.approx(1.8)
    assert ClassicalDenoiser(20.0).sigma_px == pytest.approx(4.0)
    assert ClassicalDenoiser(3.0).with_disk_radius(6.0).disk_radius_px == 6.0
    with pytest.raises(InputError, match="disk_radius_px"):
        ClassicalDenoiser(0.0)
    assert isinstance(load("Classical"), ClassicalDenoiser)
