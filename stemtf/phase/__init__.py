"""Phase identification from nanobeam diffraction: spots, hexagons, learned rings, labels.

numpy, scipy and OpenCV only (never TensorFlow). The pipeline per batch of patterns:
Difference-of-Gaussians spots in the annulus where the rings are expected
(:func:`find_spots`), regular hexagons about the transmitted beam by RANSAC
(:mod:`stemtf.phase.hexagons`), hexagons assigned to the rings of a :class:`PhaseModel`
built from reference structures and refined on the data, and a label per pattern
(0 none, 1 O3, 2 O1, 3 both) with a confidence (:func:`identify_phases`).
"""

from __future__ import annotations

from stemtf.phase.calibration import Calibration, calibrate, wavelength_A
from stemtf.phase.hexagons import find_hexagons_batch, ransac_hexagons
from stemtf.phase.identify import HEXAGON_DTYPE, PhaseResult, identify_phases
from stemtf.phase.model import LABEL_NAMES, PhaseModel
from stemtf.phase.spots import SpotTable, find_spots, find_spots_batch

__all__ = [
    "Calibration",
    "HEXAGON_DTYPE",
    "LABEL_NAMES",
    "PhaseModel",
    "PhaseResult",
    "SpotTable",
    "calibrate",
    "find_hexagons_batch",
    "find_spots",
    "find_spots_batch",
    "identify_phases",
    "ransac_hexagons",
    "wavelength_A",
]
