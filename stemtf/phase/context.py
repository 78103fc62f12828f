"""Scan context for patterns too sparse to show a lattice on their own.

At low dose, or where a mistilted grain keeps only half of each hexagon, a single pattern may
hold too few counts for a hexagon of three vertices, while its scan neighbours belong to the
same grain. For every pattern labelled ``none``, the sum of its neighbourhood (3 x 3 probe
positions by default) is identified; where that finds a lattice, the pattern's *own* counts
must confirm it: the background-subtracted counts in the six disks the neighbourhood's primary
hexagon predicts must stand ``min_z`` shot-noise sigmas above zero and reach ``min_share`` of
the neighbourhood's mean per pattern. Vacuum beside a particle
has no counts there and stays ``none``. Confirmed patterns take the neighbourhood's label with
half its confidence.
"""

from __future__ import annotations

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, hexagon_on_detector
from stemtf.phase.dog import suppress_hot_pixels
from stemtf.phase.model import LABEL_NONE, PhaseModel
from stemtf.phase.spots import SpotTable, aperture_counts

__all__ = ["label_from_neighbours"]


def _neighbourhood_sums(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: int):
    """Sum of each target's neighbourhood (within the grid) and how many patterns it holds."""
    ry, rx = grid.shape[:2]
    out = np.zeros((rows.size,) + grid.shape[2:], np.float32)
    n = np.zeros(rows.size, np.int64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            y, x = rows + dy, cols + dx
            ok = (y >= 0) & (y < ry) & (x >= 0) & (x < rx)
            out[ok] += grid[y[ok], x[ok]]
            n += ok
    return out, n


def label_from_neighbours(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    radius: int = 1,
    min_z: float = 3.0,
    min_share: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of ``none`` patterns from their scan neighbourhood, confirmed by their own counts.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
        The per-pattern result (:func:`stemtf.phase.identify_phases`).
    calibration, model
        As for :func:`stemtf.phase.identify_phases`.
    radius : int
        Neighbourhood half-size [probe positions] (1: 3 x 3).
    min_z : float
        Shot-noise significance the pattern's own counts at the predicted disks need.
    min_share : float
        ... and the fraction of the neighbourhood's mean excess counts there they must reach.
    seed : int
        Passed on to the identification of the sums.

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    relabelled : bool ndarray (Ry * Rx,)
        Which patterns took their label from the neighbourhood.
    """
    from stemtf.phase.identify import identify_phases

    g = np.asarray(grid)
    if g.ndim != 4:
        raise InputError(f"grid must be (Ry, Rx, H, W), got shape {g.shape}")
    if radius < 1:
        raise InputError(f"radius={radius!r} is not allowed: it must be >= 1")
    ry, rx = g.shape[:2]
    labels = np.asarray(labels).copy()
    confidence = np.asarray(confidence, np.float32).copy()
    relabelled = np.zeros(labels.size, bool)
    target = np.flatnonzero(labels == LABEL_NONE)
    if target.size == 0 or ry * rx < 2:
        return labels, confidence, relabelled
    rows, cols = np.divmod(target, rx)
    sums, n_sum = _neighbourhood_sums(g, rows, cols, radius)
    res = identify_phases(sums, calibration, model, seed=seed)
    found = np.flatnonzero(res.labels != LABEL_NONE)
    if found.size == 0 or res.hexagons.size == 0:
        return labels, confidence, relabelled
    # the primary (most vertices) hexagon of each found sum
    hx = res.hexagons
    hx = hx[np.isin(hx["dp_index"], found) & (hx["phase"] > 0)]
    order = np.lexsort((-hx["intensity"], -hx["inliers"].astype(int), hx["dp_index"]))
    hx = hx[order]
    first = np.r_[True, hx["dp_index"][1:] != hx["dp_index"][:-1]]
    hx = hx[first]
    if hx.size == 0:
        return labels, confidence, relabelled
    k = hx["dp_index"].astype(np.int64)
    q = calibration.q_sampling_invA
    centers = np.column_stack([hx["center_y"], hx["center_x"]]).astype(float)
    vy, vx = hexagon_on_detector(
        centers,
        hx["radius_invA"] / q,
        hx["rotation_deg"],
        calibration.ellipticity_ratio,
        calibration.ellipticity_angle_deg,
    )
    # the pattern's own counts, hot pixels clipped as in the identification itself
    own = suppress_hot_pixels(g.reshape((ry * rx,) + g.shape[2:])[target[k]])
    table = SpotTable(
        np.repeat(np.arange(k.size), 6),
        vy.ravel(),
        vx.ravel(),
        np.zeros(vy.size),
        np.zeros(vy.size),
    )
    excess, _, var = aperture_counts(own, table, calibration.disk_radius_px, return_variance=True)
    # shot-noise significance of the six disks' excess counts together
    z = excess.reshape(-1, 6).sum(axis=1) / np.sqrt(var.reshape(-1, 6).sum(axis=1))
    # ... and hold a fair share of what the neighbourhood diffracts there (a vacuum pattern
    # beside a grain has shot noise only, however significant by chance)
    sum_excess, _ = aperture_counts(suppress_hot_pixels(sums[k]), table, calibration.disk_radius_px)
    per_pattern = sum_excess.reshape(-1, 6).sum(axis=1) / n_sum[k]
    share = excess.reshape(-1, 6).sum(axis=1) / np.maximum(per_pattern, 1e-9)
    ok = (z >= min_z) & (share >= min_share)
    idx = target[k[ok]]
    labels[idx] = res.labels[k[ok]]
    confidence[idx] = 0.5 * res.confidence[k[ok]]
    relabelled[idx] = True
    return labels, confidence, relabelled
