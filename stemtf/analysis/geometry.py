"""Checks of the detector geometry that must pass before any pattern is analysed."""

from __future__ import annotations

from typing import Any

from stemtf.errors import InputError
from stemtf.physics import disk_radius_invA, disk_radius_px

__all__ = ["check_q_sampling", "q_sampling_range", "MIN_RING_PX"]

#: The outermost phase ring must lie at least this far from the beam [px] to be found.
MIN_RING_PX = 4.0


def q_sampling_range(
    model: Any, detector_hw: tuple[int, int], *, energy_eV: float, semiangle_mrad: float
) -> tuple[float, float]:
    """Detector pixel sizes [1/Å per px] at which the phase rings can be analysed.

    Above the upper bound the outermost ring lies closer than :data:`MIN_RING_PX` to the beam
    (all rings collapse onto the transmitted disk); below the lower bound the transmitted disk
    (radius ``alpha / lambda``) is wider than the detector. In between, rings that fall beyond
    the detector edge are reported by the analysis as a warning (those patterns are labelled
    none), not refused.
    """
    r_max = max(float(r.radius_invA) for r in model.rings)
    disk_invA = disk_radius_invA(semiangle_mrad, energy_eV)
    return disk_invA / (0.5 * min(detector_hw)), r_max / MIN_RING_PX


def check_q_sampling(
    model: Any,
    q_sampling_invA: float,
    detector_hw: tuple[int, int],
    source: str,
    *,
    energy_eV: float,
    semiangle_mrad: float,
) -> None:
    """Refuse a detector pixel size outside :func:`q_sampling_range`.

    Parameters
    ----------
    model : PhaseModel
        The phases' expected rings (``model.rings[i].radius_invA`` [1/Å]).
    q_sampling_invA : float
        Detector pixel size [1/Å per px].
    detector_hw : (int, int)
        Detector size [px].
    source : str
        Where the value came from, for the message (``"--q-sampling-invA"`` or the file).
    energy_eV : float
        Beam energy [eV].
    semiangle_mrad : float
        Probe convergence semi-angle [mrad].

    Raises
    ------
    InputError
        One line naming the value, where the rings and the disk would fall, and the allowed
        range.
    """
    lo, hi = q_sampling_range(
        model, detector_hw, energy_eV=energy_eV, semiangle_mrad=semiangle_mrad
    )
    if lo <= q_sampling_invA <= hi:
        return
    h, w = detector_hw
    radii = [float(r.radius_invA) for r in model.rings]
    disk_px = disk_radius_px(semiangle_mrad, energy_eV, q_sampling_invA)
    where = (
        f"puts the phase rings {max(radii) / q_sampling_invA:.3g} px or less from the beam, "
        f"where they cannot be told from the transmitted disk"
        if q_sampling_invA > hi
        else f"makes the transmitted disk {disk_px:.3g} px in radius, wider than the detector"
    )
    raise InputError(
        f"{source}={q_sampling_invA:g} 1/Å per px {where} ({h}x{w} px); allowed: {lo:.3g} to "
        f"{hi:.3g} 1/Å per px for this detector, beam energy and semi-angle"
    )
