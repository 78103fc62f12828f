"""Pass 1 of a phase analysis: the phase model refined on a sample of the scan.

:meth:`PhaseModel.refine` learns the ring radii, the first phase's precise shared-ring radius
and its scatter from the hexagons of a sample. The precise radius can locate the disks by count
centroids or by a maximum-likelihood disk fit (:mod:`stemtf.phase.ringfit`); which is more
precise depends on the disk size and the background, so the sample decides: the estimator whose
first-phase radii scatter less (the share spread that sets every O1-versus-both decision) is
kept, and the model's history says which and by how much.

Before that, :func:`correct_camera_length` corrects a pixel size that is a few percent off where
the sample is too faint for the hexagons to teach the camera length (from the sample's mean
radial profile, :mod:`stemtf.phase.camera`), and :func:`refine_ellipticity` re-measures the detector's elliptical distortion from
the same sample with the precise disk positions: the calibration's first estimate comes from
DoG spot positions relative to each pattern's beam centre, which tilt-dimmed and sparse disks
pull by a pixel or more; half the distance between the count centroids of a Friedel pair of
disks is free of the beam centre and of such pulls. A residual distortion of 0.5 % moves a
ring radius along one direction by a third of the 1.8 % that separates O1 from O3, so it
decides O1-versus-both calls wherever a pattern keeps only one or two pairs of its hexagon.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from stemtf.phase.calibration import Calibration, correct_ellipticity, fit_ellipticity
from stemtf.phase.model import LABEL_BOTH, LABEL_FIRST, LABEL_SECOND, PhaseModel

__all__ = [
    "correct_camera_length",
    "refine_ellipticity",
    "refine_on_sample",
    "refine_shared_radius",
    "SHARED_SE_TARGET",
    "SHARED_MAX_PATTERNS",
    "SHARED_MAX_PATTERNS_DENOISED",
]

log = logging.getLogger(__name__)

#: The disk fit replaces the centroids only where it narrows the share spread by this fraction.
ML_MIN_GAIN = 0.1
#: The ellipticity refit uses disks holding at least this many background-subtracted counts,
#: hexagons with at least two such Friedel pairs, and replaces the calibration's estimate only
#: with at least this many of them.
ELLIPTICITY_MIN_DISK_COUNTS, ELLIPTICITY_MIN_HEXAGONS = 10.0, 12
#: Where fewer hexagons keep two bright Friedel pairs, the refit uses single bright disks
#: about their pattern's beam, and only with at least this many (at 10 counts a disk's radius
#: is good to ~1 % of a 90 px ring, so 36 disks fit a 3 % distortion to ~0.3 %).
ELLIPTICITY_MIN_DISKS = 36
#: ... and only where the fitted distortion stands this many standard errors above their
#: scatter (at 3e2 e-/pattern single disks otherwise "find" a 1-3 % distortion at a random angle).
ELLIPTICITY_MIN_Z = 4.0
#: A camera-length correction from the mean radial profile stands, at this many counts per
#: pattern or more, only where the sample's identification at the corrected pixel size finds a
#: hexagon of the phases: NMC811 samples show 105-208 hexagons in 256 patterns at 1e3 e-/DP
#: and 25-150 at 3e2, even with the pixel size 4-8 % off (scripts/bench_camera_length.py, tune
#: split, ellipse3-cal4 / calibration-8pc / all conditions, seeds 0-1), while a foreign
#: crystal's ring near O3 {110} (the ASTAR file of ../shared/realdata, -6 % at 12 sigma) shows
#: none. At 1e2 a correct correction finds as few as 1-2 (all conditions), so below the gate
#: the profile alone decides.
CONFIRM_MIN_COUNTS = 1000.0
#: Identify-and-refit passes (the second finds the disks where the first fit puts them).
ELLIPTICITY_PASSES = 2
#: Where the first phase's precise shared-ring radius learned on the sample has a standard
#: error above this fraction of the O3-O1 gap (:attr:`PhaseModel.shared_radius_se`), pass 1
#: identifies more of the scan and learns it again (:func:`refine_shared_radius`).
SHARED_SE_TARGET = 0.05
#: ... from at most this many patterns in all (the sample included); identification alone is
#: fast (scripts/bench_shared_radius.py: 2.4 s median for 1,600 patterns at 3e2 on 2 cores).
SHARED_MAX_PATTERNS = 4096
#: ... or this many where a network denoises them first (each further pattern costs a
#: denoiser call: ``timings_s.pass1_calibrate_learn`` of ``analyze --denoise auto`` on a 40 x 40
#: 128 px mistilt scene at 3e2 e-/DP went from 4.4 s to 11.8 s of a 47-50 s run).
SHARED_MAX_PATTERNS_DENOISED = 1024


def refine_ellipticity(
    sample: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
) -> Calibration:
    """``calibration`` with its ellipticity re-fitted from Friedel pairs of disk centroids.

    The sample is identified with ``calibration``; every hexagon of four or more vertices has
    its six disks located by their count centroids on the detector
    (:func:`stemtf.phase.ringfit.disk_centroids`); each Friedel pair whose two disks hold
    :data:`ELLIPTICITY_MIN_DISK_COUNTS` gives a half-distance vector, and hexagons with two or
    three such pairs fit ``r(theta) / mean r = 1 + e cos 2(theta - psi)``
    (:func:`stemtf.phase.calibration.fit_ellipticity`). With fewer than
    :data:`ELLIPTICITY_MIN_HEXAGONS` such hexagons ``calibration`` is returned unchanged.
    """
    dps = np.asarray(sample, np.float32)
    for _ in range(ELLIPTICITY_PASSES):
        calibration = _ellipticity_pass(dps, calibration, model, seed)
    return calibration


def _ellipticity_pass(dps, calibration: Calibration, model: PhaseModel, seed: int) -> Calibration:
    """One identification of the sample and one refit (:func:`refine_ellipticity`)."""
    from stemtf.phase.dog import suppress_hot_pixels
    from stemtf.phase.identify import identify_phases
    from stemtf.phase.ringfit import disk_centroids

    res = identify_phases(dps, calibration, model, seed=seed)
    hx = res.hexagons
    # hexagons on a phase's ring in patterns of a known phase: an off-zone grain's
    # pseudo-hexagon is not six-fold and would pull the fit
    known = np.isin(res.labels[hx["dp_index"]], (LABEL_FIRST, LABEL_SECOND, LABEL_BOTH))
    hx = hx[(hx["inliers"] >= 3) & (hx["phase"] > 0) & known]
    py, px, signal = disk_centroids(
        suppress_hot_pixels(dps),
        hx["dp_index"],
        np.column_stack([hx["center_y"], hx["center_x"]]),
        hx["radius_invA"] / calibration.q_sampling_invA,
        hx["rotation_deg"],
        disk_radius_px=calibration.disk_radius_px,
        ellipticity_ratio=calibration.ellipticity_ratio,
        ellipticity_angle_deg=calibration.ellipticity_angle_deg,
    )
    bright = signal >= ELLIPTICITY_MIN_DISK_COUNTS
    pair = bright[:, :3] & bright[:, 3:]
    use = (pair.sum(axis=1) >= 2) & (hx["inliers"] >= 4)
    single_disks = use.sum() < ELLIPTICITY_MIN_HEXAGONS
    if not single_disks:
        half = 0.5 * np.stack([py[:, :3] - py[:, 3:], px[:, :3] - px[:, 3:]], axis=-1)
        keep = pair & use[:, None]
        group = np.broadcast_to(np.cumsum(use)[:, None] - 1, keep.shape)[keep]
        offsets, how = half[keep], f"{int(use.sum())} hexagons' Friedel pairs"
    else:
        # Too few hexagons keep two bright Friedel pairs (a mistilt dims half of each): every
        # bright disk's offset from its pattern's transmitted beam (located to ~0.1 px by its
        # own counts), normalised per ring and label (all O3 patterns share one {110} radius)
        if int(bright.sum()) < ELLIPTICITY_MIN_DISKS:
            return calibration
        radii = np.array([r.radius_invA for r in model.rings])
        ring = np.argmin(np.abs(hx["radius_invA"][:, None] - radii[None, :]), axis=1)
        key = ring.astype(np.int64) * 8 + res.labels[hx["dp_index"]].astype(np.int64)
        beam = np.asarray(res.centers_yx, float)[hx["dp_index"]]
        offsets = np.stack([py - beam[:, :1], px - beam[:, 1:]], axis=-1)[bright]
        _, group = np.unique(
            np.broadcast_to(key[:, None], bright.shape)[bright], return_inverse=True
        )
        how = f"{offsets.shape[0]} disks of {hx.size} hexagons about their beam"
    ratio, angle = fit_ellipticity(offsets, group)
    if (ratio, angle) == (1.0, 0.0):  # a distortion too large to believe: keep the first fit
        return calibration
    if single_disks and _ellipticity_z(offsets, group, ratio, angle) < ELLIPTICITY_MIN_Z:
        return calibration  # single faint disks: a distortion not told from their scatter
    log.info(
        "ellipticity from %s: ratio %.4f at %.1f deg (spot fit: %.4f at %.1f deg)",
        how,
        ratio,
        angle,
        calibration.ellipticity_ratio,
        calibration.ellipticity_angle_deg,
    )
    return replace(calibration, ellipticity_ratio=ratio, ellipticity_angle_deg=angle)


def _ellipticity_z(offsets, group, ratio: float, angle: float) -> float:
    """The fitted distortion's amplitude over its uncertainty from the corrected radii's scatter.

    After correction each offset's radius over its group's mean scatters by ``s``; the
    amplitude of ``1 + e cos 2(theta - psi)`` fitted to N such radii is then known to about
    ``s sqrt(2 / N)``.
    """
    y, x = correct_ellipticity(offsets[:, 0], offsets[:, 1], np.zeros(2), ratio, angle)
    r = np.hypot(y, x)
    rel = r / (np.bincount(group, r) / np.maximum(np.bincount(group), 1))[group]
    eps = (ratio - 1.0) / (ratio + 1.0)
    sd = float(np.std(rel - 1.0)) * np.sqrt(2.0 / max(len(rel), 1))
    return eps / sd if sd > 0 else np.inf


def refine_on_sample(
    sample: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
    identified=None,
) -> PhaseModel:
    """Refine ``model`` on ``sample`` and choose the precise-radius estimator.

    Parameters
    ----------
    sample : ndarray, shape (N, H, W)
        Patterns of the scan (counts), e.g. a seeded random sample.
    calibration : Calibration
    model : PhaseModel
        As built by :meth:`PhaseModel.from_materials`; other model kinds (the N-phase family)
        are refined as they define.
    seed : int
        RANSAC seed of the identification.
    identified : PhaseResult, optional
        ``identify_phases(sample, calibration, model, seed=seed)`` where already at hand.

    Returns
    -------
    PhaseModel
        The refined model, ``fine_method`` set to the estimator that won on this sample.
    """
    from stemtf.phase.identify import identify_phases

    q = calibration.q_sampling_invA
    first = (
        identified
        if identified is not None
        else identify_phases(sample, calibration, model, seed=seed)
    )
    refined = model.refine(first.hexagons, q_sampling_invA=q)
    if type(model) is not PhaseModel or not refined.shared_radius_invA:
        return refined
    other = "ml" if model.fine_method == "centroid" else "centroid"
    alt_model = replace(model, fine_method=other)
    alt = identify_phases(sample, calibration, alt_model, seed=seed)
    refined_alt = alt_model.refine(alt.hexagons, q_sampling_invA=q)
    if not refined_alt.shared_radius_invA:
        return refined
    a, b = refined.share_sigma, refined_alt.share_sigma
    if b < (1.0 - ML_MIN_GAIN) * a:
        chosen, note = refined_alt, f"precise radius by {other} (share spread {b:.3f} vs {a:.3f})"
    else:
        chosen = refined
        note = f"precise radius by {model.fine_method} (share spread {a:.3f}, {other} {b:.3f})"
    log.info("phase model: %s", note)
    return replace(chosen, history=chosen.history + (note,))


def correct_camera_length(
    sample: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
    identified=None,
) -> tuple[Calibration, PhaseModel]:
    """The pixel size from the sample's mean radial profile, where hexagons cannot teach it.

    Where the sample's hexagons are too few for :meth:`PhaseModel.refine` to learn the camera
    length (low dose), the shared {110} rings' radius in the sample's mean radial profile
    (:func:`stemtf.phase.camera.camera_scale_from_profile`) gives it; where it lies more than
    :data:`stemtf.phase.camera.MIN_CORRECTION` off the given pixel size at a significant ring,
    the calibration's ``q_sampling_invA`` is divided by that scale (disk radius and ring
    radii in px follow) and the model carries a warning naming both values -- unless the sample
    holds :data:`CONFIRM_MIN_COUNTS` or more per pattern and its identification at the
    corrected pixel size still finds no hexagon of the phases (the ring is then another
    crystal's). Otherwise both are returned unchanged (the model's history says why). Two-phase models only; others learn the
    camera length as they define. ``identified``: ``identify_phases(sample, calibration,
    model, seed=seed)`` where already at hand.
    """
    from stemtf.denoise.frame import counts_per_pattern
    from stemtf.phase.camera import MIN_CORRECTION, camera_scale_from_profile
    from stemtf.phase.identify import identify_phases

    # the first phase's shared ring (O3 {110}): the second's (O1, 1.8 % further out) merges with
    # it in the profile; on the tune split (62 scenes) the first's radius put the scale 0.2 %
    # high on average, the two rings' mean 0.7 % low (O3 dominates those scenes' counts)
    shared = [r.radius_invA for r in model.rings if not r.marker and r.phase == 0]
    if type(model) is not PhaseModel or not shared:
        return calibration, model
    res = (
        identified
        if identified is not None
        else identify_phases(sample, calibration, model, seed=seed)
    )
    if model.refine(res.hexagons, quiet=True).radii_learned:
        return calibration, model  # the hexagons teach the camera length (refine_on_sample)
    found = camera_scale_from_profile(sample, res.centers_yx, calibration, shared[0])
    q = calibration.q_sampling_invA
    if found is None or not found.significant() or abs(found.scale - 1.0) <= MIN_CORRECTION:
        note = "camera length kept: " + (
            "no ring in the mean radial profile"
            if found is None or not found.significant()
            else f"mean radial profile scale {found.scale:.4f} (z {found.z:.0f})"
        )
        return calibration, replace(model, history=model.history + (note,))
    new_q = q / found.scale
    corrected = replace(calibration, q_sampling_invA=new_q)
    totals = counts_per_pattern(sample)
    counts = float(totals.mean()) if totals.size else 0.0
    if counts >= CONFIRM_MIN_COUNTS and not len(
        identify_phases(sample, corrected, model, seed=seed).hexagons
    ):
        # bright enough that the phases' hexagons would show at the corrected size: the ring
        # is some other crystal's (a foreign crystal's ring within 12 % of O3 {110})
        note = (
            f"camera length kept: the mean radial profile put a ring at scale "
            f"{found.scale:.4f} (z {found.z:.0f}), but no hexagon of the phases shows at that "
            f"pixel size ({counts:.3g} counts per pattern): another crystal's ring"
        )
        log.info("%s", note)
        return calibration, replace(model, history=model.history + (note,))
    msg = (
        f"calibration: the phase rings lie {100 * (found.scale - 1):+.1f} % off the radii "
        f"q_sampling_invA={q:.6g} predicts (the scan's mean radial profile, ring "
        f"{found.z:.0f} sigma; too few hexagons to learn it from): analysed with "
        f"q_sampling_invA={new_q:.6g} (give the right value to silence this)"
    )
    log.warning("%s", msg)
    note = f"camera length from the mean radial profile: scale {found.scale:.4f} (z {found.z:.0f})"
    return corrected, replace(
        model, warnings=model.warnings + (msg,), history=model.history + (note,)
    )


def refine_shared_radius(
    batches: Iterable[np.ndarray],
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
    target_se: float | None = None,
    max_patterns: int | None = None,
) -> PhaseModel:
    """The first phase's precise shared-ring radius from more patterns where the sample's is loose.

    Every O1-versus-both call measures a share against this radius, and a 256-pattern sample
    with little pure O3 in focus holds only 10-30 precise radii of spread 0.4-0.9 gap: on the
    tune split's 3e2 e-/DP field scenes the learned radius then lay up to 0.6 of the gap from
    the whole scan's (``scripts/bench_shared_radius.py``). Where :attr:`PhaseModel.shared_radius_se` exceeds
    ``target_se`` (or the radius was not learned), the patterns of ``batches`` are identified
    with ``model`` one batch at a time, and the radius is learned again from all their
    hexagons together (:meth:`PhaseModel.learn_shared_radius`), until its standard error
    reaches ``target_se``, ``max_patterns`` patterns were seen or the batches run out.

    Parameters
    ----------
    batches : iterable of ndarray (N, H, W)
        Patterns in counts, each batch as the analysis sees it (denoised where it denoises);
        the first is usually the sample the model was refined on, the rest further positions
        of the scan drawn at random. Read lazily: only the batches needed are requested.
    calibration : Calibration
    model : PhaseModel
        Refined on the sample (:func:`refine_on_sample`); other model kinds are returned as is.
    seed : int
        RANSAC seed of the identifications (batch ``k`` uses ``seed + k``).
    target_se, max_patterns : float, int, optional
        Stop rules (fraction of the gap; patterns, the first batch included); default
        :data:`SHARED_SE_TARGET` and :data:`SHARED_MAX_PATTERNS`.

    Returns
    -------
    PhaseModel
        ``model`` with ``shared_radius_invA``, ``share_sigma`` and ``shared_radius_n`` learned
        from the patterns seen (unchanged where they hold fewer than 10 precise radii), and
        one line in ``history`` naming the patterns used and the standard error reached.
    """
    from stemtf.phase.identify import identify_phases

    target_se = SHARED_SE_TARGET if target_se is None else float(target_se)
    max_patterns = SHARED_MAX_PATTERNS if max_patterns is None else int(max_patterns)
    shared = [r for r in model.rings if r.phase == 0 and not r.marker]
    if type(model) is not PhaseModel or not shared or abs(model.lattice_ratio - 1) < 1e-4:
        return model
    if model.shared_radius_se <= target_se:
        return model
    before = model.shared_radius_se
    tables, seen, learned = [], 0, model
    for k, batch in enumerate(batches):
        batch = np.asarray(batch, np.float32)
        if batch.size == 0:
            continue
        hx = identify_phases(batch, calibration, model, seed=seed + k).hexagons.copy()
        hx["dp_index"] += seen
        tables.append(hx)
        seen += len(batch)
        found = model.learn_shared_radius(np.concatenate(tables))
        if found.shared_radius_n:
            learned = found
        if learned.shared_radius_se <= target_se or seen >= max_patterns:
            break
    note = (
        f"shared-ring radius from {seen} patterns: standard error {before:.3f} -> "
        f"{learned.shared_radius_se:.3f} of the gap (target {target_se:g})"
        if learned is not model
        else f"shared-ring radius kept: {seen} patterns gave fewer than 10 precise radii"
    )
    log.info("phase model: %s", note)
    lines = (note,) if learned is model else (learned.history[-1], note)
    return replace(learned, history=model.history + lines)
