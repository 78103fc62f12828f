"""Classical denoising baselines for Poisson-noisy diffraction patterns (one pattern at a time).

Gaussian and median filters act on counts; non-local means and BM3D act on the Anscombe
transform (unit noise variance) and return through the exact unbiased inverse of Makitalo &
Foi (IEEE TIP 20:99, 2011; closed-form approximation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "anscombe",
    "inverse_anscombe_unbiased",
    "baselines",
    "GAUSSIAN_SIGMA_PX",
    "MEDIAN_SIZE_PX",
]

GAUSSIAN_SIGMA_PX = 1.0
MEDIAN_SIZE_PX = 3
NLM_PATCH_PX = 5
NLM_DISTANCE_PX = 6
NLM_H_FACTOR = 0.8  # h = 0.8 sigma, sigma = 1 after the Anscombe transform (skimage guide)


def anscombe(x: np.ndarray) -> np.ndarray:
    """Anscombe transform ``2 sqrt(x + 3/8)``: Poisson -> approximately unit-variance Gaussian."""
    return 2.0 * np.sqrt(np.maximum(x, 0.0) + 3.0 / 8.0)


def inverse_anscombe_unbiased(d: np.ndarray) -> np.ndarray:
    """Exact unbiased inverse of the Anscombe transform (closed-form approximation), >= 0."""
    d = np.maximum(np.asarray(d, dtype=np.float64), 1.0)
    s = np.sqrt(1.5)
    x = 0.25 * d**2 + 0.25 * s / d - 11.0 / 8.0 / d**2 + 0.625 * s / d**3 - 0.125
    return np.maximum(x, 0.0)


def _gaussian(dp):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(dp, GAUSSIAN_SIGMA_PX, mode="nearest")


def _median(dp):
    from scipy.ndimage import median_filter

    return median_filter(dp, size=MEDIAN_SIZE_PX, mode="nearest")


def _nlm(dp):
    from skimage.restoration import denoise_nl_means

    a = anscombe(dp)
    out = denoise_nl_means(
        a,
        patch_size=NLM_PATCH_PX,
        patch_distance=NLM_DISTANCE_PX,
        h=NLM_H_FACTOR,
        sigma=1.0,
        fast_mode=True,
    )
    return inverse_anscombe_unbiased(out)


def _bm3d_fn():
    try:
        import bm3d
    except ImportError:
        return None

    def run(dp):
        return inverse_anscombe_unbiased(bm3d.bm3d(anscombe(dp), sigma_psd=1.0))

    return run


def baselines(include_bm3d: bool = True) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> ``fn(dp (H, W) counts) -> (H, W) counts`` for the available baselines.

    BM3D appears only when the ``bm3d`` package is importable.
    """
    out: dict[str, Callable] = {"gaussian": _gaussian, "median": _median, "nlm": _nlm}
    bm = _bm3d_fn() if include_bm3d else None
    if bm is not None:
        out["anscombe_bm3d"] = bm
    return {k: _float32(f) for k, f in out.items()}


def _float32(fn: Callable) -> Callable[[np.ndarray], np.ndarray]:
    def run(dp: np.ndarray) -> np.ndarray:
        return np.asarray(fn(np.asarray(dp, np.float64)), np.float32)

    return run
