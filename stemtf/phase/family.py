"""N-phase decisions: from the hexagons of a batch to a family label per pattern.

The steps, per pattern (numpy only, deterministic):

1. Rings and lattice (shared with the two-phase path, :mod:`stemtf.phase.classify`): each
   hexagon to the nearest model ring within the ring tolerance; the best ring hexagon is the
   primary lattice (radius, rotation). A lattice resting on three vertices of a marker ring
   alone must show the phase's main ring where the ring ratio predicts it
   (:func:`confirmed_lattice`).
2. Marker rings (rings of one phase only, :mod:`stemtf.phase.separability`): for every phase
   with a ring within tolerance of the primary hexagon, its marker rings are measured together
   where the primary ring predicts them, ``r_primary * R_marker / R_matched`` at the phase's
   relative rotation: a radius ratio inside the pattern, free of the camera length. The phase
   counts as seen when their template stands ``min_marker_snr`` above a control 30 deg away
   (noise level at least half a count per disk) and reaches ``min_marker_fraction`` of the
   primary ring, or when the primary hexagon is on its marker ring.
3. The precise radius of the main ring (:func:`stemtf.phase.ringfit.hexagon_radius_fine`) and
   its shot noise.
4. Decision:

   - no marker seen: the phases without marker rings whose ring matches the primary are the
     candidates; the nearest by absolute radius wins where the scan's calibration separates it
     from the runner-up (:meth:`FamilyModel.decidable_matrix`) and the radius lies a sigma
     from their midpoint, else the pattern is ``A|B``;
   - one phase's marker seen: that phase, or ``A+M`` when the main ring's precise radius lies
     nearer a mixable partner A without markers (share of M below ``share_threshold``,
     measured to ``_MAX_SHARE_SIGMA``), as O3+O1;
   - two phases' markers seen: their mixture if the pair has one, else the stronger marker.
5. Patterns without a lattice: ``none``, or ``unassigned`` with Friedel pairs of spots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from stemtf.phase.calibration import Calibration
from stemtf.phase.classify import (
    Classification,
    Lattice,
    assign_rings,
    hexagon_rows,
    primary_lattice,
    template_response,
)
from stemtf.phase.dog import disk_response
from stemtf.phase.family_model import FamilyModel
from stemtf.phase.lattice import wrap60
from stemtf.phase.ringfit import hexagon_radius_fine, radius_sigma_px

__all__ = ["FamilyParams", "classify_family"]

#: A phase chosen by its absolute radius must lie this many sigmas from the midpoint to the
#: runner-up; closer, the pattern is the ambiguity A|B.
_MIN_Z = 1.0
#: Noise floor of the marker measurement: this fraction of one count's disk response (a
#: sparse low-dose pattern's robust noise level is zero, and a few stray counts are not a
#: marker).
_COUNT_NOISE_FLOOR = 0.5
#: A mixture A+M needs M's share of the main ring measured to this precision (shot noise of
#: the ring's counts over the two lattices' separation); a fainter ring stays pure M.
_MAX_SHARE_SIGMA = 0.35


@dataclass(frozen=True)
class FamilyParams:
    """Everything the family decision needs, fixed for a batch (:meth:`from_model`).

    Attributes
    ----------
    ring_radius_invA, ring_rotation_deg : float ndarray (R,)
        Model rings (learned radii once refined).
    ring_phase : int ndarray (R,)
        Phase index of each ring.
    ring_marker : bool ndarray (R,)
        Ring of its phase only.
    main_ring : int ndarray (P,)
        Each phase's main ring.
    phase_has_marker : bool ndarray (P,)
    decidable : bool ndarray (P, P)
        Pairs the scan's calibration separates.
    mixture_code, ambiguity_code : int ndarray (P, P)
        Label codes of ``A+B`` / ``A|B`` (-1: none).
    unassigned_code : int
    ring_tolerance : float
        Relative radius tolerance of the ring assignment.
    min_lattice_matches : int
    min_marker_snr, min_marker_fraction : float
    share_threshold : float
        A marker phase's share of the main ring below which the pattern is a mixture.
    radius_sigma : float
        Per-pattern precision (relative) of the main ring's radius.
    unassigned_min_pairs : int
    count_response : float
        DoG response at the centre of a Bragg disk holding one count; the marker's noise
        level is at least ``_COUNT_NOISE_FLOOR`` of it (sparse patterns have a robust noise
        level of zero).
    q_sampling_invA, disk_radius_px, ellipticity_ratio, ellipticity_angle_deg : float
        Detector geometry.
    """

    ring_radius_invA: np.ndarray
    ring_rotation_deg: np.ndarray
    ring_phase: np.ndarray
    ring_marker: np.ndarray
    main_ring: np.ndarray
    phase_has_marker: np.ndarray
    decidable: np.ndarray
    mixture_code: np.ndarray
    ambiguity_code: np.ndarray
    unassigned_code: int
    ring_tolerance: float
    min_lattice_matches: int
    min_marker_snr: float
    min_marker_fraction: float
    share_threshold: float
    radius_sigma: float
    unassigned_min_pairs: int
    count_response: float
    q_sampling_invA: float
    disk_radius_px: float
    ellipticity_ratio: float
    ellipticity_angle_deg: float

    @classmethod
    def from_model(
        cls, model: FamilyModel, cal: Calibration, *, min_lattice_matches: int
    ) -> FamilyParams:
        """Decision parameters of ``model`` on the detector ``cal``."""
        n = len(model.phases)
        phase = np.array([r.phase for r in model.rings])
        marker = np.array([r.marker for r in model.rings])
        mix = np.full((n, n), -1)
        amb = np.full((n, n), -1)
        for a in range(n):
            for b in range(n):
                if a != b:
                    mix[a, b] = model.mixture_code(a, b)
                    amb[a, b] = model.ambiguity_code(a, b)
        return cls(
            ring_radius_invA=np.array([r.radius_invA for r in model.rings]),
            ring_rotation_deg=np.array([r.rotation_deg for r in model.rings]),
            ring_phase=phase,
            ring_marker=marker,
            main_ring=np.array(model.main_rings, np.int64),
            phase_has_marker=np.array([marker[phase == p].any() for p in range(n)]),
            decidable=model.decidable_matrix(),
            mixture_code=mix,
            ambiguity_code=amb,
            unassigned_code=model.unassigned_code,
            ring_tolerance=model.assign_tolerance,
            min_lattice_matches=min(int(min_lattice_matches), model.refined_lattice_matches)
            if model.radii_learned
            else int(min_lattice_matches),
            min_marker_snr=model.min_marker_snr,
            min_marker_fraction=model.min_marker_fraction,
            share_threshold=model.share_threshold,
            radius_sigma=model.radius_sigma,
            unassigned_min_pairs=model.unassigned_min_pairs,
            count_response=disk_response(cal.disk_radius_px, cal.sigma_px),
            q_sampling_invA=cal.q_sampling_invA,
            disk_radius_px=cal.disk_radius_px,
            ellipticity_ratio=cal.ellipticity_ratio,
            ellipticity_angle_deg=cal.ellipticity_angle_deg,
        )


def _matched_ring(r_invA: np.ndarray, prm: FamilyParams, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Phase ``p``'s ring nearest each radius, and whether it lies within the tolerance."""
    idx = np.flatnonzero(prm.ring_phase == p)
    rel = r_invA[:, None] / prm.ring_radius_invA[idx][None, :] - 1
    k = np.argmin(np.abs(rel), axis=1)
    return idx[k], np.abs(rel[np.arange(r_invA.size), k]) < prm.ring_tolerance


def marker_snr(hx, lat, resp, noise, centers, prm: FamilyParams) -> np.ndarray:
    """(n, P) strongest marker signal of each phase on the primary lattice (0: none seen).

    ``inf`` where the primary hexagon itself lies on the phase's marker ring.
    """
    n = lat.idx.size
    n_ph = prm.main_ring.size
    out = np.zeros((n, n_ph))
    if n == 0:
        return out
    q = prm.q_sampling_invA
    p_hex = lat.primary_hex
    r_h = hx["radius_px"][p_hex] * q
    rot_h = hx["rotation_deg"][p_hex]
    c = centers[lat.idx]
    prim = np.maximum(template_response(resp, lat.idx, c, r_h / q, rot_h, prm), 1e-30)
    nz = np.maximum(noise[lat.idx], _COUNT_NOISE_FLOOR * prm.count_response) * np.sqrt(2 / 6)
    on_marker = prm.ring_marker[lat.primary_ring]
    out[on_marker, prm.ring_phase[lat.primary_ring[on_marker]]] = np.inf
    for p in np.flatnonzero(prm.phase_has_marker):
        # all of the phase's marker rings together (spinel: {2-20} and {4-22})
        j, ok = _matched_ring(r_h, prm, p)
        inten = np.zeros(n)
        var = np.zeros(n)
        for m in np.flatnonzero((prm.ring_phase == p) & prm.ring_marker):
            s = np.flatnonzero(ok & (j != m))
            if s.size == 0:
                continue
            tr = r_h[s] * prm.ring_radius_invA[m] / prm.ring_radius_invA[j[s]] / q
            trot = wrap60(rot_h[s] - prm.ring_rotation_deg[j[s]] + prm.ring_rotation_deg[m])
            on = template_response(resp, lat.idx[s], c[s], tr, trot, prm)
            off = template_response(resp, lat.idx[s], c[s], tr, wrap60(trot + 30.0), prm)
            inten[s] += on - np.maximum(off, 0.0)
            var[s] += nz[s] ** 2
        snr = inten / np.sqrt(np.where(var > 0, var, np.inf))
        strong = ok & (snr >= prm.min_marker_snr) & (inten / prim >= prm.min_marker_fraction)
        out[:, p] = np.where(strong & (out[:, p] == 0), snr, out[:, p])
    return out


def confirmed_lattice(hx, lat, resp, noise, centers, prm: FamilyParams):
    """The lattices, less those resting on a 3-vertex hexagon of a marker ring alone.

    Three noise spots on a marker ring (vacuum at high background, 30 DoG peaks) would name a
    phase by themselves; such a lattice stands only where the phase's main ring, predicted by
    the ring ratio, shows signal (``min_marker_snr`` over the noise floor).
    """
    weak = prm.ring_marker[lat.primary_ring] & (hx["inliers"][lat.primary_hex] < 4)
    if not weak.any():
        return lat
    w = np.flatnonzero(weak)
    p_hex, pr = lat.primary_hex[w], lat.primary_ring[w]
    main = prm.main_ring[prm.ring_phase[pr]]
    tr = hx["radius_px"][p_hex] * prm.ring_radius_invA[main] / prm.ring_radius_invA[pr]
    trot = wrap60(
        hx["rotation_deg"][p_hex] - prm.ring_rotation_deg[pr] + prm.ring_rotation_deg[main]
    )
    c = centers[lat.idx[w]]
    on = template_response(resp, lat.idx[w], c, tr, trot, prm)
    off = template_response(resp, lat.idx[w], c, tr, wrap60(trot + 30.0), prm)
    nz = np.maximum(noise[lat.idx[w]], _COUNT_NOISE_FLOOR * prm.count_response) * np.sqrt(2 / 6)
    keep = np.ones(lat.idx.size, bool)
    keep[w] = (on - np.maximum(off, 0.0)) / nz >= prm.min_marker_snr
    if keep.all():
        return lat
    return Lattice(
        lat.idx[keep],
        lat.best[keep],
        lat.primary_ring[keep],
        lat.primary_hex[keep],
        lat.scale[keep],
        lat.rotation_deg[keep],
    )


def main_ring_radius(dps, hx, lat, centers, seen_best: np.ndarray, prm: FamilyParams):
    """Precise main-ring radius [1/Å] per lattice pattern, its hexagon and its shot noise.

    The primary hexagon where it lies on a shared ring; where it is a marker ring of phase M,
    M's main ring predicted from it (ratio of the two rings, relative rotation).

    Returns
    -------
    radius_invA : (n,) NaN where too few counts
    hexagon : (n,) the measured hexagon's index, -1 for a predicted template
    sigma_invA : (n,) shot-noise precision of the radius (inf without counts)
    """
    n = lat.idx.size
    if n == 0:
        return np.zeros(0), np.full(0, -1), np.zeros(0)
    q = prm.q_sampling_invA
    p_hex = lat.primary_hex
    pr = lat.primary_ring
    r_h = hx["radius_px"][p_hex]
    rot_h = hx["rotation_deg"][p_hex]
    on_marker = prm.ring_marker[pr]
    main = prm.main_ring[np.where(on_marker, prm.ring_phase[pr], np.maximum(seen_best, 0))]
    r0 = np.where(on_marker, r_h * prm.ring_radius_invA[main] / prm.ring_radius_invA[pr], r_h)
    rot0 = np.where(
        on_marker,
        wrap60(rot_h - prm.ring_rotation_deg[pr] + prm.ring_rotation_deg[main]),
        rot_h,
    )
    cy = np.where(on_marker, centers[lat.idx, 0], hx["center_y"][p_hex])
    cx = np.where(on_marker, centers[lat.idx, 1], hx["center_x"][p_hex])
    r_px, signal = hexagon_radius_fine(
        dps,
        lat.idx,
        np.column_stack([cy, cx]),
        r0,
        rot0,
        disk_radius_px=prm.disk_radius_px,
        ellipticity_ratio=prm.ellipticity_ratio,
        ellipticity_angle_deg=prm.ellipticity_angle_deg,
    )
    sigma_px = radius_sigma_px(signal, prm.disk_radius_px)
    return r_px * q, np.where(on_marker, -1, p_hex), sigma_px * q


def decide(r_fine, r_coarse, r_sigma, snr, prm: FamilyParams):
    """Label code, decision confidence and marker-phase share per lattice pattern.

    Parameters
    ----------
    r_fine, r_coarse : ndarray (n,)
        Precise (NaN where not measured) and RANSAC radius [1/Å] of the main ring.
    r_sigma : ndarray (n,)
        Shot-noise precision of ``r_fine`` [1/Å].
    snr : ndarray (n, P)
        :func:`marker_snr`.
    """
    n, n_ph = snr.shape
    fin = np.isfinite(r_fine)
    r = np.where(fin, r_fine, r_coarse)
    lab = np.full(n, prm.unassigned_code, np.int64)
    conf = np.full(n, 0.5)
    frac = np.zeros(n)
    seen = snr > 0
    n_seen = seen.sum(axis=1)
    main_r = prm.ring_radius_invA[prm.main_ring]
    # per pattern: the scan's scatter of the radius, or the shot noise where that is worse
    sig = np.maximum(max(prm.radius_sigma, 1e-4) * r, np.where(fin, r_sigma, np.inf))
    # -- no marker: the phases without markers whose main ring the radius matches ----------
    dist = np.abs(r[:, None] / main_r[None, :] - 1)
    within = dist < prm.ring_tolerance
    plain = within & ~prm.phase_has_marker[None, :]
    plain = np.where(plain.any(axis=1, keepdims=True), plain, within)
    d = np.where(plain, dist, np.inf)
    order = np.argsort(d, axis=1)
    rows = np.arange(n)
    c1 = order[:, 0]
    c2 = order[:, 1] if n_ph > 1 else order[:, 0]
    has1 = np.isfinite(d[rows, c1])
    has2 = (n_ph > 1) & np.isfinite(d[rows, c2])
    # the nearer phase wins by at least one sigma from the midpoint to the runner-up, where
    # the scan's calibration separates the pair; otherwise A|B (never a guess)
    z = np.abs(r - 0.5 * (main_r[c1] + main_r[c2])) / sig
    a = (n_seen == 0) & has1
    unsure = has2 & (~prm.decidable[c1, c2] | (z < _MIN_Z))
    amb = a & unsure & (prm.ambiguity_code[c1, c2] >= 0)
    lab[a] = c1[a] + 1
    lab[amb] = prm.ambiguity_code[c1[amb], c2[amb]]
    conf[a] = np.where(has2[a] & ~amb[a], ndtr(z[a]), 1.0)
    # -- one marker phase M: pure, or A+M with a partner A without markers whose ring the
    # precise radius lies nearer to (M's share below the threshold, measured precisely) ----
    b = np.flatnonzero(n_seen == 1)
    m = np.argmax(seen[b], axis=1)
    lab[b] = m + 1
    frac[b] = 1.0
    conf[b] = np.clip(np.minimum(snr[b, m], 1e9) / (2 * prm.min_marker_snr), 0.5, 1.0)
    rm = main_r[m]
    best_gap = np.full(b.size, np.inf)
    for p in np.flatnonzero(~prm.phase_has_marker):
        code = prm.mixture_code[m, p]
        rp = main_r[p]
        s_sig = sig[b] / np.maximum(np.abs(rm - rp), 1e-9)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (r[b] - rp) / (rm - rp)
        gap = np.abs(r[b] / rp - 1)
        mixed = (
            (code >= 0)
            & fin[b]
            & (share < prm.share_threshold)
            & (share > -0.5)
            & (s_sig <= _MAX_SHARE_SIGMA)
        )
        take = mixed & (gap < best_gap)
        best_gap = np.where(take, gap, best_gap)
        lab[b[take]] = code[take]
        frac[b[take]] = np.clip(share[take], 0.0, 1.0)
        conf[b[take]] = ndtr(np.abs(share[take] - prm.share_threshold) / s_sig[take])
    # -- two or more markers: the two strongest -------------------------------------------
    c = np.flatnonzero(n_seen >= 2)
    if c.size:
        top = np.argsort(-np.minimum(snr[c], 1e9), axis=1)[:, :2]
        p1, p2 = top[:, 0], top[:, 1]
        code = prm.mixture_code[p1, p2]
        lab[c] = np.where(code >= 0, code, p1 + 1)
        frac[c] = 0.5
        conf[c] = 0.6
    return lab, conf, frac


def classify_family(
    hx, dps, resp, noise, centers, friedel_pairs, prm: FamilyParams, n_dp: int
) -> Classification:
    """Labels, confidences, marker-phase shares and the hexagon table of one batch.

    Parameters as :func:`stemtf.phase.classify.classify`; ``prm`` from
    :meth:`FamilyParams.from_model`. ``fraction`` is the share of the marker phase in a
    mixture's main ring (1 for a pure marker phase, 0 for a phase without marker).
    """
    q = prm.q_sampling_invA
    rad = hx["radius_px"] * q
    ring_i, ok = assign_rings(rad, prm)
    out = hexagon_rows(hx, rad, ring_i, ok, prm.ring_phase, prm.ring_radius_invA[prm.main_ring[0]])
    labels = np.zeros(n_dp, np.uint8)
    conf = np.ones(n_dp, np.float32)
    frac = np.zeros(n_dp, np.float32)
    lat = confirmed_lattice(
        hx, primary_lattice(hx, rad, ring_i, ok, prm, n_dp), resp, noise, centers, prm
    )
    crystal = friedel_pairs >= prm.unassigned_min_pairs
    if hx.size:
        best_any = np.zeros(n_dp)
        np.maximum.at(best_any, hx["dp_index"], hx["inliers"].astype(float))
        conf[:] = np.clip(1.0 - np.maximum(best_any - 2, 0) / 4.0, 0.0, 1.0)
    labels[crystal] = prm.unassigned_code
    conf[crystal] = np.clip(
        0.5 + 0.25 * (friedel_pairs[crystal] - prm.unassigned_min_pairs), 0.5, 1.0
    )
    if lat.idx.size == 0:
        return Classification(labels, conf, frac, out)
    snr = marker_snr(hx, lat, resp, noise, centers, prm)
    seen_best = np.where(snr.max(axis=1) > 0, np.argmax(snr, axis=1), -1)
    r_fine, fine_hex, r_sigma = main_ring_radius(dps, hx, lat, centers, seen_best, prm)
    has = fine_hex >= 0
    out["radius_fine_invA"][fine_hex[has]] = r_fine[has]
    r_coarse = np.where(
        prm.ring_marker[lat.primary_ring],
        rad[lat.primary_hex]
        * prm.ring_radius_invA[prm.main_ring[prm.ring_phase[lat.primary_ring]]]
        / prm.ring_radius_invA[lat.primary_ring],
        rad[lat.primary_hex],
    )
    lab, dconf, share = decide(r_fine, r_coarse, r_sigma, snr, prm)
    n_in = hx["inliers"][lat.primary_hex].astype(float)
    p_lat = np.clip((n_in - 1) / 4.0, 0.0, 1.0)
    labels[lat.idx] = lab
    conf[lat.idx] = np.clip(p_lat * dconf, 0.0, 1.0)
    frac[lat.idx] = share
    return Classification(labels, conf, frac, out)
