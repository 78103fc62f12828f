"""The building blocks of RDUNet (Gurrola-Ramos, Dalmau, Alarcon, IEEE Access 9:31742, 2021).

Written from the paper's description and the parameter-count arithmetic (PHYSICS.md):

* input block: two 3x3 convolutions, each followed by a per-channel PReLU;
* denoising block: four 3x3 convolutions with dense connections (each sees the block input
  concatenated with all earlier outputs); the first three give ``filters // 2`` channels, the
  last fuses back to ``filters``; PReLU after each; local residual ``out + input``;
* downsampling: 2x2 convolution with stride 2 + PReLU;
* upsampling: 2x2 transposed convolution with stride 2 + PReLU (channels kept), concatenated
  with the skip connection, 3x3 convolution + PReLU;
* output block: 3x3 convolution + PReLU, 3x3 convolution to the image channels + PReLU.

PReLU uses ``shared_axes=[1, 2]`` (one slope per channel) and initial slope 0.25, as PyTorch's
``nn.PReLU(num_parameters=channels)``.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "prelu",
    "InputBlock",
    "DenoisingBlock",
    "DownsampleBlock",
    "UpsampleBlock",
    "OutputBlock",
]

PRELU_INIT_SLOPE = 0.25


def prelu(name: str) -> keras.layers.PReLU:
    """Per-channel PReLU matching PyTorch ``nn.PReLU(channels)``."""
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(PRELU_INIT_SLOPE),
        shared_axes=[1, 2],
        name=name,
    )


def _conv(filters: int, kernel: int, name: str, strides: int = 1) -> keras.layers.Conv2D:
    padding = "same" if kernel == 3 else "valid"
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, name=name)


def _check_filters(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed: it must be an integer >= 1")
    return int(value)


def _with_channels(shape, channels: int):
    return (*tuple(shape)[:-1], channels)


@keras.saving.register_keras_serializable(package="stemtf")
class InputBlock(keras.layers.Layer):
    """Two 3x3 convolutions to ``filters`` channels, PReLU after each."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters("filters", filters)
        self.conv_0 = _conv(self.filters, 3, "conv_0")
        self.act_0 = prelu("act_0")
        self.conv_1 = _conv(self.filters, 3, "conv_1")
        self.act_1 = prelu("act_1")

    def build(self, input_shape):
        out = _with_channels(input_shape, self.filters)
        self.conv_0.build(input_shape)
        self.act_0.build(out)
        self.conv_1.build(out)
        self.act_1.build(out)

    def call(self, x):
        return self.act_1(self.conv_1(self.act_0(self.conv_0(x))))

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="stemtf")
class DenoisingBlock(keras.layers.Layer):
    """Residual dense block: 4 densely connected 3x3 convs + PReLU, local residual.

    Parameters
    ----------
    filters : int
        Input and output channels.
    inner_filters : int, optional
        Channels of the three inner convolutions (growth rate); default ``filters // 2``.
    """

    def __init__(self, filters: int, inner_filters: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters("filters", filters)
        inner = max(1, self.filters // 2) if inner_filters is None else inner_filters
        self.inner_filters = _check_filters("inner_filters", inner)
        self.convs = [_conv(self.inner_filters, 3, f"conv_{i}") for i in range(3)]
        self.convs.append(_conv(self.filters, 3, "conv_3"))
        self.acts = [prelu(f"act_{i}") for i in range(4)]

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"DenoisingBlock(filters={self.filters}) got {input_shape[-1]} input channels"
            )
        channels = self.filters
        for i, (conv, act) in enumerate(zip(self.convs, self.acts, strict=True)):
            conv.build(_with_channels(input_shape, channels))
            out = self.filters if i == 3 else self.inner_filters
            act.build(_with_channels(input_shape, out))
            channels += out

    def call(self, x):
        features = x
        for i, (conv, act) in enumerate(zip(self.convs, self.acts, strict=True)):
            out = act(conv(features))
            if i < 3:
                features = ops.concatenate([features, out], axis=-1)
        return out + x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "inner_filters": self.inner_filters,
        }


@keras.saving.register_keras_serializable(package="stemtf")
class DownsampleBlock(keras.layers.Layer):
    """2x2 convolution with stride 2 to ``filters`` channels, then PReLU."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters("filters", filters)
        self.conv = _conv(self.filters, 2, "conv", strides=2)
        self.act = prelu("act")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.act.build(self.compute_output_shape(input_shape))

    def call(self, x):
        return self.act(self.conv(x))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="stemtf")
class UpsampleBlock(keras.layers.Layer):
    """Transposed 2x2 conv (stride 2) + PReLU, concat the skip, 3x3 conv + PReLU.

    Called on ``[x, skip]``: ``x`` at half resolution, ``skip`` from the encoder.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters("filters", filters)
        self.up = None
        self.up_act = prelu("up_act")
        self.conv = _conv(self.filters, 3, "conv")
        self.act = prelu("act")

    def build(self, input_shape):
        x_shape, skip_shape = input_shape
        in_channels = x_shape[-1]
        self.up = keras.layers.Conv2DTranspose(in_channels, 2, strides=2, name="up")
        self.up.build(x_shape)
        up_shape = _with_channels(skip_shape, in_channels)
        self.up_act.build(up_shape)
        self.conv.build(_with_channels(skip_shape, in_channels + skip_shape[-1]))
        self.act.build(_with_channels(skip_shape, self.filters))

    def call(self, inputs):
        x, skip = inputs
        up = self.up_act(self.up(x))
        return self.act(self.conv(ops.concatenate([skip, up], axis=-1)))

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape[1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="stemtf")
class OutputBlock(keras.layers.Layer):
    """3x3 conv + PReLU at ``filters``, 3x3 conv to ``channels`` + PReLU."""

    def __init__(self, filters: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters("filters", filters)
        self.channels = _check_filters("channels", channels)
        self.conv_0 = _conv(self.filters, 3, "conv_0")
        self.act_0 = prelu("act_0")
        self.conv_1 = _conv(self.channels, 3, "conv_1")
        self.act_1 = prelu("act_1")

    def build(self, input_shape):
        mid = _with_channels(input_shape, self.filters)
        self.conv_0.build(input_shape)
        self.act_0.build(mid)
        self.conv_1.build(mid)
        self.act_1.build(_with_channels(input_shape, self.channels))

    def call(self, x):
        return self.act_1(self.conv_1(self.act_0(self.conv_0(x))))

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape, self.channels)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "channels": self.channels}
