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
from stemtf.phase.center import beam_centers, friedel_centers
from stemtf.phase.dog import disk_response, dog_filter, suppress_hot_pixels
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
#: Spread of the spacing fraction and of the log intensity ratio that count as one unit of
#: evidence in the pure-vs-mixed score (typical class separations are ~3 units of each).
_SPACING_SCALE = 0.25
_LOG_RATIO_SCALE = 0.5
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
        Where the shared-ring / marker-ring radius ratio lies between the first phase's
        spacing (0) and the pure second phase's (1); 0 without the marker.
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
    min_spot_counts: float = 8.0,
    min_lattice_matches: int = 4,
    method: str = "batch",
    return_spots: bool = False,
    threads: int = 1,
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
    min_lattice_matches : int
        A pattern shows a lattice only with a ring hexagon of at least this many matched
        vertices (weaker hexagons still count as secondary evidence).
    min_spot_counts : float
        A spot must hold about this many counts (a floor for sparse low-dose patterns, where
        the robust noise level is near zero); patterns are taken to be in counts.
    method : {"batch", "ransac"}
        Vectorised exhaustive two-spot search, or the per-pattern random-sampling loop.
    return_spots : bool
        Keep the spots in the result.
    threads : int
        Sub-batches of 128 patterns processed by this many threads (numpy and OpenCV release
        the GIL in the heavy calls; results are identical to ``threads=1``).

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

    def block(s: int) -> PhaseResult:
        e = min(s + _SUB_BATCH, n_dp)
        sub = np.ascontiguousarray(arr[s:e], dtype=np.float32)
        if not np.all(np.isfinite(sub)):
            raise InputError("diffraction patterns contain NaN or Inf values")
        res = _identify_block(
            sub, calibration, model, seed=seed + s,
            centers_yx=None if centers_yx is None else centers_yx[s:e],
            tolerance_px=tolerance_px, min_matches=min_matches, spot_threshold=spot_threshold,
            min_spot_counts=min_spot_counts, min_lattice_matches=min_lattice_matches,
            method=method, return_spots=return_spots)
        res.hexagons["dp_index"] += s
        return res

    starts = range(0, n_dp, _SUB_BATCH)
    if threads > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(threads, len(starts))) as ex:
            parts = list(ex.map(block, starts))
    else:
        parts = [block(s) for s in starts]
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
                    spot_threshold, min_spot_counts, min_lattice_matches, method,
                    return_spots) -> PhaseResult:
    n_dp, h, w = arr.shape
    cal = calibration
    sigma = cal.sigma_px
    gc = cal.center_yx if cal.center_yx != (0.0, 0.0) else (float(h // 2), float(w // 2))
    arr = suppress_hot_pixels(arr)
    resp = dog_filter(arr, sigma)
    beam_strength = None
    if centers_yx is None:
        centers, beam_strength = beam_centers(arr, sigma_px=sigma, guess_yx=gc,
                                              search_radius_px=max(6.0, 0.1 * min(h, w)),
                                              response=resp)
    else:
        centers = np.asarray(centers_yx, float).reshape(n_dp, 2)
    r_in, r_out = model.annulus_px(cal)
    yy, xx = np.mgrid[:h, :w]
    rr = np.hypot(yy - gc[0], xx - gc[1])
    mask = (rr >= max(r_in - _DESCAN_MARGIN_PX, 2 * cal.disk_radius_px + 1)) & (
        rr <= r_out + _DESCAN_MARGIN_PX)
    if model.reach_px(cal) > min(h, w) / 2:
        log.warning("detector %dx%d is too small for the outer phase ring (%.1f px); "
                    "patterns may be labelled none", h, w, model.radii_px(cal).max())
    noise = noise_scale(resp, mask)
    floor = min_spot_counts * disk_response(cal.disk_radius_px, sigma)
    # no threshold relative to the strongest peak: one hot-pixel cluster would set it
    table = find_spots_batch(arr, sigma_px=sigma, threshold=spot_threshold, mask=mask,
                             rel_threshold=0.0, abs_threshold=floor, response=resp, noise=noise)
    spot_count = np.bincount(table.dp_index, minlength=n_dp).astype(np.int32)
    if beam_strength is not None:
        # Behind a beam stop the transmitted beam is not where the DoG peak is: where Friedel
        # pairs of spots put the centre more than 2 px away from it, trust the pairs; where the
        # beam is dimmer than the brightest reflection (blocked) and there are no pairs, fall
        # back to the global centre.
        fc, n_pairs = friedel_centers(table, np.broadcast_to(np.asarray(gc, float), (n_dp, 2)),
                                      tolerance_px=max(2.0, _DESCAN_MARGIN_PX / 2))
        brightest = np.zeros(n_dp)
        np.maximum.at(brightest, table.dp_index, table.intensity)
        blocked = beam_strength < brightest
        off = np.hypot(*(fc - centers).T)
        use = (n_pairs >= 3) & ((off > 2.0) | blocked)
        centers = np.where(use[:, None], fc, centers)
        centers = np.where((blocked & (n_pairs < 3))[:, None], np.asarray(gc, float), centers)
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
    labels, conf, frac, hexagons = _classify(hx, resp, noise, centers, cal, model, n_dp,
                                             max(min_matches, min_lattice_matches))
    return PhaseResult(labels, conf, spot_count, hexagons, centers.astype(np.float32), frac,
                       table if return_spots else None)


def _best_per_ring(hx, ring_i, ok, n_dp: int, n_rings: int) -> np.ndarray:
    """Index of the best hexagon (most inliers, then strongest) per (pattern, ring), or -1."""
    best = np.full((n_dp, n_rings), -1)
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return best
    order = cand[np.lexsort((-hx["intensity"][cand], -hx["inliers"][cand], ring_i[cand],
                             hx["dp_index"][cand]))]
    key = hx["dp_index"][order] * n_rings + ring_i[order]
    first = np.r_[True, key[1:] != key[:-1]]
    best.reshape(-1)[key[first]] = order[first]
    return best


def _classify(hx, resp, noise, centers, cal: Calibration, model: PhaseModel, n_dp: int,
              min_lattice_matches: int):
    q = cal.q_sampling_invA
    ring_r = np.array([r.radius_invA for r in model.rings])
    ring_rot = np.array([r.rotation_deg for r in model.rings])
    ring_phase = np.array([r.phase for r in model.rings])
    ring_marker = np.array([r.marker for r in model.rings])
    n_rings = ring_r.size
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
    lattice_ok = ok & (hx["inliers"] >= min_lattice_matches)
    best = _best_per_ring(hx, ring_i, ok, n_dp, n_rings)
    has_lattice = np.zeros(n_dp, bool)
    has_lattice[hx["dp_index"][lattice_ok]] = True
    labels = np.zeros(n_dp, np.uint8)
    conf = np.ones(n_dp, np.float32)
    frac = np.zeros(n_dp, np.float32)
    # Patterns without an assigned hexagon: none; less sure when unassigned hexagons exist.
    has = has_lattice
    if hx.size:
        best_any = np.zeros(n_dp)
        np.maximum.at(best_any, hx["dp_index"], hx["inliers"].astype(float))
        conf[~has] = np.clip(1.0 - np.maximum(best_any[~has] - 2, 0) / 4.0, 0.0, 1.0)
    idx = np.flatnonzero(has)
    if idx.size == 0:
        return labels, conf, frac, out
    bsub = best[idx]  # (n, R)
    # primary hexagon: the one with most inliers among the assigned ones
    inl = np.where(bsub >= 0, hx["inliers"][np.maximum(bsub, 0)], -1)
    pr = np.argmax(inl, axis=1)  # ring of the primary hexagon
    p = bsub[np.arange(idx.size), pr]
    scale = rad[p] / ring_r[pr]
    lat_rot = hx["rotation_deg"][p] - ring_rot[pr]
    # Marker rings of the second phase: found as a hexagon, or measured on the template of the
    # primary hexagon's lattice (scale and rotation) above ``min_marker_snr``.
    m2 = np.flatnonzero(ring_marker & (ring_phase == 1))
    sh2 = np.flatnonzero(~ring_marker & (ring_phase == 1))
    sh1 = np.flatnonzero(~ring_marker & (ring_phase == 0))
    marker_hex = np.full(idx.size, -1)
    marker_snr = np.zeros(idx.size)
    if m2.size:
        j = m2[0]
        marker_hex = bsub[:, j]
        tr = scale * ring_r[j] / q
        trot = wrap60(lat_rot + ring_rot[j])
        c = centers[idx]
        verts = hexagon_vertices(c, tr, trot)  # (n, 6, 2)
        vy, vx = verts[..., 0], verts[..., 1]
        if cal.ellipticity_ratio != 1.0:
            vy, vx = correct_ellipticity(vy, vx, c[:, None, :], 1.0 / cal.ellipticity_ratio,
                                         cal.ellipticity_angle_deg)
        bb = np.broadcast_to(idx[:, None], vy.shape)
        on = _bilinear(resp, bb, vy, vx).mean(axis=1)
        # control: same radius, rotated 30 deg (no reflection of either phase lies there), so
        # round backgrounds (halo, amorphous ring) cancel
        cverts = hexagon_vertices(c, tr, wrap60(trot + 30.0))
        cy_, cx_ = cverts[..., 0], cverts[..., 1]
        if cal.ellipticity_ratio != 1.0:
            cy_, cx_ = correct_ellipticity(cy_, cx_, c[:, None, :], 1.0 / cal.ellipticity_ratio,
                                           cal.ellipticity_angle_deg)
        off = _bilinear(resp, bb, cy_, cx_).mean(axis=1)
        # only a positive control is background: a negative one is the DoG surround of some
        # other reflection nearby (e.g. spinel's 0.50 hexagon), not evidence for the marker
        inten = on - np.maximum(off, 0.0)
        nz = noise[idx] * np.sqrt(2.0 / 6.0)
        marker_snr = np.where(nz > 0, inten / np.where(nz > 0, nz, 1.0),
                              np.where(inten > 0, np.inf, 0.0))
        # strength relative to the primary ring, measured the same way
        pverts = hexagon_vertices(c, rad[p] / q, hx["rotation_deg"][p])
        py_, px_ = pverts[..., 0], pverts[..., 1]
        if cal.ellipticity_ratio != 1.0:
            py_, px_ = correct_ellipticity(py_, px_, c[:, None, :], 1.0 / cal.ellipticity_ratio,
                                           cal.ellipticity_angle_deg)
        prim_i = np.maximum(_bilinear(resp, bb, py_, px_).mean(axis=1), 1e-30)
        marker_rel = np.where(pr == j, 1.0, inten / prim_i)
        strong = (marker_snr >= model.min_marker_snr) & (marker_rel >= model.min_marker_fraction)
        marker_snr = np.where(strong, marker_snr, np.minimum(marker_snr, 0.0))
        # a marker hexagon must also stand out from the control positions
        marker_hex = np.where(strong, marker_hex, -1)
    marker_found = marker_hex >= 0
    marker_seen = marker_found | (marker_snr >= model.min_marker_snr)
    # Shared-ring / marker radius ratio: sqrt(3) x (1 for pure phase 2, a2/a1 when phase 1
    # dominates the shared ring). f = 0 at the phase-1 value, 1 at the pure phase-2 value.
    f = np.zeros(idx.size)
    shared_hex = np.full(idx.size, -1)
    if m2.size and sh2.size and sh1.size:
        cols = np.r_[sh1, sh2]
        cand = bsub[:, cols]
        nin = np.where(cand >= 0, hx["inliers"][np.maximum(cand, 0)], -1)
        shared_hex = cand[np.arange(idx.size), np.argmax(nin, axis=1)]
        both_found = marker_found & (shared_hex >= 0)
        ratio_pure = ring_r[sh2[0]] / ring_r[m2[0]]
        ratio_mix = ring_r[sh1[0]] / ring_r[m2[0]]
        r_obs = hx["radius_px"][np.maximum(shared_hex, 0)] / \
            np.maximum(hx["radius_px"][np.maximum(marker_hex, 0)], 1e-9)
        if abs(ratio_pure - ratio_mix) > 1e-3 * ratio_pure:
            f = np.where(both_found, (r_obs - ratio_mix) / (ratio_pure - ratio_mix), np.nan)
        else:  # the two phases' shared rings coincide: spacing says nothing
            f = np.where(both_found, model.pure_threshold, np.nan)
    thr = model.pure_threshold
    # decision score: spacing cue, plus (once learned from the data by ``refine``) the marker /
    # shared intensity cue, which the first phase's strong shared ring lowers in mixed columns
    score = (f - thr) / _SPACING_SCALE
    if model.marker_split > 0 and m2.size:
        i_m = hx["intensity"][np.maximum(marker_hex, 0)]
        i_s = hx["intensity"][np.maximum(shared_hex, 0)]
        with np.errstate(divide="ignore", invalid="ignore"):
            cue = (np.log(np.maximum(i_m, 1e-30) / np.maximum(i_s, 1e-30))
                   - np.log(model.marker_split)) / _LOG_RATIO_SCALE
        score = score + np.where(np.isfinite(cue), cue, 0.0)
    # labels: 1 = phase 1 (no marker); 2 = phase 2 (marker, shared ring at its own spacing or
    # absent); 3 = both (marker with the shared ring at the first phase's spacing, or a marker
    # only measured on the template: a minority of the second phase).
    lab = np.ones(idx.size, np.uint8)
    pc = np.ones(idx.size)
    with np.errstate(invalid="ignore"):
        pure = marker_found & ((shared_hex < 0) | (score >= 0))
        mixed = marker_seen & ~pure
    lab[pure] = 2
    lab[mixed] = 3
    fin = np.isfinite(f)
    pc[fin] = np.clip(0.5 + np.abs(score[fin]) / 4.0, 0.5, 1.0)
    no_marker = ~marker_seen
    pc[no_marker] = np.clip(1.0 - np.maximum(marker_snr[no_marker], 0)
                            / (2 * model.min_marker_snr), 0.5, 1.0)
    only_template = marker_seen & ~marker_found
    pc[only_template] = 0.6
    n_in = hx["inliers"][p].astype(float)
    p_lat = np.clip((n_in - 1) / 4.0, 0.0, 1.0)
    labels[idx] = lab
    conf[idx] = np.clip(p_lat * pc, 0.0, 1.0)
    frac[idx] = np.where(lab == 1, 0.0, np.where(fin, np.clip(f, 0, 1), np.where(lab == 2, 1, 0.5)))
    return labels, conf, frac, out
