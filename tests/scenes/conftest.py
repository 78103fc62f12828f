"""A kinematic clean-pattern library (disks at the NMC811 [001] ring positions) for fast tests."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.phase import PhaseModel
from stemtf.scenes import CleanLibrary

DETECTOR_PX = 96
Q_SAMPLING = 0.0125 * 128 / DETECTOR_PX  # rings at the same place relative to the edge
#: Rough dynamical-looking {100}/{110} strengths of O1 and {110} of O3 (abTEM at 100 Å).
_AMP = {(0, False): 0.5, (1, True): 0.5, (1, False): 0.1}


def _disk_image(points, amps, shape, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.zeros(shape)
    for (y, x), a in zip(points, amps, strict=True):
        img += a * np.clip(radius + 0.5 - np.hypot(yy - y, xx - x), 0, 1)
    return img


def kinematic_library_for(
    detector_px: int = DETECTOR_PX, q_sampling_invA: float = Q_SAMPLING, semiangle_mrad: float = 1.0
) -> CleanLibrary:
    """Kinematic O3/O1 library on a detector of ``detector_px`` at ``q_sampling_invA``, with the
    disks of a ``semiangle_mrad`` probe at 200 kV."""
    model = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])
    rotations = (5.0, 25.0, 47.0)
    thick = (100.0, 200.0)
    h = w = detector_px
    radius = semiangle_mrad * 1e-3 / 0.025079 / q_sampling_invA
    pats = np.zeros((2, len(rotations), len(thick), h, w), np.float32)
    for p in range(2):
        for r, rot in enumerate(rotations):
            for t in range(len(thick)):
                pts, amps = [(h // 2, w // 2)], [1.0]
                for ring in model.rings:
                    if ring.phase != p:
                        continue
                    rr = ring.radius_invA / q_sampling_invA
                    for k in range(6):
                        a = np.deg2rad(ring.rotation_deg + rot + 60 * k)
                        pts.append((h // 2 + rr * np.sin(a), w // 2 + rr * np.cos(a)))
                        amps.append(_AMP[(p, ring.marker)] * (0.7 if t else 1.0))
                img = _disk_image(pts, amps, (h, w), radius)
                pats[p, r, t] = img / img.sum()
    vac = _disk_image([(h // 2, w // 2)], [1.0], (h, w), radius)
    return CleanLibrary(
        patterns=pats,
        vacuum=(vac / vac.sum()).astype(np.float32),
        material_ids=("nmc811-o3", "nmc811-o1"),
        rotations_deg=rotations,
        thicknesses_A=thick,
        q_sampling_invA=q_sampling_invA,
        energy_eV=200e3,
        semiangle_mrad=semiangle_mrad,
    )


@pytest.fixture(scope="session")
def kinematic_library() -> CleanLibrary:
    return kinematic_library_for()
