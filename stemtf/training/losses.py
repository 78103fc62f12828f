"""Per-example training losses on detector counts (reduced over pixels, not over the batch).

The caller sums them and divides by the global batch size, as a distributed step must.
Written in ``keras.ops``, so the same losses serve the ``tf.distribute`` trainer
(:mod:`stemtf.training.loop`, TensorFlow backend) and ``scripts/train_field_denoiser.py``
(``keras.Model.fit``, also under ``KERAS_BACKEND=jax`` on a machine without TensorFlow).
"""

from __future__ import annotations

from keras import ops

from stemtf.models.normalization import stabilize

__all__ = ["l1_stabilized", "poisson_deviance", "make_loss"]

_EPS = 1e-6


def l1_stabilized(pred, target, scale: float):
    """Mean absolute error per example on the network's variance-stabilised scale.

    This is the paper's L1 loss in the domain where the noise is homoscedastic, so weak
    spots count as much as the bright central beam.
    """
    diff = stabilize(target, scale) - stabilize(pred, scale)
    return ops.mean(ops.abs(diff), axis=(1, 2, 3))


def poisson_deviance(pred, target):
    """Mean Poisson deviance per example, relative to the example's mean counts.

    ``2 [t log(t / p) - (t - p)]`` is >= 0 and 0 only at ``p = t``; dividing by the mean target
    makes the loss comparable across doses.
    """
    p = ops.maximum(pred, 0.0) + _EPS
    t = ops.maximum(target, 0.0)
    # t log(t/p), 0 at t = 0 (the ratio is finite: p >= _EPS)
    dev = 2.0 * (t * ops.log((t + _EPS) / p) - (t - p))
    return ops.mean(dev, axis=(1, 2, 3)) / (ops.mean(t, axis=(1, 2, 3)) + _EPS)


def make_loss(name: str, scale: float):
    """Return ``fn(pred, target) -> (B,)`` for loss ``name`` (``l1`` or ``poisson``)."""
    if name == "l1":
        return lambda pred, target: l1_stabilized(pred, target, scale)
    if name == "poisson":
        return poisson_deviance
    raise ValueError(f"loss={name!r} is not allowed: choose l1 or poisson")
