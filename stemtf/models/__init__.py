"""Keras 3 denoising models: RDUNet and its registered, serializable layers.

Importing this package imports Keras (and its backend, TensorFlow).
"""

from stemtf.models.blocks import (
    DenoisingBlock,
    DownsampleBlock,
    InputBlock,
    OutputBlock,
    UpsampleBlock,
)
from stemtf.models.normalization import (
    CountsToStabilized,
    StabilizedToCounts,
    stabilize,
    unstabilize,
)
from stemtf.models.padding import CropToMatch, PadToMultiple, TakeChannels
from stemtf.models.rdunet import RDUNet, rdunet_param_count, with_scan_context
from stemtf.models.rearrange import DepthToSpace, SpaceToDepth

__all__ = [
    "RDUNet",
    "rdunet_param_count",
    "with_scan_context",
    "InputBlock",
    "DenoisingBlock",
    "DownsampleBlock",
    "UpsampleBlock",
    "OutputBlock",
    "CountsToStabilized",
    "StabilizedToCounts",
    "PadToMultiple",
    "CropToMatch",
    "TakeChannels",
    "SpaceToDepth",
    "DepthToSpace",
    "stabilize",
    "unstabilize",
]
