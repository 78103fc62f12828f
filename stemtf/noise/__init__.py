"""Composite detector noise model for clean 4D-STEM diffraction patterns (numpy only).

``apply(clean, config, rng, q_sampling_invA=...)`` turns a simulated pattern (sum 1) into a
noisy detector frame in counts plus the matching clean target, returning every drawn
parameter. See :mod:`stemtf.noise.model` for what sums to what and PHYSICS.md § noise for the
ranges.
"""

from __future__ import annotations

from stemtf.noise.config import NoiseConfig
from stemtf.noise.model import PARAM_NAMES, NoisyResult, apply, apply_with_params, draw_params
from stemtf.noise.optics import disk_radius_px, wavelength_A

__all__ = [
    "NoiseConfig",
    "NoisyResult",
    "PARAM_NAMES",
    "apply",
    "apply_with_params",
    "draw_params",
    "disk_radius_px",
    "wavelength_A",
]
