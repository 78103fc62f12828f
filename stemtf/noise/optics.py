"""Electron wavelength and the size of a diffraction disk on the detector."""

from __future__ import annotations

import math

from stemtf.errors import check_positive

__all__ = ["wavelength_A", "disk_radius_px"]

# h / sqrt(2 m_e e) in Å V^0.5 and e / (2 m_e c^2) in 1/V (relativistic electron wavelength)
_H_OVER_SQRT_2ME_A = 12.264259
_REL_CORRECTION_PER_V = 0.97847e-6


def wavelength_A(energy_eV: float) -> float:
    """Relativistic electron wavelength [Å] at beam energy ``energy_eV`` [eV] (200 kV: 0.02508)."""
    check_positive("energy_eV", energy_eV, "eV")
    v = float(energy_eV)
    return _H_OVER_SQRT_2ME_A / math.sqrt(v * (1.0 + _REL_CORRECTION_PER_V * v))


def disk_radius_px(semiangle_mrad: float, energy_eV: float, q_sampling_invA: float) -> float:
    """Radius of a Bragg disk, ``alpha / lambda`` [1/Å], in detector pixels."""
    check_positive("semiangle_mrad", semiangle_mrad, "mrad")
    check_positive("q_sampling_invA", q_sampling_invA, "1/Å")
    return semiangle_mrad * 1e-3 / wavelength_A(energy_eV) / q_sampling_invA
