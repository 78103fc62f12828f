"""Simulation parameters: a frozen dataclass validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stemtf.errors import InputError, check_positive, check_range
from stemtf.physics import ENERGY_RANGE_EV, disk_radius_invA, electron_wavelength_A

__all__ = ["SimulationConfig", "electron_wavelength_A", "DEFAULT_THICKNESSES_A"]

DEFAULT_THICKNESSES_A = tuple(float(t) for t in range(20, 161, 20))  # 20, 40, ..., 160 Å


@dataclass(frozen=True)
class SimulationConfig:
    """Physics and detector parameters of a clean-DP simulation.

    Parameters
    ----------
    energy_eV : float
        Beam energy [eV], 20 keV to 1000 keV.
    semiangle_mrad : float
        Probe convergence semi-angle [mrad]; Bragg disks have radius ``alpha / lambda`` [1/Å].
    detector_px : int
        Detector size H = W [px].
    q_sampling_invA : float
        Reciprocal size of one detector pixel [1/Å].
    thicknesses_A : tuple of float
        Specimen thicknesses [Å] of the series (one multislice run, exit planes); each is
        rounded to the nearest slice boundary and the value used is recorded.
    sampling_A : float
        Real-space sampling of the multislice grid [Å].
    slice_thickness_A : float
        Target slice thickness [Å].
    lateral_min_A : float
        Smallest lateral size of the simulation box [Å].
    frozen_phonons : int
        Number of frozen-phonon configurations averaged (0 = static lattice).
    phonon_sigma_A : float
        RMS thermal displacement per direction for frozen phonons [Å].
    tilt_mrad : (float, float)
        Beam tilt (x, y) [mrad] for a small mistilt.
    max_strain : float
        Largest strain accepted to make the zone-axis cell orthogonal.
    alloy_periods : int
        For mixed sites (random alloys such as NMC811's Ni/Mn/Co): how many independently
        ordered periods along the beam are drawn and stacked in random order (the potential
        is computed per period, so fewer is faster).
    """

    energy_eV: float = 200e3
    semiangle_mrad: float = 1.0
    detector_px: int = 128
    q_sampling_invA: float = 0.0125
    thicknesses_A: tuple[float, ...] = DEFAULT_THICKNESSES_A
    sampling_A: float = 0.1
    slice_thickness_A: float = 2.0
    lateral_min_A: float = 20.0
    frozen_phonons: int = 0
    phonon_sigma_A: float = 0.08
    tilt_mrad: tuple[float, float] = (0.0, 0.0)
    max_strain: float = 0.02
    alloy_periods: int = 4
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_range("energy_eV", self.energy_eV, *ENERGY_RANGE_EV, "eV")
        check_range("semiangle_mrad", self.semiangle_mrad, 0.01, 30.0, "mrad")
        if (
            not isinstance(self.detector_px, int)
            or isinstance(self.detector_px, bool)
            or self.detector_px < 8
        ):
            raise InputError(
                f"detector_px={self.detector_px!r} is not allowed: it must be an integer >= 8"
            )
        check_positive("q_sampling_invA", self.q_sampling_invA, "1/A")
        th = tuple(float(t) for t in self.thicknesses_A)
        if not th:
            raise InputError("thicknesses_A is empty: give at least one thickness > 0")
        for t in th:
            check_positive("thickness_A", t, "A")
        object.__setattr__(self, "thicknesses_A", tuple(sorted(set(th))))
        check_range("sampling_A", self.sampling_A, 0.01, 0.5, "A")
        check_range("slice_thickness_A", self.slice_thickness_A, 0.2, 20.0, "A")
        check_range("lateral_min_A", self.lateral_min_A, 2.0, 500.0, "A")
        if not isinstance(self.frozen_phonons, int) or self.frozen_phonons < 0:
            raise InputError(f"frozen_phonons={self.frozen_phonons!r} must be an integer >= 0")
        check_range("phonon_sigma_A", self.phonon_sigma_A, 0.0, 0.5, "A")
        tilt = tuple(float(x) for x in self.tilt_mrad)
        if len(tilt) != 2:
            raise InputError(f"tilt_mrad={self.tilt_mrad!r} must be two numbers (x, y) in mrad")
        for x in tilt:
            check_range("tilt_mrad", x, -50.0, 50.0, "mrad")
        object.__setattr__(self, "tilt_mrad", tilt)
        check_range("max_strain", self.max_strain, 0.0, 0.2)
        if not isinstance(self.alloy_periods, int) or self.alloy_periods < 1:
            raise InputError(f"alloy_periods={self.alloy_periods!r} must be an integer >= 1")

    @property
    def wavelength_A(self) -> float:
        """Electron wavelength [Å]."""
        return electron_wavelength_A(self.energy_eV)

    @property
    def disk_radius_invA(self) -> float:
        """Bragg disk radius alpha / lambda [1/Å]."""
        return disk_radius_invA(self.semiangle_mrad, self.energy_eV)

    def as_attrs(self) -> dict[str, Any]:
        """Flat dict for HDF5 attributes (provenance)."""
        d = asdict(self)
        d.pop("extra")
        d["thicknesses_A"] = list(self.thicknesses_A)
        d["tilt_mrad"] = list(self.tilt_mrad)
        d["wavelength_A"] = self.wavelength_A
        return d
