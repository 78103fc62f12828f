"""Synthetic (noisy, target) diffraction pairs: Poisson-noised hexagonal spot lattices.

A stand-in for the simulated dataset in tests, benchmarks and ``stemtf train --synthetic``:
each pattern is a bright central disk plus a rotated hexagonal lattice of Gaussian-edged disks
with intensities falling off with |q|; ``target`` is that pattern scaled to the dose [counts],
``noisy`` adds a diffuse background and Poisson shot noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemtf.errors import check_positive, check_range

__all__ = ["SyntheticPairs", "synthetic_pairs"]

DOSE_RANGE_E = (1e3, 1e5)
BACKGROUND_FRACTION = 0.1


@dataclass(frozen=True)
class SyntheticPairs:
    """Synthetic pairs.

    Arrays of shape (N, S, S): ``noisy`` and ``target`` [counts]; ``dose_e`` (N,);
    ``spots_yx`` list of (K, 2) true spot centres [px].
    """

    noisy: np.ndarray
    target: np.ndarray
    dose_e: np.ndarray
    spots_yx: list


def _lattice(size_px: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    c = size_px // 2
    spacing = rng.uniform(size_px / 7, size_px / 4)
    rot = rng.uniform(0, np.pi / 3)
    a1 = spacing * np.array([np.cos(rot), np.sin(rot)])
    a2 = spacing * np.array([np.cos(rot + np.pi / 3), np.sin(rot + np.pi / 3)])
    n = int(size_px / spacing) + 2
    ij = np.array([(i, j) for i in range(-n, n + 1) for j in range(-n, n + 1)], float)
    pos = ij @ np.stack([a1, a2]) + c
    inside = np.all((pos >= 2) & (pos <= size_px - 3), axis=1)
    pos = pos[inside]
    q = np.hypot(pos[:, 0] - c, pos[:, 1] - c)
    weight = np.where(q < 1e-6, 6.0, np.exp(-q / (0.5 * size_px)) * rng.uniform(0.1, 1.0, len(q)))
    return pos, weight


def synthetic_pairs(
    n: int, size_px: int = 64, *, seed: int | np.random.Generator = 0, dose_range_e=DOSE_RANGE_E
) -> SyntheticPairs:
    """Draw ``n`` synthetic (noisy, target) pairs of ``size_px`` x ``size_px`` pixels.

    Parameters
    ----------
    n : int
        Number of pairs.
    size_px : int
        Pattern side [px].
    seed : int or numpy.random.Generator
        Seed or generator (no global random state).
    dose_range_e : (float, float)
        Log-uniform range of the total dose per pattern [e-].
    """
    check_range("n", n, 1, 10_000_000)
    check_range("size_px", size_px, 8, 4096)
    check_positive("dose_range_e[0]", dose_range_e[0], "e-")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px].astype(np.float64)
    c = size_px // 2
    rr = np.hypot(yy - c, xx - c)
    halo = np.exp(-rr / (0.25 * size_px))
    halo /= halo.sum()
    noisy = np.empty((n, size_px, size_px), np.float32)
    target = np.empty_like(noisy)
    dose = np.exp(rng.uniform(np.log(dose_range_e[0]), np.log(dose_range_e[1]), n))
    spots = []
    for k in range(n):
        pos, weight = _lattice(size_px, rng)
        radius = rng.uniform(0.8, 1.6)
        img = np.zeros((size_px, size_px))
        for (y, x), w in zip(pos, weight, strict=True):
            img += w * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * radius**2))
        img /= img.sum()
        elastic = dose[k] * (1 - BACKGROUND_FRACTION)
        target[k] = elastic * img
        expected = target[k] + dose[k] * BACKGROUND_FRACTION * halo
        noisy[k] = rng.poisson(expected)
        spots.append(pos.astype(np.float32))
    return SyntheticPairs(noisy, target, dose.astype(np.float32), spots)
