"""Regular hexagons of Bragg spots about the transmitted beam, found by RANSAC.

The study's method: sample two spots, generate the regular hexagon template they imply (centre
at the transmitted beam, radius and rotation from the pair), match the template's six predicted
vertices to detected spots within a distance tolerance, keep templates with enough matches, fit
the kept ones by least squares (:mod:`stemtf.phase.lattice`), remove their spots and search again.

:func:`ransac_hexagons` is that loop for one pattern, with a seeded generator.
:func:`find_hexagons_batch` is the fast path for a batch: patterns have a few dozen spots, so it
scores *every* two-spot sample (exhaustive RANSAC, deterministic) for all patterns at once with
array operations; per pattern the result is the same set of hexagons as a RANSAC run that
samples every pair.
"""

from __future__ import annotations

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.lattice import fit_hexagons, hexagon_vertices, vertex_index, wrap60
from stemtf.phase.spots import SpotTable

__all__ = ["HEXAGON_PX_DTYPE", "ransac_hexagons", "find_hexagons_batch"]

#: One accepted hexagon in detector pixels.
HEXAGON_PX_DTYPE = np.dtype(
    [
        ("dp_index", np.int64),
        ("radius_px", np.float64),
        ("rotation_deg", np.float64),
        ("inliers", np.int16),
        ("residual_px", np.float64),
        ("center_y", np.float64),
        ("center_x", np.float64),
        ("intensity", np.float64),
    ]
)

_POPCOUNT = np.array([bin(i).count("1") for i in range(64)], np.int16)


def _check_params(tolerance_px: float, min_matches: int) -> None:
    if not (tolerance_px > 0):
        raise InputError(f"tolerance_px={tolerance_px!r} is not allowed: it must be > 0")
    if not (2 <= int(min_matches) <= 6):
        raise InputError(f"min_matches={min_matches!r} is out of range: allowed 2 to 6")


def _match_template(pts: np.ndarray, verts: np.ndarray, tol: float) -> np.ndarray:
    """For each of 6 vertices, the index of the nearest point within ``tol`` or -1."""
    d = np.linalg.norm(verts[:, None, :] - pts[None, :, :2], axis=-1)
    j = np.argmin(d, axis=1)
    return np.where(d[np.arange(6), j] <= tol, j, -1)


def ransac_hexagons(
    spots: np.ndarray,
    center_yx,
    *,
    rng: np.random.Generator | int | None = None,
    tolerance_px: float = 2.0,
    min_matches: int = 3,
    max_trials: int = 200,
    max_hexagons: int = 4,
    min_radius_px: float = 3.0,
) -> np.ndarray:
    """Find regular hexagons of spots about ``center_yx`` in one pattern by RANSAC.

    Parameters
    ----------
    spots : ndarray, shape (K, 2) or (K, 3)
        Spot positions ``[y, x]`` [px] (a third column, intensity, is used to rank ties).
    center_yx : (float, float)
        Transmitted-beam position [px]; the template centre.
    rng : numpy.random.Generator or int, optional
        Source of the random two-spot samples.
    tolerance_px : float
        Maximum distance [px] between a predicted vertex and its matched spot.
    min_matches : int
        Minimum matched vertices (of 6) to keep a template.
    max_trials : int
        Two-spot samples drawn per search.
    max_hexagons : int
        Stop after this many hexagons.
    min_radius_px : float
        Ignore spots closer than this to the centre (the transmitted beam).

    Returns
    -------
    ndarray of :data:`HEXAGON_PX_DTYPE`
        One row per accepted hexagon (``dp_index`` 0), strongest first; empty if none.
    """
    _check_params(tolerance_px, min_matches)
    rng = np.random.default_rng(rng)
    pts = np.asarray(spots, float).reshape(-1, np.shape(spots)[-1] if np.ndim(spots) == 2 else 3)
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.ones(len(pts))])
    c = np.asarray(center_yx, float)
    r_all = np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1])
    pts = pts[r_all >= min_radius_px]
    out = []
    while len(out) < max_hexagons and len(pts) >= min_matches:
        rel = pts[:, :2] - c
        r = np.hypot(rel[:, 0], rel[:, 1])
        ang = np.rad2deg(np.arctan2(rel[:, 0], rel[:, 1]))
        best = None
        for _ in range(max_trials):
            i, j = rng.choice(len(pts), size=2, replace=False)
            if abs(r[i] - r[j]) > tolerance_px:
                continue
            d = wrap60(ang[j] - ang[i] + 30.0) - 30.0
            if abs(np.deg2rad(d)) * 0.5 * (r[i] + r[j]) > tolerance_px:
                continue
            rot = wrap60(ang[i] + 0.5 * d)
            verts = hexagon_vertices(c, 0.5 * (r[i] + r[j]), rot)
            match = _match_template(pts, verts, tolerance_px)
            n = int((match >= 0).sum())
            score = (n, pts[match[match >= 0], 2].sum())
            if n >= min_matches and (best is None or score > best[0]):
                best = (score, match, rot)
        if best is None:
            break
        _, match, rot = best
        sel = match[match >= 0]
        k = vertex_index(ang[sel], rot)
        fit = fit_hexagons(
            np.zeros(sel.size, np.int64),
            pts[sel, 0],
            pts[sel, 1],
            k,
            1,
            center_yx=c[None],
            free_center_min=4,
        )
        row = np.zeros((), HEXAGON_PX_DTYPE)
        for name in ("radius_px", "rotation_deg", "residual_px", "center_y", "center_x"):
            row[name] = fit[name][0]
        row["inliers"] = sel.size
        row["intensity"] = pts[sel, 2].mean()
        out.append(row)
        pts = np.delete(pts, sel, axis=0)
    return np.array(out, HEXAGON_PX_DTYPE) if out else np.empty(0, HEXAGON_PX_DTYPE)


def _padded(table: SpotTable, n_dp: int, max_spots: int):
    """Strongest ``max_spots`` spots per pattern in padded (B, S) arrays."""
    order = np.lexsort((-table.intensity, table.dp_index))
    b = table.dp_index[order].astype(np.int64)
    start = np.searchsorted(b, np.arange(n_dp))
    rank = np.arange(b.size) - start[b]
    keep = rank < max_spots
    order, b, rank = order[keep], b[keep], rank[keep]
    s = max(int(rank.max()) + 1, 1) if rank.size else 1
    y = np.zeros((n_dp, s))
    x = np.zeros((n_dp, s))
    w = np.zeros((n_dp, s))
    valid = np.zeros((n_dp, s), bool)
    y[b, rank] = table.y[order]
    x[b, rank] = table.x[order]
    w[b, rank] = table.intensity[order]
    valid[b, rank] = True
    return y, x, w, valid


def find_hexagons_batch(
    table: SpotTable,
    centers_yx: np.ndarray,
    *,
    tolerance_px: float = 2.0,
    min_matches: int = 3,
    max_hexagons: int = 4,
    max_spots: int = 18,
    min_radius_px: float = 3.0,
) -> np.ndarray:
    """Hexagons of every pattern of a batch, scoring all two-spot samples at once.

    Parameters
    ----------
    table : SpotTable
        Spots of the batch.
    centers_yx : ndarray, shape (B, 2)
        Transmitted-beam position per pattern [px].
    tolerance_px, min_matches, max_hexagons, min_radius_px
        As in :func:`ransac_hexagons`.
    max_spots : int
        Only the strongest ``max_spots`` spots of each pattern take part.

    Returns
    -------
    ndarray of :data:`HEXAGON_PX_DTYPE`
        All accepted hexagons, sorted by pattern then by discovery order.
    """
    _check_params(tolerance_px, min_matches)
    centers = np.asarray(centers_yx, float)
    n_dp = centers.shape[0]
    y, x, w, valid = _padded(table, n_dp, max_spots)
    ry = y - centers[:, 0:1]
    rx = x - centers[:, 1:2]
    r = np.hypot(ry, rx)
    ang = np.rad2deg(np.arctan2(ry, rx))
    valid &= r >= min_radius_px
    # Pair (i, j) geometry: radial and tangential distance of spot j from spot i's template.
    dr = r[:, None, :] - r[:, :, None]
    dth = wrap60(ang[:, None, :] - ang[:, :, None] + 30.0) - 30.0
    rmean = 0.5 * (r[:, None, :] + r[:, :, None])
    dist2 = dr**2 + (np.deg2rad(dth) * rmean) ** 2
    # vertex of j relative to i's template (0..5)
    kij = np.mod(np.rint((ang[:, None, :] - ang[:, :, None]) / 60.0), 6).astype(np.int64)
    bits = np.int64(1) << kij
    tol2 = tolerance_px**2
    rows = []
    alive = valid.copy()
    bidx = np.arange(n_dp)
    for _ in range(max_hexagons):
        pair = (dist2 <= tol2) & alive[:, None, :] & alive[:, :, None]
        vb = np.bitwise_or.reduce(np.where(pair, bits, 0), axis=2)
        count = _POPCOUNT[vb]
        partner = pair.sum(axis=2) >= 2  # the spot and at least one other: a two-spot sample
        count = np.where(partner & alive, count, 0)
        score = count * 1e6 + np.where(pair, w[:, None, :], 0).sum(axis=2) / (
            np.abs(w).max(axis=1, keepdims=True) * max_spots + 1e-30
        )
        best = np.argmax(score, axis=1)
        nbest = count[bidx, best]
        ok = nbest >= min_matches
        if not ok.any():
            break
        bsel = bidx[ok]
        isel = best[ok]
        inl = pair[bsel, isel]  # (n, S) inliers of the seed template
        # Refine: least squares on the matched spots, one vertex per spot.
        g, j = np.nonzero(inl)
        k = kij[bsel[g], isel[g], j]
        fit = fit_hexagons(
            g,
            y[bsel[g], j],
            x[bsel[g], j],
            k,
            bsel.size,
            center_yx=centers[bsel],
            free_center_min=4,
        )
        inten = np.bincount(g, w[bsel[g], j], bsel.size) / np.maximum(fit["count"], 1)
        out = np.zeros(bsel.size, HEXAGON_PX_DTYPE)
        out["dp_index"] = bsel
        out["radius_px"] = fit["radius_px"]
        out["rotation_deg"] = fit["rotation_deg"]
        out["inliers"] = _POPCOUNT[vb[bsel, isel]]
        out["residual_px"] = fit["residual_px"]
        out["center_y"] = fit["center_y"]
        out["center_x"] = fit["center_x"]
        out["intensity"] = inten
        rows.append(out)
        alive[bsel] &= ~inl
    if not rows:
        return np.empty(0, HEXAGON_PX_DTYPE)
    allrows = np.concatenate(rows)
    return allrows[np.argsort(allrows["dp_index"], kind="stable")]
