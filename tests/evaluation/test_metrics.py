import numpy as np
import pytest

from stemtf.evaluation import (
    anscombe,
    baselines,
    inverse_anscombe_unbiased,
    match_spots,
    psnr,
    self_ensemble,
    ssim,
)


def test_psnr_known_value():
    t = np.zeros((16, 16))
    t[0, 0] = 10.0
    p = t + 1.0  # mse 1, peak 10 -> 20 dB
    assert psnr(p, t) == pytest.approx(20.0)  # peak is the target max, 10
    assert psnr(t, t) == float("inf")
    assert ssim(t, t) == pytest.approx(1.0)


def test_spot_matching_counts_weak_and_invented():
    ref = np.array([[10, 10, 100.0], [20, 20, 5.0], [30, 5, 3.0], [5, 30, 50.0]])
    found = np.array([[10.3, 10.4, 90.0], [20.0, 19.0, 4.0], [40, 40, 7.0]])
    m = match_spots(ref, found, tol_px=1.5)
    assert (m.n_ref, m.n_found, m.matched, m.invented) == (4, 3, 2, 1)
    assert (m.weak_ref, m.weak_matched) == (2, 1)  # weak: intensities 5 and 3; 5 found
    np.testing.assert_allclose(sorted(m.position_errors_px), [0.5, 1.0])
    empty = match_spots(ref, np.empty((0, 3)))
    assert empty.matched == 0 and empty.invented == 0 and empty.weak_ref == 2
    none = match_spots(np.empty((0, 3)), found)
    assert none.invented == 3 and none.n_ref == 0


def test_one_to_one_matching():
    ref = np.array([[10, 10, 1.0]])
    found = np.array([[10, 10.5, 1.0], [10, 9.6, 1.0]])
    m = match_spots(ref, found)
    assert m.matched == 1 and m.invented == 1
    assert m.position_errors_px[0] == pytest.approx(0.4)


@pytest.mark.parametrize("lam", [2.0, 5.0, 30.0])
def test_unbiased_inverse_anscombe(lam):
    rng = np.random.default_rng(0)
    mean_a = anscombe(rng.poisson(lam, 400_000).astype(float)).mean()
    assert inverse_anscombe_unbiased(mean_a) == pytest.approx(lam, rel=0.02)


def test_baselines_reduce_noise_on_a_smooth_pattern():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:48]
    clean = 20.0 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / (2 * 10.0**2))
    noisy = rng.poisson(clean).astype(np.float32)
    base = np.mean((noisy - clean) ** 2)
    for name, fn in baselines().items():
        out = fn(noisy)
        assert out.shape == noisy.shape and out.dtype == np.float32
        assert np.mean((out - clean) ** 2) < 0.5 * base, name


def test_self_ensemble_inverts_each_transform():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 9)).astype(np.float32)
    np.testing.assert_allclose(self_ensemble(lambda b: b)(x), x, atol=1e-6)
    # a fixed non-equivariant map (add a ramp along x) averages to the ramp's mean over D4
    ramp = np.arange(9, dtype=np.float32)

    def add_ramp(b):
        return b + np.arange(b.shape[2], dtype=np.float32)[None, None, :]

    out = self_ensemble(add_ramp)(np.zeros((1, 9, 9), np.float32))
    assert out.mean() == pytest.approx(ramp.mean(), rel=1e-5)
    assert out.shape == (1, 9, 9)
