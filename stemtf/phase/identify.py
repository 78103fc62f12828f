"""Per-pattern phase identification: spots -> hexagons -> rings -> label and confidence.

Pure per-batch code (knows nothing of chunks, files or workers). One DoG filtering of the batch
serves the beam centres, the spots and the ring-intensity measurements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, correct_ellipticity
from stemtf.phase.center import beam_centers
from stemtf.phase.dog import dog_filter
from stemtf.phase.hexagons import HEXAGON_PX_DTYPE, find_hexagons_batch, ransac_hexagons
from stemtf.phase.lattice import hexagon_vertices, wrap60
from stemtf.phase.model import PhaseModel
from stemtf.phase.spots import SpotTable, find_spots_batch, noise_scale

__all__ = ["HEXAGON_DTYPE", "PhaseResult", "identify_phases"]

log = logging.getLogger(__name__)

#: One accepted hexagon of a pattern (the per-DP hexagon table of the analysis results).
HEXAGON_DTYPE = np.dtype([
    ("dp_index", np.int64),
    ("phase", np.uint8),  # 0 unassigned, 1 first phase's ring, 2 second phase's ring
    ("radius_invA", np.float32),
    ("radius_norm", np.float32),
    ("rotation_deg", np.float32),
    ("inliers", np.uint8),
    ("residual_px", np.float32),
    ("center_y", np.float32),
    ("center_x", np.float32),
    ("intensity", np.float32),
])
#: Patterns filtered together (keeps the working set in cache).
_SUB_BATCH = 128
#: Extra room [px] around the annulus for the descan (beam-centre) wander.
_DESCAN_MARGIN_PX = 4.0


@dataclass(frozen=True)
class PhaseResult:
    """Phase identification of a batch of B patterns.

    Attributes
    ----------
    labels : uint8 (B,)
        0 none, 1 first phase (O3), 2 second phase (O1), 3 both.
    confidence : float32 (B,)
        In [0, 1].
    spot_count : int32 (B,)
        Spots found in the annulus.
    hexagons : structured ndarray of :data:`HEXAGON_DTYPE`
        Every accepted hexagon.
    centers_yx : float32 (B, 2)
        Transmitted-beam position used per pattern [px].
    fraction : float32 (B,)
        Estimated fraction of the second phase (marker-ring intensity relative to pure).
    spots : SpotTable or None
        The spots (when asked for), positions in detector pixels.
    """

    labels: np.ndarray
    confidence: np.ndarray
    spot_count: np.ndarray
    hexagons: np.ndarray
    centers_yx: np.ndarray
    fraction: np.ndarray
    spots: SpotTable | None = None


def _bilinear(resp: np.ndarray, b: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = resp.shape[1:]
    y = np.clip(y, 0, h - 1.001)
    x = np.clip(x, 0, w - 1.001)
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    fy, fx = y - y0, x - x0
    return ((1 - fy) * (1 - fx) * resp[b, y0, x0] + (1 - fy) * fx * resp[b, y0, x0 + 1]
            + fy * (1 - fx) * resp[b, y0 + 1, x0] + fy * fx * resp[b, y0 + 1, x0 + 1])


def _hexagons_per_dp_ransac(table: SpotTable, centers, n_dp, seed, **kw) -> np.ndarray:
    """The obvious per-pattern RANSAC loop (reference for the batched path)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_dp):
        hx = ransac_hexagons(table.of(i), centers[i], rng=rng, **kw)
        hx["dp_index"] = i
        rows.append(hx)
    return np.concatenate(rows) if rows else np.empty(0, HEXAGON_PX_DTYPE)


def identify_phases(
    dps: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
    centers_yx: np.ndarray | None = None,
    tolerance_px: float | None = None,
    min_matches: int = 3,
    spot_threshold: float = 5.0,
    method: str = "batch",
    return_spots: bool = False,
) -> PhaseResult:
    """Label each pattern none / phase 1 / phase 2 / both with a confidence.

    Parameters
    ----------
    dps : ndarray, shape (B, H, W)
        Diffraction patterns, counts or denoised counts.
    calibration : Calibration
        Detector geometry (q sampling, disk size, global centre, ellipticity).
    model : PhaseModel
        Rings of the two phases (refined or not).
    seed : int
        Seed of the random two-spot samples (``method="ransac"`` only; the batch path scores
        every two-spot sample and is deterministic).
    centers_yx : ndarray, shape (B, 2), optional
        Known beam centres [px]; default: found per pattern.
    tolerance_px : float, optional
        Vertex match tolerance [px]; default max(2, 4 % of the reference ring radius).
    min_matches : int
        Minimum matched vertices per hexagon.
    spot_threshold : float
        Spot detection threshold in noise sigmas.
    method : {"batch", "ransac"}
        Vectorised exhaustive two-spot search, or the per-pattern random-sampling loop.
    return_spots : bool
        Keep the spots in the result.

    Returns
    -------
    PhaseResult
    """
    arr = np.asarray(dps)
    if arr.ndim != 3:
        raise InputError(f"dps must be a (B, H, W) batch, got shape {arr.shape}")
    if method not in ("batch", "ransac"):
        raise InputError(f"method={method!r} is not allowed: choose 'batch' or 'ransac'")
    n_dp = arr.shape[0]
    if n_dp == 0:
        return PhaseResult(np.zeros(0, np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int32),
                           np.empty(0, HEXAGON_DTYPE), np.zeros((0, 2), np.float32),
                           np.zeros(0, np.float32), None)
    if centers_yx is not None:
        centers_yx = np.asarray(centers_yx, float).reshape(n_dp, 2)
    parts = []
    for s in range(0, n_dp, _SUB_BATCH):
        e = min(s + _SUB_BATCH, n_dp)
        sub = np.ascontiguousarray(arr[s:e], dtype=np.float32)
        if not np.all(np.isfinite(sub)):
            raise InputError("diffraction patterns contain NaN or Inf values")
        parts.append(_identify_block(
            sub, calibration, model, seed=seed + s,
            centers_yx=None if centers_yx is None else centers_yx[s:e],
            tolerance_px=tolerance_px, min_matches=min_matches, spot_threshold=spot_threshold,
            method=method, return_spots=return_spots))
        if s:
            parts[-1].hexagons["dp_index"] += s
    if len(parts) == 1:
        return parts[0]
    spots = None
    if return_spots:
        offs = np.cumsum([0] + [p.labels.size for p in parts[:-1]])
        spots = SpotTable(*(np.concatenate([getattr(p.spots, f) + (o if f == "dp_index" else 0)
                                            for p, o in zip(parts, offs, strict=True)])
                            for f in ("dp_index", "y", "x", "intensity", "snr")))
    return PhaseResult(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("labels", "confidence", "spot_count", "hexagons",
                                   "centers_yx", "fraction")), spots)


def _identify_block(arr, calibration, model, *, seed, centers_yx, tolerance_px, min_matches,
                    spot_threshold, method, return_spots) -> PhaseResult:
    n_dp, h, w = arr.shape
    cal = calibration
    sigma = cal.sigma_px
    gc = cal.center_yx if cal.center_yx != (0.0, 0.0) else (float(h // 2), float(w // 2))
    resp = dog_filter(arr, sigma)
    if centers_yx is None:
        centers, _ = beam_centers(arr, sigma_px=sigma, guess_yx=gc,
                                  search_radius_px=max(6.0, 0.1 * min(h, w)), response=resp)
    else:
        centers = np.asarray(centers_yx, float).reshape(n_dp, 2)
    r_in, r_out = model.annulus_px(cal)
    yy, xx = np.mgrid[:h, :w]
    rr = np.hypot(yy - gc[0], xx - gc[1])
    mask = (rr >= max(r_in - _DESCAN_MARGIN_PX, 2 * cal.disk_radius_px + 1)) & (
        rr <= r_out + _DESCAN_MARGIN_PX)
    radii_px = model.radii_px(cal)
    if radii_px.max() + cal.disk_radius_px > min(h, w) / 2:
        log.warning("detector %dx%d is too small for the outer phase ring (%.1f px); "
                    "patterns may be labelled none", h, w, radii_px.max())
    noise = noise_scale(resp, mask)
    table = find_spots_batch(arr, sigma_px=sigma, threshold=spot_threshold, mask=mask,
                             response=resp, noise=noise)
    spot_count = np.bincount(table.dp_index, minlength=n_dp).astype(np.int32)
    hex_table = table
    if cal.ellipticity_ratio != 1.0:
        yc, xc = correct_ellipticity(table.y, table.x, centers[table.dp_index],
                                     cal.ellipticity_ratio, cal.ellipticity_angle_deg)
        hex_table = SpotTable(table.dp_index, yc, xc, table.intensity, table.snr)
    ref_px = model.reference_radius_invA / cal.q_sampling_invA
    tol = tolerance_px if tolerance_px is not None else max(2.0, 0.04 * ref_px)
    kw = dict(tolerance_px=tol, min_matches=min_matches, max_hexagons=4,
              min_radius_px=2 * cal.disk_radius_px + 1)
    if method == "batch":
        hx = find_hexagons_batch(hex_table, centers, **kw)
    else:
        hx = _hexagons_per_dp_ransac(hex_table, centers, n_dp, seed, **kw)
    labels, conf, frac, hexagons = _classify(hx, resp, noise, centers, cal, model, n_dp)
    return PhaseResult(labels, conf, spot_count, hexagons, centers.astype(np.float32), frac,
                       table if return_spots else None)


def _classify(hx, resp, noise, centers, cal: Calibration, model: PhaseModel, n_dp: int):
    q = cal.q_sampling_invA
    ring_r = np.array([r.radius_invA for r in model.rings])
    ring_rot = np.array([r.rotation_deg for r in model.rings])
    ring_phase = np.array([r.phase for r in model.rings])
    ring_marker = np.array([r.marker for r in model.rings])
    rad = hx["radius_px"] * q
    if hx.size:
        rel = rad[:, None] / ring_r[None, :] - 1
        ring_i = np.argmin(np.abs(rel), axis=1)
        ok = np.abs(rel[np.arange(hx.size), ring_i]) < model.ring_tolerance
    else:
        ring_i = np.zeros(0, np.int64)
        ok = np.zeros(0, bool)
    out = np.zeros(hx.size, HEXAGON_DTYPE)
    for name in ("dp_index", "rotation_deg", "residual_px", "center_y", "center_x", "intensity"):
        out[name] = hx[name]
    out["inliers"] = hx["inliers"]
    out["radius_invA"] = rad
    out["radius_norm"] = rad / model.reference_radius_invA
    out["phase"] = np.where(ok, ring_phase[ring_i] + 1, 0)
    # Primary hexagon per pattern: assigned, most inliers, then strongest.
    prim = np.full(n_dp, -1)
    if ok.any():
        cand = np.flatnonzero(ok)
        order = cand[np.lexsort((-hx["intensity"][cand], -hx["inliers"][cand],
                                 hx["dp_index"][cand]))]
        dpi = hx["dp_index"][order]
        first = np.r_[True, dpi[1:] != dpi[:-1]]
        prim[dpi[first]] = order[first]
    has = prim >= 0
    labels = np.zeros(n_dp, np.uint8)
    conf = np.ones(n_dp, np.float32)
    frac = np.zeros(n_dp, np.float32)
    idx = np.flatnonzero(has)
    # Patterns with no assigned hexagon: none; confidence falls with unassigned hexagons.
    if hx.size:
        best_any = np.zeros(n_dp)
        np.maximum.at(best_any, hx["dp_index"], hx["inliers"].astype(float))
        conf[~has] = np.clip(1.0 - np.maximum(best_any[~has] - 2, 0) / 4.0, 0.0, 1.0)
    if idx.size == 0:
        return labels, conf, frac, out
    p = prim[idx]
    pr = ring_i[p]
    scale = rad[p] / ring_r[pr]
    lat_rot = hx["rotation_deg"][p] - ring_rot[pr]
    # Templates of every ring at this pattern's scale and lattice rotation.
    tr = scale[:, None] * ring_r[None, :] / q
    trot = wrap60(lat_rot[:, None] + ring_rot[None, :])
    c = centers[idx]
    verts = hexagon_vertices(c[:, None, :], tr, trot)  # (n, R, 6, 2)
    vy, vx = verts[..., 0], verts[..., 1]
    if cal.ellipticity_ratio != 1.0:
        vy, vx = correct_ellipticity(vy, vx, c[:, None, None, :], 1.0 / cal.ellipticity_ratio,
                                     cal.ellipticity_angle_deg)
    bb = np.broadcast_to(idx[:, None, None], vy.shape)
    inten = _bilinear(resp, bb, vy, vx).mean(axis=2)  # (n, R)
    nz = noise[idx][:, None] / np.sqrt(6.0)
    snr = inten / np.where(nz > 0, nz, np.inf)
    present = (snr >= model.min_marker_snr) | (nz == 0) & (inten > 0)
    shared = ~ring_marker
    i_shared = np.where(shared[None, :], np.maximum(inten, 0), 0).max(axis=1)
    m2 = ring_marker & (ring_phase == 1)
    m1 = ring_marker & (ring_phase == 0)
    i_m2 = np.where(m2[None, :] & present, np.maximum(inten, 0), 0).max(axis=1) if m2.any() \
        else np.zeros(idx.size)
    i_m1 = np.where(m1[None, :] & present, np.maximum(inten, 0), 0).max(axis=1) if m1.any() \
        else np.zeros(idx.size)
    ratio2 = model.marker_ratio if model.marker_ratio > 0 else 1.0
    safe = np.where(i_shared > 0, i_shared, np.inf)
    f2 = np.clip((i_m2 / safe) / ratio2, 0.0, 1.0)
    f2 = np.where((i_shared <= 0) & (i_m2 > 0), 1.0, f2)
    if m1.any():  # a marker of the first phase pulls the fraction down
        f2 = np.where(i_m1 > 0, np.minimum(f2, 1.0 - np.minimum(i_m1 / safe, 1.0)), f2)
    lo, hi = model.mixed_low, model.mixed_high
    lab = np.where(f2 < lo, 1, np.where(f2 > hi, 2, 3)).astype(np.uint8)
    p_class = np.where(lab == 1, 1 - 0.5 * f2 / lo,
                       np.where(lab == 2, 0.5 + 0.5 * (f2 - hi) / max(1 - hi, 1e-6),
                                0.5 + 0.5 * np.minimum(f2 - lo, hi - f2) / ((hi - lo) / 2)))
    n_in = hx["inliers"][p].astype(float)
    p_lat = np.clip((n_in - 1) / 4.0, 0.0, 1.0)
    labels[idx] = lab
    conf[idx] = np.clip(p_lat * p_class, 0.0, 1.0)
    frac[idx] = f2
    return labels, conf, frac, out
