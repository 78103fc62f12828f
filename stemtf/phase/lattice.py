"""Regular-hexagon lattice geometry and least-squares fitting.

Angles are in degrees, measured as ``atan2(y - cy, x - cx)`` on the detector (rows down). A
hexagon with centre ``c``, radius ``r`` and rotation ``phi`` has vertices
``c + r (cos(phi + 60 k), sin(phi + 60 k))`` in (x, y), k = 0..5; its rotation is reported
modulo 60 deg in [0, 60).

Vertex ``k`` is linear in the unknowns ``(cx, cy, ux, uy)`` with ``u = r (cos phi, sin phi)``:
``p_k = c + R(60 k) u``, so a fit to any matched subset is a small linear least-squares problem,
solved here for many hexagons at once.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "hexagon_vertices",
    "vertex_index",
    "fit_hexagons",
    "wrap60",
]

_K = np.arange(6)
_COS = np.cos(np.deg2rad(60.0 * _K))
_SIN = np.sin(np.deg2rad(60.0 * _K))


def wrap60(angle_deg: np.ndarray | float) -> np.ndarray:
    """Angle modulo 60 deg in [0, 60)."""
    return np.mod(angle_deg, 60.0)


def hexagon_vertices(center_yx, radius_px, rotation_deg) -> np.ndarray:
    """Vertices of hexagons, shape (..., 6, 2) as [y, x].

    ``center_yx`` has shape (..., 2); ``radius_px`` and ``rotation_deg`` broadcast to (...).
    """
    c = np.asarray(center_yx, float)
    r = np.asarray(radius_px, float)[..., None]
    ang = np.deg2rad(np.asarray(rotation_deg, float)[..., None] + 60.0 * _K)
    y = c[..., 0, None] + r * np.sin(ang)
    x = c[..., 1, None] + r * np.cos(ang)
    return np.stack([y, x], axis=-1)


def vertex_index(angle_deg: np.ndarray, rotation_deg: np.ndarray) -> np.ndarray:
    """Index k (0..5) of the hexagon vertex nearest in angle to a point at ``angle_deg``."""
    return np.mod(np.rint((np.asarray(angle_deg) - rotation_deg) / 60.0), 6).astype(np.int64)


def fit_hexagons(
    group: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    k: np.ndarray,
    n_groups: int,
    *,
    center_yx: np.ndarray | None = None,
    free_center_min: int = 4,
) -> dict[str, np.ndarray]:
    """Least-squares regular hexagons through matched points, many hexagons at once.

    Parameters
    ----------
    group : ndarray of int, shape (N,)
        Hexagon index (0..n_groups-1) of each point.
    y, x : ndarray, shape (N,)
        Point positions [px].
    k : ndarray of int, shape (N,)
        Vertex index (0..5) each point is matched to.
    n_groups : int
        Number of hexagons.
    center_yx : ndarray, shape (n_groups, 2), optional
        Known centre per hexagon; used (centre held fixed) for hexagons with fewer than
        ``free_center_min`` points, or for all if ``free_center_min`` is large.
    free_center_min : int
        Minimum points to fit the centre too.

    Returns
    -------
    dict
        ``center_y``, ``center_x``, ``radius_px``, ``rotation_deg`` (mod 60), ``residual_px``
        (RMS point-to-vertex distance), ``count``; arrays of shape (n_groups,).
    """
    group = np.asarray(group, np.int64)
    cs, sn = _COS[k], _SIN[k]
    count = np.bincount(group, minlength=n_groups).astype(float)
    if center_yx is None:
        center_yx = np.zeros((n_groups, 2))
        free = np.ones(n_groups, bool)
    else:
        center_yx = np.asarray(center_yx, float)
        free = count >= free_center_min
    # Fixed centre: u = mean_k R(-60k) (p - c).
    dx = x - center_yx[group, 1]
    dy = y - center_yx[group, 0]
    ux_f = np.bincount(group, cs * dx + sn * dy, n_groups) / np.maximum(count, 1)
    uy_f = np.bincount(group, -sn * dx + cs * dy, n_groups) / np.maximum(count, 1)
    cy = center_yx[:, 0].copy()
    cx = center_yx[:, 1].copy()
    ux, uy = ux_f, uy_f
    if np.any(free):
        # Free centre: rows [1, 0, cos, -sin] (x) and [0, 1, sin, cos] (y); build A^T A, A^T b.
        rows_x = np.stack([np.ones_like(cs), np.zeros_like(cs), cs, -sn], axis=1)
        rows_y = np.stack([np.zeros_like(cs), np.ones_like(cs), sn, cs], axis=1)
        ata = np.zeros((n_groups, 4, 4))
        atb = np.zeros((n_groups, 4))
        outer = rows_x[:, :, None] * rows_x[:, None, :] + rows_y[:, :, None] * rows_y[:, None, :]
        np.add.at(ata, group, outer)
        np.add.at(atb, group, rows_x * x[:, None] + rows_y * y[:, None])
        sel = np.flatnonzero(free)
        det = np.linalg.det(ata[sel])
        ok = np.abs(det) > 1e-9
        sel = sel[ok]
        if sel.size:
            sol = np.linalg.solve(ata[sel], atb[sel][..., None])[..., 0]
            cx[sel], cy[sel], ux[sel], uy[sel] = sol[:, 0], sol[:, 1], sol[:, 2], sol[:, 3]
    radius = np.hypot(ux, uy)
    rot = wrap60(np.rad2deg(np.arctan2(uy, ux)))
    px = cx[group] + cs * ux[group] - sn * uy[group]
    py = cy[group] + sn * ux[group] + cs * uy[group]
    sq = (px - x) ** 2 + (py - y) ** 2
    res = np.sqrt(np.bincount(group, sq, n_groups) / np.maximum(count, 1))
    return {
        "center_y": cy,
        "center_x": cx,
        "radius_px": radius,
        "rotation_deg": rot,
        "residual_px": res,
        "count": count.astype(np.int64),
    }
