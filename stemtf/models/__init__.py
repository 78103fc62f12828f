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
from stemtf.models.padding import CropToMatch, PadToMultiple
from stemtf.models.rdunet import RDUNet, rdunet_param_count
from stemtf.models.rearrange import DepthToSpace, SpaceToDepth

__all__ = [
    "RDUNet",
    "rdunet_param_count",
    "InputBlock",
    "DenoisingBlock",
    "DownsampleBlock",
    "UpsampleBlock",
    "OutputBlock",
    "CountsToStabilized",
    "StabilizedToCounts",
    "PadToMultiple",
    "CropToMatch",
    "SpaceToDepth",
    "DepthToSpace",
    "stabilize",
    "unstabilize",
]
