"""RDUNet: residual dense U-Net denoiser taking and returning detector counts.

Graph (``levels`` resolution levels, ``blocks`` denoising blocks per level and side)::

    counts -> CountsToStabilized -> PadToMultiple -> [SpaceToDepth(s)] -> InputBlock(w)
      encoder level i < levels-1: blocks x DenoisingBlock(w 2^i) -> skip_i -> Downsample(w 2^(i+1))
      bottleneck (level levels-1): blocks x DenoisingBlock(w 2^(levels-1))
      decoder level i = levels-2 .. 0: Upsample([x, skip_i]) -> blocks x DenoisingBlock(w 2^i)
    -> OutputBlock(w, channels s^2) -> [DepthToSpace(s)] -> CropToMatch
    -> + stabilised input (global residual)
    -> StabilizedToCounts -> denoised counts

At ``width=128, levels=4, channels=1, blocks=2`` this has 166,370,562 parameters, the count of
the official PyTorch model. ``space_to_depth=s > 1`` (not in the paper) folds each ``s x s``
pixel block into channels before the U-Net and unfolds the output: the same network on ``s^2``
times fewer positions, for CPU inference (see :mod:`stemtf.models.rearrange`). ``context=k > 0``
(not in the paper) gives the network ``k`` more input channels, the scan context (the mean of the
neighbouring probe positions' counts, :mod:`stemtf.denoise.context`), stabilised like the
pattern; the output and the global residual stay the pattern's ``channels``.
"""

from __future__ import annotations

import keras
import numpy as np

from stemtf.models.blocks import (
    DenoisingBlock,
    DownsampleBlock,
    InputBlock,
    OutputBlock,
    UpsampleBlock,
)
from stemtf.models.normalization import CountsToStabilized, StabilizedToCounts
from stemtf.models.padding import CropToMatch, PadToMultiple, TakeChannels
from stemtf.models.rearrange import DepthToSpace, SpaceToDepth

__all__ = ["RDUNet", "rdunet_param_count", "with_scan_context"]


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is not allowed: it must be an integer in [{lo}, {hi}]")
    return int(value)


@keras.saving.register_keras_serializable(package="stemtf")
class RDUNet(keras.Model):
    """Residual dense U-Net (Gurrola-Ramos et al. 2021) on detector counts.

    Parameters
    ----------
    width : int
        Channels at the first level (the paper: 128); level ``i`` has ``width * 2**i``.
    levels : int
        Resolution levels including the bottleneck (the paper: 4, i.e. 3 downsamplings).
        Inputs are padded internally to a multiple of ``2**(levels - 1)`` and cropped back.
    channels : int
        Image channels (1 for a diffraction pattern).
    blocks : int
        Denoising blocks per level on each side (the paper: 2).
    norm_scale : float
        Scale of the internal Anscombe transform (noise std in the network domain).
    space_to_depth : int
        Fold ``s x s`` pixel blocks into channels before the U-Net and back after it
        (1: full resolution, the paper). Inputs are then padded to a multiple of
        ``s * 2**(levels - 1)``.
    context : int
        Extra input channels after the pattern's (0: none). A scan-context model takes
        ``channels + context`` channels, e.g. the pattern and its 8 neighbours' mean counts,
        and returns ``channels``.
    """

    def __init__(
        self,
        width: int = 128,
        levels: int = 4,
        channels: int = 1,
        blocks: int = 2,
        norm_scale: float = 0.1,
        space_to_depth: int = 1,
        context: int = 0,
        **kwargs,
    ):
        width = _check_int("width", width, 2, 4096)
        levels = _check_int("levels", levels, 1, 8)
        channels = _check_int("channels", channels, 1, 64)
        blocks = _check_int("blocks", blocks, 1, 16)
        s2d = _check_int("space_to_depth", space_to_depth, 1, 8)
        context = _check_int("context", context, 0, 64)
        if not norm_scale > 0:
            raise ValueError(f"norm_scale={norm_scale!r} is not allowed: it must be > 0")
        kwargs.setdefault("name", "rdunet")

        counts = keras.Input(shape=(None, None, channels + context), dtype="float32", name="counts")
        x_all = CountsToStabilized(norm_scale, dtype="float32", name="stabilize")(counts)
        # the global residual is the pattern's own stabilised counts, never its context
        x_in = TakeChannels(channels, name="pattern")(x_all) if context else x_all
        x = PadToMultiple(s2d * 2 ** (levels - 1), name="pad")(x_all)
        if s2d > 1:
            x = SpaceToDepth(s2d, name="fold")(x)
        x = InputBlock(width, name="input_block")(x)
        skips = []
        for level in range(levels):
            f = width * 2**level
            for b in range(blocks):
                x = DenoisingBlock(f, name=f"enc{level}_block{b}")(x)
            if level < levels - 1:
                skips.append(x)
                x = DownsampleBlock(width * 2 ** (level + 1), name=f"down{level}")(x)
        for level in reversed(range(levels - 1)):
            f = width * 2**level
            x = UpsampleBlock(f, name=f"up{level}")([x, skips[level]])
            for b in range(blocks):
                x = DenoisingBlock(f, name=f"dec{level}_block{b}")(x)
        x = OutputBlock(width, channels * s2d * s2d, name="output_block")(x)
        if s2d > 1:
            x = DepthToSpace(s2d, name="unfold")(x)
        x = CropToMatch(name="crop")([x, x_in])
        x = keras.layers.Add(dtype="float32", name="global_residual")([x, x_in])
        out = StabilizedToCounts(norm_scale, dtype="float32", name="unstabilize")(x)
        super().__init__(inputs=counts, outputs=out, **kwargs)
        self.width = width
        self.levels = levels
        self.channels = channels
        self.blocks = blocks
        self.norm_scale = float(norm_scale)
        self.space_to_depth = s2d
        self.context = context

    @property
    def size_multiple(self) -> int:
        """The internal padding multiple ``space_to_depth * 2**(levels - 1)``."""
        return self.space_to_depth * 2 ** (self.levels - 1)

    def get_config(self):
        return {
            "width": self.width,
            "levels": self.levels,
            "channels": self.channels,
            "blocks": self.blocks,
            "norm_scale": self.norm_scale,
            "space_to_depth": self.space_to_depth,
            "context": self.context,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        trainable = config.pop("trainable", True)
        model = cls(**config)
        model.trainable = trainable
        return model


def rdunet_param_count(
    width: int,
    levels: int = 4,
    channels: int = 1,
    blocks: int = 2,
    space_to_depth: int = 1,
    context: int = 0,
) -> int:
    """Parameter count of :class:`RDUNet` by closed-form arithmetic (PyTorch layer by layer).

    With ``space_to_depth = s`` the U-Net sees ``channels * s**2`` channels in and out.

    ``conv(i, o, k) = i*o*k*k + o`` and a PReLU has one slope per channel.
    """

    def conv(i: int, o: int, k: int) -> int:
        return i * o * k * k + o

    def dense_block(f: int) -> int:
        h = max(1, f // 2)
        convs = conv(f, h, 3) + conv(f + h, h, 3) + conv(f + 2 * h, h, 3) + conv(f + 3 * h, f, 3)
        return convs + 3 * h + f

    c_in = (channels + context) * space_to_depth**2
    channels = channels * space_to_depth**2
    fs = [width * 2**i for i in range(levels)]
    n = conv(c_in, width, 3) + width + conv(width, width, 3) + width
    for i, f in enumerate(fs):
        n += blocks * dense_block(f)
        if i < levels - 1:
            n += conv(f, fs[i + 1], 2) + fs[i + 1]
    for i in reversed(range(levels - 1)):
        f, below = fs[i], fs[i + 1]
        n += conv(below, below, 2) + below + conv(below + f, f, 3) + f + blocks * dense_block(f)
    return n + conv(width, width, 3) + width + conv(width, channels, 3) + channels


def with_scan_context(model: RDUNet, context: int) -> RDUNet:
    """``model`` rebuilt with ``context`` scan-context input channels, its weights kept.

    The first convolution's kernel gets zero weights for the new channels, so the new model's
    output equals the old one's whatever the context holds: training then learns what the
    neighbouring probe positions add (``scripts/train_field_denoiser.py``).
    """
    context = _check_int("context", context, 1, 64)
    if getattr(model, "context", 0):
        raise ValueError(f"the model already takes {model.context} scan-context channel(s)")
    new = RDUNet.from_config({**model.get_config(), "context": context})
    weights = []
    for old_w, new_w in zip(model.get_weights(), new.get_weights(), strict=True):
        if old_w.shape != new_w.shape:  # the input block's first kernel (3, 3, c_in, width)
            grown = np.zeros(new_w.shape, old_w.dtype)
            grown[:, :, : old_w.shape[2]] = old_w
            old_w = grown
        weights.append(old_w)
    new.set_weights(weights)
    return new
