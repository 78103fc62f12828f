"""One abTEM plane-wave multislice run with exit planes (the thickness series).

abTEM is imported inside the function. The first call in a process pays numba's
just-in-time compilation (several seconds); later calls do not.
"""

from __future__ import annotations

import logging
import math

import numpy as np

__all__ = ["exit_wave_spectra", "slices_for"]

log = logging.getLogger(__name__)


def slices_for(thickness_A: float, target_A: float, thicknesses_A) -> tuple[float, list[int], list[float]]:
    """Equal slices through ``thickness_A``; exit-plane indices nearest ``thicknesses_A``.

    Returns ``(slice thickness, exit indices (slice after which), thickness used per request)``.
    """
    n = max(1, math.ceil(thickness_A / target_A - 1e-9))
    dz = thickness_A / n
    idx = [int(min(max(round(t / dz), 1), n)) - 1 for t in thicknesses_A]
    return dz, idx, [(i + 1) * dz for i in idx]


def exit_wave_spectra(atoms, *, gpts: tuple[int, int], energy_eV: float, slice_thickness_A: float,
                      exit_indices: list[int], tilt_mrad=(0.0, 0.0)) -> np.ndarray:
    """Multislice a plane wave through ``atoms``; return |FFT(exit wave)|^2 per exit plane.

    Returns
    -------
    (len(unique exit planes), Nx, Ny) float64 array, unshifted FFT order (index k along x is
    spatial frequency k / Lx), normalised so the incident wave has total intensity 1.
    """
    import abtem

    abtem.config.set({"diagnostics.progress_bar": False})
    num_slices = int(round(atoms.cell[2, 2] / slice_thickness_A))
    planes = tuple(sorted(set(exit_indices)))
    potential = abtem.Potential(
        atoms,
        gpts=gpts,
        slice_thickness=(atoms.cell[2, 2] / num_slices,) * num_slices,
        exit_planes=planes,
        projection="infinite",
        parametrization="lobato",
    )
    wave = abtem.PlaneWave(energy=energy_eV, tilt=tuple(tilt_mrad))
    exit_waves = wave.multislice(potential).compute(scheduler="synchronous")
    arr = np.asarray(exit_waves.array).reshape(len(planes), *gpts)
    spec = np.abs(np.fft.fft2(arr, axes=(-2, -1))) ** 2
    spec /= float(gpts[0] * gpts[1]) ** 2
    return spec
