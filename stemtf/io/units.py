"""Unit conversions for reciprocal-space calibration read from file metadata.

Detector axes arrive in many units (1/Å, 1/nm, mrad, a physical pixel size with a camera
length); everything is converted to ``q_sampling_invA`` [1/Å per pixel].
"""

from __future__ import annotations

import math

from stemtf.physics import electron_wavelength_A

__all__ = ["electron_wavelength_A", "q_sampling_from_axis", "normalise_unit"]

_INV_ANGSTROM = {"1/a", "a^-1", "a-1", "1/å", "å^-1", "å-1", "1/angstrom", "angstrom^-1", "invA"}
_INV_NM = {"1/nm", "nm^-1", "nm-1", "1/nanometer"}
_MRAD = {"mrad", "milliradian"}
_RAD = {"rad", "radian"}


def normalise_unit(units: str | bytes | None) -> str:
    """Lower-case a unit string, strip brackets/spaces and decode bytes."""
    if units is None:
        return ""
    if isinstance(units, bytes):
        units = units.decode(errors="replace")
    return str(units).strip().strip("[]").replace(" ", "").replace("_", "").lower()


def q_sampling_from_axis(
    scale: float,
    units: str | bytes | None,
    *,
    energy_eV: float | None = None,
    camera_length_mm: float | None = None,
) -> float | None:
    """Convert one detector-axis step to [1/Å per pixel]; ``None`` when it cannot be done.

    Parameters
    ----------
    scale : float
        Axis step in ``units``.
    units : str
        Axis unit: 1/Å, 1/nm, mrad, rad (need ``energy_eV``), or a length (cm, mm, µm: a
        physical pixel size on the detector, needs ``camera_length_mm`` and ``energy_eV``).
    energy_eV : float, optional
        Beam energy [eV], for angular and physical units.
    camera_length_mm : float, optional
        Camera length [mm], for physical pixel sizes (small-angle approximation).
    """
    u = normalise_unit(units)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(scale) or scale <= 0:
        return None
    if u in {v.lower() for v in _INV_ANGSTROM}:
        return scale
    if u in _INV_NM:
        return scale / 10.0
    if energy_eV is None or energy_eV <= 0:
        return None
    lam = electron_wavelength_A(energy_eV)
    if u in _MRAD:
        return scale * 1e-3 / lam
    if u in _RAD:
        return scale / lam
    lengths_mm = {"cm": 10.0, "mm": 1.0, "µm": 1e-3, "um": 1e-3, "μm": 1e-3}
    if u in lengths_mm and camera_length_mm and camera_length_mm > 0:
        return scale * lengths_mm[u] / camera_length_mm / lam
    return None
