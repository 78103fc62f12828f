"""Physical constants and formulas shared across stemtf: one source for each.

Pure Python (no NumPy, no TensorFlow), so any module may import it at no cost.
"""

from __future__ import annotations

import math

from stemtf.errors import check_positive

__all__ = [
    "electron_wavelength_A",
    "disk_radius_invA",
    "disk_radius_px",
    "ENERGY_RANGE_EV",
    "PLANCK_J_S",
    "ELECTRON_MASS_KG",
    "ELEMENTARY_CHARGE_C",
    "SPEED_OF_LIGHT_M_S",
]

# CODATA 2018 (exact SI values for h, e, c)
PLANCK_J_S = 6.62607015e-34
ELECTRON_MASS_KG = 9.1093837015e-31
ELEMENTARY_CHARGE_C = 1.602176634e-19
SPEED_OF_LIGHT_M_S = 299792458.0

#: Beam energies [eV] that ``simulate`` and ``analyze`` accept: 20 keV to 1000 keV.
ENERGY_RANGE_EV = (20e3, 1000e3)


def electron_wavelength_A(energy_eV: float) -> float:
    """Relativistic electron wavelength.

    ``lambda = h / sqrt(2 m0 e V (1 + e V / (2 m0 c^2)))``.

    Parameters
    ----------
    energy_eV : float
        Accelerating energy (kinetic energy of the electron) [eV]; > 0.

    Returns
    -------
    float
        Wavelength [Å] (0.025079 Å at 200 keV).

    Raises
    ------
    InputError
        ``energy_eV`` is not a number > 0.
    """
    check_positive("energy_eV", energy_eV, "eV")
    e_j = float(energy_eV) * ELEMENTARY_CHARGE_C
    momentum = math.sqrt(
        2.0
        * ELECTRON_MASS_KG
        * e_j
        * (1.0 + e_j / (2.0 * ELECTRON_MASS_KG * SPEED_OF_LIGHT_M_S**2))
    )
    return PLANCK_J_S / momentum * 1e10


def disk_radius_invA(semiangle_mrad: float, energy_eV: float) -> float:
    """Radius of a Bragg (or the transmitted) disk in reciprocal space, ``alpha / lambda``.

    Parameters
    ----------
    semiangle_mrad : float
        Probe convergence semi-angle [mrad]; > 0.
    energy_eV : float
        Beam energy [eV]; > 0.

    Returns
    -------
    float
        Disk radius [1/Å] (0.0598 1/Å for 1.5 mrad at 200 keV).
    """
    check_positive("semiangle_mrad", semiangle_mrad, "mrad")
    return float(semiangle_mrad) * 1e-3 / electron_wavelength_A(energy_eV)


def disk_radius_px(semiangle_mrad: float, energy_eV: float, q_sampling_invA: float) -> float:
    """Radius of a Bragg disk on the detector [px]: ``alpha / lambda / q_sampling``.

    ``q_sampling_invA`` is the detector's reciprocal-space pixel size [1/Å per px]; > 0.
    """
    check_positive("q_sampling_invA", q_sampling_invA, "1/Å")
    return disk_radius_invA(semiangle_mrad, energy_eV) / float(q_sampling_invA)
