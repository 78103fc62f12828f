"""Pad images to a multiple of the U-Net's total stride, and crop the output back.

Any detector size works: the model pads (symmetric reflection) bottom/right up to the next
multiple of ``2 ** (levels - 1)`` and crops the result to the input size.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PadToMultiple", "CropToMatch", "TakeChannels"]


@keras.saving.register_keras_serializable(package="stemtf")
class PadToMultiple(keras.layers.Layer):
    """Pad H and W of an NHWC tensor at the bottom/right up to a multiple of ``multiple``."""

    def __init__(self, multiple: int = 8, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"multiple={multiple!r} is not allowed: it must be >= 1")
        self.multiple = int(multiple)

    def call(self, x):
        if self.multiple == 1:
            return x
        shape = ops.shape(x)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        return ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="symmetric")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        m = self.multiple
        h = None if h is None else -(-h // m) * m
        w = None if w is None else -(-w // m) * m
        return (b, h, w, c)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="stemtf")
class CropToMatch(keras.layers.Layer):
    """Crop ``x`` (first input) to the height and width of ``reference`` (second input)."""

    def call(self, inputs):
        x, reference = inputs
        ref = ops.shape(reference)
        xs = ops.shape(x)
        return ops.slice(x, [0, 0, 0, 0], [xs[0], ref[1], ref[2], xs[3]])

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@keras.saving.register_keras_serializable(package="stemtf")
class TakeChannels(keras.layers.Layer):
    """The first ``count`` channels of an NHWC tensor (the pattern, without its scan context)."""

    def __init__(self, count: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(count) < 1:
            raise ValueError(f"count={count!r} is not allowed: it must be >= 1")
        self.count = int(count)

    def call(self, x):
        return x[..., : self.count]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.count,)

    def get_config(self):
        return {**super().get_config(), "count": self.count}
