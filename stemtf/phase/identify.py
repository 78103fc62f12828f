"""Per-pattern phase identification: spots -> hexagons -> rings -> label and confidence.

Pure per-batch code (knows nothing of chunks, files or workers). One DoG filtering of the batch
serves the beam centres, the spots and the ring-intensity measurements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, correct_ellipticity
from stemtf.phase.center import (
    beam_centers,
    friedel_centers,
    friedel_pair_count,
    refine_beam_centers,
)
from stemtf.phase.classify import HEXAGON_DTYPE, ClassifyParams, classify
from stemtf.phase.dog import disk_response, dog_filter, fill_dead_pixels, suppress_hot_pixels
from stemtf.phase.family import FamilyParams, classify_family
from stemtf.phase.family_model import FamilyModel
from stemtf.phase.hexagons import HEXAGON_PX_DTYPE, find_hexagons_batch, ransac_hexagons
from stemtf.phase.model import PhaseModel
from stemtf.phase.spots import (
    RING_Z,
    SpotTable,
    aperture_centroids,
    aperture_counts,
    excess_over_ring,
    find_spots_batch,
    noise_scale,
    strongest_spots,
)

__all__ = ["HEXAGON_DTYPE", "PhaseResult", "identify_phases", "patterns_from", "take_patterns"]

#: Friedel pairs' midpoints may lie this far from the beam centre [px] (spots located by their
#: count centroids; see :func:`_crystal_pairs`).
FRIEDEL_TOLERANCE_PX = 2.5
#: h^2 + hk + k^2 of a hexagonal net's points (radius / smallest radius squared), up to 7^2.
_HEX_NET_NORMS = np.unique(
    [h * h + h * k + k * k for h in range(8) for k in range(8) if 0 < h * h + h * k + k * k <= 49]
)

log = logging.getLogger(__name__)

#: Patterns filtered together (keeps the working set in cache).
_SUB_BATCH = 128
#: Strongest DoG spots per pattern tested for significance (the hexagon search keeps 18).
_MAX_SPOTS = 30
#: Extra room [px] around the annulus for the descan (beam-centre) wander.
_DESCAN_MARGIN_PX = 4.0


@dataclass(frozen=True)
class PhaseResult:
    """Phase identification of a batch of B patterns.

    Attributes
    ----------
    labels : uint8 (B,)
        0 none, 1 first phase (O3), 2 second phase (O1), 3 both, 4 unassigned (a crystal
        diffracts, but no phase's hexagon fits); names in ``PhaseModel.label_names``.
    confidence : float32 (B,)
        In [0, 1].
    spot_count : int32 (B,)
        Spots found in the annulus.
    hexagons : structured ndarray of :data:`HEXAGON_DTYPE`
        Every accepted hexagon.
    centers_yx : float32 (B, 2)
        Transmitted-beam position used per pattern [px].
    fraction : float32 (B,)
        The second phase's share of the shared ring from its precise radius: 0 at the first
        phase's lattice, 1 at the pure second phase's; 0 without the marker.
    spots : SpotTable or None
        The spots (when asked for), positions in detector pixels.
    share, share_sd : float32 (B,) or None
        The second phase's share of the shared ring, unclipped, and its shot-noise
        uncertainty; NaN where not measured (``None`` for classifiers that do not measure it).
    lattice_rotation_deg : float32 (B,) or None
        Rotation of the pattern's primary lattice [deg] (NaN without one).
    """

    labels: np.ndarray
    confidence: np.ndarray
    spot_count: np.ndarray
    hexagons: np.ndarray
    centers_yx: np.ndarray
    fraction: np.ndarray
    spots: SpotTable | None = None
    share: np.ndarray | None = None
    share_sd: np.ndarray | None = None
    lattice_rotation_deg: np.ndarray | None = None


_SPOT_FIELDS = ("dp_index", "y", "x", "intensity", "snr")
#: PhaseResult fields that are not one value per pattern (tables with a ``dp_index``).
_TABLE_FIELDS = ("hexagons", "spots")


def _per_pattern_fields() -> list[str]:
    return [f.name for f in fields(PhaseResult) if f.name not in _TABLE_FIELDS]


def patterns_from(base: PhaseResult, other: PhaseResult, index: np.ndarray) -> PhaseResult:
    """``base`` with pattern ``index[j]`` replaced by pattern ``j`` of ``other``.

    Every per-pattern field, the pattern's hexagons and its spots are taken from ``other``;
    the rest of ``base`` is unchanged. ``other`` holds ``len(index)`` patterns (e.g. the same
    patterns identified from other counts). A field or table only one of the two results
    carries is left out (None).
    """
    index = np.asarray(index, np.int64).reshape(-1)
    n = base.labels.size
    if other.labels.size != index.size:
        raise InputError(
            f"patterns_from: {other.labels.size} replacement patterns for {index.size} indices"
        )
    if index.size and (index.min() < 0 or index.max() >= n):
        raise InputError(f"patterns_from: an index lies outside the {n} patterns")
    if index.size == 0:
        return base
    taken = np.zeros(n, bool)
    taken[index] = True
    merged = {}
    for name in _per_pattern_fields():
        a, b = getattr(base, name), getattr(other, name)
        if a is None or b is None:
            merged[name] = None
            continue
        merged[name] = np.array(a, copy=True)
        merged[name][index] = b
    hx_other = other.hexagons.copy()
    hx_other["dp_index"] = index[hx_other["dp_index"]]
    hexagons = np.concatenate([base.hexagons[~taken[base.hexagons["dp_index"]]], hx_other])
    merged["hexagons"] = hexagons[np.argsort(hexagons["dp_index"], kind="stable")]
    merged["spots"] = None
    if base.spots is not None and other.spots is not None:
        kept = base.spots.subset(~taken[base.spots.dp_index])
        moved = replace(other.spots, dp_index=index[other.spots.dp_index])
        joined = SpotTable(
            *(np.concatenate([getattr(kept, f), getattr(moved, f)]) for f in _SPOT_FIELDS)
        )
        merged["spots"] = joined.subset(np.argsort(joined.dp_index, kind="stable"))
    return PhaseResult(**merged)


def take_patterns(result: PhaseResult, keep: np.ndarray) -> PhaseResult:
    """Patterns ``keep`` (indices, ascending) of ``result``, renumbered ``0 .. len(keep) - 1``."""
    keep = np.asarray(keep, np.int64).reshape(-1)
    pos = np.full(result.labels.size, -1, np.int64)
    pos[keep] = np.arange(keep.size)
    taken = {
        name: None if getattr(result, name) is None else np.asarray(getattr(result, name))[keep]
        for name in _per_pattern_fields()
    }
    hx = result.hexagons[pos[result.hexagons["dp_index"]] >= 0].copy()
    hx["dp_index"] = pos[hx["dp_index"]]
    spots = result.spots
    if spots is not None:
        spots = spots.subset(pos[spots.dp_index] >= 0)
        spots = replace(spots, dp_index=pos[spots.dp_index])
    return PhaseResult(**taken, hexagons=hx, spots=spots)


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
        return PhaseResult(
            np.zeros(0, np.uint8),
            np.zeros(0, np.float32),
            np.zeros(0, np.int32),
            np.empty(0, HEXAGON_DTYPE),
            np.zeros((0, 2), np.float32),
            np.zeros(0, np.float32),
            None,
        )
    if centers_yx is not None:
        centers_yx = np.asarray(centers_yx, float).reshape(n_dp, 2)

    def block(s: int) -> PhaseResult:
        e = min(s + _SUB_BATCH, n_dp)
        sub = np.ascontiguousarray(arr[s:e], dtype=np.float32)
        if not np.all(np.isfinite(sub)):
            raise InputError("diffraction patterns contain NaN or Inf values")
        res = _identify_block(
            sub,
            calibration,
            model,
            seed=seed + s,
            centers_yx=None if centers_yx is None else centers_yx[s:e],
            tolerance_px=tolerance_px,
            min_matches=min_matches,
            spot_threshold=spot_threshold,
            min_spot_counts=min_spot_counts,
            min_lattice_matches=min_lattice_matches,
            method=method,
            return_spots=return_spots,
        )
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
        spots = SpotTable(
            *(
                np.concatenate(
                    [
                        getattr(p.spots, f) + (o if f == "dp_index" else 0)
                        for p, o in zip(parts, offs, strict=True)
                    ]
                )
                for f in _SPOT_FIELDS
            )
        )
    optional = {
        f: None
        if any(getattr(p, f) is None for p in parts)
        else np.concatenate([getattr(p, f) for p in parts])
        for f in ("share", "share_sd", "lattice_rotation_deg")
    }
    return PhaseResult(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("labels", "confidence", "spot_count", "hexagons", "centers_yx", "fraction")
        ),
        spots,
        **optional,
    )


def _identify_block(
    arr,
    calibration,
    model,
    *,
    seed,
    centers_yx,
    tolerance_px,
    min_matches,
    spot_threshold,
    min_spot_counts,
    min_lattice_matches,
    method,
    return_spots,
) -> PhaseResult:
    n_dp, h, w = arr.shape
    cal = calibration
    sigma = cal.sigma_px
    gc = cal.center_yx if cal.center_yx != (0.0, 0.0) else (float(h // 2), float(w // 2))
    arr = fill_dead_pixels(suppress_hot_pixels(arr))
    resp = dog_filter(arr, sigma)
    beam_strength = None
    beam_own = np.zeros(n_dp, bool)  # centres given by the caller: provenance unknown
    if centers_yx is None:
        centers, beam_strength = beam_centers(
            arr,
            sigma_px=sigma,
            guess_yx=gc,
            search_radius_px=max(6.0, 0.1 * min(h, w)),
            response=resp,
        )
    else:
        centers = np.asarray(centers_yx, float).reshape(n_dp, 2)
    r_in, r_out = model.annulus_px(cal)
    yy, xx = np.mgrid[:h, :w]
    rr = np.hypot(yy - gc[0], xx - gc[1])
    mask = (rr >= max(r_in - _DESCAN_MARGIN_PX, 2 * cal.disk_radius_px + 1)) & (
        rr <= r_out + _DESCAN_MARGIN_PX
    )
    if model.reach_px(cal) > min(h, w) / 2:
        log.warning(
            "detector %dx%d is too small for the outer phase ring (%.1f px); "
            "patterns may be labelled none",
            h,
            w,
            model.radii_px(cal).max(),
        )
    noise = noise_scale(resp, mask)
    floor = min_spot_counts * disk_response(cal.disk_radius_px, sigma)
    # no threshold relative to the strongest peak: one hot-pixel cluster would set it
    table = find_spots_batch(
        arr,
        sigma_px=sigma,
        threshold=spot_threshold,
        mask=mask,
        rel_threshold=0.0,
        abs_threshold=floor,
        response=resp,
        noise=noise,
    )
    # the hexagon search uses the 18 strongest; the shot-noise significance of each spot's
    # counts over its local background (below) decides which count as crystal evidence
    table = strongest_spots(table, _MAX_SPOTS)
    excess, z = aperture_counts(arr, table, cal.disk_radius_px)
    spot_count = np.bincount(table.dp_index, minlength=n_dp).astype(np.int32)
    if beam_strength is not None:
        # Behind a beam stop the transmitted beam is not where the DoG peak is: where Friedel
        # pairs of spots put the centre more than 2 px away from it, trust the pairs; where the
        # beam is dimmer than the brightest reflection (blocked) and there are no pairs, fall
        # back to the global centre.
        fc, n_pairs = friedel_centers(
            table,
            np.broadcast_to(np.asarray(gc, float), (n_dp, 2)),
            tolerance_px=max(2.0, _DESCAN_MARGIN_PX / 2),
        )
        brightest = np.zeros(n_dp)
        np.maximum.at(brightest, table.dp_index, table.intensity)
        blocked = beam_strength < brightest
        off = np.hypot(*(fc - centers).T)
        use = (n_pairs >= 3) & ((off > 2.0) | blocked)
        centers = np.where(use[:, None], fc, centers)
        centers = np.where((blocked & (n_pairs < 3))[:, None], np.asarray(gc, float), centers)
        # the transmitted disk's own counts locate it better than the DoG peak (0.2-0.4 px
        # instead of ~1 px on 7-8 px disks at 2e3 e-/pattern), where it is not blocked
        own = ~use & ~blocked
        centers[own] = refine_beam_centers(arr[own], centers[own], cal.disk_radius_px)
        # only these centres are the transmitted disk's own centroid: the precise ring radius
        # may lean on them (classify.shared_ring_share); Friedel or global centres may not
        beam_own = own
    hex_table = _undistorted(table, centers, cal)
    ref_px = model.reference_radius_invA / cal.q_sampling_invA
    tol = tolerance_px if tolerance_px is not None else max(2.0, 0.04 * ref_px)
    kw = dict(
        tolerance_px=tol,
        min_matches=min_matches,
        max_hexagons=4,
        min_radius_px=2 * cal.disk_radius_px + 1,
    )
    if method == "batch":
        hx = find_hexagons_batch(hex_table, centers, **kw)
    else:
        hx = _hexagons_per_dp_ransac(hex_table, centers, n_dp, seed, **kw)
    significant = (z >= spot_threshold) & (excess >= min_spot_counts)
    pairs = _crystal_pairs(arr, table, centers, significant, cal, model, sigma, kw["min_radius_px"])
    need = max(min_matches, min_lattice_matches)
    if isinstance(model, FamilyModel):  # 1 or 3-8 phases, or a pair unlike O3/O1
        fprm = FamilyParams.from_model(model, cal, min_lattice_matches=need)
        out = classify_family(hx, arr, resp, noise, centers, pairs, fprm, n_dp)
    else:
        prm = ClassifyParams.from_model(model, cal, min_lattice_matches=need)
        out = classify(hx, arr, resp, noise, centers, pairs, prm, n_dp, beam_own=beam_own)
    return PhaseResult(
        out.labels,
        out.confidence,
        spot_count,
        out.hexagons,
        centers.astype(np.float32),
        out.fraction,
        table if return_spots else None,
        out.share,
        out.share_sd,
        out.rotation_deg,
    )


def _undistorted(table: SpotTable, centers: np.ndarray, cal: Calibration) -> SpotTable:
    """Spot positions with the detector's elliptical distortion removed (about each centre)."""
    if cal.ellipticity_ratio == 1.0:
        return table
    yc, xc = correct_ellipticity(
        table.y,
        table.x,
        centers[table.dp_index],
        cal.ellipticity_ratio,
        cal.ellipticity_angle_deg,
    )
    return SpotTable(table.dp_index, yc, xc, table.intensity, table.snr)


def _crystal_pairs(arr, table, centers, significant, cal, model, sigma, min_radius_px):
    """Friedel pairs per pattern that show a crystal no phase ring explains.

    Crystal evidence for ``unassigned``: pairs of significant spots symmetric about the beam
    centre (:func:`stemtf.phase.center.friedel_pair_count`), counted only where at least one
    pair lies off every phase ring (by more than the model's unrefined ring tolerance; the
    rings are every point of each model ring's hexagonal zone net, so a known phase's
    outer reflections, such as O1 {200}, are on a ring). A pattern whose pairs all sit on the
    phases' rings is a known phase whose lattice was not
    completed (a faint or tilted grain), not a crystal no phase fits.

    A spot takes part only where it also stands :data:`RING_Z` shot-noise sigmas above the
    same aperture turned about the beam centre (:func:`stemtf.phase.spots.excess_over_ring`):
    an amorphous support's ring passes the local-annulus test wherever its speckle peaks,
    and two such peaks across the beam made a Friedel pair off the phase rings -- vacuum on
    carbon called ``unassigned`` (tune split, all conditions at 10^4 e-/DP, seed 1: 155 of
    390 vacuum positions; 50 with this test, 3 once the neighbourhood sums of
    :func:`stemtf.phase.context.label_from_neighbours` use it too; no off-zone position lost
    at 3 x 10^2).

    The spots are located by their count centroids (:func:`aperture_centroids`), not the
    Difference-of-Gaussians peak, which on a 7-8 px Bragg disk of a few tens of counts can sit
    several px off its centre, and the pair's midpoint may lie :data:`FRIEDEL_TOLERANCE_PX`
    (or half the spot filter's sigma) from the centre. Tuned on the field benchmark's ``tune``
    split (seed 0, eight conditions at 3 x 10^2 - 10^4 e-/DP): unassigned F1 on the
    all-conditions scene at 2 x 10^3 e-/DP 0.61 -> 0.85, off-zone 0.90 -> 0.94, no other scene
    changed its labels by more than one vacuum pattern.
    """
    table = table.subset(significant)  # only these take part: locate only these
    pos = _undistorted(aperture_centroids(arr, table, cal.disk_radius_px), centers, cal)
    c = centers[pos.dp_index]
    r_spot = np.hypot(pos.y - c[:, 0], pos.x - c[:, 1]) * cal.q_sampling_invA
    radii = np.array([r.radius_invA for r in model.rings])
    # every reflection of the phases' hexagonal zone nets, not only the rings the decision
    # uses (e.g. O1 {200} at 0.81 1/A): each ring's radius times sqrt(h^2 + hk + k^2)
    radii = np.unique(np.outer(radii, np.sqrt(_HEX_NET_NORMS)))
    # the unrefined assignment tolerance (6 %): a known phase's spots scatter a few % about its
    # learned rings where the ellipticity or the centre is not quite right
    tol = max(getattr(model, "ring_tolerance", 0.06), getattr(model, "assign_tolerance", 0.0))
    off_ring = np.abs(r_spot[:, None] / radii[None, :] - 1.0).min(axis=1) > tol
    kw = dict(
        tolerance_px=max(FRIEDEL_TOLERANCE_PX, 0.5 * sigma),
        min_separation_px=2 * min_radius_px,
    )
    pairs_off = friedel_pair_count(pos, centers, keep=off_ring, **kw)
    # ... and only spots above the pattern's counts at the same radius: speckle of an
    # amorphous film's ring passes the local-annulus test but is no crystal (tested only
    # where an off-ring pair makes the evidence: most patterns have none, and then no say)
    cand = (pairs_off >= 1)[table.dp_index]
    keep = np.ones(len(table), bool)
    if cand.any():
        _, z_ring = excess_over_ring(arr, table.subset(cand), centers, cal.disk_radius_px)
        keep[np.flatnonzero(cand)] = ~(z_ring < RING_Z)
        if not keep.all():
            pairs_off = friedel_pair_count(pos, centers, keep=off_ring & keep, **kw)
    pairs = friedel_pair_count(pos, centers, keep=keep, **kw)
    return np.where(pairs_off >= 1, pairs, 0)
