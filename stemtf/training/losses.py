"""Per-example training losses on detector counts (reduced over pixels, not over the batch).

The caller sums them and divides by the global batch size, as a distributed step must.
"""

from __future__ import annotations

import tensorflow as tf

from stemtf.models.normalization import stabilize

__all__ = ["l1_stabilized", "poisson_deviance", "make_loss"]

_EPS = 1e-6


def l1_stabilized(pred, target, scale: float):
    """Mean absolute error per example on the network's variance-stabilised scale.

    This is the paper's L1 loss in the domain where the noise is homoscedastic, so weak
    spots count as much as the bright central beam.
    """
    diff = stabilize(target, scale) - stabilize(pred, scale)
    return tf.reduce_mean(tf.abs(diff), axis=[1, 2, 3])


def poisson_deviance(pred, target):
    """Mean Poisson deviance per example, relative to the example's mean counts.

    ``2 [t log(t / p) - (t - p)]`` is >= 0 and 0 only at ``p = t``; dividing by the mean target
    makes the loss comparable across doses.
    """
    p = tf.maximum(pred, 0.0) + _EPS
    t = tf.maximum(target, 0.0)
    dev = 2.0 * (tf.math.xlogy(t, (t + _EPS) / p) - (t - p))
    return tf.reduce_mean(dev, axis=[1, 2, 3]) / (tf.reduce_mean(t, axis=[1, 2, 3]) + _EPS)


def make_loss(name: str, scale: float):
    """Return ``fn(pred, target) -> (B,)`` for loss ``name`` (``l1`` or ``poisson``)."""
    if name == "l1":
        return lambda pred, target: l1_stabilized(pred, target, scale)
    if name == "poisson":
        return poisson_deviance
    raise ValueError(f"loss={name!r} is not allowed: choose l1 or poisson")
