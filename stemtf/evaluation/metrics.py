"""Per-pattern quality metrics.

PSNR, SSIM, and what the science uses (spot positions, weak-spot recall, invented spots).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["psnr", "ssim", "SpotMatch", "match_spots", "WEAK_QUANTILE", "MATCH_TOL_PX"]

#: Reference spots at or below this quantile of a pattern's spot intensities are "weak".
WEAK_QUANTILE = 0.5
#: A found spot within this distance of a reference spot matches it [px].
MATCH_TOL_PX = 1.5


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR [dB] with the target's maximum as the peak (inf for a perfect match)."""
    peak = float(np.max(target))
    mse = float(np.mean((np.asarray(pred, np.float64) - target) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(max(peak, 1e-12) ** 2 / mse)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """SSIM (skimage, Gaussian 11-px window) with the target's maximum as the data range."""
    from skimage.metrics import structural_similarity

    rng = max(float(np.max(target)) - float(min(np.min(target), 0.0)), 1e-12)
    return float(
        structural_similarity(
            np.asarray(pred, np.float64),
            np.asarray(target, np.float64),
            data_range=rng,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


@dataclass(frozen=True)
class SpotMatch:
    """Spot comparison of one pattern against its clean reference.

    ``n_ref``/``n_found`` spots, ``matched`` pairs, ``weak_ref``/``weak_matched`` (reference
    spots at or below :data:`WEAK_QUANTILE` of the intensities), ``invented`` found spots with no
    reference spot within the tolerance, ``position_errors_px`` of the matched pairs.
    """

    n_ref: int
    n_found: int
    matched: int
    weak_ref: int
    weak_matched: int
    invented: int
    position_errors_px: np.ndarray


def match_spots(ref: np.ndarray, found: np.ndarray, tol_px: float = MATCH_TOL_PX) -> SpotMatch:
    """Match found spots to reference spots one-to-one (minimum total distance within ``tol_px``).

    Parameters
    ----------
    ref, found : ndarray, shape (K, 3)
        ``[y, x, intensity]`` rows, as :func:`stemtf.phase.find_spots` returns.
    tol_px : float
        Largest distance of a match [px].
    """
    from scipy.optimize import linear_sum_assignment

    ref = np.asarray(ref, np.float64).reshape(-1, 3)
    found = np.asarray(found, np.float64).reshape(-1, 3)
    weak = ref[:, 2] <= np.quantile(ref[:, 2], WEAK_QUANTILE) if len(ref) else np.zeros(0, bool)
    if len(ref) == 0 or len(found) == 0:
        return SpotMatch(len(ref), len(found), 0, int(weak.sum()), 0, len(found), np.empty(0))
    d = np.hypot(ref[:, None, 0] - found[None, :, 0], ref[:, None, 1] - found[None, :, 1])
    big = tol_px * 1e3 + 1.0
    rows, cols = linear_sum_assignment(np.where(d <= tol_px, d, big))
    ok = d[rows, cols] <= tol_px
    rows, cols = rows[ok], cols[ok]
    return SpotMatch(
        n_ref=len(ref),
        n_found=len(found),
        matched=len(rows),
        weak_ref=int(weak.sum()),
        weak_matched=int(weak[rows].sum()),
        invented=len(found) - len(cols),
        position_errors_px=d[rows, cols],
    )


def spot_finder(sigma_px: float = 1.0, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """``find_spots`` of :mod:`stemtf.phase` with fixed settings (imported lazily)."""
    from stemtf.phase import find_spots

    return lambda dp: find_spots(np.asarray(dp, np.float32), sigma_px=sigma_px, **kwargs)
