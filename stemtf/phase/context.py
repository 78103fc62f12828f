"""Scan context for patterns too sparse to show a lattice on their own.

At low dose, or where a mistilted grain keeps only half of each hexagon, a single pattern may
hold too few counts for a hexagon of three vertices, while its scan neighbours belong to the
same grain. For every pattern labelled ``none``, the sum of its neighbourhood (3 x 3 probe
positions by default) is identified; where that finds a lattice, the pattern's *own* counts
must confirm it: the background-subtracted counts in the six disks the neighbourhood's primary
hexagon predicts must stand ``min_z`` shot-noise sigmas above zero and reach ``min_share`` of
the neighbourhood's mean per pattern. Vacuum beside a particle
has no counts there and stays ``none``. Confirmed patterns take the neighbourhood's label with
half its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, hexagon_on_detector
from stemtf.phase.dog import remove_hot_pixels, suppress_hot_pixels
from stemtf.phase.model import (
    LABEL_BOTH,
    LABEL_FIRST,
    LABEL_NONE,
    LABEL_SECOND,
    LABEL_UNASSIGNED,
    PhaseModel,
)
from stemtf.phase.spots import RING_Z, SpotTable, aperture_counts, excess_over_ring

__all__ = [
    "label_from_neighbours",
    "label_faint_regions",
    "grow_grains",
    "vote_on_mixed_calls",
    "VoteParams",
    "unassign_isolated_calls",
    "ISOLATED_MIN_UNASSIGNED",
    "first_phase_for_lone_calls",
    "LONE_MIN_NEIGHBOURS",
    "none_for_lone_calls_in_vacuum",
    "second_phase_for_surrounded_calls",
    "SURROUNDED_MIN_MIXED",
    "unassign_faint_crystals",
]

#: Per-disk excess beyond this many shot-noise sigmas is clipped in the pooled region test.
_DISK_CLIP_Z = 4.0

#: A hexagon of at least :data:`INNER_MIN_VERTICES` vertices inside this fraction of the
#: innermost phase ring's radius shows a crystal off the phases' zone axis
#: (:func:`inner_lattice`).
INNER_MAX_FRACTION = 0.75
INNER_MIN_VERTICES = 3
#: ... and its spots at least this fraction as strong as those of the pattern's strongest
#: phase hexagon (tune split: the (003) hexagons of off-zone grains at 0.55-1.9 of the
#: marker-like hexagon, chance three-spot hexagons in O1 sums at 0.09-0.13).
INNER_MIN_RELATIVE_INTENSITY = 0.3


def inner_lattice(hexagons: np.ndarray, model: PhaseModel, n_dp: int) -> np.ndarray:
    """Patterns holding a hexagon well inside every phase ring: a crystal off the zone axis.

    Along [001] neither O3 nor O1 NMC811 has a reflection inside O1's {100} ring at 0.41 Å⁻¹,
    but a layered crystal seen from the side has its (003) row at 0.21 Å⁻¹ (c = 14.2 Å), and
    its (006) and (01l) reflections near 0.42-0.45 Å⁻¹ make a pseudo-hexagon that can pass for
    O1's {100}. A hexagon of at least :data:`INNER_MIN_VERTICES` vertices at under
    :data:`INNER_MAX_FRACTION` of the innermost ring's radius, as strong as a phase hexagon of
    the same pattern (:data:`INNER_MIN_RELATIVE_INTENSITY`), is no phase's reflection; only
    patterns with a phase hexagon are flagged.
    Measured on the neighbourhood sums of ``none`` patterns (tune split of
    ``scripts/bench_field.py``, 3e2-1e3 e-/DP, 12 scans): in 11 of 46 sums over off-zone grains
    called O1, in none of 1,098 sums over O1 called O1 and in 1 of 605 over O1 called both.

    Returns a bool array (n_dp,).
    """
    out = np.zeros(n_dp, bool)
    hx = np.asarray(hexagons)
    if hx.size == 0 or not model.rings:
        return out
    r_min = min(r.radius_invA for r in model.rings)
    phase = hx["phase"] > 0
    strongest = np.zeros(n_dp)
    np.maximum.at(strongest, hx["dp_index"][phase], hx["intensity"][phase])
    inner = (
        ~phase
        & (hx["inliers"] >= INNER_MIN_VERTICES)
        & (hx["radius_invA"] < INNER_MAX_FRACTION * r_min)
        & (hx["intensity"] >= INNER_MIN_RELATIVE_INTENSITY * strongest[hx["dp_index"]])
        & (strongest[hx["dp_index"]] > 0)
    )
    out[hx["dp_index"][inner]] = True
    return out


def _hexagon_table(centers, radius_px, rotation_deg, calibration: Calibration) -> SpotTable:
    """The six disks of one hexagon per row (on the detector, ellipticity applied) as spots."""
    vy, vx = hexagon_on_detector(
        centers,
        radius_px,
        rotation_deg,
        calibration.ellipticity_ratio,
        calibration.ellipticity_angle_deg,
    )
    zeros = np.zeros(vy.size)
    return SpotTable(np.repeat(np.arange(len(vy)), 6), vy.ravel(), vx.ravel(), zeros, zeros)


_FIELDS = ("dp_index", "y", "x", "intensity", "snr")
#: Spots of a neighbourhood sum that make an ``unassigned`` template: shot-noise significance
#: and background-subtracted counts (as for the Friedel pairs of the identification).
_SPOT_Z, _SPOT_COUNTS = 5.0, 8.0


def _spot_fields(t: SpotTable):
    return t.y, t.x, t.intensity, t.snr


def _primary_hexagons(hx: np.ndarray) -> np.ndarray:
    """Each pattern's primary hexagon (most vertices, then brightest), sorted by ``dp_index``."""
    if hx.size == 0:
        return hx
    hx = hx[np.lexsort((-hx["intensity"], -hx["inliers"].astype(int), hx["dp_index"]))]
    return hx[np.r_[True, hx["dp_index"][1:] != hx["dp_index"][:-1]]]


def _check_control_deg(control_deg) -> None:
    """Control hexagons: >= 3 rotations, each 15-45 deg (mod 60) off the lattice."""
    if len(control_deg) < 3 or any(not 15.0 <= float(a) % 60.0 <= 45.0 for a in control_deg):
        raise InputError(
            f"control_deg={tuple(control_deg)!r} is not allowed: give >= 3 rotations, each "
            "15-45 deg (mod 60) from the lattice"
        )


def scan_step_start(grid, labels, confidence):
    """Inputs of a scan-context step: the (Ry, Rx, H, W) grid, output copies, a change mask.

    Returns
    -------
    grid : ndarray (Ry, Rx, H, W)
    labels, confidence : ndarray (Ry * Rx,)
        Copies to update (confidence float32).
    changed : bool ndarray (Ry * Rx,)
        All False.
    """
    g = np.asarray(grid)
    if g.ndim != 4:
        raise InputError(f"grid must be (Ry, Rx, H, W), got shape {g.shape}")
    labels = np.asarray(labels).copy()
    confidence = np.asarray(confidence, np.float32).copy()
    return g, labels, confidence, np.zeros(labels.size, bool)


def unassigned_code(model) -> int | None:
    """The label code of ``unassigned`` in ``model``'s label names, if it has one."""
    names = tuple(model.label_names)
    return names.index("unassigned") if "unassigned" in names else None


def _neighbourhood_sums(
    grid: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    radius: int,
    members: np.ndarray | None = None,
):
    """Sum of each target's neighbourhood (within the grid) and how many patterns it holds.

    ``members`` (bool, (Ry, Rx)), where given, limits the neighbours that enter a sum to those
    positions; the target's own pattern always enters.

    Each pattern's hot pixels are removed before it is added (:func:`remove_hot_pixels`, which
    keeps every count shot noise can explain): the hot pixels of two patterns that fall side by
    side would make a two-pixel cluster in the sum that the sum's own neighbour clip keeps, and
    such clusters took the place of reflections or of the marker's control (tune split, 256 px
    at 300 e-/DP: pure O1 regions labelled O3).
    """
    ry, rx = grid.shape[:2]
    out = np.zeros((rows.size,) + grid.shape[2:], np.float32)
    n = np.zeros(rows.size, np.int64)
    steps = []
    need = np.zeros((ry, rx), bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            y, x = rows + dy, cols + dx
            ok = (y >= 0) & (y < ry) & (x >= 0) & (x < rx)
            if members is not None and (dy or dx):
                ok[ok] = members[y[ok], x[ok]]
            steps.append((y, x, ok))
            need[y[ok], x[ok]] = True
    if not need.any():
        return out, n
    # each pattern cleaned once, however many neighbourhoods it falls in (same sums)
    ny, nx = np.nonzero(need)
    where = np.full((ry, rx), -1, np.int64)
    where[ny, nx] = np.arange(ny.size)
    clean = remove_hot_pixels(np.asarray(grid[ny, nx]))
    for y, x, ok in steps:
        if ok.any():
            out[ok] += clean[where[y[ok], x[ok]]]
        n += ok
    return out, n


def label_from_neighbours(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    radius: int = 1,
    min_z: float = 3.0,
    min_share: float = 0.1,
    seed: int = 0,
    min_marker_z: float = 2.0,
    targets: np.ndarray | None = None,
    members: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of ``none`` patterns from their scan neighbourhood, confirmed by their own counts.

    Each ``none`` pattern's neighbourhood sum (hot pixels removed first) is identified like a
    pattern; an O1 or both call of a sum that also holds a lattice inside every phase ring
    (:func:`inner_lattice`: an off-zone crystal whose pseudo-hexagon imitates the marker) is
    taken as ``unassigned``. The pattern takes the sum's label where its own counts at the
    sum's hexagon (or, for ``unassigned``, its significant spots) pass ``min_z`` and
    ``min_share``; at an ``unassigned`` sum's spots both the sum's and the pattern's counts
    are measured above the same aperture turned about the beam centre
    (:func:`stemtf.phase.spots.excess_over_ring`), not the annulus around it, so that a
    carbon film's ring (in vacuum too) neither makes such spots nor confirms them. A ``both``
    call needs more: the 3 x 3 sum of a pattern at the edge of an O1 lamella holds O1
    neighbours, so the pattern's own counts at the marker hexagon of the sum's lattice must
    stand ``min_marker_z`` shot-noise sigmas above background, or it takes the first phase
    (O3) -- where the test has power: a pattern carrying the neighbourhood's mean marker
    counts would stand ``min_marker_z`` sigmas (at ~10^2 e-/DP it would not, and the call
    stands). On the ``tune`` split of ``scripts/bench_field.py`` (3e2-2e3 e-/DP)
    the own marker significance of such calls was 0.2 (median; 2 % >= 2) where the truth was
    O3, 5-6 where it was O3+O1 (93-96 % >= 2) and 7-9 where it was O1, against a rotated
    control's 0.1.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
        The per-pattern result (:func:`stemtf.phase.identify_phases`).
    calibration, model
        As for :func:`stemtf.phase.identify_phases`.
    radius : int
        Neighbourhood half-size [probe positions] (1: 3 x 3).
    min_z : float
        Shot-noise significance the pattern's own counts at the predicted disks need.
    min_share : float
        ... and the fraction of the neighbourhood's mean excess counts there they must reach.
    seed : int
        Passed on to the identification of the sums.
    min_marker_z : float
        Own marker significance a ``both`` call from the neighbourhood needs (``-inf``: off).
    targets : bool ndarray (Ry * Rx,), optional
        Only these ``none`` patterns are tried (default: every ``none`` pattern).
    members : bool ndarray (Ry * Rx,), optional
        Only these neighbours enter the sums, beside the pattern itself (default: all); the
        share test is then against these patterns' mean.

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    relabelled : bool ndarray (Ry * Rx,)
        Which patterns took their label from the neighbourhood.
    """
    from stemtf.phase.identify import identify_phases

    g, labels, confidence, relabelled = scan_step_start(grid, labels, confidence)
    if radius < 1:
        raise InputError(f"radius={radius!r} is not allowed: it must be >= 1")
    if np.isnan(min_marker_z) or min_marker_z == np.inf:
        raise InputError(
            f"min_marker_z={min_marker_z!r} is not allowed: a number of sigmas, or -inf (off)"
        )
    ry, rx = g.shape[:2]
    want = labels == LABEL_NONE
    for name, mask in (("targets", targets), ("members", members)):
        if mask is not None and np.shape(mask) != (ry * rx,):
            raise InputError(
                f"{name} has shape {np.shape(mask)}: one flag per probe position ({ry * rx},)"
            )
    if targets is not None:
        want &= np.asarray(targets, bool)
    target = np.flatnonzero(want)
    if target.size == 0 or ry * rx < 2:
        return labels, confidence, relabelled
    rows, cols = np.divmod(target, rx)
    grain = None if members is None else np.asarray(members, bool).reshape(ry, rx)
    sums, n_sum = _neighbourhood_sums(g, rows, cols, radius, grain)
    res = identify_phases(sums, calibration, model, seed=seed, return_spots=True)
    unassigned = unassigned_code(model)
    sum_labels = np.asarray(res.labels).copy()
    if unassigned is not None and type(model) is PhaseModel:
        # a marker-ring call whose sum also holds a lattice inside every phase ring is an
        # off-zone crystal imitating the marker: no phase fits it
        off_axis = inner_lattice(res.hexagons, model, len(sums))
        sum_labels[off_axis & np.isin(sum_labels, (LABEL_SECOND, LABEL_BOTH))] = unassigned
    # templates: the primary (most vertices) phase hexagon of each sum that shows a lattice
    hx = res.hexagons
    hx = hx[(sum_labels[hx["dp_index"]] != LABEL_NONE) & (hx["phase"] > 0)]
    hx = _primary_hexagons(hx)
    q = calibration.q_sampling_invA
    centers = np.column_stack([hx["center_y"], hx["center_x"]]).astype(float)
    k_hex = hx["dp_index"].astype(np.int64)
    tables = [_hexagon_table(centers, hx["radius_invA"] / q, hx["rotation_deg"], calibration)]
    tables[0] = SpotTable(k_hex[tables[0].dp_index], *_spot_fields(tables[0]))
    # ... and where a sum is a crystal no phase fits, its spots significant above shot noise
    # and above the sum's counts at the same radius (a carbon film's ring is no crystal)
    R = calibration.disk_radius_px
    clean_sums = None  # the sums with hot pixels clipped, once, where needed
    if unassigned is not None and res.spots is not None and len(res.spots):
        sp = res.spots.subset(sum_labels[res.spots.dp_index] == unassigned)
        if len(sp):
            clean_sums = suppress_hot_pixels(sums)
            ex, zz = aperture_counts(clean_sums, sp, R)
            _, z_ring = excess_over_ring(clean_sums, sp, res.centers_yx, R)
            tables.append(sp.subset((zz >= _SPOT_Z) & (ex >= _SPOT_COUNTS) & ~(z_ring < RING_Z)))
    tmpl = SpotTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in _FIELDS))
    if len(tmpl) == 0:
        return labels, confidence, relabelled
    # rows of the unassigned templates: measured against the same radius, not the annulus
    # (a vacuum pattern's own carbon ring passes the annulus test at such spots)
    on_ring = np.arange(len(tmpl)) >= len(tables[0])
    k, row = np.unique(tmpl.dp_index, return_inverse=True)
    per_row = SpotTable(row, *_spot_fields(tmpl))
    # the pattern's own counts, hot pixels clipped as in the identification itself
    own = suppress_hot_pixels(g.reshape((ry * rx,) + g.shape[2:])[target[k]])
    excess, _, var = aperture_counts(own, per_row, R, return_variance=True)
    clean_k = suppress_hot_pixels(sums[k]) if clean_sums is None else clean_sums[k]
    sum_excess, _ = aperture_counts(clean_k, per_row, R)
    if on_ring.any():
        ring_rows = per_row.subset(on_ring)
        mid = res.centers_yx[k]  # the sum's beam centre (the drift is smooth across it)
        e_r, _, v_r = excess_over_ring(own, ring_rows, mid, R, return_variance=True)
        s_r, _ = excess_over_ring(clean_k, ring_rows, mid, R)
        have = np.isfinite(e_r) & np.isfinite(s_r)
        idx_r = np.flatnonzero(on_ring)[have]
        excess[idx_r], var[idx_r], sum_excess[idx_r] = e_r[have], v_r[have], s_r[have]
    own_excess = np.bincount(row, excess, k.size)
    # shot-noise significance of the template's excess counts together
    z = own_excess / np.sqrt(np.bincount(row, var, k.size))
    # ... and hold a fair share of what the neighbourhood diffracts there (a vacuum pattern
    # beside a grain has shot noise only, however significant by chance)
    per_pattern = np.bincount(row, sum_excess, k.size) / n_sum[k]
    share = own_excess / np.maximum(per_pattern, 1e-9)
    ok = (z >= min_z) & (share >= min_share)
    idx = target[k[ok]]
    new = sum_labels[k[ok]]
    if type(model) is PhaseModel:
        new = _mixed_calls_need_own_marker(
            g, sums, n_sum, idx, k[ok], new, res, calibration, model, min_marker_z
        )
    labels[idx] = new
    confidence[idx] = 0.5 * res.confidence[k[ok]]
    relabelled[idx] = True
    return labels, confidence, relabelled


#: :func:`label_from_neighbours`: the own-marker test of a ``both`` call applies where the
#: neighbourhood's mean marker counts per pattern would stand this many times ``min_marker_z``.
_MARKER_POWER = 1.0


def _mixed_calls_need_own_marker(g, sums, n_sum, idx, k_sum, new, res, calibration, model, min_z):
    """``both`` calls without the pattern's own marker counts become first phase.

    ``new``: the calls of patterns ``idx`` from sums ``k_sum``; a ``both`` call whose own counts
    at the marker hexagon of the sum's lattice stay under ``min_z`` shot-noise sigmas goes.
    """
    markers = [r for r in model.rings if r.marker]
    mixed = np.flatnonzero(new == LABEL_BOTH)
    if not markers or mixed.size == 0 or res.lattice_rotation_deg is None:
        return new
    rot = np.asarray(res.lattice_rotation_deg, float)[k_sum[mixed]]
    fin = np.isfinite(rot)  # no lattice rotation measured: the call stands
    if not fin.any():
        return new
    q = calibration.q_sampling_invA
    centers = np.asarray(res.centers_yx, float)[k_sum[mixed[fin]]]
    table = _hexagon_table(
        centers,
        np.full(fin.sum(), markers[0].radius_invA / q),
        rot[fin] + markers[0].rotation_deg,
        calibration,
    )
    own = remove_hot_pixels(g.reshape((-1,) + g.shape[2:])[idx[mixed[fin]]])
    excess, _, var = aperture_counts(own, table, calibration.disk_radius_px, return_variance=True)
    sd = np.sqrt(np.maximum(var.reshape(-1, 6).sum(axis=1), 1e-12))
    z = excess.reshape(-1, 6).sum(axis=1) / sd
    # the test has power only where a pattern carrying the neighbourhood's mean marker counts
    # would stand clear of the threshold; at ~10^2 e-/DP it would not, and the call stands
    sum_excess, _ = aperture_counts(sums[k_sum[mixed[fin]]], table, calibration.disk_radius_px)
    expected = sum_excess.reshape(-1, 6).sum(axis=1) / n_sum[k_sum[mixed[fin]]] / sd
    out = new.copy()
    out[mixed[fin][(z < min_z) & (expected >= _MARKER_POWER * min_z)]] = LABEL_FIRST
    return out


def label_faint_regions(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    hexagons: np.ndarray,
    calibration: Calibration,
    *,
    min_z: float = 3.5,
    min_control_z: float = 4.0,
    control_deg: tuple[float, ...] = (15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label connected ``none`` regions whose pooled counts show their neighbours' lattice.

    Along a zone axis the diffracted intensity of a perfect crystal swings with thickness
    (Pendellösung): O3 NMC811 along [001] sends under 1 % of the beam outside the central disk
    near 200 Å, so the thick core of a particle can look like vacuum pattern by pattern, and
    even its 3 x 3 neighbourhood sums are too faint. A whole region of such patterns still
    holds the lattice's counts. For each region of ``none`` patterns enclosed by labelled ones
    (a hole in the map, not joined to the scan's edge through other ``none`` patterns), every
    pattern is scored at the primary hexagon of its nearest labelled pattern (the six disks'
    background-subtracted counts, :func:`stemtf.phase.spots.aperture_counts`, each clipped at
    a few sigmas so one hot-pixel cluster cannot dominate; hot pixels removed first by
    :func:`stemtf.phase.dog.remove_hot_pixels`, which keeps single electrons: near 200 Å O3
    sends ~0.2 % of the beam into its six {110} disks, a few electrons per pattern at
    2·10³ e⁻/DP, and a clip against the neighbours' maximum erased most of them) and, as
    controls, at the same hexagon rotated by each of ``control_deg`` (same radius, off the
    lattice). The patterns of
    one region take the most common label around it only where their pooled excess
    stands above the controls' mean both by ``min_z`` shot-noise sigmas and by
    ``min_control_z`` standard deviations of the controls themselves (fixed-pattern effects
    such as dead columns, the gain map or a carbon ring under the disks move the controls as
    much as the hexagon). Vacuum around a particle is not enclosed and stays ``none``; a real
    void inside a particle shows no lattice and stays ``none`` too; a hole whose labelled rim
    holds at least as many ``unassigned`` patterns as phase calls lies in an off-zone grain
    and is not pooled (its pseudo-hexagon would pass the count test as a phase).
    Confidence: a quarter of the nearest labelled pattern's.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
        Labels after :func:`label_from_neighbours`.
    hexagons : structured ndarray
        The per-pattern hexagon table of :func:`stemtf.phase.identify_phases` (``dp_index``
        into the flattened grid).
    calibration : Calibration
    min_z : float
        Shot-noise significance the pooled excess of a region needs (3.5, chosen over 5.0 on
        the ``tune`` split of ``scripts/bench_field.py``; few regions are tested per scan, and
        the control test below guards against fixed-pattern effects).
    min_control_z : float
        ... and its distance from the controls' mean in their standard deviations.
    control_deg : tuple of float
        In-plane rotations [deg] of the control hexagons, at least 15 deg from the lattice.

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    relabelled : bool ndarray (Ry * Rx,)
    """
    from scipy import ndimage

    g, labels, confidence, relabelled = scan_step_start(grid, labels, confidence)
    if min_z <= 0 or min_control_z <= 0:
        raise InputError(
            f"min_z={min_z!r}, min_control_z={min_control_z!r} are not allowed: both must be > 0"
        )
    _check_control_deg(control_deg)
    ry, rx = g.shape[:2]
    hx = np.asarray(hexagons)
    # holes: none patterns enclosed by labelled ones (no path of none patterns, diagonal steps
    # included, to the scan's edge); vacuum around a particle, and anything joined to it, is
    # never pooled with a faint core
    found = (labels != LABEL_NONE).reshape(ry, rx)
    none = ndimage.binary_fill_holes(found, structure=np.ones((3, 3), bool)) & ~found
    if not none.any() or hx.size == 0:
        return labels, confidence, relabelled
    # the primary hexagon of every labelled pattern
    hx = hx[(hx["phase"] > 0) & (labels[hx["dp_index"]] != LABEL_NONE)]
    if hx.size == 0:
        return labels, confidence, relabelled
    hx = _primary_hexagons(hx)
    row_of = np.full(ry * rx, -1, np.int64)
    row_of[hx["dp_index"]] = np.arange(hx.size)
    target = np.flatnonzero(none.ravel())
    region, n_regions = ndimage.label(none, structure=np.ones((3, 3), bool))
    # each region's label: the most common among the labelled patterns around it
    ring = ndimage.grey_dilation(region, footprint=np.ones((3, 3), bool)) * (region == 0)
    around = ring.ravel() > 0
    votes = np.zeros((n_regions + 1, int(labels.max()) + 1), np.int64)
    np.add.at(votes, (ring.ravel()[around], labels[around].astype(np.int64)), 1)
    votes[:, LABEL_NONE] = 0
    n_unassigned = np.zeros(n_regions + 1, np.int64)
    if votes.shape[1] > LABEL_UNASSIGNED:
        n_unassigned = votes[:, LABEL_UNASSIGNED].copy()
        votes[:, LABEL_UNASSIGNED] = 0
    region_label = votes.argmax(axis=1)
    # a hole ringed mostly by unassigned patterns lies inside an off-zone grain, whose own
    # pseudo-hexagon the pooled counts would confirm: not a faint core of a phase
    region_label[votes.max(axis=1) <= n_unassigned] = LABEL_NONE
    target_label = region_label[region.ravel()[target]]
    # each pattern's template: the hexagon of the nearest pattern of its region's label
    source = np.full(target.size, -1, np.int64)
    for lab in np.unique(target_label[target_label > 0]):
        has_hex = ((row_of >= 0) & (labels == lab)).reshape(ry, rx)
        if not has_hex.any():
            continue
        _, (ny, nx) = ndimage.distance_transform_edt(~has_hex, return_indices=True)
        sel = target_label == lab
        source[sel] = (ny * rx + nx).ravel()[target[sel]]
    keep = source >= 0
    target, source, target_label = target[keep], source[keep], target_label[keep]
    if target.size == 0:
        return labels, confidence, relabelled
    h = hx[row_of[source]]
    q = calibration.q_sampling_invA
    centers = np.column_stack([h["center_y"], h["center_x"]]).astype(float)
    own = remove_hot_pixels(g.reshape((ry * rx,) + g.shape[2:])[target])
    keys, inv = np.unique(region.ravel()[target], return_inverse=True)
    pooled, pooled_var = [], []
    for extra in (0.0, *control_deg):
        table = _hexagon_table(
            centers, h["radius_invA"] / q, h["rotation_deg"] + extra, calibration
        )
        excess, _, var = aperture_counts(
            own, table, calibration.disk_radius_px, return_variance=True
        )
        # a faint lattice adds well under a sigma per disk; clipping each disk at a few sigmas
        # keeps it and stops one hot-pixel cluster from outweighing a whole region
        lim = _DISK_CLIP_Z * np.sqrt(var)
        excess = np.clip(excess, -lim, lim).reshape(-1, 6).sum(axis=1)
        pooled.append(np.bincount(inv, excess, keys.size))
        pooled_var.append(np.bincount(inv, var.reshape(-1, 6).sum(axis=1), keys.size))
    lattice, controls = pooled[0], np.array(pooled[1:])
    diff = lattice - controls.mean(axis=0)
    shot = np.sqrt(pooled_var[0] + np.mean(pooled_var[1:], axis=0) / controls.shape[0])
    spread = controls.std(axis=0, ddof=1)
    good = (diff >= min_z * shot) & (diff >= min_control_z * spread)
    ok = good[inv]
    idx = target[ok]
    labels[idx] = target_label[ok]
    confidence[idx] = 0.25 * confidence[source[ok]]
    relabelled[idx] = True
    return labels, confidence, relabelled


#: :func:`grow_grains`: shot-noise significance the pattern's own counts at its labelled
#: neighbour's hexagon need, how many of the six disks must each stand :data:`GROW_DISK_Z`
#: sigmas, and how many growth passes run (set on the ``tune`` split of
#: ``scripts/bench_field.py``).
GROW_MIN_Z = 6.0
GROW_MIN_DISKS = 2
GROW_DISK_Z = 3.0
GROW_PASSES = 4
GROW_LEND_DISTANCE = 3.0

_NEIGHBOUR_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_grains(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    hexagons: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    min_z: float = GROW_MIN_Z,
    min_disks: int = GROW_MIN_DISKS,
    disk_z: float = GROW_DISK_Z,
    passes: int = GROW_PASSES,
    control_deg: tuple[float, ...] = (15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label ``none`` patterns beside a grain whose own counts show that grain's hexagon.

    A grain tilted 15-20 mrad off the zone axis keeps two or three of its six {110} disks on
    the Laue circle: bright, but not a three-vertex hexagon, and its 3 x 3 neighbourhood sum
    holds the same two disks, so neither the identification nor :func:`label_from_neighbours`
    labels it, while the few patterns of the grain that catch a third disk are labelled. Each
    ``none`` pattern next to (8-neighbourhood) a pattern labelled with the first phase (O3), or
    ``unassigned`` with a hexagon no phase ring fits (an off-zone grain's pseudo-hexagon), is
    scored at that neighbour's primary hexagon -- its radius and rotation, about the pattern's
    own beam centre -- and takes the neighbour's label where the six disks' background-subtracted
    counts (:func:`stemtf.phase.spots.aperture_counts`, hot pixels removed first) stand
    ``min_z`` shot-noise sigmas above zero, at least ``min_disks`` disks stand ``disk_z`` sigmas
    each, and the hexagon holds more counts than the same hexagon rotated by each of
    ``control_deg`` (off the lattice: a carbon ring or the diffuse halo fills the controls as
    much as the hexagon). Vacuum beside a grain has no such disks and stays ``none``. Newly
    labelled patterns lend their hexagon to their own neighbours in the next of ``passes``
    passes. Confidence: half the neighbour's. O1 and O3+O1 calls are not grown: they rest on
    the marker ring (which an off-zone grain's pseudo-hexagon imitates) and on the column's
    share of each lattice, which two disks of a hexagon confirm neither.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
        Labels after the previous steps.
    hexagons : structured ndarray
        The per-pattern hexagon table of :func:`stemtf.phase.identify_phases`.
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Each pattern's beam centre [px] (``PhaseResult.centers_yx``).
    calibration : Calibration
    model : PhaseModel
        A two-phase model (O3 first); a family model's codes mean other things, and nothing
        changes.
    min_z, min_disks, disk_z, passes, control_deg
        As above.

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    relabelled : bool ndarray (Ry * Rx,)
    """
    g, labels, confidence, relabelled = scan_step_start(grid, labels, confidence)
    if not (min_z > 0 and disk_z > 0 and 1 <= min_disks <= 6 and passes >= 1):
        raise InputError(
            f"min_z={min_z!r}, disk_z={disk_z!r}, min_disks={min_disks!r}, passes={passes!r} "
            "are not allowed: sigmas > 0, 1-6 disks, >= 1 pass"
        )
    _check_control_deg(control_deg)
    ry, rx = g.shape[:2]
    n = ry * rx
    hx = np.asarray(hexagons)
    # O3 (no marker needed) and unassigned crystals (a hexagon no phase ring fits) only. A both
    # call rests on the column's share of each lattice and an O1 call on its marker ring,
    # which an off-zone grain's pseudo-hexagon (0.42-0.45 1/A) imitates; two disks confirm
    # neither (tune split: grown both calls wrong in 6 of 6; check split: grown O1 calls wrong
    # in 9 of 18, 8 of them inside off-zone grains)
    if type(model) is not PhaseModel or hx.size == 0 or n < 2:
        return labels, confidence, relabelled
    unassigned = unassigned_code(model)
    phases = (LABEL_FIRST,) if unassigned is None else (LABEL_FIRST, unassigned)
    on = labels[hx["dp_index"]]
    crystal = (hx["phase"] == 0) & (on == (-1 if unassigned is None else unassigned))
    hx = hx[((hx["phase"] > 0) & (on == LABEL_FIRST)) | crystal]
    if hx.size == 0:
        return labels, confidence, relabelled
    hx = _primary_hexagons(hx)
    radius = np.full(n, np.nan)
    rotation = np.full(n, np.nan)
    radius[hx["dp_index"]] = hx["radius_invA"] / calibration.q_sampling_invA
    rotation[hx["dp_index"]] = hx["rotation_deg"]
    # patterns labelled from their neighbourhood have no hexagon of their own: they lend the
    # nearest one of their label (within GROW_LEND_DISTANCE positions)
    from scipy import ndimage

    for lab in phases:
        has = (np.isfinite(radius) & (labels == lab)).reshape(ry, rx)
        lend = (~np.isfinite(radius) & (labels == lab)).reshape(ry, rx)
        if not (has.any() and lend.any()):
            continue
        dist, (ny, nx) = ndimage.distance_transform_edt(~has, return_indices=True)
        take = np.flatnonzero((lend & (dist <= GROW_LEND_DISTANCE)).ravel())
        src = (ny * rx + nx).ravel()[take]
        radius[take], rotation[take] = radius[src], rotation[src]
    centers = np.asarray(centers_yx, float).reshape(n, 2)
    yy, xx = np.divmod(np.arange(n), rx)
    flat = g.reshape((n,) + g.shape[2:])
    tested = np.zeros(n, bool)
    cleaned: dict[int, np.ndarray] = {}  # hot pixels removed once per pattern
    ones = np.ones((3, 3), np.int8)
    for _ in range(passes):
        # none patterns with a hexagon beside them (the rest of the vacuum is never read)
        has_hex = np.isfinite(radius).reshape(ry, rx).astype(np.int8)
        beside = convolve(has_hex, ones, mode="constant").ravel() > 0
        cand = np.flatnonzero((labels == LABEL_NONE) & ~tested & beside)
        if cand.size == 0:
            break
        tested[cand] = True
        # (candidate, neighbour) pairs; a quick look at the raw counts (no copy) drops pairs
        # far from passing before hot pixels are removed: only the disks' positive
        # significances count there, since a hot pixel in one disk's background ring sinks
        # that disk's raw excess far below zero
        pair_c, pair_s = [], []
        for dy, dx in _NEIGHBOUR_STEPS:
            y, x = yy[cand] + dy, xx[cand] + dx
            ok = (y >= 0) & (y < ry) & (x >= 0) & (x < rx)
            nb = np.where(ok, y * rx + x, 0)
            ok &= np.isfinite(radius[nb])
            pair_c.append(np.flatnonzero(ok))
            pair_s.append(nb[ok])
        pc, ps = np.concatenate(pair_c), np.concatenate(pair_s)
        table = _hexagon_table(centers[cand[pc]], radius[ps], rotation[ps], calibration)
        table = SpotTable(cand[pc][table.dp_index], *_spot_fields(table))
        _, z_raw = aperture_counts(flat, table, calibration.disk_radius_px)
        keep = np.maximum(z_raw, 0.0).reshape(-1, 6).sum(axis=1) >= 0.5 * min_z * np.sqrt(6.0)
        pc, ps = pc[keep], ps[keep]
        best_z = np.full(cand.size, -np.inf)
        source = np.full(cand.size, -1, np.int64)
        if pc.size:
            rows = np.unique(pc)
            new_ones = [int(i) for i in cand[rows] if int(i) not in cleaned]
            if new_ones:
                for i, img in zip(new_ones, remove_hot_pixels(flat[new_ones]), strict=True):
                    cleaned[i] = img
            own = np.stack([cleaned[int(i)] for i in cand[rows]])
            at = np.searchsorted(rows, pc)  # row of each pair's pattern in ``own``
            # every labelled neighbour's hexagon is tried (a pattern on a grain boundary
            # belongs to one of two lattices); the most significant one that passes is kept
            totals = []
            for extra in (0.0, *control_deg):
                table = _hexagon_table(
                    centers[cand[pc]], radius[ps], rotation[ps] + extra, calibration
                )
                table = SpotTable(at[table.dp_index], *_spot_fields(table))
                excess, z, var = aperture_counts(
                    own, table, calibration.disk_radius_px, return_variance=True
                )
                excess = excess.reshape(-1, 6)
                if extra == 0.0:
                    n_disks = (z.reshape(-1, 6) >= disk_z).sum(axis=1)
                    z_hex = excess.sum(axis=1) / np.sqrt(var.reshape(-1, 6).sum(axis=1))
                totals.append(excess.sum(axis=1))
            good = (
                (z_hex >= min_z) & (n_disks >= min_disks) & (totals[0] > np.max(totals[1:], axis=0))
            )
            for j in np.flatnonzero(good):
                if z_hex[j] > best_z[pc[j]]:
                    best_z[pc[j]], source[pc[j]] = z_hex[j], ps[j]
        ok = source >= 0
        if not ok.any():
            break
        idx, src = cand[ok], source[ok]
        labels[idx] = labels[src]
        confidence[idx] = 0.5 * confidence[src]
        radius[idx], rotation[idx] = radius[src], rotation[src]
        relabelled[idx] = True
        # the new labels give their still-none neighbours a hexagon to be tried against
        grown = np.zeros((ry, rx), np.int8)
        grown.flat[idx] = 1
        near = convolve(grown, ones, mode="constant") > 0
        tested &= ~near.ravel()
    return labels, confidence, relabelled


@dataclass(frozen=True)
class VoteParams:
    """Settings of :func:`vote_on_mixed_calls` (set on the ``tune`` split, seeds 0 and 1).

    Attributes
    ----------
    beta : float
        Weight of one neighbour's vote, in units of the pattern's own evidence (its share's
        distance from the threshold over its uncertainty).
    max_evidence : float
        The own evidence is clipped to this many sigmas: eight agreeing neighbours
        (8 x ``beta`` = 3.2) outweigh any single measurement, so one pattern cannot hold a
        label against a whole neighbourhood through an outlier share.
    share_sd_floor : float
        Added in quadrature to the shot-noise uncertainty of a share: the scatter of pure
        O1's share beyond shot noise at 1e4 e-/pattern (about 0.1).
    max_rotation_deg : float
        Neighbours count only with a lattice rotation within this of the pattern's (the same
        grain).
    iterations : int
        Passes (each re-decides every pattern from the previous pass's labels).
    """

    beta: float = 0.4
    max_evidence: float = 3.0
    share_sd_floor: float = 0.1
    max_rotation_deg: float = 3.0
    iterations: int = 5

    def __post_init__(self) -> None:
        for name in ("beta", "max_evidence", "share_sd_floor", "max_rotation_deg"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"{name}={v!r} is not allowed: it must be finite and >= 0")
        if self.iterations < 1:
            raise InputError(f"iterations={self.iterations!r} is not allowed: it must be >= 1")


def vote_on_mixed_calls(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    share: np.ndarray | None,
    share_sd: np.ndarray | None,
    rotation_deg: np.ndarray | None,
    model: PhaseModel,
    params: VoteParams = VoteParams(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second phase alone or both: each such call re-taken with its grain neighbours' vote.

    Which of the two a pattern is rests on its shared ring's precise radius (the second
    phase's share, :func:`stemtf.phase.classify.shared_ring_share`), which shot noise scatters
    by 0.1-0.3 of the two lattices' separation at 2e3 e-/pattern: a pure-O1 grain comes out
    speckled with O3+O1 calls. Degradation domains are many probe positions wide, so each
    pattern labelled second phase or both whose share was measured is decided by
    ``z + beta * (n_second - n_both)``: ``z`` its own evidence (share minus the model's
    threshold, over its uncertainty, clipped to ``max_evidence``), ``n_*`` its 8-neighbours
    with that label and a lattice rotated alike (same grain). Passes repeat until no label
    changes (at most ``iterations``). Only these two labels are exchanged; a precise share
    (|z| > 8 beta) always keeps its own call.

    Parameters
    ----------
    grid : ndarray (Ry, Rx, H, W)
        The patterns in scan order (for the scan shape).
    labels, confidence : ndarray (Ry * Rx,)
        Labels so far (after the other scan-context steps).
    share, share_sd, rotation_deg : ndarray (Ry * Rx,) or None
        From :func:`stemtf.phase.identify_phases` (``PhaseResult.share``, ``share_sd``,
        ``lattice_rotation_deg``); ``None`` (a classifier without shares): nothing changes.
    model : PhaseModel
        Its ``share_threshold`` separates the two calls.
    params : VoteParams

    Returns
    -------
    labels, confidence : ndarray
        Updated copies (a changed call gets the confidence of the vote's margin, at most 0.75).
    relabelled : bool ndarray
        Patterns whose label changed.
    """
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    if share is None or share_sd is None or rotation_deg is None:
        return labels, confidence, changed
    ry, rx = g.shape[:2]
    n = ry * rx
    share = np.asarray(share, float).reshape(n)
    sd = np.asarray(share_sd, float).reshape(n)
    rot = np.asarray(rotation_deg, float).reshape(n)
    prm = params
    lab = labels.reshape(ry, rx)
    z = (share - model.share_threshold) / np.sqrt(sd**2 + prm.share_sd_floor**2)
    z = np.clip(z, -prm.max_evidence, prm.max_evidence).reshape(ry, rx)
    active = np.isin(lab, (LABEL_SECOND, LABEL_BOTH)) & np.isfinite(z)
    if not active.any():
        return labels, confidence, changed
    # each pattern's 8 neighbours of the same grain (lattice rotation alike), fixed once
    offsets, same = _same_grain_neighbours(
        rot.reshape(ry, rx), prm.max_rotation_deg, unmeasured_alike=False
    )
    cur = lab.copy()
    margin = np.zeros((ry, rx))
    for _ in range(prm.iterations):
        pad_l = np.pad(cur, 1, constant_values=LABEL_NONE)
        vote = np.zeros((ry, rx))
        for (dy, dx), ok in zip(offsets, same, strict=True):
            nb = pad_l[1 + dy : 1 + dy + ry, 1 + dx : 1 + dx + rx]
            vote += ok * ((nb == LABEL_SECOND).astype(float) - (nb == LABEL_BOTH))
        margin = z + prm.beta * vote
        new = np.where(active, np.where(margin > 0, LABEL_SECOND, LABEL_BOTH), cur)
        if np.array_equal(new, cur):
            break
        cur = new
    flip = (cur != lab).ravel()
    labels[flip] = cur.ravel()[flip]
    confidence[flip] = np.minimum(0.75, 0.5 + 0.1 * np.abs(margin.ravel()[flip]))
    changed[flip] = True
    return labels, confidence, changed


def _same_grain_neighbours(
    rotation_deg: np.ndarray, max_rotation_deg: float, *, unmeasured_alike: bool
) -> tuple[list[tuple[int, int]], list[np.ndarray]]:
    """The 8 scan offsets and, per offset, where that neighbour belongs to the pattern's grain.

    ``rotation_deg`` (Ry, Rx): lattice rotations [deg], NaN where none was measured; two
    rotations alike within ``max_rotation_deg`` (mod 60: hexagons) are the same grain. Where
    either side is NaN (or the neighbour lies outside the scan) the answer is
    ``unmeasured_alike``. Returns ``(offsets, same)``, ``same[k]`` a bool (Ry, Rx) array.
    """
    ry, rx = rotation_deg.shape
    pad_r = np.pad(rotation_deg, 1, constant_values=np.nan)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    same = []
    for dy, dx in offsets:
        nb = pad_r[1 + dy : 1 + dy + ry, 1 + dx : 1 + dx + rx]
        d = np.abs((nb - rotation_deg + 30.0) % 60.0 - 30.0)
        same.append(np.where(np.isfinite(d), d <= max_rotation_deg, bool(unmeasured_alike)))
    return offsets, same


#: :func:`unassign_isolated_calls`: unassigned neighbours (of the 8) that make an isolated call
#: part of the off-zone grain around it (chosen on the field benchmark's ``tune`` split: 3, 4 and
#: 6 changed only wrong calls there; 3 corrected the most).
ISOLATED_MIN_UNASSIGNED = 3


def _neighbour_counts(*masks: np.ndarray, radius: int = 1) -> tuple[np.ndarray, ...]:
    """For each (Ry, Rx) bool mask: how many of each position's scan neighbours it holds.

    The neighbours: the (2 radius + 1)^2 box about the position, itself excluded (radius 1:
    the 8 neighbours), within the scan.
    """
    ring = np.ones((2 * radius + 1,) * 2, int)
    ring[radius, radius] = 0
    return tuple(convolve(m.astype(int), ring, mode="constant") for m in masks)


def unassign_isolated_calls(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    model: PhaseModel,
    min_unassigned: int = ISOLATED_MIN_UNASSIGNED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second-phase or mixed calls alone inside an off-zone grain become ``unassigned``.

    O1 grows inside the O3 particles topotactically (the oxygen framework is kept), so O1 in a
    grain that is off the zone axis is off the zone axis too. A pattern called second phase
    (or both) that has no neighbour with either call, while ``min_unassigned`` or more of its
    8 scan neighbours are ``unassigned`` (a crystal no phase's hexagon fits), is the
    off-zone grain's pseudo-hexagon at the marker radius (three vertices of one are enough for
    the spot finder), not a one-position O1 domain: it becomes ``unassigned``. A lamella keeps
    its calls (its positions neighbour each other), and so does a call beside vacuum or O3.

    Parameters
    ----------
    grid : ndarray (Ry, Rx, H, W)
        The patterns in scan order (for the scan shape).
    labels, confidence : ndarray (Ry * Rx,)
    model : PhaseModel
        A model with an ``unassigned`` label; otherwise nothing changes.
    min_unassigned : int
        Unassigned neighbours needed, 1 to 8.

    Returns
    -------
    labels, confidence : ndarray
        Updated copies (a changed pattern keeps its confidence: the spot finder's evidence for
        a lattice there is unchanged, only its phase is withdrawn).
    relabelled : bool ndarray
    """
    if not 1 <= int(min_unassigned) <= 8:
        raise InputError(f"min_unassigned={min_unassigned!r} is not allowed: 1 to 8 neighbours")
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    code = unassigned_code(model)
    if code is None:
        return labels, confidence, changed
    lab = labels.reshape(g.shape[:2])
    mixed = np.isin(lab, (LABEL_SECOND, LABEL_BOTH))
    if not mixed.any():
        return labels, confidence, changed
    n_mixed, n_unassigned = _neighbour_counts(mixed, lab == code)
    flip = (mixed & (n_mixed == 0) & (n_unassigned >= int(min_unassigned))).ravel()
    labels[flip] = code
    changed[flip] = True
    return labels, confidence, changed


#: A lone call needs at least this many scan neighbours: 8 inside the scan, 5 on an edge, 3 in
#: a corner are all there are.
LONE_MIN_NEIGHBOURS = 5
#: ... all first phase but at most this many (which are then none or unassigned: an O1/both
#: neighbour always keeps the call).
LONE_MAX_OTHER = 1
#: Groups of up to this many O1/both calls (8-connected) count as lone.
LONE_MAX_SIZE = 2


def first_phase_for_lone_calls(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    model: PhaseModel,
    min_neighbours: int = LONE_MIN_NEIGHBOURS,
    max_other: int = LONE_MAX_OTHER,
    max_size: int = LONE_MAX_SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second-phase or mixed calls alone (or in a pair) among first-phase ones become first phase.

    O3 is not free of O1's {100} reflections: along [001] they are forbidden only for whole
    numbers of the three-layer stacking period, and a crystal 150-175 Å thick shows them at
    several sigma (measured on the ``tune`` split: up to 3.9 sigma at 10^4 e-/DP at the
    lattice's own rotation), as strong as the marker of a column holding 20 % O1. What
    separates the two is the neighbourhood: a degraded column is part of a lamella or domain
    several probe positions wide, while the thickness artefact flickers on and off inside an
    O3 grain. A group of up to ``max_size`` O1/both calls (8-connected; one call, or two
    touching) whose surrounding scan positions (at least ``min_neighbours``) are all O3 but at
    most ``max_other`` becomes O3. On the ``tune`` split (eight field conditions, seeds 0
    and 1, 40 x 40 scans) single calls so surrounded were O3 in truth in 46 of 46
    cases at 2 x 10^3 e-/DP, 9 of 9 at 10^4, 26 of 26 at 10^3 and 21 of 23 at 3 x 10^2 (with
    every neighbour O3 required: 37, 8, 18 and 18 of 20); pairs so surrounded (after the
    single calls were re-labelled) were O3 in 14 of 14 positions at 2 x 10^3, 6 of 6 at 10^3,
    8 of 8 at 3 x 10^2 (groups of three: 6 of 6, not taken: a short lamella could look so). A
    lamella three or more positions long keeps its calls, and so does a call beside two or more
    vacuum or off-zone positions, or in a corner.

    Parameters
    ----------
    grid : ndarray (Ry, Rx, H, W)
        The patterns in scan order (for the scan shape).
    labels, confidence : ndarray (Ry * Rx,)
    model : PhaseModel
        A two-phase model (codes none, first, second, both, ...); a family model's codes mean
        other things, and nothing changes.
    min_neighbours : int
        Scan positions around a group (8 around a single call inside the scan) it needs to be
        re-labelled, 3 to 8.
    max_other : int
        Of them, at most this many may be other than first phase (none or unassigned), 0 to 2.
    max_size : int
        Largest group of calls re-labelled together, 1 to 4.

    Returns
    -------
    labels, confidence : ndarray
        Updated copies (a changed pattern gets confidence 0.5: its own evidence said
        otherwise).
    relabelled : bool ndarray
    """
    if not 3 <= int(min_neighbours) <= 8:
        raise InputError(f"min_neighbours={min_neighbours!r} is not allowed: 3 to 8 neighbours")
    if not 0 <= int(max_other) <= 2:
        raise InputError(f"max_other={max_other!r} is not allowed: 0 to 2 neighbours")
    if not 1 <= int(max_size) <= 4:
        raise InputError(f"max_size={max_size!r} is not allowed: 1 to 4 positions")
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    names = tuple(model.label_names)
    if len(names) <= LABEL_BOTH or names[LABEL_BOTH] != "both":  # one phase, or a family
        return labels, confidence, changed
    lab = labels.reshape(g.shape[:2])
    mixed = np.isin(lab, (LABEL_SECOND, LABEL_BOTH))
    if not mixed.any():
        return labels, confidence, changed
    from scipy import ndimage

    # groups of calls (8-connected) and the scan positions around each group
    group, n_groups = ndimage.label(mixed, structure=np.ones((3, 3), bool))
    size = np.bincount(group.ravel(), minlength=n_groups + 1)
    lone = np.zeros(n_groups + 1, bool)
    first = lab == LABEL_FIRST
    ry, rx = lab.shape
    for g_id, sl in enumerate(ndimage.find_objects(group), start=1):
        if sl is None or size[g_id] > int(max_size):
            continue
        y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, ry)
        x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, rx)
        own = group[y0:y1, x0:x1] == g_id
        ring = ndimage.binary_dilation(own, structure=np.ones((3, 3), bool)) & ~own
        n_ring, n_first = int(ring.sum()), int(first[y0:y1, x0:x1][ring].sum())
        lone[g_id] = n_ring >= int(min_neighbours) and n_first >= n_ring - int(max_other)
    flip = lone[group].ravel()
    labels[flip] = LABEL_FIRST
    confidence[flip] = np.minimum(confidence[flip], 0.5)
    changed[flip] = True
    return labels, confidence, changed


#: :func:`second_phase_for_surrounded_calls`: O1/both scan neighbours (of the 8, same grain)
#: that make a first-phase call a missed marker.
SURROUNDED_MIN_MIXED = 5
#: ... and how far a neighbour's lattice rotation may lie from the pattern's [deg] to count as
#: the same grain.
SURROUNDED_MAX_ROTATION_DEG = 3.0


def second_phase_for_surrounded_calls(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    rotation_deg: np.ndarray | None,
    model: PhaseModel,
    min_mixed: int = SURROUNDED_MIN_MIXED,
    max_rotation_deg: float = SURROUNDED_MAX_ROTATION_DEG,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A first-phase call mostly surrounded by second-phase or mixed calls of its grain joins them.

    Along [001] only the marker ring (O1's {100}) tells a column holding O1 from O3, and the
    marker is the least reliable reflection of the pattern: its intensity swings more than
    tenfold with thickness (dynamical scattering), and a grain tilted 13-20 mrad off the zone
    keeps it in one or two disks of the Laue circle (a 25 % O1 column at 13 mrad: ~0.45 % of
    its counts in one disk, ~9 counts at 2 x 10^3 e-/DP). Inside a degraded domain, then,
    single positions lose the marker and come out O3, while the domain is several probe
    positions wide (the argument of :func:`vote_on_mixed_calls` and, mirrored, of
    :func:`first_phase_for_lone_calls`). A pattern called first phase with at least
    ``min_mixed`` of its 8 scan neighbours called O1 or both takes the more frequent of the
    two among them (both on a tie). Where lattice rotations are known, only neighbours whose
    rotation lies within ``max_rotation_deg`` of the pattern's own count (the same grain: a
    pattern across a grain boundary is no evidence), and neighbours without a measured
    rotation (labelled from their neighbourhood) count as the same grain. One pass, on the
    labels as they came in: a call made here is no one's neighbour evidence, so a domain
    cannot creep into an O3 grain. Chosen on the field benchmark's ``tune`` split (labels
    before the step, seeds 2-5 of its eight conditions at 2e3 and 3e2 e-/DP): at least 5
    same-grain neighbours changed 145 calls, 136 of them O1/both in truth (4 neighbours: 234 of
    355; 6: 76 of 77; 5 without the rotation test: 177 of 197).

    Parameters
    ----------
    grid : ndarray (Ry, Rx, H, W)
        The patterns in scan order (for the scan shape).
    labels, confidence : ndarray (Ry * Rx,)
    rotation_deg : ndarray (Ry * Rx,) or None
        Each pattern's primary lattice rotation [deg] (``PhaseResult.lattice_rotation_deg``;
        NaN without one); None: every neighbour counts.
    model : PhaseModel
        A two-phase model (codes none, first, second, both, ...); a family model's codes mean
        other things, and nothing changes.
    min_mixed : int
        O1/both neighbours needed, 1 to 8.
    max_rotation_deg : float
        Same-grain tolerance of the lattice rotation [deg], 0 to 30.

    Returns
    -------
    labels, confidence : ndarray
        Updated copies (a changed pattern gets confidence at most 0.5: its own evidence said
        otherwise).
    relabelled : bool ndarray
    """
    if not 1 <= int(min_mixed) <= 8:
        raise InputError(f"min_mixed={min_mixed!r} is not allowed: 1 to 8 neighbours")
    if not (np.isfinite(max_rotation_deg) and 0.0 <= max_rotation_deg <= 30.0):
        raise InputError(f"max_rotation_deg={max_rotation_deg!r} is not allowed: 0 to 30 deg")
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    names = tuple(model.label_names)
    if len(names) <= LABEL_BOTH or names[LABEL_BOTH] != "both":  # one phase, or a family
        return labels, confidence, changed
    ry, rx = g.shape[:2]
    lab = labels.reshape(ry, rx)
    first = lab == LABEL_FIRST
    if not (first.any() and np.isin(lab, (LABEL_SECOND, LABEL_BOTH)).any()):
        return labels, confidence, changed
    if rotation_deg is None:
        rot = np.full((ry, rx), np.nan)
    else:
        rot = np.asarray(rotation_deg, float).reshape(ry, rx)
    # an unmeasured rotation (either side) is no evidence against the same grain; neighbours
    # outside the scan are padded none and add nothing
    offsets, same = _same_grain_neighbours(rot, float(max_rotation_deg), unmeasured_alike=True)
    pad_l = np.pad(lab, 1, constant_values=LABEL_NONE)
    n_second = np.zeros((ry, rx), int)
    n_both = np.zeros((ry, rx), int)
    for (dy, dx), ok in zip(offsets, same, strict=True):
        nb = pad_l[1 + dy : 1 + dy + ry, 1 + dx : 1 + dx + rx]
        n_second += ok & (nb == LABEL_SECOND)
        n_both += ok & (nb == LABEL_BOTH)
    flip = first & (n_second + n_both >= int(min_mixed))
    new = np.where(n_second > n_both, LABEL_SECOND, LABEL_BOTH)
    labels[flip.ravel()] = new[flip].astype(labels.dtype)
    confidence[flip.ravel()] = np.minimum(confidence[flip.ravel()], 0.5)
    changed[flip.ravel()] = True
    return labels, confidence, changed


#: :func:`none_for_lone_calls_in_vacuum`: calls resting on a hexagon of at most this many
#: vertices can be withdrawn.
VACUUM_MAX_VERTICES = 3
#: ... where at least this many scan neighbours exist (3 in a corner) and all are ``none``.
VACUUM_MIN_NEIGHBOURS = 3


def none_for_lone_calls_in_vacuum(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    hexagons: np.ndarray,
    model: PhaseModel,
    max_vertices: int = VACUUM_MAX_VERTICES,
    min_neighbours: int = VACUUM_MIN_NEIGHBOURS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A phase call on a pattern's own three-vertex hexagon, alone in vacuum, becomes ``none``.

    Three of six vertices are the least the spot finder accepts, and among the thousands of
    vacuum patterns of a scan at 10^4 e-/DP a few hold three noise or hot-pixel peaks that
    fall on a hexagon at a phase ring (O1's {100} at 0.41 1/Å most often: the marker-only
    lattice) and pass the count test by chance. A crystal is larger than one probe position,
    so a call whose every scan neighbour (at least ``min_neighbours`` of them) stayed ``none``
    after the other context steps, and whose own best phase hexagon has at most
    ``max_vertices`` vertices, is such a chance hexagon. On the ``tune`` split of
    ``scripts/bench_field.py`` (104 scenes of 40 x 40, 10^2-10^4 e-/DP) such calls were vacuum
    in 5 of 5 cases (four O1 at 10^4, one O3 at 2 x 10^3); calls alone in vacuum that the
    context steps made (no hexagon of their own) are left alone (6 of 17 there were crystal).

    Parameters
    ----------
    grid : ndarray (Ry, Rx, H, W)
        The patterns in scan order (for the scan shape).
    labels, confidence : ndarray (Ry * Rx,)
    hexagons : structured ndarray
        The identification's hexagon table (``dp_index``, ``phase``, ``inliers``).
    model : PhaseModel
        A two-phase model; a family model's codes mean other things, and nothing changes.
    max_vertices : int
        Largest vertex count of the pattern's best phase hexagon for the call to go, 3 to 6.
    min_neighbours : int
        Scan neighbours the pattern needs (1 to 8).

    Returns
    -------
    labels, confidence : ndarray
        Updated copies (a withdrawn call gets confidence 0.5).
    relabelled : bool ndarray
    """
    if not 3 <= int(max_vertices) <= 6:
        raise InputError(f"max_vertices={max_vertices!r} is not allowed: 3 to 6 vertices")
    if not 1 <= int(min_neighbours) <= 8:
        raise InputError(f"min_neighbours={min_neighbours!r} is not allowed: 1 to 8 neighbours")
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    hx = np.asarray(hexagons)
    if type(model) is not PhaseModel or hx.size == 0:
        return labels, confidence, changed
    ry, rx = g.shape[:2]
    n = ry * rx
    phase = (hx["phase"] > 0) & (hx["dp_index"] < n)
    best = np.zeros(n, np.int64)
    np.maximum.at(best, hx["dp_index"][phase], hx["inliers"][phase].astype(np.int64))
    n_occ, n_in = _neighbour_counts(labels.reshape(ry, rx) != LABEL_NONE, np.ones((ry, rx), bool))
    call = np.isin(labels, (LABEL_FIRST, LABEL_SECOND, LABEL_BOTH))
    go = (
        call
        & (best >= 1)
        & (best <= max_vertices)
        & (n_occ.ravel() == 0)
        & (n_in.ravel() >= min_neighbours)
    )
    labels[go] = LABEL_NONE
    confidence[go] = 0.5
    changed[go] = True
    return labels, confidence, changed


def unassign_faint_crystals(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    radius: int = 2,
    min_z: float = 3.0,
    min_share: float = 0.25,
    grow_passes: int = 2,
    min_members: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``none`` patterns inside a crystal no phase fits: ``unassigned`` from a wider sum.

    At a few hundred e-/DP an O3 grain off the [001] zone sends 2-4 counts into each of its
    Bragg disks (256 px detector, 7.7 px disks): no spot of its own passes the spot test, and
    even the 3 x 3 sum of :func:`label_from_neighbours` shows no Friedel pairs off the phase
    rings for about half of them, so most of such a grain stays ``none`` -- as if it were
    vacuum. The ``(2 radius + 1)^2`` neighbourhood sum of each remaining ``none`` pattern
    is identified the same way (:func:`label_from_neighbours` with that radius); only its
    ``unassigned`` outcomes are taken (a phase call from so wide a sum would lend a grain's
    phase to the vacuum beside it), each confirmed by the pattern's own counts at the sum's
    significant spots (``min_z`` shot-noise sigmas together and ``min_share`` of the
    neighbourhood's mean excess there).

    At a grain's edge the full sum is mostly vacuum and too faint (tune split, 3e2 e-/DP: of
    the off-zone positions left ``none``, ~85 % had under 60 % of their 5 x 5 neighbourhood
    in the grain). So the step then grows the grain, ``grow_passes`` times: each ``none``
    pattern with at least ``min_members`` ``unassigned`` patterns in its neighbourhood is
    tried on the sum of those patterns and its own only, under the same own-count test
    (the share now of the grain's mean excess, which a vacuum pattern beside it lacks).
    ``analyze`` runs it after the steps that label
    ``none`` patterns (neighbourhood, matched filter, faint regions, grown grains) and the
    neighbour vote, so it labels only what they left ``none``; the isolated-call step after it
    sees the grain's new ``unassigned`` positions.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
    calibration, model
        As for :func:`stemtf.phase.identify_phases`; a model without an ``unassigned`` label
        changes nothing.
    radius : int
        Neighbourhood half-size [probe positions], >= 2 (1 is :func:`label_from_neighbours`).
    min_z, min_share : float
        The own-count test of :func:`label_from_neighbours`; the share is stricter here (0.25
        against 0.1): on the ``tune`` split of ``scripts/bench_field.py`` 0.1 let 5 vacuum
        positions beside off-zone grains at 10^4 e-/DP through (the edge of a 5 x 5 sum holds
        a grain), 0.25 none of them, at the cost of 1 of 1,274 off-zone positions at 3e2.
    grow_passes : int
        Rounds of growth from the ``unassigned`` patterns (0: none).
    min_members : int
        ``unassigned`` patterns a neighbourhood needs before its ``none`` pattern is tried.
    seed : int
        Passed on to the identification of the sums.

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies (confidence as :func:`label_from_neighbours` sets it).
    relabelled : bool ndarray (Ry * Rx,)
    """
    if int(radius) != radius or radius < 2:
        raise InputError(
            f"radius={radius!r} is not allowed: an integer >= 2 probe positions "
            "(radius 1 is label_from_neighbours)"
        )
    for name, v, low in (("grow_passes", grow_passes, 0), ("min_members", min_members, 1)):
        if int(v) != v or v < low:
            raise InputError(f"{name}={v!r} is not allowed: an integer >= {low}")
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    unassigned = unassigned_code(model)
    if unassigned is None or not (labels == LABEL_NONE).any():
        return labels, confidence, changed
    radius = int(radius)
    kw = dict(radius=radius, min_z=min_z, min_share=min_share)
    targets = members = None
    for step in range(1 + int(grow_passes)):
        if step:
            members = labels == unassigned
            (near,) = _neighbour_counts(members.reshape(g.shape[:2]), radius=radius)
            near = near.ravel()
            targets = (near >= min_members) & (labels == LABEL_NONE)
            if not targets.any():
                break
        wide, wide_conf, took = label_from_neighbours(
            g,
            labels,
            confidence,
            calibration,
            model,
            seed=seed + step,
            targets=targets,
            members=members,
            **kw,
        )
        go = took & (wide == unassigned)
        if step and not go.any():
            break
        labels[go] = unassigned
        confidence[go] = wide_conf[go]
        changed[go] = True
    return labels, confidence, changed
