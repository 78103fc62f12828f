"""Calibration: beam centre, ellipticity, pixel size inference and its refusal."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import Calibration, calibrate


def _sample(kin, model, rng, n=60, **kw):
    return np.stack(
        [
            kin.make_pattern(model, 1 + i % 3, rng, dose=3e4, rotation_deg=rng.uniform(0, 60), **kw)
            for i in range(n)
        ]
    )


def test_centre_and_ellipticity_recovered(kin, model):
    rng = np.random.default_rng(1)
    dps = _sample(kin, model, rng, center_yx=(61.3, 66.6), ellipticity=(1.04, 25.0))
    cal = calibrate(dps, q_sampling_invA=kin.Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0)
    assert abs(cal.center_yx[0] - 61.3) < 0.2 and abs(cal.center_yx[1] - 66.6) < 0.2
    assert abs(cal.ellipticity_ratio - 1.04) < 0.01
    assert abs((cal.ellipticity_angle_deg - 25.0 + 90) % 180 - 90) < 5


def test_no_ellipticity_gives_identity(kin, model):
    rng = np.random.default_rng(2)
    cal = calibrate(
        _sample(kin, model, rng),
        q_sampling_invA=kin.Q_SAMPLING,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )
    assert abs(cal.ellipticity_ratio - 1) < 0.005


def test_q_sampling_inferred_from_reference_ring(kin, model):
    rng = np.random.default_rng(3)
    dps = np.stack(
        [
            kin.make_pattern(model, 1, rng, dose=3e4, rotation_deg=rng.uniform(0, 60))
            for _ in range(20)
        ]
    )
    cal = calibrate(dps, energy_eV=200e3, semiangle_mrad=1.0, reference_ring_invA=0.6969)
    assert abs(cal.q_sampling_invA / kin.Q_SAMPLING - 1) < 0.01


def test_missing_q_sampling_is_refused(kin, model):
    rng = np.random.default_rng(4)
    dps = _sample(kin, model, rng, n=4)
    with pytest.raises(InputError, match="q_sampling_invA is missing"):
        calibrate(dps, energy_eV=200e3, semiangle_mrad=1.0)
    with pytest.raises(InputError, match="cannot be inferred"):
        calibrate(
            rng.poisson(1.0, (4, 64, 64)).astype(np.float32),
            energy_eV=200e3,
            semiangle_mrad=1.0,
            reference_ring_invA=0.6969,
        )
    with pytest.raises(InputError):
        calibrate(
            np.zeros((2, 32, 32)), q_sampling_invA=0.0125, energy_eV=200e3, semiangle_mrad=1.0
        )


def test_calibration_validates_and_round_trips():
    cal = Calibration(q_sampling_invA=0.0125, center_yx=(1, 2))
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert abs(cal.disk_radius_px - 1e-3 / 0.02508 / 0.0125) < 0.01
    with pytest.raises(InputError):
        Calibration(q_sampling_invA=-1.0)


def test_centre_behind_a_beam_stop(kin, model):
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:128, :128]
    dps = []
    for i in range(40):
        clean = kin.make_pattern(
            model,
            1 + i % 3,
            rng,
            dose=None,
            center_yx=(60.4, 67.2),
            rotation_deg=rng.uniform(0, 60),
        )
        clean = np.where(np.hypot(yy - 60.4, xx - 67.2) < 6, 0.0, clean)
        dps.append(rng.poisson(clean / clean.sum() * 2e4).astype(np.float32))
    cal = calibrate(
        np.stack(dps), q_sampling_invA=kin.Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0
    )
    assert abs(cal.center_yx[0] - 60.4) < 0.3 and abs(cal.center_yx[1] - 67.2) < 0.3
