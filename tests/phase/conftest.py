"""Kinematic test patterns: Bragg disks of NMC811 O3 / O1 along [001] on a detector grid."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from stemtf.phase import Calibration, PhaseModel
from stemtf.phase.calibration import correct_ellipticity

Q_SAMPLING = 0.0125  # 1/Å per px (PHYSICS.md example geometry, 128 px detector)


def render_pattern(
    rings,
    *,
    shape=(128, 128),
    center_yx=None,
    rotation_deg=0.0,
    scale=1.0,
    q_sampling=Q_SAMPLING,
    disk_radius_px=3.2,
    central=10.0,
    ellipticity=None,
):
    """Disks at every vertex of each ring ``(radius_invA, rotation_deg, intensity)``.

    ``ellipticity`` = (ratio, angle_deg) stretches the ring positions (not the disks).
    """
    h, w = shape
    cy, cx = (h // 2, w // 2) if center_yx is None else center_yx
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros(shape, np.float64)

    def disk(y, x, amp):
        d = np.hypot(yy - y, xx - x)
        img[:] += amp * np.clip(disk_radius_px + 0.5 - d, 0, 1)

    disk(cy, cx, central)
    for radius, rot, amp in rings:
        r = scale * radius / q_sampling
        for k in range(6):
            a = np.deg2rad(rot + rotation_deg + 60 * k)
            py, px = cy + r * np.sin(a), cx + r * np.cos(a)
            if ellipticity is not None:
                py, px = correct_ellipticity(py, px, (cy, cx), 1.0 / ellipticity[0], ellipticity[1])
            disk(py, px, amp)
    return img / img.sum()


#: Dynamical scattering makes O1 {100} several times stronger than kinematic |F|^2 says
#: (abTEM thickness series: I(100)/I(110) of 1-10 between 60 and 340 Å).
MARKER_BOOST = 4.0


def phase_rings(model: PhaseModel, phase: int):
    return [
        (r.radius_invA, r.rotation_deg, r.intensity * (MARKER_BOOST if r.marker else 1.0))
        for r in model.rings
        if r.phase == phase
    ]


def make_pattern(model, label, rng, *, dose=1e4, fraction=0.3, **kw):
    """Normalised kinematic pattern of label 0..3 with Poisson noise at ``dose`` (None: clean)."""
    if label == 0:
        img = render_pattern([], **kw)
    elif label == 1:
        img = render_pattern(phase_rings(model, 0), **kw)
    elif label == 2:
        img = render_pattern(phase_rings(model, 1), **kw)
    else:
        img = (1 - fraction) * render_pattern(
            phase_rings(model, 0), **kw
        ) + fraction * render_pattern(phase_rings(model, 1), **kw)
    if dose is None:
        return img.astype(np.float32)
    return rng.poisson(img * dose).astype(np.float32)


@pytest.fixture(scope="session")
def model():
    return PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])


@pytest.fixture(scope="session")
def calibration():
    return Calibration(
        q_sampling_invA=Q_SAMPLING, energy_eV=200e3, semiangle_mrad=1.0, center_yx=(64.0, 64.0)
    )


@pytest.fixture(scope="session")
def kin():
    """The kinematic pattern helpers (test modules cannot import conftest in importlib mode)."""
    return SimpleNamespace(
        make_pattern=make_pattern,
        render_pattern=render_pattern,
        phase_rings=phase_rings,
        Q_SAMPLING=Q_SAMPLING,
    )
