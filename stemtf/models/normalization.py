"""Counts <-> network domain: a scaled Anscombe variance-stabilising transform and its inverse.

The network works on ``y = scale * (2 sqrt(x + 3/8) - 2 sqrt(3/8))`` of the detector counts
``x``: Poisson noise becomes roughly Gaussian with standard deviation ``scale`` at every dose,
an empty pixel maps to 0, and the exact algebraic inverse brings the output back to counts.
Both directions are registered Keras layers so the exported model takes and returns counts.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["CountsToStabilized", "StabilizedToCounts", "stabilize", "unstabilize"]

ANSCOMBE_OFFSET = 3.0 / 8.0
_ZERO_LEVEL = 2.0 * ANSCOMBE_OFFSET**0.5


def stabilize(counts, scale: float):
    """Scaled Anscombe transform of ``counts`` (negative counts are treated as 0)."""
    return scale * (2.0 * ops.sqrt(ops.relu(counts) + ANSCOMBE_OFFSET) - _ZERO_LEVEL)


def unstabilize(y, scale: float):
    """Exact inverse of :func:`stabilize`; values below the zero level map to 0 counts."""
    a = ops.relu(y / scale) + _ZERO_LEVEL
    return ops.square(0.5 * a) - ANSCOMBE_OFFSET


class _ScaledAnscombe(keras.layers.Layer):
    """Shared constructor/config of the two directions (one ``scale`` argument)."""

    def __init__(self, scale: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if not scale > 0:
            raise ValueError(f"scale={scale!r} is not allowed: it must be > 0")
        self.scale = float(scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="stemtf")
class CountsToStabilized(_ScaledAnscombe):
    """Map detector counts to the network domain (see module docstring).

    Parameters
    ----------
    scale : float
        Multiplier after the Anscombe transform; the Poisson noise standard deviation in the
        network domain.
    """

    def call(self, counts):
        return stabilize(counts, self.scale)


@keras.saving.register_keras_serializable(package="stemtf")
class StabilizedToCounts(_ScaledAnscombe):
    """Exact inverse of :class:`CountsToStabilized` (output >= 0 counts)."""

    def call(self, y):
        return unstabilize(y, self.scale)
