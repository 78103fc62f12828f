"""What the counts allow: a matched-filter reference for finding O1 in a scan, given the truth.

The yardstick issue 12 sets for a denoiser at low dose ("come close to what the counts allow")
is a plain matched filter on the raw counts: the counts in the six disks of O1's {100} hexagon
(the marker ring; O3 has no reflection there), the in-plane rotation scanned in 0.5 deg steps,
hot pixels removed, and the threshold that gives the best O1-present F1 on the scan. Here the
filter is given what an analysis cannot know, so its score is a reference to aim at, not a
method: each pattern's **true** beam centre, the **true** q-sampling (so the true ring radius)
and a threshold chosen **with the truth labels**. Only the ellipticity is not given (it is
random per scene and a few px at most on the marker ring).

Two scores per scan:

* ``own``: each pattern on its own -- ``max_theta Z(theta)``, ``Z`` the hexagon's background-
  subtracted excess over its shot-noise sigma (:func:`stemtf.phase.matched.hexagon_scan`, the
  same disk windows, background bands and clipping the pipeline's filter uses, but the
  variance is the shot noise alone, not floored by the spread over rotations);
* ``pooled``: the excess and variance summed over the pattern's 3 x 3 scan neighbourhood at each
  rotation before the maximum (grains span several probe positions and share their rotation;
  the pipeline's scan-context steps pool the same way).

Neither is an upper bound in the strict sense (a detector using the {110} rings' geometry or
larger neighbourhoods could do better), but both use the truth where the pipeline must estimate,
so a pipeline far below them loses signal the counts hold, and one near them has little left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError

__all__ = ["ReferenceScore", "best_threshold_f1", "marker_reference", "marker_statistics"]

#: O1 {100} (the marker hexagon) of the reference NMC811-O1 structure [1/Å].
O1_MARKER_INVA = 0.4095


@dataclass(frozen=True)
class ReferenceScore:
    """Best-threshold O1-present F1 of the reference filter on one scan.

    Attributes
    ----------
    own_f1, pooled_f1 : float
        Per-pattern and 3 x 3-pooled filter.
    own_threshold, pooled_threshold : float
        The statistic's threshold [shot-noise sigmas] that gave them.
    """

    own_f1: float
    own_threshold: float
    pooled_f1: float
    pooled_threshold: float

    def to_dict(self) -> dict:
        """JSON-serialisable fields."""
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def best_threshold_f1(stat: np.ndarray, present: np.ndarray) -> tuple[float, float]:
    """Best F1 of ``stat >= t`` against ``present`` over all thresholds ``t``; (F1, t).

    Ties in ``stat`` are never split (a threshold selects all equal values or none).
    """
    s = np.asarray(stat, float).ravel()
    y = np.asarray(present, bool).ravel()
    if s.shape != y.shape:
        raise InputError(f"stat {s.shape} and present {y.shape} must have the same size")
    n_pos = int(y.sum())
    if n_pos == 0 or s.size == 0:
        return (float("nan"), float("nan"))
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    k = np.arange(1, s.size + 1)
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # only cut after the last of equal values
    f1 = np.where(last, 2.0 * tp / (k + n_pos), -1.0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(s_sorted[i])


def marker_statistics(
    grid: np.ndarray,
    centers_yx: np.ndarray,
    radius_px: float,
    disk_radius_px: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern and 3 x 3-pooled marker statistics [sigmas] of a scan.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        Raw counts.
    centers_yx : ndarray, shape (Ry, Rx, 2)
        Beam centre of each pattern [px].
    radius_px : float
        Marker ring radius [px].
    disk_radius_px : float
        Bragg-disk radius [px].

    Returns
    -------
    own, pooled : ndarray, shape (Ry, Rx)
        ``max_theta`` of the hexagon's excess over its sigma.
    """
    from stemtf.phase.calibration import Calibration
    from stemtf.phase.matched import _pooled, hexagon_scan
    from stemtf.physics import disk_radius_px as _disk

    g = np.asarray(grid)
    if g.ndim != 4:
        raise InputError(f"grid must be a (Ry, Rx, H, W) scan, got shape {g.shape}")
    ry, rx, h, w = g.shape
    c = np.asarray(centers_yx, float)
    if c.shape != (ry, rx, 2):
        raise InputError(f"centers_yx must have shape {(ry, rx, 2)}, got {c.shape}")
    if not (radius_px > 0 and disk_radius_px > 0):
        raise InputError(f"radius_px={radius_px!r}, disk_radius_px={disk_radius_px!r}: both > 0")
    # a Calibration whose disk radius is the one given (q-sampling scaled to it at 200 kV, 1 mrad)
    q = 0.01 * _disk(1.0, 200e3, 0.01) / disk_radius_px
    cal = Calibration(q, 200e3, 1.0, center_yx=(h / 2.0, w / 2.0))
    # shot-noise variance only: the pipeline's floor by the spread over rotations (detector
    # structure) would cap a strong hexagon's significance at its own contrast
    ex, _, var = hexagon_scan(
        g.reshape(ry * rx, h, w), c.reshape(-1, 2), radius_px, cal, return_shot_variance=True
    )
    var = np.maximum(var, 1.0)
    own = (ex / np.sqrt(var)).max(axis=1).reshape(ry, rx)
    pooled = _pooled(ex, (ry, rx)) / np.sqrt(_pooled(var, (ry, rx)))  # the filter's 3 x 3 sums
    return own, pooled.max(axis=1).reshape(ry, rx)


def marker_reference(
    grid: np.ndarray,
    truth_labels: np.ndarray,
    centre_shift_px: np.ndarray,
    q_sampling_true_invA: float,
    disk_radius_px: float,
    *,
    marker_invA: float = O1_MARKER_INVA,
) -> ReferenceScore:
    """The reference filter's best-threshold O1-present F1 on one simulated scan.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        Raw counts.
    truth_labels : ndarray, shape (Ry, Rx)
        0 none, 1 O3, 2 O1, 3 both, 4 unassigned (O1 present: 2 and 3).
    centre_shift_px : ndarray, shape (Ry, Rx, 2)
        True beam centre minus the detector centre ``(H/2, W/2)`` [px] (the truth file's).
    q_sampling_true_invA : float
        True reciprocal pixel size [1/Å per px].
    disk_radius_px : float
        Bragg-disk radius [px].
    marker_invA : float
        Marker ring radius [1/Å].
    """
    g = np.asarray(grid)
    if g.ndim != 4:
        raise InputError(f"grid must be a (Ry, Rx, H, W) scan, got shape {g.shape}")
    h, w = g.shape[2:]
    centers = np.asarray(centre_shift_px, float) + np.array([h / 2.0, w / 2.0])
    own, pooled = marker_statistics(g, centers, marker_invA / q_sampling_true_invA, disk_radius_px)
    present = np.isin(np.asarray(truth_labels), (2, 3))
    f_own, t_own = best_threshold_f1(own, present)
    f_pool, t_pool = best_threshold_f1(pooled, present)
    return ReferenceScore(f_own, t_own, f_pool, t_pool)
