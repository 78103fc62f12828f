"""One electron-wavelength formula (stemtf.physics), checked against tabulated values."""

from __future__ import annotations

import math

import pytest

from stemtf.errors import InputError
from stemtf.physics import electron_wavelength_A


@pytest.mark.parametrize(
    "energy_keV, expected_A",
    # relativistic wavelengths as tabulated (e.g. Williams & Carter, Table 1.2)
    [(100, 0.03701), (200, 0.02508), (300, 0.01969), (1000, 0.00872)],
)
def test_tabulated_wavelengths(energy_keV, expected_A):
    assert electron_wavelength_A(energy_keV * 1e3) == pytest.approx(expected_A, abs=5e-6)


def test_non_relativistic_limit():
    # at 10 eV, lambda = h / sqrt(2 m e V) = 12.2643 / sqrt(V) A within 1e-5
    assert electron_wavelength_A(10.0) == pytest.approx(12.2643 / math.sqrt(10.0), rel=1e-5)


def test_bad_energy_is_one_line():
    for bad in (0.0, -5.0, "x"):
        with pytest.raises(InputError, match="energy_eV"):
            electron_wavelength_A(bad)


def test_every_public_wavelength_name_is_the_one_function():
    from stemtf.io.units import electron_wavelength_A as io_units
    from stemtf.noise.optics import wavelength_A as noise_optics
    from stemtf.phase.calibration import wavelength_A as phase_calibration
    from stemtf.simulate.config import electron_wavelength_A as simulate_config

    for other in (io_units, noise_optics, phase_calibration, simulate_config):
        assert other is electron_wavelength_A


def test_disk_radius_is_alpha_over_lambda_everywhere():
    from stemtf.denoise.domain import ModelDomain
    from stemtf.noise.optics import disk_radius_px as optics_px
    from stemtf.phase.calibration import Calibration
    from stemtf.physics import disk_radius_invA, disk_radius_px

    # 1.5 mrad at 200 keV: 1.5e-3 / 0.025079 A = 0.05981 1/A; 7.67 px at 0.0078 1/A/px
    assert disk_radius_invA(1.5, 200e3) == pytest.approx(0.05981, abs=2e-5)
    assert disk_radius_px(1.5, 200e3, 0.0078) == pytest.approx(7.668, abs=2e-3)
    assert optics_px is disk_radius_px
    cal = Calibration(q_sampling_invA=0.0078, energy_eV=200e3, semiangle_mrad=1.5)
    assert cal.disk_radius_px == disk_radius_px(1.5, 200e3, 0.0078)
    dom = ModelDomain.from_spec(128, 0.0125, 200e3, 1.5, (1e2, 1e5))
    assert dom.disk_radius_px == round(disk_radius_px(1.5, 200e3, 0.0125), 3)
    for bad in ((0.0, 200e3, 0.01), (1.5, 200e3, -1.0)):
        with pytest.raises(InputError, match="semiangle_mrad|q_sampling_invA"):
            disk_radius_px(*bad)
