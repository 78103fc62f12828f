"""Diffuse background about the transmitted beam: halo plus an optional amorphous ring."""

from __future__ import annotations

import numpy as np

__all__ = ["radial_k_invA", "background_shape", "amorphous_carbon_shape", "CARBON_RINGS_INVA"]

#: Amorphous carbon support: ring radii [1/Å] (d ≈ 2.1 and 1.18 Å), Gaussian widths [1/Å] and
#: relative peak heights per pixel.
CARBON_RINGS_INVA = ((0.47, 0.05, 1.0), (0.85, 0.07, 0.5))


def radial_k_invA(
    shape: tuple[int, int], centre_yx: tuple[float, float], q_sampling_invA: float
) -> np.ndarray:
    """Distance of every pixel from ``centre_yx`` [px] as a scattering vector magnitude [1/Å]."""
    y = np.arange(shape[0], dtype=np.float64)[:, None] - centre_yx[0]
    x = np.arange(shape[1], dtype=np.float64)[None, :] - centre_yx[1]
    return np.hypot(y, x) * q_sampling_invA


def background_shape(
    k_invA: np.ndarray,
    *,
    k0_invA: float,
    k1_invA: float,
    exp_weight: float,
    ring_fraction: float = 0.0,
    ring_k_invA: float = 0.475,
    ring_width_invA: float = 0.03,
) -> np.ndarray:
    """Background distribution over the detector, normalised to sum 1.

    ``(1 - ring_fraction) * halo + ring_fraction * ring``, where the halo is
    ``exp_weight * exp(-k/k0) / Z1 + (1 - exp_weight) / (1 + (k/k1)^2) / Z2`` and the ring is a
    Gaussian of width ``ring_width_invA`` about ``ring_k_invA``; each term is normalised to
    sum 1 on the detector first, so the weights are fractions of the background counts.
    """

    def unit(a: np.ndarray) -> np.ndarray:
        s = a.sum()
        return a / s if s > 0 else np.full_like(a, 1.0 / a.size)

    halo = exp_weight * unit(np.exp(-k_invA / k0_invA)) + (1.0 - exp_weight) * unit(
        1.0 / (1.0 + (k_invA / k1_invA) ** 2)
    )
    if ring_fraction > 0:
        ring = unit(np.exp(-0.5 * ((k_invA - ring_k_invA) / ring_width_invA) ** 2))
        halo = (1.0 - ring_fraction) * halo + ring_fraction * ring
    return halo / halo.sum()


def amorphous_carbon_shape(k_invA: np.ndarray) -> np.ndarray:
    """Diffuse scattering of an amorphous carbon film: two broad rings, normalised to sum 1.

    Rings near 0.47 and 0.85 1/Å (:data:`CARBON_RINGS_INVA`), Gaussian in ``k`` [1/Å]; a film
    under the specimen puts them in every pattern, vacuum included.
    """
    img = np.zeros_like(k_invA, dtype=np.float64)
    for k0, width, height in CARBON_RINGS_INVA:
        img += height * np.exp(-0.5 * ((k_invA - k0) / width) ** 2)
    s = img.sum()
    return img / s if s > 0 else np.full_like(img, 1.0 / img.size)
