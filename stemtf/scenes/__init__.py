"""Synthetic 4D-STEM scans of NMC811 with ground-truth phase labels.

A layout (particle in vacuum, grains of different in-plane rotation, thickness variation,
O1 domains with a band of columns holding both phases) is filled from a small library of
clean simulated patterns (phase x rotation x thickness) and passed through the detector
noise model at a chosen dose. :func:`simulate_scan` writes the scan and a truth file.
"""

from __future__ import annotations

from stemtf.scenes.field import FieldConditions
from stemtf.scenes.layout import SceneLayout, make_layout
from stemtf.scenes.library import CleanLibrary, build_library
from stemtf.scenes.render import SceneRenderer, scan_noise_params
from stemtf.scenes.scan import build_scene, read_truth, simulate_scan, truth_path_for

__all__ = [
    "CleanLibrary",
    "FieldConditions",
    "SceneLayout",
    "SceneRenderer",
    "build_library",
    "make_layout",
    "read_truth",
    "build_scene",
    "scan_noise_params",
    "simulate_scan",
    "truth_path_for",
]
