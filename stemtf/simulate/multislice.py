"""abTEM plane-wave multislice with exit planes (the thickness series), potential built per period.

The crystal repeats along the zone axis with period |t| = |[uvw]|, so the projected-potential
slices of one period are computed once (abTEM ``Potential(...).build()``) and stacked ``nz``
times into one ``PotentialArray``. Structures with mixed sites (random alloys) or frozen phonons
get several independently drawn periods stacked in a seeded random order.

abTEM is imported inside the functions. The first call in a process pays numba's just-in-time
compilation (about 5 s here, less once numba's on-disk cache is warm); later calls do not.
"""

from __future__ import annotations

import logging
import math

import numpy as np

__all__ = ["exit_wave_spectra", "period_slices", "period_potential"]

log = logging.getLogger(__name__)


def _abtem():
    import abtem

    abtem.config.set({"diagnostics.progress_bar": False})
    return abtem


def period_slices(
    period_A: float, target_A: float, nz: int, thicknesses_A
) -> tuple[float, int, list[int], list[float]]:
    """Equal slices per period; exit-plane slice indices nearest the requested thicknesses.

    Returns ``(slice thickness, slices per period, exit indices (slice after which), thickness
    used per request)``.
    """
    n_per = max(1, math.ceil(period_A / target_A - 1e-9))
    dz = period_A / n_per
    total = n_per * nz
    idx = [int(min(max(round(t / dz), 1), total)) - 1 for t in thicknesses_A]
    return dz, n_per, idx, [(i + 1) * dz for i in idx]


def period_potential(atoms, *, gpts: tuple[int, int], dz: float, n_per: int) -> np.ndarray:
    """Projected-potential slices (n_per, Nx, Ny) of one period (atoms in an orthogonal box)."""
    abtem = _abtem()
    pot = abtem.Potential(
        atoms,
        gpts=gpts,
        slice_thickness=(dz,) * n_per,
        projection="infinite",
        parametrization="lobato",
    )
    return np.asarray(pot.build().compute(scheduler="synchronous").array)


def exit_wave_spectra(
    slices: np.ndarray,
    *,
    extent_A: tuple[float, float],
    dz: float,
    energy_eV: float,
    exit_indices: list[int],
    tilt_mrad=(0.0, 0.0),
) -> np.ndarray:
    """Multislice a plane wave through potential ``slices`` (n, Nx, Ny); |FFT|^2 per exit plane.

    Returns
    -------
    (len(unique exit planes), Nx, Ny) float64 array, unshifted FFT order (index k along x is
    spatial frequency k / Lx), normalised so the incident wave has total intensity 1.
    """
    abtem = _abtem()
    planes = tuple(sorted(set(exit_indices)))
    potential = abtem.PotentialArray(
        slices, slice_thickness=(dz,) * len(slices), extent=tuple(extent_A), exit_planes=planes
    )
    wave = abtem.PlaneWave(energy=energy_eV, tilt=tuple(tilt_mrad))
    exit_waves = wave.multislice(potential).compute(scheduler="synchronous")
    gpts = slices.shape[1:]
    arr = np.asarray(exit_waves.array).reshape(len(planes), *gpts)
    spec = np.abs(np.fft.fft2(arr, axes=(-2, -1))) ** 2
    spec /= float(gpts[0] * gpts[1]) ** 2
    return spec
