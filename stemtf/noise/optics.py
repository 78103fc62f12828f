"""Electron wavelength and the size of a diffraction disk on the detector."""

from __future__ import annotations

from stemtf.errors import check_positive
from stemtf.physics import electron_wavelength_A as wavelength_A

__all__ = ["wavelength_A", "disk_radius_px"]


def disk_radius_px(semiangle_mrad: float, energy_eV: float, q_sampling_invA: float) -> float:
    """Radius of a Bragg disk, ``alpha / lambda`` [1/Å], in detector pixels."""
    check_positive("semiangle_mrad", semiangle_mrad, "mrad")
    check_positive("q_sampling_invA", q_sampling_invA, "1/Å")
    return semiangle_mrad * 1e-3 / wavelength_A(energy_eV) / q_sampling_invA
