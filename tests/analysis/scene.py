"""A tiny synthetic 4D-STEM scan with known phases, for pipeline tests (not the science tests).

Each pattern: a transmitted beam plus, for O3, one hexagon of Gaussian spots at the NMC811
{110} radius (0.697 1/Å); for O1, the {110} hexagon at 0.709 1/Å plus the inner {100}
hexagon at 0.409 1/Å rotated 30 deg; Poisson counts. The phase at (row, col) is
``KINDS[(row + 2 * col) % 3]`` (no symmetry that would hide an axis swap); the beam brightness
grows with the flat scan index, so virtual images reveal the axes too.
"""

from __future__ import annotations

import numpy as np

KINDS = ("o3", "o1", "none")
LABEL = {"none": 0, "o3": 1, "o1": 2}
Q_SAMPLING_INVA = 0.02
DETECTOR_PX = 96


def pattern(kind: str, rng: np.random.Generator, beam: float = 300.0, rot_deg: float = 10.0):
    n = DETECTOR_PX
    yy, xx = np.mgrid[:n, :n].astype(float)
    c = n // 2
    img = beam * np.exp(-((yy - c) ** 2 + (xx - c) ** 2) / (2 * 1.5**2))
    rings = []
    if kind in ("o3", "o1"):
        rings.append((0.697 if kind == "o3" else 0.709, rot_deg, 60.0))
    if kind == "o1":
        rings.append((0.409, rot_deg + 30.0, 30.0))
    for r_inva, rdeg, amp in rings:
        r = r_inva / Q_SAMPLING_INVA
        for k in range(6):
            t = np.deg2rad(rdeg + 60 * k)
            img += amp * np.exp(
                -((yy - c - r * np.sin(t)) ** 2 + (xx - c - r * np.cos(t)) ** 2) / (2 * 1.5**2)
            )
    return rng.poisson(img + 0.3)


def scene(shape=(13, 17), seed=0):
    """Return (data uint16 (Ry, Rx, 96, 96), truth labels (Ry, Rx), beam brightness (Ry, Rx))."""
    rng = np.random.default_rng(seed)
    ry, rx = shape
    data = np.empty((ry, rx, DETECTOR_PX, DETECTOR_PX), np.uint16)
    truth = np.empty((ry, rx), np.uint8)
    beam = np.empty((ry, rx), np.float64)
    for r in range(ry):
        for c in range(rx):
            kind = KINDS[(r + 2 * c) % 3]
            beam[r, c] = 300.0 * (1.0 + 2.0 * (r * rx + c) / (ry * rx))
            data[r, c] = pattern(kind, rng, beam=beam[r, c])
            truth[r, c] = LABEL[kind]
    return data, truth, beam
