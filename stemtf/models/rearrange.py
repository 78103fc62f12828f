"""Fold pixel blocks into channels and back (space-to-depth / depth-to-space), in ``keras.ops``.

``SpaceToDepth(s)`` turns an ``(B, H, W, C)`` tensor into ``(B, H/s, W/s, s*s*C)``: each
``s x s`` block of pixels becomes one pixel with ``s*s*C`` channels, nothing is lost or mixed.
``DepthToSpace(s)`` is its exact inverse. An RDUNet built with ``space_to_depth=s`` runs its
whole U-Net on the folded tensor, so every convolution touches ``s*s`` times fewer positions:
on CPUs, where this small network is memory-bound, that is what sets the speed (the channel
count changes far less). H and W must be multiples of ``s`` (the model pads first).
The channel order is (row in block, column in block, channel), row-major.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SpaceToDepth", "DepthToSpace"]


def _check_block(block) -> int:
    if isinstance(block, bool) or int(block) != block or not 1 <= int(block) <= 16:
        raise ValueError(f"block={block!r} is not allowed: it must be an integer in [1, 16]")
    return int(block)


class _Fold(keras.layers.Layer):
    """Common part: the block size ``s`` and its config."""

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = _check_block(block)

    def get_config(self):
        return {**super().get_config(), "block": self.block}


@keras.saving.register_keras_serializable(package="stemtf")
class SpaceToDepth(_Fold):
    """``(B, H, W, C)`` -> ``(B, H/s, W/s, s*s*C)``; H and W must be multiples of ``block``."""

    def call(self, x):
        s = self.block
        if s == 1:
            return x
        shape = ops.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        x = ops.reshape(x, (b, h // s, s, w // s, s, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h // s, w // s, s * s * c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.block
        return (
            b,
            None if h is None else h // s,
            None if w is None else w // s,
            None if c is None else c * s * s,
        )


@keras.saving.register_keras_serializable(package="stemtf")
class DepthToSpace(_Fold):
    """``(B, h, w, s*s*C)`` -> ``(B, h*s, w*s, C)``, the inverse of :class:`SpaceToDepth`."""

    def call(self, x):
        s = self.block
        if s == 1:
            return x
        shape = ops.shape(x)
        b, h, w, cs = shape[0], shape[1], shape[2], shape[3]
        c = cs // (s * s)
        x = ops.reshape(x, (b, h, w, s, s, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h * s, w * s, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.block
        return (
            b,
            None if h is None else h * s,
            None if w is None else w * s,
            None if c is None else c // (s * s),
        )
