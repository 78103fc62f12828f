"""A matched filter on the raw counts for patterns too sparse for spot finding (low dose).

Below a few hundred electrons per pattern the Difference-of-Gaussians spot finder sees too few
counts per Bragg disk to find a hexagon, while the counts of all six disks of a ring together
still stand above the shot noise. For a ring of known radius (learned by
:meth:`PhaseModel.refine`), each pattern's counts in the annulus around that radius are binned
by azimuth (0.5 deg bins, the ellipticity corrected); the counts in a disk-wide window at every
azimuth minus the local background (bands 1.5-4 px inside and outside the annulus, scaled by
area), summed over the six windows 60 deg apart, give the hexagon's excess counts at every
in-plane rotation; ``S(theta)`` is that excess above its median over the rotations (an
azimuthally uniform excess, such as the probe's tails, a halo or an amorphous ring not quite
removed by the flat background bands, is no hexagon), ``V(theta)`` its shot-noise variance.
Hot pixels are removed only where shot noise cannot explain them
(:func:`stemtf.phase.dog.remove_hot_pixels`): at these doses most counts are isolated single
electrons, which the spot finder's neighbour clip would erase. Each window's excess is clipped
at a few sigmas, so a left-over hot-pixel cluster in one disk cannot make a hexagon.

A pattern shows the ring where its own best rotation stands ``min_own_z`` sigmas above zero, or
where the sum over its 3 x 3 scan neighbourhood (grains span several probe positions and share
their rotation) stands ``min_pooled_z`` sigmas and the pattern's own counts at that rotation
``min_confirm_z``. Where even the 3 x 3 sum is too faint (O1 near 250 Å along [001] puts most
of its counts in the transmitted disk; a tilted grain lights part of its hexagon), the marker
hexagon may still show in the tent-weighted 5 x 5 sum, with its lattice there (``wide_*``).
The thresholds were chosen on the field benchmark's ``tune`` split
(``scripts/bench_field.py``; seed 0 of five conditions at 1e2-1e4 e-/DP, the two pooled ones
since on seeds 0 and 1 of all eight conditions at 1e2-1e3, see :class:`MatchedParams`).

:func:`label_sparse_patterns` gives ``none`` patterns the second phase (its marker ring, O1
{100}, with the {110} hexagon 30 deg from it) or, failing that, the first phase (its shared
ring, O3 {110}); the radius cannot tell O1 from O3+O1 at these doses, so the marker gives the
second phase, with a low confidence. The filter only extends a phase the spot finder saw:
candidates join it through chains of candidates at most two probe positions apart (where the
spot finder saw the phase nowhere, the candidates seed it themselves), and none
is given near an ``unassigned`` pattern (off-zone O3 grains show pseudo-hexagons near the
marker radius that a filter this coarse in radius would take for O1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, annulus_pixels, corrected_offsets
from stemtf.phase.center import scan_smoothed_centers
from stemtf.phase.context import _neighbour_counts, scan_step_start, unassigned_code
from stemtf.phase.dog import remove_hot_pixels
from stemtf.phase.model import LABEL_BOTH, LABEL_FIRST, LABEL_NONE, LABEL_SECOND, PhaseModel
from stemtf.phase.spots import SpotTable, aperture_counts

__all__ = [
    "EnclosedParams",
    "MarkerCheckParams",
    "MatchedParams",
    "beam_counts",
    "check_marker_on_counts",
    "enclosed_marker_evidence",
    "hexagon_scan",
    "label_sparse_patterns",
    "second_phase_for_enclosed_patterns",
]

#: Azimuth bin [deg] of the rotation scan.
BIN_DEG = 0.5
_N_BINS = int(round(360.0 / BIN_DEG))
#: Background bands [px beyond the disk radius] either side of the annulus.
_BG_FROM_PX, _BG_TO_PX = 1.5, 4.0


@dataclass(frozen=True)
class MatchedParams:
    """Thresholds of the matched filter (tuned on the ``tune`` split of the field benchmark).

    Attributes
    ----------
    min_own_z : float
        A pattern's own best hexagon significance that shows the ring on its own.
    min_pooled_z : float
        Significance of the 3 x 3 neighbourhood's best hexagon ...
    min_confirm_z : float
        ... that the pattern's own counts at that rotation must confirm. Lowered from 5.0 and
        1.0 to 3.0 and 0.5 after measuring on the ``tune`` split (seeds 0 and 1, eight
        conditions; ``scripts/tune_phase.py --matched min_pooled_z=5 min_confirm_z=1``
        against the defaults): mean O1-present F1 at 3e2 0.796 -> 0.844 (16 scenes; false O1/both 165 -> 165,
        missed 706 -> 532), at 1e2 ideal 128 px 0.801 / 0.775 -> 0.875 / 0.884, at 1e3
        0.953 -> 0.957 (one more off-zone position called O1 of 16 scenes). The variance
        (``d + b s^2 + 1`` per window) is conservative at a fraction of a count per window, so
        the pooled "sigmas" of sparse patterns stand below true ones; 2.5 gained a little
        more at 1e2 but added off-zone calls at 1e3. Raised to 1.5 when the filter began
        counting every electron (hot pixels removed by :func:`remove_hot_pixels` instead of
        the neighbour clip, which had erased 57-79 % of a 256 px pattern's counts at 1e2-3e2
        e-/DP, the vacuum's sparse background nearly all): a vacuum pattern beside a grain
        then shows its own Poisson background, and 0.5 sigma let about a third of them join
        the grain (tune, 256 px at 3e2: 51 vacuum positions given a phase). On the ``tune``
        split, against the clip with 0.5: mean O1-present F1 at 1e2 0.618 -> 0.798 (8 scenes,
        none lower), at 3e2 0.873 -> 0.890 (19 scenes, none lower by more than 0.003), and on
        six fresh off-zone / all-conditions scenes (seeds 5-7) no more off-zone calls; 1.0
        gained more (1e2 0.840, 3e2 0.902) but called 4 more off-zone positions O1 in one.
    clip_z : float
        Per-window excess clipped at this many sigmas.
    max_beam_counts : float
        Patterns whose transmitted disk holds more counts than this (above the background;
        ~600 e-/DP on the field scenes) are left to the spot finder: from ~10^3 e-/DP it finds
        nearly every lattice the filter would, while the filter's coarse radius window lets
        off-zone pseudo-hexagons through (report split at 10^3: off-zone called O1/both in
        3.7 % of positions with the filter there, 1.2 % without) and the detector's
        fixed-pattern residuals grow with the counts.
    bright_own_only : bool
        ... unless the spot finder left them ``none``: then they are scored too, but only on
        their own counts (best rotation ``min_own_z`` sigmas; no neighbourhood route, and the
        spot finder's calls among them are not re-tested for O3+O1). A grain 30 mrad off its
        zone lights one or two disks of each ring, too few for the spot finder's hexagon: on
        the ``report`` split's mistilt-30mrad scene (seed 100) 83 of 168 such O3 patterns were
        ``none`` at 10^3 e-/DP, and O1-present F1 fell from 0.814 at 3e2 to 0.724 at 10^3.
        Letting bright patterns through with the neighbourhood route as well called 2-11 vacuum
        positions per ``tune`` scene O3 or O1. Where the spot finder saw no lattice of the
        model anywhere in the grid, these bright candidates seed nothing (they may only join
        a phase seeded otherwise): at bright counts the spot finder finds what there is, and a
        real Merlin scan of some other crystal (``../shared/realdata``, 4.5e5 counts per frame)
        put its best rotation 4-5 sigmas up on 0.2 % of the counts and was called O1
        throughout. False: bright patterns are left to the spot finder alone (before this round).
    min_lattice_z : float
        A marker hexagon counts only where the neighbourhood's shared-ring hexagon stands this
        many sigmas at the rotation the structure fixes relative to the marker (within 1 deg)
        ...
    min_sixfold_vertices : int
        ... or where at least this many of its six vertices stand ``vertex_z`` sigmas on their
        own in the 3 x 3 neighbourhood (a zone-axis hexagon: the O1 {110} that would confirm the
        lattice holds as little as 5 % of the counts at some thicknesses, while an off-zone
        grain's pseudo-hexagon near the marker radius is mostly one Friedel pair: on the
        ``tune`` split at 3e2-1e3, 6 of 6 vertices in zone-axis O1, 2 in off-zone grains, >= 5 in
        0.5-2.3 % of them). 7 disables it.
    min_arc_vertices : int
        ... or where this many *adjacent* vertices do (a mistilted grain's Laue circle lights a
        contiguous arc of the hexagon; an off-zone pseudo-hexagon's Friedel pair sits on
        opposite vertices). 7 disables it. On the ``tune`` split 3 raised O1-present at 3e2
        under all field conditions together (0.207 -> 0.315, 0.440 -> 0.498) and changed no
        off-zone call.
    vertex_z : float
        Pooled significance of one vertex for :attr:`min_sixfold_vertices` and
        :attr:`min_arc_vertices`.
    arc_pooled_z : float
        A marker hexagon too faint for :attr:`min_pooled_z` still shows the second phase where
        its vertices pass the six-fold or arc test above, the neighbourhood's shared-ring
        hexagon stands :attr:`min_lattice_z` at the fixed rotation, and: the neighbourhood's
        marker hexagon stands at least this many sigmas (``inf``: off) ...
    arc_own_z : float
        ... the pattern's own marker counts at that rotation this many ...
    arc_lattice_own_z : float
        ... its own shared-ring counts at the fixed rotation this many (a vacuum pattern beside
        a grain has no lattice of its own) ...
    arc_min_ratio : float
        ... and the neighbourhood's marker excess is at least this fraction of its shared-ring
        excess (O3's weak supercell reflections at the marker positions hold far less than
        its {110}; a mistilted O1 grain's marker about as much as its {110}). Why: a grain
        10-20 mrad off its zone keeps one or two marker disks lit (the noise-free library at
        13 mrad: O1 {100} 5 % of the pattern, a third of it in one disk, against 30-40 % on
        the zone), so the six-window sum stays under :attr:`min_pooled_z` and, at 3e2 e-/DP,
        the shared ring alone then gave pure O1 and O3+O1 patterns the first phase (``tune``,
        all field conditions, seed 1: 53 of 97 O1-present positions). Chosen on the
        ``tune`` split at 3e2 (seeds 0 and 1 of all conditions, mistilt and
        carbon/thickness/detector; ``analyze``): O1-present F1 0.754 / 0.579 -> 0.760 / 0.623
        (all), 0.893 -> 0.905 (mistilt seed 1), 0.955 -> 0.957 (carbon seed 0); a looser
        ratio (0.3) gained more under all conditions (0.767 / 0.700) but called thick O3
        beside O3+O1 columns O1 (carbon seed 0: 0.944); without the own shared-ring test
        vacuum beside O1 lamellae took O1 (carbon seed 0: 0.929).
    unassigned_reach : int
        No phase is given within this many probe positions of an ``unassigned`` pattern
        (off-zone grains; 0: anywhere). 2 (was 1) after the ``tune`` split's off-zone and
        all-conditions scenes at 1e2-1e3 (seeds 0-4 of off-zone, 0-1 of all): off-zone
        positions called O1/both 13 -> 6 of 18 scenes, false O1/both 139 -> 132, missed
        571 -> 572, no other condition changed; 3 lost true O1 for nothing more.
    start_where_unseen : bool
        Where the spot finder saw a phase nowhere in the grid this step is given (the whole
        scan in ``scripts/tune_phase.py``; one chunk of scan rows in ``analyze``), the
        filter's candidates for it (behind the same lattice tests) seed it themselves instead
        of giving nothing. On the ``tune`` split at 1e2-1e3 (34 whole scans) it changed only
        the two whose identification saw no lattice at all (1e2 carbon/thickness/detector:
        O1-present 0.000 -> 0.537; all conditions 0.000 -> 0.033), with no false O1/both
        added. Through ``analyze`` (chunks) on the ``report`` split at 1e2 it raised
        O1-present in 7 of 8 conditions (+0.03 to +0.08) and called 0.5 % of off-zone
        positions O1/both (0 % before).
    min_seed_cluster : int
        Where the spot finder saw the phase somewhere in the grid but not in this grain, a
        cluster of at least this many candidates (chains at most two probe positions apart)
        seeds it too (0: off; only the spot finder's calls seed). At 1e2 e-/DP the spot finder
        sees O1 in a handful of positions of one grain; the filter's marker candidates in the
        other O1 grains (all truly O1 or O3+O1 on the scene measured: 138 of 138) then joined
        nothing and took the first phase from the shared ring (``tune``, mistilt seed 2: 67
        of 138 left out). A lone off-zone pseudo-hexagon stays a lone candidate. Chosen on the
        ``tune`` split (seeds 2 and 3 of mistilt, all conditions and off-zone at 1e2 and 3e2,
        40 x 40 scenes; ``scripts/tune_phase.py --matched min_seed_cluster=K``): mean
        O1-present F1 at 1e2 0.617 -> 0.761 for K = 4 and K = 8 alike (mistilt 0.542 / 0.580
        -> 0.827 / 0.829, all 0.341 -> 0.620 and 0.400 unchanged, off-zone 0.884 -> 0.935),
        false O1/both calls 12 -> 12; 3e2 unchanged. Checked on the ``check`` split (seed 200 of
        mistilt, all, off-zone and carbon/thickness/detector at 1e2 and 1e3): 1e2 mean 0.491 ->
        0.558 (carbon 0.583 -> 0.848, the others unchanged), false O1/both 4 -> 4; 1e3
        unchanged. Reported through ``analyze`` (``report``, seeds 100-101, 1e2): off-zone
        0.846 / 0.856 -> 0.900 / 0.947, 256 px 0.913 -> 0.917, ideal 128 px, mistilt and all
        conditions unchanged (``analyze``'s chunks already let candidates seed where a chunk's
        spot finder saw no O1); 3e2 unchanged.
    both_pooled_z, both_min_ratio : float
        Low-dose patterns with the first phase -- given by this step (its ring shows, the
        marker hexagon did not pass the tests above) or already by the spot finder -- become
        O3+O1 where their 5 x 5 neighbourhood of first-phase
        patterns (tent-weighted, :func:`_tent_pooled`) shows the marker hexagon at the
        rotation the first ring fixes: ``both_pooled_z`` sigmas (of the weighted sum) and at
        least ``both_min_ratio`` of the first ring's excess (:func:`_marker_beside_first`;
        ``both_pooled_z=inf``: off). Why: at 1e2 e-/DP under 20 mrad mistilt the marker of
        O3+O1 columns and of tilted O1 is too faint for the 3 x 3 tests, and the shared ring
        alone then called them O3 (``tune``, mistilt seed 2: 53 of 208 O1-present
        positions); their 5 x 5 marker / first-ring excess ratio is 0.25-0.40 (median), pure
        O3's 0.00 (90th percentile 0.07). Summing over the first phase's patterns only keeps
        an O3 pattern beside an O1 grain from borrowing the grain's marker (summing over all
        patterns called 41 O3 positions beside O1 mixed in one off-zone scene). Chosen on the
        ``tune`` split (``scripts/tune_phase.py``, seeds 2-3 of mistilt, all conditions and
        off-zone at 1e2 and 3e2; ``--matched both_pooled_z=Z both_min_ratio=R``): mean
        O1-present F1 at 1e2 0.761 -> 0.792 (Z = 2, R = 0.1; mistilt 0.827 / 0.829 -> 0.898
        / 0.912), false O1/both 12 -> 13; at 3e2 0.903 -> 0.910, false 49 -> 56; no scene
        lower. Z = 1.5 gained 0.010 more at 1e2 for 13 more false calls (26), so 2 was taken;
        R = 0.2 gained less. An unweighted 5 x 5 box at the same Z: 1e2 0.790, and it blurred
        off-zone at 3e2 (0.973 -> 0.965). Checked on the ``check`` split
        (seed 200 of mistilt, all, off-zone, carbon/thickness/detector at 1e2 and 1e3): 1e2
        mean 0.558 -> 0.657 (mistilt 0.477 -> 0.827, carbon 0.848 -> 0.845), false 4 -> 5;
        1e3 unchanged (0.944), false 15 -> 15.
        First only this step's first-phase calls were re-tested; the spot finder's are since
        (same thresholds): ``tune`` at 3e2 mean 0.910 -> 0.913, false 56 -> 58, 1e2 unchanged;
        through ``analyze`` (``scripts/bench_denoise.py --split tune --conditions
        mistilt-20mrad all detector-256 --doses 3e2 --seeds 2 3 --methods raw auto``) raw
        mistilt seed 2 0.906 -> 0.936, all seed 2 0.773 -> 0.798, 256 px seed 3 0.985 ->
        0.991, ``auto`` all seed 2 0.878 -> 0.900, no scan lower, wall time unchanged; ``check``
        1e2 unchanged, 1e3 0.944 -> 0.948, false 15 -> 15.
    wide_pooled_z, wide_confirm_z, wide_min_ratio, wide_power_ratio : float
        Patterns this step leaves with no phase (neither ring shows in the 3 x 3 tests) take
        the second phase where the tent-weighted 5 x 5 neighbourhood (:func:`_tent_pooled`,
        leaving out patterns the spot finder already called second phase or both, whose
        marker a first-phase neighbour would borrow) shows the marker hexagon at
        ``wide_pooled_z`` sigmas, the pattern's own marker counts at that rotation stand
        ``wide_confirm_z``, the same 5 x 5 sums show the shared ring at the rotation the
        structure fixes (:attr:`min_lattice_z`), the marker's vertices in those sums make a
        zone-axis hexagon or a lit arc (:attr:`min_sixfold_vertices`, :attr:`min_arc_vertices`)
        and its excess is at least ``wide_min_ratio`` of the ring's; and only where the 3 x 3
        sums could not have resolved a marker of ``wide_power_ratio`` of their shared-ring
        excess (0: no such limit) -- where they could, they have spoken (:func:`_wide_marker`).
        Such patterns join a seen phase like the 3 x 3 route's candidates, after the O3+O1
        test. Why: O1 near 250 Å along [001] puts most of its counts in the transmitted disk;
        at 1e2 e-/DP its 3 x 3 marker sum stood at a median 3.6 sigma and its {110} at 2.6 (a
        48 x 48 ``simulate-scan`` scene at 30-400 Å, library seed 11: 38 of 55 such O1
        positions ``none``). Chosen on the ``tune`` split (``scripts/tune_phase.py --scenes DIR
        --conditions thick-128 thick-256 ideal-128 mistilt-20mrad all off-zone --doses 1e2 3e2
        --seeds 0 1``, against ``--matched wide_pooled_z=inf``): mean O1-present F1 at 1e2
        0.810 -> 0.831 (12 scenes; off-zone seed 0 -0.005, the rest equal or higher; false
        O1/both 34 -> 38, missed 508 -> 451), at 3e2 0.914 -> 0.917 (false 70 -> 85, missed
        219 -> 203; all conditions +0.036 / +0.036, seven scenes lower by 0.003-0.010, most
        thick-128 seed 1). Giving the second phase inside the 3 x 3 route instead (so before
        the O3+O1 test) lost O3+O1 columns on ``check`` (mistilt 1e2 0.827 -> 0.801: that
        test's first-phase sums lost their marker); a 1.5 sigma own confirmation kept almost
        none of the gain (1e2 mean 0.785 on the first ten scenes). The vertex test was added
        after the ``report`` split showed five off-zone positions called O1 at 1e2 without it
        (off-zone seed 100: 0.908 -> 0.888; with it 0.908).
    """

    min_own_z: float = 3.5
    min_pooled_z: float = 3.0
    min_confirm_z: float = 1.5
    clip_z: float = 3.0
    max_beam_counts: float = 400.0
    bright_own_only: bool = True
    min_lattice_z: float = 3.0
    min_sixfold_vertices: int = 5
    min_arc_vertices: int = 3
    vertex_z: float = 1.0
    arc_pooled_z: float = 2.0
    arc_own_z: float = 0.5
    arc_lattice_own_z: float = 2.0
    arc_min_ratio: float = 0.5
    unassigned_reach: int = 2
    start_where_unseen: bool = True
    min_seed_cluster: int = 4
    both_pooled_z: float = 2.0
    both_min_ratio: float = 0.1
    wide_pooled_z: float = 4.0
    wide_confirm_z: float = 1.0
    wide_min_ratio: float = 0.1
    wide_power_ratio: float = 0.25

    def __post_init__(self) -> None:
        for name in ("min_sixfold_vertices", "min_arc_vertices"):
            v = getattr(self, name)
            if v not in range(1, 8):
                raise InputError(f"{name}={v!r} is not allowed: 1 to 7 vertices (7: off)")
        if not (isinstance(self.min_seed_cluster, int) and self.min_seed_cluster >= 0):
            raise InputError(
                f"min_seed_cluster={self.min_seed_cluster!r} is not allowed: an integer >= 0 "
                "(0: off)"
            )
        if not isinstance(self.bright_own_only, bool):
            raise InputError(
                f"bright_own_only={self.bright_own_only!r} is not allowed: True or False"
            )
        if not isinstance(self.start_where_unseen, bool):
            raise InputError(
                f"start_where_unseen={self.start_where_unseen!r} is not allowed: True or False"
            )
        if self.unassigned_reach not in range(0, 6):
            raise InputError(
                f"unassigned_reach={self.unassigned_reach!r} is not allowed: 0 to 5 positions"
            )
        for name in (
            "min_own_z",
            "min_pooled_z",
            "min_confirm_z",
            "clip_z",
            "max_beam_counts",
            "min_lattice_z",
            "vertex_z",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"{name}={v!r} is not allowed: it must be a number > 0")
        if not (isinstance(self.both_pooled_z, (int, float)) and self.both_pooled_z > 0):
            raise InputError(
                f"both_pooled_z={self.both_pooled_z!r} is not allowed: a number > 0 (inf: off)"
            )
        r = self.both_min_ratio
        if not (isinstance(r, (int, float)) and math.isfinite(r) and r >= 0):
            raise InputError(f"both_min_ratio={r!r} is not allowed: a finite number >= 0")
        for name in ("wide_pooled_z", "arc_pooled_z"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise InputError(f"{name}={v!r} is not allowed: a number > 0 (inf: off)")
        for name in (
            "wide_confirm_z",
            "wide_min_ratio",
            "wide_power_ratio",
            "arc_own_z",
            "arc_lattice_own_z",
            "arc_min_ratio",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise InputError(f"{name}={v!r} is not allowed: it must be a finite number")


def beam_counts(dps: np.ndarray, centers_yx: np.ndarray, disk_radius_px: float) -> np.ndarray:
    """(N,) counts in each pattern's transmitted disk above its surroundings, hot pixels removed.

    What :attr:`MatchedParams.max_beam_counts` is compared with
    (:func:`stemtf.phase.spots.aperture_counts` at the beam centres ``centers_yx`` [px]).
    """
    n = len(dps)
    if n == 0:
        return np.zeros(0)
    cen = np.asarray(centers_yx, float).reshape(n, 2)
    table = SpotTable(np.arange(n), cen[:, 0], cen[:, 1], *(np.zeros(n),) * 2)
    return aperture_counts(remove_hot_pixels(dps), table, disk_radius_px)[0]


def _marker_and_shared_rings(model: PhaseModel):
    """The second phase's marker ring and the first phase's shared ring (None, None if absent)."""
    marker = [r for r in model.rings if r.marker and r.phase == 1]
    shared = [r for r in model.rings if not r.marker and r.phase == 0]
    return (marker[0], shared[0]) if marker and shared else (None, None)


def ring_rotation(hexagons, n: int, radius_invA: float, tol: float = 0.03) -> np.ndarray:
    """Each pattern's rotation [deg] from its hexagon on the ring at ``radius_invA``.

    Hexagons within ``tol`` (relative) of the radius count (the O3 and O1 {110} rings, 1.8 %
    apart, are one ring here); of a pattern's several, the one with the most matched vertices.
    NaN where a pattern (``dp_index`` 0 .. n-1) has none.
    """
    rotation = np.full(n, np.nan)
    hx = np.asarray(hexagons)
    if hx.size == 0:
        return rotation
    hx = hx[np.abs(hx["radius_invA"] / radius_invA - 1.0) <= tol]
    hx = hx[np.lexsort((-hx["inliers"].astype(int), hx["dp_index"]))]
    hx = hx[np.unique(hx["dp_index"], return_index=True)[1]]
    rotation[hx["dp_index"]] = hx["rotation_deg"]
    return rotation


def hexagon_scan(
    dps: np.ndarray,
    centers_yx: np.ndarray,
    radius_px: float,
    calibration: Calibration,
    *,
    clip_z: float = 3.0,
    chunk: int = 128,
    return_shot_variance: bool = False,
    return_vertices: bool = False,
) -> tuple[np.ndarray, ...]:
    """Excess counts and variance of a hexagon of disks at ``radius_px`` at every rotation.

    Parameters
    ----------
    dps : ndarray, shape (N, H, W)
        Patterns in counts.
    centers_yx : ndarray, shape (N, 2)
        Beam centre of each pattern [px].
    radius_px : float
        Ring radius [px] in the undistorted frame.
    calibration : Calibration
        Disk radius and ellipticity.
    clip_z : float
        Each disk window's excess is clipped at this many of its sigmas.
    chunk : int
        Patterns per vectorised block (memory).
    return_shot_variance : bool
        Also return the shot-noise variance alone (without the floor set by the spread over
        rotations).
    return_vertices : bool
        Also return each vertex's excess and shot-noise variance, ``(N, 6, 120)`` each (the
        excess relative to the median rotation, like the hexagon's).

    Returns
    -------
    excess, variance : ndarray, shape (N, 120)
        At rotations 0, 0.5, ..., 59.5 deg (the hexagon's first vertex, from +x towards +y).
    shot_variance : ndarray, shape (N, 120), only with ``return_shot_variance``
    """
    arr = np.asarray(dps)
    if arr.ndim != 3:
        raise InputError(f"dps must be a (N, H, W) batch, got shape {arr.shape}")
    if not radius_px > 0:
        raise InputError(f"radius_px={radius_px!r} is not allowed: it must be > 0")
    n, h, w = arr.shape
    centers = np.asarray(centers_yx, float).reshape(n, 2)
    disk = calibration.disk_radius_px
    half = max(1, int(round(math.degrees(math.asin(min(disk / radius_px, 1.0))) / BIN_DEG)))
    n_rot = _N_BINS // 6
    excess = np.zeros((n, n_rot))
    variance = np.zeros((n, n_rot))
    # pixels that can fall in the annulus or its background bands of any pattern
    reach = disk + _BG_TO_PX + 1.0
    py, px, pix = annulus_pixels((h, w), calibration, centers, radius_px - reach, radius_px + reach)
    shot_var = np.ones_like(variance)
    v_ex = np.zeros((n, 6, n_rot)) if return_vertices else None
    v_var = np.ones((n, 6, n_rot)) if return_vertices else None

    def _out(*base):
        extra = (shot_var,) if return_shot_variance else ()
        extra += (v_ex, v_var) if return_vertices else ()
        return (*base, *extra)

    if pix.size == 0:  # the ring lies off the detector: no evidence
        return _out(excess, np.ones_like(variance))
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        m = e - s
        dy, dx = corrected_offsets(
            py, px, centers[s:e], calibration.ellipticity_ratio, calibration.ellipticity_angle_deg
        )
        dr = np.abs(np.hypot(dy, dx) - radius_px)
        # only the pixels in this pattern's annulus or its bands (the selection above serves
        # every pattern's centre): azimuths and counts of those alone
        row, col = np.nonzero(dr <= disk + _BG_TO_PX)
        dr = dr[row, col]
        counts = remove_hot_pixels(arr[s:e]).reshape(m, h * w)[row, pix[col]].astype(np.float64)
        b = (np.degrees(np.arctan2(dy[row, col], dx[row, col])) % 360.0 / BIN_DEG).astype(
            np.int64
        ) % _N_BINS
        b += row * _N_BINS
        in_disk = dr <= disk
        in_bg = dr > disk + _BG_FROM_PX

        d, nd = (_binned(b, in_disk, wt, m, half) for wt in (counts, None))
        bg, nbg = (_binned(b, in_bg, wt, m, half) for wt in (counts, None))
        scale = nd / np.maximum(nbg, 1.0)
        ex = d - bg * scale
        var = d + bg * scale**2 + 1.0
        lim = clip_z * np.sqrt(var)
        ex = np.clip(ex, -lim, lim)
        if return_vertices:
            v = ex.reshape(m, 6, n_rot)
            v_ex[s:e] = v - np.median(v, axis=2, keepdims=True)
            v_var[s:e] = var.reshape(m, 6, n_rot)
        hexa = ex.reshape(m, 6, n_rot).sum(axis=1)
        # an azimuthally uniform excess (the probe's tails, a halo or an amorphous ring that the
        # flat bands do not quite remove) is no hexagon: measure against the median rotation
        hexa = hexa - np.median(hexa, axis=1, keepdims=True)
        # detectors whose counts are not Poisson (gain, read noise) scatter more than the
        # counts say: the spread over the rotations (most of which hold no hexagon) sets a
        # floor under the shot-noise variance
        spread = (1.4826 * np.median(np.abs(hexa), axis=1, keepdims=True)) ** 2
        excess[s:e] = hexa
        shot_var[s:e] = var.reshape(m, 6, n_rot).sum(axis=1)
        variance[s:e] = np.maximum(shot_var[s:e], spread)
    return _out(excess, variance)


def _binned(bins: np.ndarray, mask: np.ndarray, weights, m: int, half: int) -> np.ndarray:
    """Azimuth histogram of the masked pixels per pattern, over a disk-wide window of bins.

    Weighted by ``weights`` (counts) or, without them, counting pixels; the window is
    ``2 half + 1`` bins wide.
    """
    wgt = None if weights is None else weights[mask]
    return _window(np.bincount(bins[mask], wgt, m * _N_BINS).reshape(m, _N_BINS), half)


def _window(a: np.ndarray, half: int) -> np.ndarray:
    """Circular moving sum over ``2 half + 1`` bins along the last axis."""
    ext = np.concatenate([a[:, -half:], a, a[:, :half]], axis=1)
    cs = np.cumsum(np.pad(ext, ((0, 0), (1, 0))), axis=1)
    return cs[:, 2 * half + 1 :] - cs[:, : -(2 * half + 1)]


def _weighted_neighbourhood_sum(values, shape, reach, weight) -> np.ndarray:
    """Sum of ``weight(dy, dx)`` x the value at each scan offset within ``reach`` (in the scan)."""
    ry, rx = shape
    g = values.reshape(ry, rx, -1)
    out = np.zeros_like(g)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            src_y = slice(max(dy, 0), ry + min(dy, 0))
            dst_y = slice(max(-dy, 0), ry + min(-dy, 0))
            src_x = slice(max(dx, 0), rx + min(dx, 0))
            dst_x = slice(max(-dx, 0), rx + min(-dx, 0))
            w = weight(dy, dx)
            out[dst_y, dst_x] += g[src_y, src_x] if w == 1.0 else w * g[src_y, src_x]
    return out.reshape(values.shape)


def _pooled(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sum of each position's 3 x 3 scan neighbourhood (within the scan), per rotation."""
    return _weighted_neighbourhood_sum(values, shape, 1, lambda dy, dx: 1.0)


def _tent_pooled(values: np.ndarray, shape: tuple[int, int], power: int = 1) -> np.ndarray:
    """Weighted sum over each position's 5 x 5 neighbourhood, weights (1 2 3 2 1)^2 outer.

    ``power=2`` squares the weights: the variance of the weighted sum of independent
    excesses is the sum of the squared weights times their variances. The centre weighs 9,
    the corners 1: the sum reaches two positions while a boundary two positions away adds
    little.
    """
    return _weighted_neighbourhood_sum(
        values, shape, 2, lambda dy, dx: float(((3 - abs(dy)) * (3 - abs(dx))) ** power)
    )


def _grow(seed: np.ndarray, candidate: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Candidates connected to the seeds through candidates within two probe positions."""
    taken = np.zeros_like(candidate)
    reach = seed.copy()
    while True:
        near = _pooled(_pooled(reach.astype(np.float64)[:, None], shape), shape)[:, 0] > 0
        new = candidate & near & ~taken
        if not new.any():
            return taken
        taken |= new
        reach = reach | new


def _large_clusters(candidate: np.ndarray, shape: tuple[int, int], min_size: int) -> np.ndarray:
    """Candidates in clusters (chains at most two probe positions apart) of >= ``min_size``."""
    out = np.zeros_like(candidate)
    done = np.zeros_like(candidate)
    for i in np.flatnonzero(candidate):
        if done[i]:
            continue
        start = np.zeros_like(candidate)
        start[i] = True
        members = _grow(start, candidate, shape) | start
        done |= members
        if members.sum() >= min_size:
            out |= members
    return out


def ring_evidence(
    excess: np.ndarray, variance: np.ndarray, shape: tuple[int, int], prm: MatchedParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which patterns of a (Ry, Rx) scan show the ring (own or neighbourhood-confirmed).

    Returns
    -------
    found : bool ndarray (N,)
    rotation_bin : int ndarray (N,)
        The rotation (bin of :data:`BIN_DEG`) that showed it.
    pooled_z : ndarray (N, 120)
        The 3 x 3 neighbourhood's significance at every rotation.
    own : bool ndarray (N,)
        The pattern's own counts alone show it (best rotation ``min_own_z`` sigmas).
    """
    variance = np.maximum(variance, 1.0)
    z_own = excess / np.sqrt(variance)
    pe, pv = _pooled(excess, shape), _pooled(variance, shape)
    z_pool = pe / np.sqrt(pv)
    best = np.argmax(z_pool, axis=1)
    rows = np.arange(len(best))
    own_best = np.argmax(z_own, axis=1)
    own = z_own[rows, own_best] >= prm.min_own_z
    pooled = (z_pool[rows, best] >= prm.min_pooled_z) & (z_own[rows, best] >= prm.min_confirm_z)
    return own | pooled, np.where(own, own_best, best), z_pool, own


def _faint_marker(ring_ex, ring_var, marker_zpool, at, expect, vertices_ok, shape, prm):
    """Patterns whose marker hexagon, too faint in its six-window sum, still shows the phase.

    ``vertices_ok``: the vertex test (six-fold or a lit arc) and the neighbourhood's lattice
    at the fixed rotation passed. Then the neighbourhood's marker significance at rotation
    ``at`` (``marker_zpool``, :func:`ring_evidence`'s), the pattern's own marker and
    shared-ring counts (the latter at ``expect`` +- 0.5 deg) and the marker / shared-ring
    excess ratio of the neighbourhood must pass :class:`MatchedParams`' ``arc_*`` thresholds.
    """
    n = len(at)
    rows = np.arange(n)
    n_rot = ring_ex["marker"].shape[1]
    m_ex, m_var = ring_ex["marker"], ring_var["marker"]
    f_ex, f_var = ring_ex["first"], ring_var["first"]
    pm = _pooled(m_ex, shape)[rows, at]
    pooled_z = marker_zpool[rows, at]
    own_z = m_ex[rows, at] / np.sqrt(m_var[rows, at])
    cols = [(expect + k) % n_rot for k in (-1, 0, 1)]
    own_lattice_z = np.max([f_ex[rows, c] / np.sqrt(f_var[rows, c]) for c in cols], axis=0)
    pf = _pooled(f_ex, shape)
    pooled_first = np.max([pf[rows, (expect + k) % n_rot] for k in (-2, -1, 0, 1, 2)], axis=0)
    ratio = pm / np.maximum(pooled_first, 1e-9)
    return (
        vertices_ok
        & (pooled_z >= prm.arc_pooled_z)
        & (own_z >= prm.arc_own_z)
        & (own_lattice_z >= prm.arc_lattice_own_z)
        & (ratio >= prm.arc_min_ratio)
    )


def _marker_beside_first(ring_ex, ring_var, within, offset, shape, prm):
    """Patterns whose 5 x 5 neighbourhood shows the marker hexagon where the first ring fixes it.

    Sums are weighted by :func:`_tent_pooled`, their significance taken with the squared
    weights. The neighbourhood's first-phase ring gives the lattice's rotation (its best
    hexagon); the marker hexagon is then looked for only at the rotation the structure fixes
    relative to it (within +- 0.5 deg), so the test spends no trials on rotations. It passes
    where that marker sum stands :attr:`MatchedParams.both_pooled_z` sigmas AND holds at least
    :attr:`MatchedParams.both_min_ratio` of the first ring's excess: O3's own weak reflections
    near the marker radius hold a few per cent of its {110} (pure O3 on the ``tune`` split,
    mistilt 1e2: 90th percentile 0.07), so the ratio, not the significance, tells O3 from O3+O1.
    The sums take only the patterns in ``within`` (N, 1), the first phase's: an O3 pattern
    beside an O1 grain would otherwise borrow the grain's marker.
    """
    n = ring_ex["first"].shape[0]
    rows = np.arange(n)
    n_rot = ring_ex["first"].shape[1]
    pf = _tent_pooled(ring_ex["first"] * within, shape)
    zf = pf / np.sqrt(np.maximum(_tent_pooled(ring_var["first"] * within, shape, 2), 1.0))
    rf = np.argmax(zf, axis=1)
    pm = _tent_pooled(ring_ex["marker"] * within, shape)
    pmv = _tent_pooled(ring_var["marker"] * within, shape, 2)
    expect = np.rint(rf - offset).astype(np.int64)
    cols = np.stack([(expect + d) % n_rot for d in (-1, 0, 1)])
    zm = pm[rows, cols] / np.sqrt(np.maximum(pmv[rows, cols], 1.0))
    best = np.argmax(zm, axis=0)
    z = zm[best, rows]
    at = cols[best, rows]
    ratio = pm[rows, at] / np.maximum(pf[rows, rf], 1e-9)
    return (z >= prm.both_pooled_z) & (ratio >= prm.both_min_ratio)


def _zone_axis_vertices(vz: np.ndarray, prm: MatchedParams) -> np.ndarray:
    """(N,) whether the (N, 6) vertex significances make a zone-axis hexagon or a lit arc.

    Six-fold: at least :attr:`MatchedParams.min_sixfold_vertices` vertices stand
    :attr:`MatchedParams.vertex_z`; a tilted grain's Laue circle lights a contiguous arc of
    the hexagon (:attr:`MatchedParams.min_arc_vertices` adjacent vertices), while an off-zone
    pseudo-hexagon's Friedel pair sits on opposite ones.
    """
    sig = vz >= prm.vertex_z
    ok = sig.sum(axis=1) >= prm.min_sixfold_vertices
    if prm.min_arc_vertices < 7:
        runs = np.all([np.roll(sig, -j, axis=1) for j in range(prm.min_arc_vertices)], axis=0)
        ok |= runs.any(axis=1)
    return ok


def _wide_marker(ring_ex, ring_var, vertices, offset, shape, prm, within):
    """Patterns whose tent-weighted 5 x 5 neighbourhood shows the marker hexagon with its lattice.

    The marker hexagon's best rotation in the 5 x 5 sums (:func:`_tent_pooled`, significance
    with the squared weights) must stand :attr:`MatchedParams.wide_pooled_z` sigmas, the
    pattern's own marker counts at that rotation :attr:`MatchedParams.wide_confirm_z`; the
    same sums of the shared ring at the rotation the structure fixes (within +- 1 deg) must
    stand :attr:`MatchedParams.min_lattice_z` (a zone-axis lattice, not an off-zone
    pseudo-hexagon), the marker's vertices in those sums must pass
    :func:`_zone_axis_vertices`, the marker's excess must hold at least
    :attr:`MatchedParams.wide_min_ratio` of that ring's (thick O3's weak reflections at the
    marker positions hold a few per cent of its {110}), and the 3 x 3 sums must have been too
    faint to resolve a marker of :attr:`MatchedParams.wide_power_ratio` of their shared-ring
    excess. ``vertices``: the marker's per-vertex ``(excess, variance)``, each (N, 6, n_rot);
    ``within`` (N, 1): the patterns the marker sums take. Returns (N,) bool.
    """
    n, n_rot = ring_ex["marker"].shape
    rows = np.arange(n)
    pm = _tent_pooled(ring_ex["marker"] * within, shape)
    zm = pm / np.sqrt(np.maximum(_tent_pooled(ring_var["marker"] * within, shape, 2), 1.0))
    at = np.argmax(zm, axis=1)
    own_z = ring_ex["marker"][rows, at] / np.sqrt(ring_var["marker"][rows, at])
    pf = _tent_pooled(ring_ex["first"], shape)
    zf = pf / np.sqrt(np.maximum(_tent_pooled(ring_var["first"], shape, 2), 1.0))
    expect = np.rint(at + offset).astype(np.int64)
    cols = np.stack([(expect + k) % n_rot for k in (-2, -1, 0, 1, 2)])
    lattice_z = zf[rows, cols].max(axis=0)
    first_ex = pf[rows, cols].max(axis=0)
    ratio = pm[rows, at] / np.maximum(first_ex, 1e-9)
    # the smallest neighbourhood that can resolve the marker decides: where the 3 x 3 sums
    # hold enough of the lattice that a marker of ``wide_power_ratio`` of its excess would
    # have stood ``min_pooled_z`` there, the 3 x 3 tests have spoken
    f3 = _pooled(ring_ex["first"], shape)[rows[None, :], cols].max(axis=0)
    v3 = _pooled(ring_var["marker"] * within, shape)[rows, at]
    power3 = prm.wide_power_ratio * np.maximum(f3, 0.0) / np.sqrt(np.maximum(v3, 1.0))
    # and its vertices make a zone-axis hexagon or a lit arc (an off-zone grain's
    # pseudo-hexagon near the marker radius is mostly one Friedel pair)
    v_ex, v_var = vertices
    w3 = within[:, :, None]
    pv_ex = _tent_pooled((v_ex * w3).reshape(n, -1), shape).reshape(v_ex.shape)
    pv_var = _tent_pooled((v_var * w3).reshape(n, -1), shape, 2).reshape(v_var.shape)
    vz = pv_ex[rows, :, at] / np.sqrt(np.maximum(pv_var[rows, :, at], 1.0))
    ok = (
        _zone_axis_vertices(vz, prm)
        & (power3 < prm.min_pooled_z)
        & (zm[rows, at] >= prm.wide_pooled_z)
        & (own_z >= prm.wide_confirm_z)
        & (lattice_z >= prm.min_lattice_z)
        & (ratio >= prm.wide_min_ratio)
    )
    return ok


def label_sparse_patterns(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    params: MatchedParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels for ``none`` patterns whose raw counts show a phase's ring (matched filter).

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
        The per-pattern result (:func:`stemtf.phase.identify_phases`).
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Beam centres of the identification [px]; where low-dose patterns are scored, they
        are first weighed against the scan neighbourhood's
        (:func:`stemtf.phase.center.scan_smoothed_centers`).
    calibration : Calibration
    model : PhaseModel
        A two-phase model; its marker ring (second phase) and first-phase shared ring, with
        the radii refined on the scan. Other model kinds are returned unchanged.
    params : MatchedParams, optional

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies: the second phase where its marker shows (confidence 0.3), else the
        first phase where its shared ring shows (confidence 0.3); low-dose first-phase
        patterns (these and the spot finder's) become O3+O1 where their neighbourhood shows
        the marker at the lattice's rotation (confidence 0.3; ``both_pooled_z``).
    relabelled : bool ndarray (Ry * Rx,)
    """
    prm = params or MatchedParams()
    g, labels, confidence, relabelled = scan_step_start(grid, labels, confidence)
    ry, rx = g.shape[:2]
    none = labels == LABEL_NONE
    # the spot finder's first-phase calls on low-dose patterns are re-tested for O3+O1 too
    spot_first = (labels == LABEL_FIRST) & bool(np.isfinite(prm.both_pooled_z))
    if type(model) is not PhaseModel or not (none | spot_first).any():
        return labels, confidence, relabelled
    marker, shared = _marker_and_shared_rings(model)
    if marker is None:
        return labels, confidence, relabelled
    q = calibration.q_sampling_invA
    r_first = model.shared_radius_invA or shared.radius_invA
    dps = g.reshape((ry * rx,) + g.shape[2:])
    cen = np.asarray(centers_yx, float).reshape(ry * rx, 2)
    # low-dose patterns only (counts in the transmitted disk above its surroundings)
    cand = np.flatnonzero(none | spot_first)
    bright = cand[
        beam_counts(dps[cand], cen[cand], calibration.disk_radius_px) > prm.max_beam_counts
    ]
    spot_first[bright] = False
    own_only = np.zeros(ry * rx, bool)
    if prm.bright_own_only:
        own_only[bright] = True
    else:
        none[bright] = False
    if not (none | spot_first).any():
        return labels, confidence, relabelled
    # at a few tens of counts in the transmitted disk a pattern's own centre wanders by px,
    # smearing the disks summed below; the descan moves it smoothly across the scan
    cen = scan_smoothed_centers(g, cen, calibration.disk_radius_px)
    # patterns whose neighbourhood holds a target: only those need scoring
    need = _pooled((none | spot_first).astype(np.float64)[:, None], (ry, rx))
    if np.isfinite(prm.both_pooled_z):  # the O3+O1 test sums 5 x 5 neighbourhoods
        need = _pooled(need, (ry, rx))
    need = need[:, 0] > 0
    idx = np.flatnonzero(need)
    found, rot, zpool, own = {}, {}, {}, {}
    n_rot = _N_BINS // 6
    v_ex = np.zeros((ry * rx, 6, n_rot))
    v_var = np.ones((ry * rx, 6, n_rot))
    ring_ex, ring_var = {}, {}
    for name, radius in (("marker", marker.radius_invA), ("first", r_first)):
        ex = np.zeros((ry * rx, n_rot))
        var = np.ones((ry * rx, n_rot))
        if name == "marker":
            ex[idx], var[idx], v_ex[idx], v_var[idx] = hexagon_scan(
                dps[idx], cen[idx], radius / q, calibration, clip_z=prm.clip_z, return_vertices=True
            )
        else:
            ex[idx], var[idx] = hexagon_scan(
                dps[idx], cen[idx], radius / q, calibration, clip_z=prm.clip_z
            )
        found[name], rot[name], zpool[name], own[name] = ring_evidence(ex, var, (ry, rx), prm)
        ring_ex[name], ring_var[name] = ex, np.maximum(var, 1.0)
    # the marker belongs to a lattice only with that lattice's {110} hexagon at the rotation
    # the structure fixes (O1 {100} and {110} 30 deg apart): pseudo-hexagons of off-zone grains
    # near the marker radius (0.42-0.45 1/A for O3 along [100]) have none; or a six-fold
    # marker hexagon (most of its vertices significant in the neighbourhood): those
    # pseudo-hexagons are mostly one Friedel pair
    offset = (shared.rotation_deg - marker.rotation_deg) / BIN_DEG
    expect = np.rint(rot["marker"] + offset).astype(np.int64)
    rows = np.arange(ry * rx)
    near = np.stack([zpool["first"][rows, (expect + k) % n_rot] for k in (-2, -1, 0, 1, 2)])
    pv_ex = _pooled(v_ex.reshape(ry * rx, -1), (ry, rx)).reshape(v_ex.shape)
    pv_var = _pooled(v_var.reshape(ry * rx, -1), (ry, rx)).reshape(v_var.shape)
    at = rot["marker"]
    vz = pv_ex[rows, :, at] / np.sqrt(np.maximum(pv_var[rows, :, at], 1.0))
    sixfold = _zone_axis_vertices(vz, prm)
    lattice_near = near.max(axis=0) >= prm.min_lattice_z
    found["marker"] &= lattice_near | sixfold
    if np.isfinite(prm.arc_pooled_z):
        found["marker"] |= _faint_marker(
            ring_ex, ring_var, zpool["marker"], at, expect, sixfold & lattice_near, (ry, rx), prm
        )
    wide = np.zeros(ry * rx, bool)
    if np.isfinite(prm.wide_pooled_z) and none.any():  # it only labels ``none`` patterns
        # the marker sums leave out patterns the spot finder already called second phase: a
        # first-phase pattern beside an O1 domain would borrow the domain's marker
        within = ~np.isin(labels, (LABEL_SECOND, LABEL_BOTH))
        wide = _wide_marker(
            ring_ex,
            ring_var,
            (v_ex, v_var),
            offset,
            (ry, rx),
            prm,
            within.astype(np.float64)[:, None],
        )
        wide &= ~found["marker"] & (~own_only | own["marker"])
    # bright patterns the spot finder left: their own counts must show the ring (at 10^3 e-/DP
    # and more a neighbourhood's sum would lend vacuum beside a grain its lattice)
    for name in ("marker", "first"):
        found[name] &= ~own_only | own[name]
    # beside a crystal no phase fits (off-zone grains: their pseudo-hexagons pass a filter
    # this coarse in radius), no phase is given from the raw counts
    unassigned = unassigned_code(model)
    odd = (labels == unassigned).astype(np.float64)[:, None]
    for _ in range(prm.unassigned_reach):
        odd = _pooled(odd, (ry, rx))
    odd = odd[:, 0] > 0
    none &= ~odd
    spot_first &= ~odd

    # the filter extends a phase the spot finder saw: candidates join it through chains of
    # candidates at most two probe positions apart (a lone pseudo-hexagon of an off-zone grain
    # is not O1); only where the spot finder saw that phase nowhere in this grid (too few
    # counts per disk anywhere) do the filter's own candidates, behind the same lattice tests,
    # seed it: they are all the evidence there is
    # bright patterns hold counts enough for the spot finder: where it saw no lattice of the
    # model anywhere in this grid, their partial hexagons seed nothing (a foreign crystal at
    # 10^5 counts per pattern passes min_own_z on a fraction of a percent of its counts)
    lattice_seen = np.isin(labels, (LABEL_FIRST, LABEL_SECOND, LABEL_BOTH)).any()

    def _seeds(codes, cand):
        seen = np.isin(labels, codes)
        starters = cand if lattice_seen else cand & ~own_only
        if not seen.any() and prm.start_where_unseen:
            return starters
        if prm.min_seed_cluster > 0:  # a grain's worth of candidates is evidence of its own
            seen = seen | _large_clusters(starters, (ry, rx), prm.min_seed_cluster)
        return seen

    cand2 = none & found["marker"]
    second = _grow(_seeds((LABEL_SECOND, LABEL_BOTH), cand2), cand2, (ry, rx))
    cand1 = none & ~second & found["first"]
    first = _grow(_seeds((LABEL_FIRST, LABEL_BOTH), cand1), cand1, (ry, rx))
    labels[second], labels[first] = LABEL_SECOND, LABEL_FIRST
    if np.isfinite(prm.both_pooled_z) and (first | spot_first).any():
        same = (labels == LABEL_FIRST)[:, None]  # sums over the first phase's patterns only
        both = _marker_beside_first(ring_ex, ring_var, same, offset, (ry, rx), prm)
        labels[(first | spot_first) & both] = LABEL_BOTH
        confidence[spot_first & both] = 0.3
        relabelled[spot_first & both] = True
    if wide.any():
        # last, so that the O3+O1 test above still sums these patterns with the first phase's
        # where the shared ring gave them that; only patterns left with no phase take it
        cand_w = none & ~second & ~first & wide
        more = _grow(_seeds((LABEL_SECOND, LABEL_BOTH), cand_w), cand_w, (ry, rx))
        labels[more] = LABEL_SECOND
        second |= more
    confidence[second | first] = 0.3
    relabelled[second | first] = True
    return labels, confidence, relabelled


@dataclass(frozen=True)
class MarkerCheckParams:
    """Thresholds of :func:`check_marker_on_counts`.

    Chosen on the field benchmark's ``tune`` split (seed 0; eight conditions at 10^3, 2 x 10^3
    and 10^4 e-/DP) by the mean O1-present F1 over those 22 scenes (0.959 without the check,
    0.967 with it; none lost more than 0.003).

    Attributes
    ----------
    keep_own_z, keep_pooled_z : float
        A mixed-phase call stands only where the pattern's own marker counts reach
        ``keep_own_z`` sigmas or its neighbourhood's reach ``keep_pooled_z``.
    max_excess_variance : float
        ... and is only re-decided where the scatter of the hexagon sums over the rotations
        (median over rotations) is at most this many times their shot-noise variance. Set
        after the ``report`` split showed the check removing true mixed calls at 10^4 e-/DP on
        detectors with gain (scatter 60-110x the shot noise there, 1-8x at the right removals);
        the ``tune`` scenes had no such case.
    """

    keep_own_z: float = 1.5
    keep_pooled_z: float = 1.0
    max_excess_variance: float = 16.0
    check_second: bool = True

    def __post_init__(self) -> None:
        for name in ("keep_own_z", "keep_pooled_z", "max_excess_variance"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise InputError(f"{name}={v!r} is not allowed: it must be a finite number")
        if self.max_excess_variance < 1.0:
            raise InputError(
                f"max_excess_variance={self.max_excess_variance!r} is not allowed: it must be "
                f">= 1 (a ratio of variances)"
            )
        if not isinstance(self.check_second, bool):
            raise InputError(f"check_second={self.check_second!r} is not allowed: True or False")


def check_marker_on_counts(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    hexagons: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    params: MarkerCheckParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixed-phase calls kept only where the marker's counts show at the lattice's rotation.

    A pattern with its own shared-ring hexagon (O3 or O1 {110}) fixes where the second
    phase's marker disks (O1 {100}, 30 deg from {110}) must lie: no rotation is searched, so
    the counts there are a test without look-elsewhere. The spot finder's marker test weighs a
    Difference-of-Gaussians response against its robust noise, which vanishes on sparse
    patterns (so a few stray counts pass it); this one weighs counts against their shot noise
    (:func:`hexagon_scan`, variance floored by the spread over rotations). A ``both`` call --
    and, with :attr:`MarkerCheckParams.check_second`, a pure second-phase call whose pattern
    shows its own shared-ring hexagon -- stands where the pattern's own significance at the
    fixed rotation (best of +-0.5 deg) reaches ``keep_own_z`` or the sum over its 3 x 3
    neighbours that also show a lattice, each at the pattern's rotation, reaches
    ``keep_pooled_z``; otherwise it becomes the first phase (confidence 0.5). Only where the test is shot-noise limited: where the hexagon sums scatter
    over the rotations far more than their shot noise (``max_excess_variance``: structure,
    gain or fixed-pattern noise), the counts cannot overrule the spot finder.

    The check only removes mixed calls, it never adds them: counts at the marker positions
    alone do not prove the second phase. An ideal R-3m O3 has no reflection there (its
    rhombohedral centring forbids every {100}-type reflection, and no double diffraction
    reaches them), but the simulated O3 supercells (ordered Ni/Mn/Co) show weak ones at
    ~3-4 sigmas at 10^4 e-/DP, and so may real crystals with cation order or stacking faults;
    the spot finder's relative-strength test keeps deciding those. A pure second-phase call
    without a shared-ring hexagon of its own (its lattice seen on the marker ring alone) is
    left alone: no rotation is fixed for it.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
    hexagons : structured ndarray of :data:`stemtf.phase.classify.HEXAGON_DTYPE`
        The identification's hexagons (``dp_index`` within this grid).
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Beam centres of the identification [px].
    calibration : Calibration
    model : PhaseModel
        A two-phase model with a marker ring; other model kinds are returned unchanged.
    params : MarkerCheckParams, optional

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    changed : bool ndarray (Ry * Rx,)
    """
    prm = params or MarkerCheckParams()
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    ry, rx = g.shape[:2]
    n = ry * rx
    if type(model) is not PhaseModel or len(hexagons) == 0:
        return labels, confidence, changed
    marker, shared = _marker_and_shared_rings(model)
    if marker is None:
        return labels, confidence, changed
    # each pattern's lattice rotation: its shared-ring hexagon (either phase's, 1.8 % apart)
    rotation = ring_rotation(hexagons, n, model.shared_radius_invA or shared.radius_invA)
    checked = (LABEL_BOTH, LABEL_SECOND) if prm.check_second else (LABEL_BOTH,)
    lattice = np.isfinite(rotation) & np.isin(labels, (LABEL_FIRST,) + checked)
    target = lattice & np.isin(labels, checked)
    if not target.any():
        return labels, confidence, changed
    n_rot = _N_BINS // 6
    mark = (rotation + marker.rotation_deg - shared.rotation_deg) % 60.0
    b = np.rint(np.where(lattice, mark, 0.0) / BIN_DEG).astype(np.int64) % n_rot
    # only lattices beside (or at) a checked call need scoring
    near = _pooled(target.astype(np.float64)[:, None], (ry, rx))
    idx = np.flatnonzero(lattice & (near[:, 0] > 0))
    dps = g.reshape((n,) + g.shape[2:])
    cen = np.asarray(centers_yx, float).reshape(n, 2)
    ex = np.zeros((n, n_rot))
    var = np.ones((n, n_rot))
    shot = np.ones((n, n_rot))
    ex[idx], var[idx], shot[idx] = hexagon_scan(
        dps[idx],
        cen[idx],
        marker.radius_invA / calibration.q_sampling_invA,
        calibration,
        return_shot_variance=True,
    )
    var = np.maximum(var, 1.0)
    # a shot-noise test only where the counts' scatter over the rotations is near their shot
    # noise; where structure or fixed-pattern noise sets it, the test cannot overrule
    shot_limited = np.median(var / np.maximum(shot, 1.0), axis=1) <= prm.max_excess_variance
    rows = np.arange(n)
    own = np.max(
        [ex[rows, (b + k) % n_rot] / np.sqrt(var[rows, (b + k) % n_rot]) for k in (-1, 0, 1)],
        axis=0,
    )
    # neighbours with a lattice, each at this pattern's marker rotation
    yy, xx = np.divmod(rows, rx)
    pe, pv = np.zeros(n), np.zeros(n)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = yy + dy, xx + dx
            inside = (ny >= 0) & (ny < ry) & (nx >= 0) & (nx < rx)
            j = np.where(inside, ny * rx + nx, 0)
            use = inside & lattice & lattice[j]
            pe += np.where(use, ex[j, b], 0.0)
            pv += np.where(use, var[j, b], 0.0)
    pooled = pe / np.sqrt(np.maximum(pv, 1.0))
    changed = target & shot_limited & (own < prm.keep_own_z)
    changed &= pooled < prm.keep_pooled_z
    labels[changed] = LABEL_FIRST
    confidence[changed] = 0.5
    return labels, confidence, changed


@dataclass(frozen=True)
class EnclosedParams:
    """Thresholds of :func:`second_phase_for_enclosed_patterns`.

    Chosen on the field benchmark's ``tune`` split (64 scenes, seeds 0 and 1, 10^2-10^3
    e-/DP; the README's "``none`` patterns enclosed by a degraded domain"): of 92 candidates
    with >= 5 such neighbours, 72 O1-present in truth, these thresholds kept 45, all of them
    O1-present (without the own-marker test: 73 and 10 vacuum positions). 4 neighbours let
    straight domain edges in (414 candidates, 163 O1-present).

    Attributes
    ----------
    min_neighbours : int
        Of a ``none`` pattern's 8 scan neighbours, at least this many called second phase or
        both.
    min_fraction : float
        The pattern's own marker excess, at the rotation its neighbours' summed marker hexagon
        stands highest, must be at least this fraction of the neighbours' mean excess there.
        Not the midpoint of the two hypotheses (0.5): these patterns were left ``none``
        *because* their own marker came out low, so the O1 among them sit low in their
        distribution, and the neighbours (a domain several positions wide) carry the prior ...
    min_pooled_z : float
        ... and the neighbours' summed marker at that rotation stands this many sigmas (their
        calls rest on a marker that shows).
    passes : int
        Rounds of the test; from the second on, the calls of the rounds before count as
        neighbours (a cluster of holes fills from its rim inwards). 2 (tune, the 40 scenes
        at 10^2 and 3 x 10^2: 43 -> 47 holes filled, still none of them outside O1-present;
        3 passes: 48; check split: one more O1 position, no false call).
    """

    min_neighbours: int = 5
    min_fraction: float = 0.25
    min_pooled_z: float = 2.0
    passes: int = 2

    def __post_init__(self) -> None:
        if not (isinstance(self.min_neighbours, int) and 1 <= self.min_neighbours <= 8):
            raise InputError(
                f"min_neighbours={self.min_neighbours!r} is not allowed: an integer 1 to 8"
            )
        if not (isinstance(self.passes, int) and 1 <= self.passes <= 8):
            raise InputError(f"passes={self.passes!r} is not allowed: an integer 1 to 8")
        for name in ("min_fraction", "min_pooled_z"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise InputError(f"{name}={v!r} is not allowed: it must be a finite number")


def enclosed_marker_evidence(
    grid: np.ndarray,
    labels: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    min_neighbours: int,
    *,
    smooth_centers: bool = True,
) -> dict[str, np.ndarray]:
    """Marker counts of ``none`` patterns enclosed by second-phase calls, against their neighbours'.

    ``centers_yx`` are weighed against the scan's first
    (:func:`stemtf.phase.center.scan_smoothed_centers`) unless ``smooth_centers`` is False
    (the caller already did).

    Returns a dict of (Ry * Rx,) arrays: ``candidate`` (none, at least ``min_neighbours`` of
    the 8 neighbours called second phase or both), ``n_second``, ``n_both`` (those neighbours
    by label), ``own`` (the pattern's marker excess at the neighbours' best rotation),
    ``own_z`` (its shot-noise significance), ``expected`` (the neighbours' mean excess there)
    and ``pooled_z`` (the neighbours' sum's significance); zeros where not a candidate; and
    ``centers_yx`` (N, 2), the centres used (weighed only where a candidate needed them).
    """
    ry, rx = grid.shape[:2]
    n = ry * rx
    lab = np.asarray(labels).reshape(ry, rx)
    second, both = lab == LABEL_SECOND, lab == LABEL_BOTH
    n_second, n_both = _neighbour_counts(second, both)
    cand = ((lab == LABEL_NONE) & (n_second + n_both >= min_neighbours)).ravel()
    out = {
        "candidate": cand,
        "n_second": n_second.ravel(),
        "n_both": n_both.ravel(),
        **{k: np.zeros(n) for k in ("own", "own_z", "expected", "pooled_z")},
    }
    cen = np.asarray(centers_yx, float).reshape(n, 2)
    out["centers_yx"] = cen
    marker, _ = _marker_and_shared_rings(model)
    if marker is None or not cand.any():
        out["candidate"] = np.zeros(n, bool)
        return out
    mixed = (second | both).ravel()
    near = _pooled(cand.astype(np.float64)[:, None], (ry, rx))[:, 0] > 0
    idx = np.flatnonzero(cand | (mixed & near))
    dps = grid.reshape((n,) + grid.shape[2:])
    if smooth_centers:
        cen = scan_smoothed_centers(grid, cen, calibration.disk_radius_px)
        out["centers_yx"] = cen
    n_rot = _N_BINS // 6
    ex = np.zeros((n, n_rot))
    var = np.ones((n, n_rot))
    ex[idx], var[idx] = hexagon_scan(
        dps[idx], cen[idx], marker.radius_invA / calibration.q_sampling_invA, calibration
    )
    var = np.maximum(var, 1.0)
    w = mixed.astype(np.float64)[:, None]
    pe, pv = _pooled(ex * w, (ry, rx)), _pooled(var * w, (ry, rx))
    zp = pe / np.sqrt(np.maximum(pv, 1.0))
    at = np.argmax(zp, axis=1)
    rows = np.arange(n)
    k = np.maximum(n_second + n_both, 1).ravel()
    out["own"] = np.where(cand, ex[rows, at], 0.0)
    out["own_z"] = np.where(cand, ex[rows, at] / np.sqrt(var[rows, at]), 0.0)
    out["expected"] = np.where(cand, pe[rows, at] / k, 0.0)
    out["pooled_z"] = np.where(cand, zp[rows, at], 0.0)
    return out


def second_phase_for_enclosed_patterns(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    params: EnclosedParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``none`` pattern inside a second-phase domain whose own marker counts match it joins it.

    O1 near 250 Å along [001] at 200 kV sends ~88 % of the beam into the transmitted disk,
    ~9 % into its {100} marker hexagon and ~1 % into {110}: at 10^2 e-/DP a pattern holds ~9
    marker counts over six disks and background, its own significance ~1 sigma, and a
    domain's patterns are labelled by the matched filter's 5 x 5 sums only where their own
    counts confirm them -- the rest stay ``none`` (holes in the domain). A vacuum pattern
    holds no marker; an O1 pattern about what its neighbours hold. So a ``none`` pattern with
    at least :attr:`EnclosedParams.min_neighbours` of its 8 neighbours called O1 or both takes
    the more frequent of the two (both on a tie) where its own marker excess, at the rotation
    its neighbours' summed marker stands highest, is at least
    :attr:`EnclosedParams.min_fraction` of their mean and their sum stands
    :attr:`EnclosedParams.min_pooled_z` sigmas. :attr:`EnclosedParams.passes` rounds, each
    on the labels the round before left (a cluster of holes fills from its rim); every call
    needs the pattern's own marker, so a domain does not creep into vacuum. Confidence 0.3.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Beam centres of the identification [px] (weighed against the scan's, as in
        :func:`label_sparse_patterns`).
    calibration : Calibration
    model : PhaseModel
        A two-phase model with a marker ring; other model kinds are returned unchanged.
    params : EnclosedParams, optional

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    relabelled : bool ndarray (Ry * Rx,)
    """
    prm = params or EnclosedParams()
    g, labels, confidence, relabelled = scan_step_start(grid, labels, confidence)
    if type(model) is not PhaseModel or not np.isin(labels, (LABEL_SECOND, LABEL_BOTH)).any():
        return labels, confidence, relabelled
    cen, smooth = np.asarray(centers_yx, float), True
    for _ in range(prm.passes):
        ev = enclosed_marker_evidence(
            g, labels, cen, calibration, model, prm.min_neighbours, smooth_centers=smooth
        )
        cen, smooth = ev["centers_yx"], False  # weighed once, where a candidate needed it
        ok = (
            ev["candidate"]
            & (ev["own"] >= prm.min_fraction * ev["expected"])
            & (ev["pooled_z"] >= prm.min_pooled_z)
        )
        if not ok.any():
            break
        labels[ok] = np.where(ev["n_second"][ok] > ev["n_both"][ok], LABEL_SECOND, LABEL_BOTH)
        confidence[ok] = 0.3
        relabelled[ok] = True
    return labels, confidence, relabelled
