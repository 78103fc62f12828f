"""Precise radius of a hexagon of Bragg disks from the count centroids of its disks.

The DoG spot positions that find a hexagon are good to a few tenths of a pixel; telling pure O1
from a column holding O1 and O3 needs the {110} ring radius to a small fraction of the 1.8 %
that separates the two lattices (~1 px at 128 px, ~1.6 px at 256 px). In a column holding both,
each {110} disk is the blend of an O3 and an O1 disk about 1 px apart, so its count centroid
sits between the two lattices in proportion to their intensities: the radius measures the O1
share of the ring, independent of thickness (which only changes the intensities).

The measurement: at each of the six predicted vertices, the background-subtracted count
centroid inside a disk-sized window (re-centred twice); the radius from Friedel pairs (half the
distance between opposite disks: free of the beam-centre position, and with the linear
ellipticity correction applied to the pair vector, free of the distortion), or, where no
opposite pair is bright enough (mistilt dims half of a hexagon), from the vertices' distance
to the beam centre. Given the transmitted beam's measured position and its uncertainty
(``beam_yx``, ``beam_sd_px``), a circle fit of all six disks with the centre held to the beam
instead (:func:`circle_radius_with_beam`): what :mod:`stemtf.phase.classify` uses.

``method="ml"`` refines each centroid by a Poisson maximum-likelihood fit of a flat-topped disk
(radius ``disk_radius_px``, edges blurred by :data:`EDGE_SIGMA_PX`) on a flat background:
the position information of a Bragg disk is in its edge, which the centroid weighs no more than
its interior, so the fit is about 1.5x more precise on large disks (7-8 px) and no better on
small ones (~5 px); :func:`stemtf.phase.learn.refine_on_sample` lets each scan choose by the
scatter of the first phase's radius.
"""

from __future__ import annotations

import math

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import correct_ellipticity, hexagon_on_detector

__all__ = [
    "disk_centroids",
    "count_centroids",
    "hexagon_radius_fine",
    "radius_sigma_px",
    "circle_radius_with_beam",
    "FINE_METHODS",
    "EDGE_SIGMA_PX",
]

#: Estimators of the disk positions: count centroid, or Poisson maximum-likelihood disk fit.
FINE_METHODS = ("centroid", "ml")
#: Edge blur [px] of the disk model of the maximum-likelihood fit (detector point-spread and
#: pixel size; a mismatch costs precision, not accuracy: the model stays symmetric).
EDGE_SIGMA_PX = 1.0
#: Fisher-scoring steps of the disk fit, and the largest position step per iteration [px].
_ML_ITERATIONS, _ML_MAX_STEP_PX = 4, 1.0

#: Pixels beyond the disk radius that belong to the disk window (soft edge, blur).
_INNER_PAD_PX = 1.0
#: Background annulus around the window [px beyond the disk radius].
_BG_FROM_PX, _BG_TO_PX = 1.5, 3.0
#: Re-centring passes of the centroid window.
_ITERATIONS = 2


def hexagon_radius_fine(
    dps: np.ndarray,
    index: np.ndarray,
    centers_yx: np.ndarray,
    radius_px: np.ndarray,
    rotation_deg: np.ndarray,
    *,
    disk_radius_px: float,
    ellipticity_ratio: float = 1.0,
    ellipticity_angle_deg: float = 0.0,
    min_counts: float = 10.0,
    method: str = "centroid",
    beam_yx: np.ndarray | None = None,
    beam_sd_px: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Radius [px, undistorted frame] of one hexagon per row from its disks' count centroids.

    Parameters
    ----------
    dps : ndarray, shape (B, H, W)
        Patterns in counts (hot pixels already suppressed).
    index : int ndarray, shape (N,)
        Pattern of each hexagon.
    centers_yx : ndarray, shape (N, 2)
        Hexagon centre [px] (transmitted beam), detector frame.
    radius_px, rotation_deg : ndarray, shape (N,)
        Starting hexagon (undistorted frame), e.g. the RANSAC fit.
    disk_radius_px : float
        Bragg disk radius [px].
    ellipticity_ratio, ellipticity_angle_deg : float
        Detector distortion (:class:`~stemtf.phase.calibration.Calibration`).
    min_counts : float
        A disk takes part only with at least this many background-subtracted counts.
    method : {"centroid", "ml"}
        Disk positions from count centroids, or refined by a maximum-likelihood disk fit.
    beam_yx, beam_sd_px : ndarray (N, 2) and (N,), optional
        The transmitted beam's measured position [px, detector frame] and its uncertainty
        [px]. Given, the radius is a weighted circle fit of every disk (weight: its counts) whose
        centre is held to the beam within that uncertainty (:func:`circle_radius_with_beam`)
        instead of the Friedel-pair estimate; see there for why. ``inf`` for a row: its beam
        position is not trusted (e.g. taken from Friedel pairs of spots) and the row keeps the
        Friedel-pair estimate.

    Returns
    -------
    radius : ndarray (N,)
        Refined radius [px]; NaN where no disk held ``min_counts``.
    signal : ndarray (N,)
        Background-subtracted counts in the six disks.
    """
    idx = np.asarray(index, np.int64).reshape(-1)
    c = np.asarray(centers_yx, float).reshape(idx.size, 2)
    py, px, signal = disk_centroids(
        dps,
        idx,
        c,
        radius_px,
        rotation_deg,
        disk_radius_px=disk_radius_px,
        ellipticity_ratio=ellipticity_ratio,
        ellipticity_angle_deg=ellipticity_angle_deg,
        method=method,
    )
    if idx.size == 0:
        return np.zeros(0), np.zeros(0)
    if ellipticity_ratio != 1.0:
        py, px = correct_ellipticity(
            py, px, c[:, None, :], ellipticity_ratio, ellipticity_angle_deg
        )
    good = signal >= min_counts
    if beam_yx is not None and beam_sd_px is None:
        raise InputError("beam_yx needs beam_sd_px (the beam position's uncertainty [px])")
    # Friedel pairs (k, k + 3): half the distance, weighted by the weaker disk of the pair
    pr = 0.5 * np.hypot(py[:, :3] - py[:, 3:], px[:, :3] - px[:, 3:])
    pw = np.where(good[:, :3] & good[:, 3:], np.minimum(signal[:, :3], signal[:, 3:]), 0.0)
    # vertices about the beam centre (where no pair is complete)
    vr = np.hypot(py - c[:, 0:1], px - c[:, 1:2])
    vw = np.where(good, signal, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_pair = (pr * pw).sum(axis=1) / pw.sum(axis=1)
        r_vert = (vr * vw).sum(axis=1) / vw.sum(axis=1)
    radius = np.where(pw.sum(axis=1) > 0, r_pair, r_vert)
    if beam_yx is not None:
        sd = np.broadcast_to(np.asarray(beam_sd_px, float), (idx.size,))
        if np.any(np.isnan(sd)) or np.any(sd <= 0):
            raise InputError("beam_sd_px must be > 0 (inf: no beam for that row)")
        held = np.isfinite(sd)  # rows without a trusted beam keep the Friedel-pair radius
        if held.any():
            b = np.asarray(beam_yx, float).reshape(idx.size, 2)[held]
            if ellipticity_ratio != 1.0:
                by, bx = correct_ellipticity(
                    b[:, 0], b[:, 1], c[held], ellipticity_ratio, ellipticity_angle_deg
                )
                b = np.column_stack([by, bx])
            w = np.where(good[held], 4.0 * signal[held] / disk_radius_px**2, 0.0)
            radius[held] = circle_radius_with_beam(py[held], px[held], w, b, sd[held])
    return radius, np.where(good, signal, 0.0).sum(axis=1)


#: Gauss-Newton steps of :func:`circle_radius_with_beam`.
_CIRCLE_ITERATIONS = 4


def circle_radius_with_beam(py, px, weight, beam_yx, beam_sd_px) -> np.ndarray:
    """Radius [px] of disks on a circle whose centre is the measured beam, within its error.

    Minimises ``sum_k w_k (|p_k - c| - r)^2 + |c - b|^2 / s^2`` over the centre ``c`` and
    radius ``r`` (Gauss-Newton from ``c = b``): the disks' radial residuals weighted by their
    precision ``w_k`` (1 / variance per axis: 4 S / R^2 for a disk of radius R holding S
    counts), the centre held to the transmitted beam ``b`` with uncertainty ``s``.

    Why not the Friedel pairs alone: a pair's half-distance is as precise as its weaker disk,
    and under a mistilt of 10-20 mrad the excitation error dims one side of the hexagon, so
    most pairs hold one strong and one faint disk. The transmitted disk holds most of the
    pattern's counts and locates the centre to ~0.1 px, so each strong disk then measures the
    radius by itself. On the field library's clean O3 patterns under Poisson noise, with the
    beam located by its own counts, the share's scatter (radius in units of the O3-O1 gap)
    at 2e3 e-/pattern falls from 0.24-0.33 to 0.15-0.27 at 7-20 mrad and stays at 0.14
    untilted (``scripts/bench_ringfit.py --split check``). With the beam uncertainty large it
    reduces to a free-centre circle fit.

    Parameters
    ----------
    py, px : ndarray (N, K)
        Disk positions [px], undistorted frame.
    weight : ndarray (N, K)
        Precision of each disk position [1/px^2]; 0 leaves a disk out.
    beam_yx : ndarray (N, 2)
        Beam position [px], same frame.
    beam_sd_px : ndarray (N,) or float
        Its uncertainty [px] (> 0).

    Returns
    -------
    ndarray (N,)
        NaN where no disk has weight.
    """
    py, px = np.asarray(py, float), np.asarray(px, float)
    w = np.asarray(weight, float)
    n = py.shape[0]
    b = np.asarray(beam_yx, float).reshape(n, 2)
    sd = np.broadcast_to(np.asarray(beam_sd_px, float), (n,))
    if not (np.all(np.isfinite(sd)) and np.all(sd > 0)):
        raise InputError("beam_sd_px must be finite and > 0 for every row")
    prior = 1.0 / sd**2
    wsum = w.sum(axis=1)
    c = b.copy()
    for _ in range(_CIRCLE_ITERATIONS):
        dy, dx = py - c[:, :1], px - c[:, 1:]
        d = np.maximum(np.hypot(dy, dx), 1e-9)
        uy, ux = dy / d, dx / d
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (w * d).sum(axis=1) / wsum
        e = d - r[:, None]
        # normal equations of (dcy, dcx, dr): residual derivative (-uy, -ux, -1) per disk
        jac = np.stack([-uy, -ux, -np.ones_like(uy)], axis=-1)  # (N, K, 3)
        a = np.einsum("nki,nk,nkj->nij", jac, w, jac)
        g = -np.einsum("nki,nk,nk->ni", jac, w, e)
        a[:, 0, 0] += prior
        a[:, 1, 1] += prior
        g[:, 0] -= prior * (c[:, 0] - b[:, 0])
        g[:, 1] -= prior * (c[:, 1] - b[:, 1])
        ok = (wsum > 0) & (np.abs(np.linalg.det(a)) > 1e-12)
        step = np.zeros((n, 3))
        step[ok] = np.linalg.solve(a[ok], g[ok][..., None])[..., 0]
        c += step[:, :2]
    d = np.hypot(py - c[:, :1], px - c[:, 1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, (w * d).sum(axis=1) / wsum, np.nan)


def disk_centroids(
    dps: np.ndarray,
    index: np.ndarray,
    centers_yx: np.ndarray,
    radius_px: np.ndarray,
    rotation_deg: np.ndarray,
    *,
    disk_radius_px: float,
    ellipticity_ratio: float = 1.0,
    ellipticity_angle_deg: float = 0.0,
    method: str = "centroid",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions [px, detector frame] and counts of the six disks of one hexagon per row.

    The disks are looked for where the hexagon (undistorted frame, distortion applied) puts
    them, then located by their background-subtracted count centroids (re-centred
    :data:`_ITERATIONS` times), with ``method="ml"`` refined by the disk fit.

    Returns
    -------
    py, px : ndarray (N, 6)
        Disk centres on the detector [px] (distortion not removed).
    signal : ndarray (N, 6)
        Background-subtracted counts in each disk.
    """
    arr = np.asarray(dps)
    if arr.ndim != 3:
        raise InputError(f"dps must be a (B, H, W) batch, got shape {arr.shape}")
    if not disk_radius_px > 0:
        raise InputError(f"disk_radius_px={disk_radius_px!r} is not allowed: it must be > 0")
    if method not in FINE_METHODS:
        raise InputError(f"method={method!r} is not allowed: one of {FINE_METHODS}")
    idx = np.asarray(index, np.int64).reshape(-1)
    n = idx.size
    if n == 0:
        return np.zeros((0, 6)), np.zeros((0, 6)), np.zeros((0, 6))
    c = np.asarray(centers_yx, float).reshape(n, 2)
    vy, vx = hexagon_on_detector(
        c,
        np.asarray(radius_px, float),
        np.asarray(rotation_deg, float),
        ellipticity_ratio,
        ellipticity_angle_deg,
    )
    py, px, signal, (vals, by, bx, inside) = count_centroids(arr, idx, vy, vx, disk_radius_px)
    if method == "ml":
        yy = np.broadcast_to(by, vals.shape).astype(np.float64)
        xx = np.broadcast_to(bx, vals.shape).astype(np.float64)
        vals = vals.astype(np.float64)
        py, px = _ml_disk_positions(vals, yy, xx, inside, py, px, disk_radius_px)
    return py, px, signal


def count_centroids(arr, idx, vy, vx, disk_radius_px: float, iterations: int = _ITERATIONS):
    """Re-centred background-subtracted count centroids of disks starting at (vy, vx).

    Parameters
    ----------
    arr : ndarray (B, H, W)
        Patterns in counts.
    idx : int ndarray (N,)
        Pattern of each row.
    vy, vx : ndarray (N, K)
        Starting positions [px] of K disks per row.
    disk_radius_px : float
    iterations : int
        Re-centring passes: the window (disk radius + 1 px, exact distances from the current
        sub-pixel centre) and its background annulus (1.5-3 px beyond the radius) follow the
        centroid; a window off the disk's centre cuts it and pulls the centroid to the start.

    Returns
    -------
    py, px : ndarray (N, K)
        Centroids [px]; the start where a window held no positive excess.
    signal : ndarray (N, K)
        Background-subtracted counts (negative excess clipped per pixel).
    windows : tuple
        ``(vals, by, bx, inside)``: the windows' counts (float32) and pixel coordinates.
    """
    h, w = arr.shape[1:]
    vy, vx = np.asarray(vy, float), np.asarray(vx, float)
    shape = vy.shape
    half = int(math.ceil(disk_radius_px + _BG_TO_PX + 1.0))
    off = np.arange(-half, half + 1)
    iy = np.rint(vy).astype(np.int64)
    ix = np.rint(vx).astype(np.int64)
    by = iy[..., None, None] + off[:, None]  # (N, K, P, 1)
    bx = ix[..., None, None] + off[None, :]  # (N, K, 1, P)
    inside = (by >= 0) & (by < h) & (bx >= 0) & (bx < w)
    vals = arr[
        idx.reshape((-1,) + (1,) * (vy.ndim + 1)), np.clip(by, 0, h - 1), np.clip(bx, 0, w - 1)
    ]
    vals = np.where(inside, vals, 0.0).astype(np.float32)
    # flat windows (M, P, P), float32, coordinates relative to each window's centre pixel
    m = int(np.prod(shape))
    p = off.size
    v = vals.reshape(m, p, p)
    edge = None if inside.all() else np.broadcast_to(inside, vals.shape).reshape(m, p, p)
    o = off.astype(np.float32)
    cy = (vy - iy).reshape(m).astype(np.float32)
    cx = (vx - ix).reshape(m).astype(np.float32)
    r_in2 = np.float32((disk_radius_px + _INNER_PAD_PX) ** 2)
    bg_from2 = np.float32((disk_radius_px + _BG_FROM_PX) ** 2)
    bg_to2 = np.float32((disk_radius_px + _BG_TO_PX) ** 2)
    signal = np.zeros(m, np.float32)
    for _ in range(max(1, int(iterations))):
        # squared distances from the current sub-pixel centre, separable in y and x
        d2 = (o[None, :, None] - cy[:, None, None]) ** 2 + (
            o[None, None, :] - cx[:, None, None]
        ) ** 2
        ring = (d2 > bg_from2) & (d2 <= bg_to2)
        disk = d2 <= r_in2
        if edge is not None:
            ring &= edge
            disk &= edge
        n_ring = ring.sum(axis=(1, 2))
        bg = np.where(n_ring > 0, np.einsum("mij,mij->m", v, ring.astype(np.float32)), 0.0)
        bg = (bg / np.maximum(n_ring, 1)).astype(np.float32)
        wgt = np.maximum(v - bg[:, None, None], 0.0) * disk
        signal = wgt.sum(axis=(1, 2))
        ok = signal > 0
        s = np.where(ok, signal, 1.0)
        cy = np.where(ok, wgt.sum(axis=2) @ o / s, cy)
        cx = np.where(ok, wgt.sum(axis=1) @ o / s, cx)
    py = (iy + cy.reshape(shape)).astype(float)
    px = (ix + cx.reshape(shape)).astype(float)
    signal = signal.reshape(shape).astype(float)
    return py, px, signal, (vals, by, bx, inside)


def radius_sigma_px(signal: np.ndarray, disk_radius_px: float) -> np.ndarray:
    """Shot-noise precision [px] of a ring radius from its disks' ``signal`` counts.

    A uniform disk of radius R located from S counts scatters by about R / 2 / sqrt(S) per
    axis (its centroid's spread); the six disks' counts together. ``inf`` where S is 0.
    """
    s = np.asarray(signal, float)
    with np.errstate(divide="ignore"):
        return np.where(s > 0, disk_radius_px / (2.0 * np.sqrt(np.maximum(s, 0.0))), np.inf)


def _ml_disk_positions(vals, yy, xx, inside, py, px, disk_radius_px: float):
    """Poisson maximum-likelihood disk centres, each (N, 6), from starting ``py``, ``px``.

    Model of the counts in a disk's window: ``bg + amp * D(|p - c|)`` with
    ``D(d) = erfc((d - R) / (sqrt(2) s)) / 2`` (a flat disk of radius R, edges blurred by s);
    parameters (cy, cx, amp, bg) by Fisher scoring, the position step capped per iteration.
    Disks whose fit fails (singular information, no counts) keep their start. The per-pixel
    model runs in float32 relative to each window's centre pixel (sums and the 4 x 4 solve in
    float64): ~1.6x faster than float64 throughout, positions within 0.003 px of it.
    """
    from scipy.special import erfc

    f = np.float32
    m = py.shape
    n = vals.reshape(m + (-1,)).astype(f)
    # coordinates relative to each window's centre pixel keep float32 exact to ~1e-5 px
    y0 = np.floor(np.asarray(py, float))
    x0 = np.floor(np.asarray(px, float))
    y = (yy.reshape(n.shape) - y0[..., None]).astype(f)
    x = (xx.reshape(n.shape) - x0[..., None]).astype(f)
    w_in = inside.reshape(n.shape).astype(f)
    cy, cx = py - y0, px - x0
    root2s = math.sqrt(2.0) * EDGE_SIGMA_PX
    slope_scale = f(1.0 / (math.sqrt(math.pi) * root2s))

    def rel(a):
        return a[..., None].astype(f)

    # starting amplitude and background: outside / inside the disk
    d = np.hypot(y - rel(cy), x - rel(cx))
    out = w_in * (d > disk_radius_px + _BG_FROM_PX)
    bg = np.maximum(
        (n * out).sum(-1, dtype=np.float64) / np.maximum(out.sum(-1, dtype=np.float64), 1.0), 1e-3
    )
    disk = w_in * (d <= disk_radius_px)
    amp = np.maximum(
        (n * disk).sum(-1, dtype=np.float64) / np.maximum(disk.sum(-1, dtype=np.float64), 1.0) - bg,
        1e-3,
    )
    for _ in range(_ML_ITERATIONS):
        dy, dx = y - rel(cy), x - rel(cx)
        d = np.maximum(np.hypot(dy, dx), f(1e-6))
        t = (d - f(disk_radius_px)) / f(root2s)
        prof = f(0.5) * erfc(t)
        # d mu / d (cy, cx) = amp * D'(d) * (-(p - c) / d), D' = -exp(-t^2) / (sqrt(pi) root2s)
        g = rel(amp) * slope_scale * np.exp(-t * t) / d
        jac = (g * dy, g * dx, prof, np.ones_like(prof))
        mu = np.maximum(rel(bg) + rel(amp) * prof, f(1e-6))
        wgt = w_in / mu
        res = (n - mu) * wgt
        info = np.empty(m + (4, 4))
        for i in range(4):
            ji = jac[i] * wgt
            for j in range(i, 4):
                info[..., i, j] = info[..., j, i] = (ji * jac[j]).sum(-1, dtype=np.float64)
        grad = np.stack([(jac[i] * res).sum(-1, dtype=np.float64) for i in range(4)], -1)
        info += np.eye(4) * 1e-9
        ok = np.isfinite(info).all(axis=(-1, -2)) & (np.linalg.det(info) > 0)
        step = np.zeros(m + (4,))
        step[ok] = np.linalg.solve(info[ok], grad[ok][..., None])[..., 0]
        step[..., :2] = np.clip(step[..., :2], -_ML_MAX_STEP_PX, _ML_MAX_STEP_PX)
        cy, cx = cy + step[..., 0], cx + step[..., 1]
        amp = np.maximum(amp + step[..., 2], 1e-3)
        bg = np.maximum(bg + step[..., 3], 1e-4)
    return cy + y0, cx + x0
