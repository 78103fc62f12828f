"""The training losses (keras.ops: the tf.distribute trainer and the JAX-backend script share them) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.training.losses import l1_stabilized, make_loss, poisson_deviance


def _anscombe(x, scale):
    return scale * (2.0 * np.sqrt(np.maximum(x, 0) + 0.375) - 2.0 * np.sqrt(0.375))


def test_l1_stabilized_is_the_per_example_mean_on_the_anscombe_scale():
    rng = np.random.default_rng(0)
    target = rng.poisson(3.0, (3, 8, 8, 1)).astype(np.float32)
    pred = (target + rng.normal(0, 1, target.shape)).astype(np.float32)
    got = np.asarray(l1_stabilized(pred, target, 0.1))
    want = np.abs(_anscombe(target, 0.1) - _anscombe(pred, 0.1)).mean(axis=(1, 2, 3))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.asarray(l1_stabilized(target, target, 0.1)) == pytest.approx(0.0, abs=1e-7)


def test_poisson_deviance_is_zero_only_at_the_target_and_dose_normalised():
    rng = np.random.default_rng(1)
    t = rng.poisson(5.0, (2, 6, 6, 1)).astype(np.float32)
    assert np.asarray(poisson_deviance(t, t)) == pytest.approx(0.0, abs=1e-4)
    worse = np.asarray(poisson_deviance(t + 1.0, t))
    assert np.all(worse > 0.01)
    # the NumPy formula, and 10x the counts with the same relative error scores the same
    p = t + 1.0
    dev = 2.0 * (np.where(t > 0, t * np.log(np.where(t > 0, t, 1) / p), 0.0) - (t - p))
    np.testing.assert_allclose(worse, dev.mean(axis=(1, 2, 3)) / t.mean(axis=(1, 2, 3)), rtol=1e-4)
    big = np.asarray(poisson_deviance(10 * p, 10 * t))
    np.testing.assert_allclose(big, worse, rtol=1e-4)


def test_make_loss_names():
    assert make_loss("poisson", 0.1) is poisson_deviance
    with pytest.raises(ValueError, match="loss='mse' is not allowed"):
        make_loss("mse", 0.1)
