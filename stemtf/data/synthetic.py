"""Synthetic clean shards: kinematic hexagonal spot lattices rendered as disks (tests, dummy data).

Not a simulation: a stand-in with the exact shard contract and known spot geometry, so the
dataset code can be tested without abTEM.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stemtf.noise import disk_radius_px
from stemtf.shards import write_shard

__all__ = ["hexagonal_pattern", "write_synthetic_shards", "SYNTHETIC_FIRST_RING_INVA"]

# first-ring radius [1/Å] of a few named stand-ins: NMC811 O3 {110} and O1 {100} (PHYSICS.md)
SYNTHETIC_FIRST_RING_INVA = {"nmc811-o3": 0.696, "nmc811-o1": 0.402}


def hexagonal_pattern(
    shape: tuple[int, int],
    *,
    ring_invA: float,
    rotation_deg: float,
    q_sampling_invA: float,
    disk_px: float,
    decay_invA: float = 0.5,
) -> np.ndarray:
    """A direct beam plus a hexagonal reciprocal lattice of first-ring radius ``ring_invA``, sum 1.

    Spots are disks of radius ``disk_px`` with a one-pixel soft edge; intensity falls as
    ``exp(-|g| / decay_invA)`` and the direct beam carries ten times the first ring's spot.
    """
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    t = np.deg2rad(rotation_deg)
    a1 = np.array([np.sin(t), np.cos(t)]) * ring_invA
    a2 = np.array([np.sin(t + np.pi / 3), np.cos(t + np.pi / 3)]) * ring_invA
    out = np.zeros(shape)
    q_max = 0.5 * min(h, w) * q_sampling_invA
    n = int(np.ceil(q_max / ring_invA)) + 1
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            g = i * a1 + j * a2
            k = float(np.hypot(*g))
            if k > q_max - disk_px * q_sampling_invA:
                continue
            weight = 10.0 if k == 0 else np.exp(-k / decay_invA)
            cy, cx = h // 2 + g[0] / q_sampling_invA, w // 2 + g[1] / q_sampling_invA
            out += weight * np.clip(disk_px + 0.5 - np.hypot(yy - cy, xx - cx), 0.0, 1.0)
    return (out / out.sum()).astype(np.float32)


def write_synthetic_shards(
    folder: str | os.PathLike,
    material_ids: list[str],
    *,
    detector_px: int = 128,
    zone_axes: int = 1,
    thicknesses_A: tuple[float, ...] = (100.0, 200.0),
    q_sampling_invA: float = 0.0125,
    energy_eV: float = 200e3,
    semiangle_mrad: float = 1.0,
    seed: int = 0,
) -> list[Path]:
    """Write one shard per (material, zone axis) named ``<material_id>__<u>_<v>_<w>.h5``.

    Each material gets a first-ring radius (from :data:`SYNTHETIC_FIRST_RING_INVA` or drawn
    0.3-0.9 1/Å) and each zone axis a rotation; thickness scales the spot decay. Returns the paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    disk = disk_radius_px(semiangle_mrad, energy_eV, q_sampling_invA)
    axes = [(0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0), (2, 1, 1)]
    paths = []
    for m_index, mid in enumerate(material_ids):
        rng = np.random.default_rng(np.random.SeedSequence([seed, m_index]))
        ring = SYNTHETIC_FIRST_RING_INVA.get(mid, float(rng.uniform(0.3, 0.9)))
        for z in range(zone_axes):
            uvw = axes[z % len(axes)]
            rot = float(rng.uniform(0, 60))
            patterns = np.stack(
                [
                    hexagonal_pattern(
                        (detector_px, detector_px),
                        ring_invA=ring * (1 + 0.1 * z),
                        rotation_deg=rot,
                        q_sampling_invA=q_sampling_invA,
                        disk_px=disk,
                        decay_invA=0.2 + t / 500.0,
                    )
                    for t in thicknesses_A
                ]
            )
            table = {
                "material_id": mid,
                "formula": f"X{m_index + 1}O2",
                "spacegroup_symbol": "P6/mmm",
                "spacegroup_number": 191,
                "zone_axis": uvw,
                "thickness_A": list(thicknesses_A),
                "tilt_mrad": (0.0, 0.0),
                "rotation_deg": rot,
                "seed": seed,
            }
            attrs = {
                "energy_eV": energy_eV,
                "semiangle_mrad": semiangle_mrad,
                "q_sampling_invA": q_sampling_invA,
                "abtem_version": "none (synthetic)",
            }
            path = folder / f"{mid}__{uvw[0]}_{uvw[1]}_{uvw[2]}.h5"
            paths.append(write_shard(path, patterns, table, attrs))
    return paths
