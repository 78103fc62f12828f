"""Shared small simulations (session-scoped: abTEM's first call pays numba compilation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stemtf.simulate import SimulationConfig

# small and fast, same physics as the defaults: 128 px detector at 0.0125 1/A, 200 kV, 1 mrad
TINY = SimulationConfig(thicknesses_A=(20.0, 60.0), lateral_min_A=10.0, sampling_A=0.12)


@pytest.fixture(scope="session")
def tiny_config() -> SimulationConfig:
    return TINY


@pytest.fixture(scope="session")
def simulated(tiny_config):
    """Lazily simulated (material, zone axis) -> (patterns, table), cached for the session."""
    from stemtf.materials import get
    from stemtf.simulate import simulate_patterns

    cache: dict = {}

    def run(material_id: str, uvw=(0, 0, 1), seed: int = 0):
        key = (material_id, tuple(uvw), seed)
        if key not in cache:
            cache[key] = simulate_patterns(get(material_id), uvw, tiny_config, seed=seed)
        return cache[key]

    return run


def measure_spots(dp: np.ndarray, q_sampling_invA: float, rel_threshold: float = 1e-3):
    """Return (K, 4) [radius 1/A, angle deg, summed intensity, peak] for the disks of ``dp``.

    Disks are found as connected regions above ``rel_threshold`` x max; centre = intensity
    centroid relative to pixel (H//2, W//2).
    """
    h, w = dp.shape
    mask = dp > dp.max() * rel_threshold
    labels, n = ndimage.label(mask)
    idx = np.arange(1, n + 1)
    com = np.array(ndimage.center_of_mass(dp, labels, idx)).reshape(-1, 2)
    tot = np.asarray(ndimage.sum(dp, labels, idx))
    peak = np.asarray(ndimage.maximum(dp, labels, idx))
    dy, dx = com[:, 0] - h // 2, com[:, 1] - w // 2
    r = np.hypot(dy, dx) * q_sampling_invA
    ang = np.degrees(np.arctan2(dy, dx))
    return np.stack([r, ang, tot, peak], axis=1)


@pytest.fixture(scope="session")
def spots():
    """The spot measurer :func:`measure_spots`."""
    return measure_spots
