"""Electron wavelength and the size of a diffraction disk on the detector.

Both live in :mod:`stemtf.physics` (one source for each formula); re-exported here.
"""

from __future__ import annotations

from stemtf.physics import disk_radius_px
from stemtf.physics import electron_wavelength_A as wavelength_A

__all__ = ["wavelength_A", "disk_radius_px"]
