"""From the hexagons of a batch to a label and a confidence per pattern, in named steps.

1. :func:`assign_rings`: each hexagon to the nearest model ring within the ring tolerance.
2. :func:`primary_lattice`: per pattern, the best assigned hexagon (most matched vertices) sets
   the lattice (scale and rotation); a pattern shows a crystal of a known phase only with a
   ring hexagon of at least ``min_lattice_matches`` vertices.
3. :func:`marker_evidence`: the second phase's marker ring (O1 {100}), found as a hexagon or
   measured on the template the lattice predicts, against a control 30 deg away.
4. :func:`shared_ring_share`: the second phase's share of the shared ring ({110}) from the
   precise radius of that ring (:mod:`stemtf.phase.ringfit`): 0 at the first phase's
   lattice, 1 at the second phase's (1.8 % further out for O1/O3). Geometry, not intensity:
   dynamical scattering changes ring intensities tenfold with thickness, not their radii.
5. :func:`decide`: none / first / second / both / unassigned, and the confidence.

Everything here is per batch and deterministic (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from stemtf.phase.calibration import Calibration, hexagon_on_detector
from stemtf.phase.lattice import wrap60
from stemtf.phase.model import (
    LABEL_BOTH,
    LABEL_FIRST,
    LABEL_SECOND,
    LABEL_UNASSIGNED,
    PhaseModel,
)
from stemtf.phase.ringfit import count_centroids, hexagon_radius_fine, radius_sigma_px

__all__ = [
    "HEXAGON_DTYPE",
    "MAX_SHARE_SD",
    "ClassifyParams",
    "Classification",
    "classify",
    "hexagon_rows",
]

#: A share measured less precisely than this (shot noise, in units of the two lattices'
#: separation) is not used: the marker decides.
MAX_SHARE_SD = 0.35
#: A lattice shown by the marker ring alone (no hexagon on any other ring) needs its six disks'
#: counts above their local backgrounds by at least this many Poisson standard deviations,
#: pooled over the six (:func:`drop_faint_marker_lattices`).
MARKER_LATTICE_MIN_Z = 3.0
#: The shared ring's precise radius is a circle fit of its disks with the centre held to the
#: transmitted beam (:func:`stemtf.phase.ringfit.circle_radius_with_beam`) within the beam
#: centroid's shot noise and this floor [px] (descan jitter within a pattern, the dynamical
#: contrast inside a thick crystal's transmitted disk); ``inf`` measures it from Friedel pairs
#: alone (the estimator before; under a 10-20 mrad mistilt its share scatters ~1.5x more).
BEAM_SD_FLOOR_PX = 0.1
#: Where ``identify`` took a pattern's centre from Friedel pairs, the disk there counts as the
#: beam for that fit when it holds this many background-subtracted counts (its centroid then
#: good to ~0.3 px) and its centroid lies within this many px of the pairs' centre; ``inf``
#: never.
BEAM_REFIND_MIN_COUNTS, BEAM_REFIND_MAX_SHIFT_PX = 200.0, 1.5
#: One accepted hexagon of a pattern (the per-DP hexagon table of the analysis results).
HEXAGON_DTYPE = np.dtype(
    [
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
        # precise radius of the pattern's primary shared-ring hexagon from disk centroids; NaN
        # for every other hexagon
        ("radius_fine_invA", np.float32),
    ]
)


@dataclass(frozen=True)
class ClassifyParams:
    """Everything the decision needs, fixed for a batch (built by :meth:`from_model`).

    Attributes
    ----------
    ring_radius_invA, ring_rotation_deg : float ndarray (R,)
        Model rings (learned radii when the model is refined).
    ring_phase : int ndarray (R,)
        0 first phase, 1 second phase.
    ring_marker : bool ndarray (R,)
        Ring of one phase only.
    marker_ring : int
        Index of the second phase's marker ring, -1 if none.
    shared_first, shared_second : int
        Index of the shared (non-marker) ring of each phase, -1 if none.
    ring_tolerance : float
        Relative radius tolerance for assigning a hexagon to a ring.
    min_lattice_matches : int
        Matched vertices a ring hexagon needs to show a lattice.
    min_marker_snr, min_marker_fraction : float
        Marker measured on the template counts when above this SNR and this fraction of the
        primary ring's strength.
    shared_radius_invA : float
        Where the first phase's shared ring lies (precise radius learned from the scan).
    lattice_ratio : float
        Second phase's shared-ring radius / first phase's (1.0177 for O1/O3).
    share_threshold : float
        Second-phase share of the shared ring above which a pattern with the marker is the
        pure second phase.
    share_sigma : float
        Measurement spread of the share (from the scan), sets the confidence.
    unassigned_min_pairs : int
        A pattern without a phase lattice but with at least this many Friedel pairs of
        significant spots is a crystal no phase fits: ``unassigned``.
    q_sampling_invA, disk_radius_px, ellipticity_ratio, ellipticity_angle_deg : float
        Detector geometry.
    """

    ring_radius_invA: np.ndarray
    ring_rotation_deg: np.ndarray
    ring_phase: np.ndarray
    ring_marker: np.ndarray
    marker_ring: int
    shared_first: int
    shared_second: int
    ring_tolerance: float
    min_lattice_matches: int
    min_marker_snr: float
    min_marker_fraction: float
    shared_radius_invA: float
    lattice_ratio: float
    share_threshold: float
    share_sigma: float
    unassigned_min_pairs: int
    reference_radius_invA: float
    q_sampling_invA: float
    disk_radius_px: float
    ellipticity_ratio: float
    ellipticity_angle_deg: float
    fine_method: str = "centroid"
    min_marker_lattice_z: float = MARKER_LATTICE_MIN_Z
    beam_sd_floor_px: float = BEAM_SD_FLOOR_PX

    @classmethod
    def from_model(
        cls, model: PhaseModel, cal: Calibration, *, min_lattice_matches: int
    ) -> ClassifyParams:
        """Decision parameters of ``model`` on the detector ``cal``."""
        rings = model.rings
        phase = np.array([r.phase for r in rings])
        marker = np.array([r.marker for r in rings])

        def first(mask) -> int:
            hit = np.flatnonzero(mask)
            return int(hit[0]) if hit.size else -1

        sh1 = first(~marker & (phase == 0))
        radius = np.array([r.radius_invA for r in rings])
        shared = model.shared_radius_invA or (radius[sh1] if sh1 >= 0 else 0.0)
        return cls(
            ring_radius_invA=radius,
            ring_rotation_deg=np.array([r.rotation_deg for r in rings]),
            ring_phase=phase,
            ring_marker=marker,
            marker_ring=first(marker & (phase == 1)),
            shared_first=sh1,
            shared_second=first(~marker & (phase == 1)),
            ring_tolerance=model.assign_tolerance,
            # once the rings are learned (tight tolerance), three vertices of significant spots
            # on a ring are a lattice: a mistilted grain keeps only half of its hexagon
            min_lattice_matches=min(int(min_lattice_matches), model.refined_lattice_matches)
            if model.radii_learned
            else int(min_lattice_matches),
            min_marker_snr=model.min_marker_snr,
            min_marker_fraction=model.min_marker_fraction,
            shared_radius_invA=float(shared),
            lattice_ratio=model.lattice_ratio,
            share_threshold=model.share_threshold,
            share_sigma=model.share_sigma,
            unassigned_min_pairs=model.unassigned_min_pairs,
            reference_radius_invA=model.reference_radius_invA,
            q_sampling_invA=cal.q_sampling_invA,
            disk_radius_px=cal.disk_radius_px,
            ellipticity_ratio=cal.ellipticity_ratio,
            ellipticity_angle_deg=cal.ellipticity_angle_deg,
            fine_method=model.fine_method,
            min_marker_lattice_z=MARKER_LATTICE_MIN_Z,
            beam_sd_floor_px=BEAM_SD_FLOOR_PX,
        )


@dataclass(frozen=True)
class Classification:
    """Per-pattern outcome of :func:`classify` (arrays of length B, table of hexagons).

    ``share`` / ``share_sd``: the second phase's share of the shared ring and its shot-noise
    uncertainty (NaN where not measured); ``rotation_deg``: the primary lattice's rotation
    (NaN without a lattice). ``None`` where the classifier does not measure them.
    """

    labels: np.ndarray
    confidence: np.ndarray
    fraction: np.ndarray
    hexagons: np.ndarray
    share: np.ndarray | None = None
    share_sd: np.ndarray | None = None
    rotation_deg: np.ndarray | None = None


# -- 1. rings ----------------------------------------------------------------------------------
def assign_rings(radius_invA: np.ndarray, prm: ClassifyParams) -> tuple[np.ndarray, np.ndarray]:
    """Nearest ring of each hexagon and whether it lies within the ring tolerance."""
    if radius_invA.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    rel = radius_invA[:, None] / prm.ring_radius_invA[None, :] - 1
    ring_i = np.argmin(np.abs(rel), axis=1)
    ok = np.abs(rel[np.arange(radius_invA.size), ring_i]) < prm.ring_tolerance
    return ring_i, ok


def best_per_ring(hx, ring_i, ok, n_dp: int, n_rings: int) -> np.ndarray:
    """Index of the best hexagon (most inliers, then strongest) per (pattern, ring), or -1."""
    best = np.full((n_dp, n_rings), -1)
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        return best
    order = cand[
        np.lexsort(
            (-hx["intensity"][cand], -hx["inliers"][cand], ring_i[cand], hx["dp_index"][cand])
        )
    ]
    key = hx["dp_index"][order] * n_rings + ring_i[order]
    first = np.r_[True, key[1:] != key[:-1]]
    best.reshape(-1)[key[first]] = order[first]
    return best


def hexagon_rows(hx, radius_invA, ring_i, ok, ring_phase, reference_radius_invA) -> np.ndarray:
    """The :data:`HEXAGON_DTYPE` table of a batch's hexagons (``radius_fine_invA`` NaN).

    ``phase`` is 1 + the phase index of the ring each hexagon was assigned to (``ok``), else 0;
    ``radius_norm`` the radius over ``reference_radius_invA``.
    """
    out = np.zeros(hx.size, HEXAGON_DTYPE)
    for name in (
        "dp_index",
        "rotation_deg",
        "residual_px",
        "center_y",
        "center_x",
        "intensity",
        "inliers",
    ):
        out[name] = hx[name]
    out["radius_invA"] = radius_invA
    out["radius_norm"] = radius_invA / reference_radius_invA
    out["phase"] = np.where(ok, ring_phase[ring_i] + 1, 0) if hx.size else 0
    out["radius_fine_invA"] = np.nan
    return out


# -- 2. lattice --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lattice:
    """The primary lattice of the patterns ``idx`` that show one."""

    idx: np.ndarray  # pattern indices (n,)
    best: np.ndarray  # (n, R) best hexagon per ring or -1
    primary_ring: np.ndarray  # (n,)
    primary_hex: np.ndarray  # (n,)
    scale: np.ndarray  # (n,) measured / model radius of the primary ring
    rotation_deg: np.ndarray  # (n,) lattice rotation (model ring frame)


def primary_lattice(hx, rad_invA, ring_i, ok, prm: ClassifyParams, n_dp: int) -> Lattice:
    """Per pattern with a lattice hexagon: the best hexagon and the lattice it implies."""
    best = best_per_ring(hx, ring_i, ok, n_dp, prm.ring_radius_invA.size)
    # a hexagon of 3 vertices (a mistilted grain) on the marker ring must sit within half the
    # ring tolerance: off-zone grains put pseudo-hexagons 3-4 % outside O1's {100}
    n_in = hx["inliers"]
    if hx.size:
        close = np.abs(rad_invA / prm.ring_radius_invA[ring_i] - 1) < 0.5 * prm.ring_tolerance
        shared = ~prm.ring_marker[ring_i]
    else:
        close = shared = np.zeros(0, bool)
    lattice_ok = ok & (n_in >= prm.min_lattice_matches) & ((n_in >= 4) | shared | close)
    has = np.zeros(n_dp, bool)
    has[hx["dp_index"][lattice_ok]] = True
    idx = np.flatnonzero(has)
    bsub = best[idx]
    inl = np.where(bsub >= 0, hx["inliers"][np.maximum(bsub, 0)], -1)
    pr = np.argmax(inl, axis=1) if idx.size else np.zeros(0, np.int64)
    p = bsub[np.arange(idx.size), pr]
    scale = rad_invA[p] / prm.ring_radius_invA[pr]
    rot = hx["rotation_deg"][p] - prm.ring_rotation_deg[pr]
    return Lattice(idx, bsub, pr, p, scale, rot)


def drop_faint_marker_lattices(dps, hx, lat: Lattice, centers, prm: ClassifyParams) -> Lattice:
    """Lattices that rest on a marker hexagon alone must hold counts, not stray electrons.

    In a sparse pattern (vacuum, or a thin grain far from its zone) the robust noise level of
    the DoG response is zero, so any three clusters of 3-5 counts make "spots", and three of
    them fall on a hexagon at the marker radius by chance often enough to call vacuum O1 (tune
    split, 10^4 e-/DP: 8 vacuum positions in 6 scenes). Measured on the counts instead: the six
    vertex disks' background-subtracted counts pooled (aperture photometry,
    :func:`stemtf.phase.spots.aperture_counts`) stand at z <= 2.5 for those, at z >= 2.8 for
    real O1 marker-only lattices from 10^3 e-/DP up. A lattice whose primary ring is the marker
    ring, with no hexagon on any other ring, is kept only with pooled z >=
    :data:`MARKER_LATTICE_MIN_Z` (``prm.min_marker_lattice_z``).
    """
    j = prm.marker_ring
    if j < 0 or lat.idx.size == 0 or not np.isfinite(prm.min_marker_lattice_z):
        return lat
    others = np.delete(lat.best, j, axis=1)
    alone = (lat.primary_ring == j) & ~(others >= 0).any(axis=1)
    if not alone.any():
        return lat
    from stemtf.phase.spots import SpotTable, aperture_counts

    rows = np.flatnonzero(alone)
    p = lat.primary_hex[rows]
    vy, vx = hexagon_on_detector(
        centers[lat.idx[rows]],
        hx["radius_px"][p],
        hx["rotation_deg"][p],
        prm.ellipticity_ratio,
        prm.ellipticity_angle_deg,
    )
    # the batch's own pattern indices (aperture_counts indexes dps by dp_index)
    b = np.repeat(lat.idx[rows], 6)
    zeros = np.zeros(b.size)
    table = SpotTable(b, vy.ravel(), vx.ravel(), zeros, zeros)
    excess, _, var = aperture_counts(dps, table, prm.disk_radius_px, return_variance=True)
    z = excess.reshape(-1, 6).sum(axis=1) / np.sqrt(var.reshape(-1, 6).sum(axis=1))
    keep = np.ones(lat.idx.size, bool)
    keep[rows] = z >= prm.min_marker_lattice_z
    return Lattice(*(getattr(lat, f)[keep] for f in Lattice.__dataclass_fields__))


def template_response(resp, idx, centers_yx, radius_px, rotation_deg, prm: ClassifyParams):
    """Mean DoG response at the six vertices of hexagons (undistorted radius/rotation)."""
    vy, vx = hexagon_on_detector(
        centers_yx, radius_px, rotation_deg, prm.ellipticity_ratio, prm.ellipticity_angle_deg
    )
    bb = np.broadcast_to(np.asarray(idx)[:, None], vy.shape)
    return _bilinear(resp, bb, vy, vx).mean(axis=1)


def _bilinear(resp: np.ndarray, b: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = resp.shape[1:]
    y = np.clip(y, 0, h - 1.001)
    x = np.clip(x, 0, w - 1.001)
    y0 = np.floor(y).astype(np.int64)
    x0 = np.floor(x).astype(np.int64)
    fy, fx = y - y0, x - x0
    return (
        (1 - fy) * (1 - fx) * resp[b, y0, x0]
        + (1 - fy) * fx * resp[b, y0, x0 + 1]
        + fy * (1 - fx) * resp[b, y0 + 1, x0]
        + fy * fx * resp[b, y0 + 1, x0 + 1]
    )


# -- 3. marker ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarkerEvidence:
    """Second phase's marker ring per lattice pattern."""

    found: np.ndarray  # bool (n,): a marker hexagon that stands out from its control
    seen: np.ndarray  # bool (n,): found, or measured on the template above the SNR
    snr: np.ndarray  # (n,) template SNR (<= 0 where not strong enough)
    hexagon: np.ndarray  # (n,) marker hexagon index or -1


def marker_evidence(hx, lat: Lattice, resp, noise, centers, prm: ClassifyParams) -> MarkerEvidence:
    """Marker hexagon or marker signal on the lattice's template, against a control."""
    n = lat.idx.size
    j = prm.marker_ring
    if j < 0 or n == 0:
        z = np.zeros(n, bool)
        return MarkerEvidence(z, z, np.zeros(n), np.full(n, -1))
    q = prm.q_sampling_invA
    c = centers[lat.idx]
    tr = lat.scale * prm.ring_radius_invA[j] / q
    trot = wrap60(lat.rotation_deg + prm.ring_rotation_deg[j])
    on = template_response(resp, lat.idx, c, tr, trot, prm)
    # control: same radius rotated 30 deg (no reflection of either phase there), so round
    # backgrounds (halo, amorphous ring) cancel; only a positive control is background (a
    # negative one is the DoG surround of another reflection nearby)
    off = template_response(resp, lat.idx, c, tr, wrap60(trot + 30.0), prm)
    inten = on - np.maximum(off, 0.0)
    nz = noise[lat.idx] * np.sqrt(2.0 / 6.0)
    snr = np.where(nz > 0, inten / np.where(nz > 0, nz, 1.0), np.where(inten > 0, np.inf, 0.0))
    p = lat.primary_hex
    prim = np.maximum(
        template_response(resp, lat.idx, c, hx["radius_px"][p], hx["rotation_deg"][p], prm), 1e-30
    )
    rel = np.where(lat.primary_ring == j, 1.0, inten / prim)
    strong = (snr >= prm.min_marker_snr) & (rel >= prm.min_marker_fraction)
    snr = np.where(strong, snr, np.minimum(snr, 0.0))
    hexagon = np.where(strong, lat.best[:, j], -1)
    found = hexagon >= 0
    return MarkerEvidence(found, found | (snr >= prm.min_marker_snr), snr, hexagon)


# -- 4. shared ring ----------------------------------------------------------------------------
def shared_ring_share(dps, hx, lat: Lattice, centers, prm: ClassifyParams, beam_own=None):
    """Second phase's share of the shared ring per lattice pattern, and the precise radius.

    The shared ring's hexagon (best of the two phases' shared rings), or where it was not found
    the template the lattice predicts, is refined on the counts (:func:`hexagon_radius_fine`:
    each disk's centroid, then a circle fit whose centre is held to the pattern's beam centre
    within the beam centroid's shot noise and :data:`BEAM_SD_FLOOR_PX`);
    share = (r - r1) / (r1 (ratio - 1)) with r1 the first phase's learned shared radius.

    The share's shot-noise uncertainty: a disk of radius R holding S counts is located to
    about (R / 2) / sqrt(S) px (its centroid's spread), so the ring's radius to that over the
    six disks' total; where this exceeds :data:`MAX_SHARE_SD` of the lattices' separation the
    share is not measured (NaN) and the decision falls back on the marker (:func:`classify`).

    Returns
    -------
    share : (n,) NaN where the ring holds too few counts to locate
    radius_invA : (n,) precise radius [1/Å] (NaN where no disk held counts)
    hexagon : (n,) shared hexagon index or -1
    share_sd : (n,) the share's shot-noise uncertainty (NaN where the rings coincide)
    """
    n = lat.idx.size
    cols = [k for k in (prm.shared_first, prm.shared_second) if k >= 0]
    if n == 0 or not cols:
        return np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1), np.full(n, np.nan)
    q = prm.q_sampling_invA
    cand = lat.best[:, cols]
    nin = np.where(cand >= 0, hx["inliers"][np.maximum(cand, 0)], -1)
    shared_hex = cand[np.arange(n), np.argmax(nin, axis=1)]
    have = shared_hex >= 0
    hi = np.maximum(shared_hex, 0)
    # where no shared hexagon was found: the first phase's shared ring on the lattice template
    k = cols[0]
    r0 = np.where(have, hx["radius_px"][hi], lat.scale * prm.ring_radius_invA[k] / q)
    rot0 = np.where(
        have, hx["rotation_deg"][hi], wrap60(lat.rotation_deg + prm.ring_rotation_deg[k])
    )
    cy = np.where(have, hx["center_y"][hi], centers[lat.idx, 0])
    cx = np.where(have, hx["center_x"][hi], centers[lat.idx, 1])
    beam = beam_sd = None
    if np.isfinite(prm.beam_sd_floor_px):
        arr = np.asarray(dps)

        def beam_sd_px(counts):
            """The beam position's uncertainty: its centroid's shot noise and the floor."""
            sigma = radius_sigma_px(np.maximum(counts, 1.0), prm.disk_radius_px)
            return np.sqrt(prm.beam_sd_floor_px**2 + sigma**2)

        beam = np.asarray(centers, float)[lat.idx]
        # the transmitted disk's counts set how well its centroid locates the centre
        _, _, s_beam, _ = count_centroids(
            arr, lat.idx, beam[:, :1], beam[:, 1:], prm.disk_radius_px, iterations=1
        )
        beam_sd = beam_sd_px(s_beam[:, 0])
        if beam_own is not None:
            own = np.asarray(beam_own, bool)[lat.idx]
            if (~own).any() and np.isfinite(BEAM_REFIND_MIN_COUNTS):
                # a centre from Friedel pairs (the beam was not the brightest spot: a thick,
                # tilted grain can send more into one Bragg disk, or a beam stop hides it):
                # the disk there, re-centred on its own counts, is the beam where it holds
                # enough counts and sits within BEAM_REFIND_MAX_SHIFT_PX of that centre
                k = np.flatnonzero(~own)
                fy, fx, fs, _ = count_centroids(
                    arr, lat.idx[k], beam[k, :1], beam[k, 1:], prm.disk_radius_px
                )
                shift = np.hypot(fy[:, 0] - beam[k, 0], fx[:, 0] - beam[k, 1])
                found = (fs[:, 0] >= BEAM_REFIND_MIN_COUNTS) & (shift <= BEAM_REFIND_MAX_SHIFT_PX)
                beam[k[found], 0], beam[k[found], 1] = fy[found, 0], fx[found, 0]
                beam_sd[k[found]] = beam_sd_px(fs[found, 0])
                own[k[found]] = True
            beam_sd = np.where(own, beam_sd, np.inf)
    r_px, signal = hexagon_radius_fine(
        dps,
        lat.idx,
        np.column_stack([cy, cx]),
        r0,
        rot0,
        disk_radius_px=prm.disk_radius_px,
        ellipticity_ratio=prm.ellipticity_ratio,
        ellipticity_angle_deg=prm.ellipticity_angle_deg,
        method=prm.fine_method,
        beam_yx=beam,
        beam_sd_px=beam_sd,
    )
    r_invA = r_px * q
    r1 = prm.shared_radius_invA
    if r1 > 0 and abs(prm.lattice_ratio - 1) > 1e-4:
        gap_px = r1 * (prm.lattice_ratio - 1) / q
        share = (r_invA - r1) / (r1 * (prm.lattice_ratio - 1))
        share_sd = radius_sigma_px(signal, prm.disk_radius_px) / gap_px
        share = np.where(share_sd <= MAX_SHARE_SD, share, np.nan)
    else:  # the two phases' shared rings coincide: the radius says nothing
        share = np.full(n, np.nan)
        share_sd = np.full(n, np.nan)
    return share, r_invA, shared_hex, share_sd


# -- 5. decision -------------------------------------------------------------------------------
def classify(
    hx,
    dps,
    resp,
    noise,
    centers,
    friedel_pairs,
    prm: ClassifyParams,
    n_dp: int,
    *,
    beam_own: np.ndarray | None = None,
) -> Classification:
    """Labels, confidences, second-phase shares and the hexagon table of one batch.

    Parameters
    ----------
    hx : ndarray of :data:`stemtf.phase.hexagons.HEXAGON_PX_DTYPE`
        Hexagons found in the batch (undistorted frame).
    dps : ndarray (B, H, W)
        The patterns in counts (hot pixels suppressed).
    resp : ndarray (B, H, W)
        Their DoG response.
    noise : ndarray (B,)
        Robust noise level of ``resp`` in the annulus.
    centers : ndarray (B, 2)
        Beam centre per pattern [px].
    friedel_pairs : int ndarray (B,)
        Spot pairs symmetric about the centre (:func:`stemtf.phase.center.friedel_pair_count`):
        crystal evidence whatever the phase.
    prm : ClassifyParams
    n_dp : int
        Patterns in the batch.
    beam_own : bool ndarray (B,), optional
        Where ``centers`` is the transmitted disk's own count centroid (not a centre from
        Friedel pairs of spots or the scan's global one): only there the shared ring's radius
        is fitted with the centre held to the beam. ``None``: every centre is such a centroid.
    """
    rad = hx["radius_px"] * prm.q_sampling_invA
    ring_i, ok = assign_rings(rad, prm)
    out = hexagon_rows(hx, rad, ring_i, ok, prm.ring_phase, prm.reference_radius_invA)
    labels = np.zeros(n_dp, np.uint8)
    conf = np.ones(n_dp, np.float32)
    frac = np.zeros(n_dp, np.float32)
    lat = primary_lattice(hx, rad, ring_i, ok, prm, n_dp)
    lat = drop_faint_marker_lattices(dps, hx, lat, centers, prm)
    # no lattice of a known phase: none, or unassigned where a crystal diffracts
    crystal = friedel_pairs >= prm.unassigned_min_pairs
    if hx.size:
        best_any = np.zeros(n_dp)
        np.maximum.at(best_any, hx["dp_index"], hx["inliers"].astype(float))
        conf[:] = np.clip(1.0 - np.maximum(best_any - 2, 0) / 4.0, 0.0, 1.0)
    labels[crystal] = LABEL_UNASSIGNED
    conf[crystal] = np.clip(
        0.5 + 0.25 * (friedel_pairs[crystal] - prm.unassigned_min_pairs), 0.5, 1.0
    )
    share_all = np.full(n_dp, np.nan, np.float32)
    sd_all = np.full(n_dp, np.nan, np.float32)
    rot_all = np.full(n_dp, np.nan, np.float32)
    if lat.idx.size == 0:
        return Classification(labels, conf, frac, out, share_all, sd_all, rot_all)
    mk = marker_evidence(hx, lat, resp, noise, centers, prm)
    share, r_fine, shared_hex, share_sd = shared_ring_share(
        dps, hx, lat, centers, prm, beam_own=beam_own
    )
    has_sh = shared_hex >= 0
    out["radius_fine_invA"][shared_hex[has_sh]] = r_fine[has_sh]
    thr = prm.share_threshold
    fin = np.isfinite(share)
    # a shared ring too faint to locate holds little of the first phase either (its {110} is
    # its strongest ring but near an extinction thickness): with the marker, the second phase
    with np.errstate(invalid="ignore"):
        faint = share_sd > MAX_SHARE_SD
        pure = mk.seen & ((fin & (share >= thr)) | (~fin & (mk.found | faint)))
    mixed = mk.seen & ~pure
    lab = np.full(lat.idx.size, LABEL_FIRST, np.uint8)
    lab[pure] = LABEL_SECOND
    lab[mixed] = LABEL_BOTH
    # confidence: how far the share lies from the threshold in units of its spread; without
    # the marker, how far below the detection SNR it stays; times the lattice's vertex count
    pc = np.ones(lat.idx.size)
    z = np.abs(np.where(fin, share, thr) - thr) / np.maximum(
        np.where(fin, share_sd, 1.0), max(prm.share_sigma, 1e-6)
    )
    pc[mk.seen & fin] = ndtr(z[mk.seen & fin])
    pc[mk.seen & ~fin] = 0.6
    no_marker = ~mk.seen
    pc[no_marker] = np.clip(
        1.0 - np.maximum(mk.snr[no_marker], 0) / (2 * prm.min_marker_snr), 0.5, 1.0
    )
    n_in = hx["inliers"][lat.primary_hex].astype(float)
    p_lat = np.clip((n_in - 1) / 4.0, 0.0, 1.0)
    labels[lat.idx] = lab
    conf[lat.idx] = np.clip(p_lat * pc, 0.0, 1.0)
    frac[lat.idx] = np.where(
        lab == LABEL_FIRST,
        0.0,
        np.where(fin, np.clip(share, 0, 1), np.where(lab == LABEL_SECOND, 1.0, 0.5)),
    )
    share_all[lat.idx] = share
    sd_all[lat.idx] = share_sd
    rot_all[lat.idx] = lat.rotation_deg
    return Classification(labels, conf, frac, out, share_all, sd_all, rot_all)
