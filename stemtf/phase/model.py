"""Phase model: which hexagon rings each phase shows, learned ring radii, decision thresholds.

Phases are configured by material id (reference structures); their expected rings along [001]
come from the reciprocal lattice (:mod:`stemtf.phase.reference`), then :meth:`PhaseModel.refine`
replaces the radii by those found in the data (camera-length error absorbed).

For NMC811 O3/O1 (PHYSICS.md § the diagnostic along [001]): both show {110} (O1 about 2 %
further out); only O1 shows the inner {100} hexagon at 0.577 of {110}, rotated 30 deg. A ring
of one phase with no ring of the other within ``merge_tolerance`` is that phase's *marker*.

A pattern without the marker is the first phase (O3). With the marker, the precise radius of the
shared {110} ring tells how much of it comes from the second phase's lattice: O1's {110} lies
a_O3/a_O1 = 1.8 % further out than O3's, and in a column holding both each {110} disk is the
blend of the two (:mod:`stemtf.phase.ringfit`). The first phase's radius is learned from the scan
(patterns without the marker), so neither the camera length nor thickness-dependent intensities
enter the decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration

__all__ = [
    "ModelRing",
    "PhaseModel",
    "LABEL_NAMES",
    "LABEL_NONE",
    "LABEL_FIRST",
    "LABEL_SECOND",
    "LABEL_BOTH",
    "LABEL_UNASSIGNED",
]

log = logging.getLogger(__name__)

#: Label codes of the default (O3/O1) phase map; a model's own names: ``PhaseModel.label_names``.
LABEL_NAMES = ("none", "O3", "O1", "both", "unassigned")
#: Codes: vacuum or amorphous only; first phase; second phase; both; a crystal diffracts but
#: no phase's hexagon fits (off-zone grains, unknown phases).
LABEL_NONE, LABEL_FIRST, LABEL_SECOND, LABEL_BOTH, LABEL_UNASSIGNED = range(5)
#: Rings up to this multiple of the reference ring radius take part (the first two shells).
_MAX_RING_NORM = 1.15
#: Minimum hexagons in a cluster to trust a learned radius / ratio.
_MIN_CLUSTER = 20
#: Precise shared-ring radii (patterns without the marker) needed to learn the first phase's.
_MIN_SHARED = 10
#: The learned camera length may differ from the given one by this fraction without a warning.
CAMERA_LENGTH_WARN = 0.02


@dataclass(frozen=True)
class ModelRing:
    """One expected hexagon ring of one phase (radius [1/Å], rotation [deg] in lattice frame)."""

    phase: int  # 0 or 1: index into PhaseModel.phases
    hkl: tuple[int, int, int]
    radius_invA: float
    rotation_deg: float
    intensity: float
    marker: bool


@dataclass(frozen=True)
class PhaseModel:
    """Two phases, their rings and the decision thresholds.

    Attributes
    ----------
    phases : tuple of str
        Display names (label 1 = phases[0], label 2 = phases[1], 3 = both).
    material_ids : tuple of str
    rings : tuple of ModelRing
    reference_radius_invA : float
        The ring radii are normalised by this (the {110} of the first phase).
    lattice_ratio : float
        Second phase's shared-ring radius / first phase's, from the structures (O1/O3 {110}:
        a_O3 / a_O1 = 1.018); 1.0 when no ring is shared.
    share_threshold : float
        A pattern with the marker is the pure second phase when the second phase's share of
        its shared ring (0 at the first phase's radius, 1 at the second's) is at least this;
        otherwise it holds both. Tuned on the field benchmark's ``tune`` split.
    share_sigma : float
        Spread of the measured share (learned by :meth:`refine` from the scatter of the first
        phase's shared-ring radius); sets the confidence.
    shared_radius_invA : float
        Precise radius [1/Å] of the first phase's shared ring learned by :meth:`refine`
        (0: not learned; the ring's radius is used).
    shared_radius_n : int
        Precise radii (patterns without the marker) ``shared_radius_invA`` is the median of
        (0: not learned); with ``share_sigma`` it gives :attr:`shared_radius_se`.
    unassigned_min_pairs : int
        Friedel pairs of spots a pattern without a phase lattice needs to count as a crystal
        no phase fits (``unassigned``).
    ring_tolerance : float
        Relative radius tolerance for assigning a hexagon to a ring before :meth:`refine`
        (camera length known only roughly).
    refined_ring_tolerance : float
        The same once :meth:`refine` has learned the radii from the scan.
    refined_lattice_matches : int
        Matched vertices a ring hexagon needs to show a lattice once the model is refined
        (before: ``identify_phases(min_lattice_matches=4)``).
    min_marker_snr : float
        A marker ring measured below this signal-to-noise ratio counts as absent.
    min_marker_fraction : float
        ... and so does one weaker than this fraction of the pattern's strongest ring (weak
        kinematically forbidden reflections of the first phase are not a second phase).
    fine_method : {"centroid", "ml"}
        How the precise shared-ring radius locates the disks (:mod:`stemtf.phase.ringfit`):
        count centroids, or a maximum-likelihood disk fit; chosen per scan by
        :func:`stemtf.phase.learn.refine_on_sample`.
    refined : bool
        Whether :meth:`refine` has adjusted the model to data.
    radii_learned : bool
        Whether it learned the camera length from enough hexagons; only then are the ring
        tolerance and the vertices a lattice needs tightened.
    history : tuple of str
        What :meth:`refine` learned, in order.
    warnings : tuple of str
        What the data contradicted (a camera length > 2 % off the given one, no hexagon of
        the phases at all), one line each, for the run's summary.
    """

    phases: tuple[str, ...]
    material_ids: tuple[str, ...]
    rings: tuple[ModelRing, ...]
    reference_radius_invA: float
    lattice_ratio: float = 1.0
    share_threshold: float = 0.65
    share_sigma: float = 0.1
    shared_radius_invA: float = 0.0
    shared_radius_n: int = 0
    unassigned_min_pairs: int = 2
    ring_tolerance: float = 0.06
    refined_ring_tolerance: float = 0.03
    refined_lattice_matches: int = 3
    min_marker_snr: float = 3.0
    min_marker_fraction: float = 0.05
    fine_method: str = "centroid"
    refined: bool = False
    radii_learned: bool = False
    history: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def from_materials(
        cls,
        material_ids,
        calibration: Calibration | None = None,
        *,
        names: tuple[str, ...] | None = None,
        zone_axis=None,
        merge_tolerance: float = 0.05,
        calibration_accuracy: float = 0.02,
    ) -> PhaseModel:
        """Expected rings of 1-8 phases from their reference structures.

        The materials layer turns ids or CIF files into ring data
        (:func:`stemtf.materials.rings.load_phases`); :meth:`from_rings` builds the model.

        Parameters
        ----------
        material_ids : sequence of str
            Material ids or CIF paths, e.g. ``["nmc811-o3", "nmc811-o1"]``.
        calibration : Calibration, optional
            Only logged against (rings outside the detector are reported).
        names : tuple of str, optional
            Display names; default from the ids (``nmc811-o3`` -> ``O3``).
        zone_axis : (int, int, int), optional
            Beam direction for all phases; default each phase's hexagonal zone ([001]
            hexagonal/trigonal, [111] cubic).
        merge_tolerance : float
            Rings of two phases closer than this relative radius count as shared.
        calibration_accuracy : float
            Relative camera-length accuracy assumed for the given calibration (N-phase
            models; the scan may teach a better one).
        """
        from stemtf.materials.rings import load_phases

        ids = tuple(material_ids)
        if not 1 <= len(ids) <= 8:
            raise InputError(
                f"material_ids={list(ids)!r} is not allowed: give 1 to 8 phases "
                "(material ids or CIF files)"
            )
        rings, dropped = load_phases(ids, names=names, zone_axis=zone_axis)
        return cls.from_rings(
            rings,
            calibration,
            dropped=dropped,
            merge_tolerance=merge_tolerance,
            calibration_accuracy=calibration_accuracy,
        )

    @classmethod
    def from_rings(
        cls,
        phase_rings,
        calibration: Calibration | None = None,
        *,
        dropped=(),
        merge_tolerance: float = 0.05,
        calibration_accuracy: float = 0.02,
    ) -> PhaseModel:
        """The phase model of ring data (:class:`stemtf.materials.rings.PhaseRings`).

        Two phases where only the second has a marker ring (O3/O1) make the two-phase model
        (labels none, first, second, both, unassigned); any other set makes a
        :class:`stemtf.phase.family_model.FamilyModel`.
        """
        items = list(phase_rings)
        if len(items) == 2 and not dropped:
            model = cls._two_phase(items, merge_tolerance)
            if any(r.marker and r.phase == 1 for r in model.rings) and not any(
                r.marker and r.phase == 0 for r in model.rings
            ):
                model._log_rings(calibration)
                return model
        from stemtf.phase.family_model import build_family

        model = build_family(
            items,
            dropped=dropped,
            merge_tolerance=merge_tolerance,
            calibration_accuracy=calibration_accuracy,
        )
        model._log_rings(calibration)
        return model

    @classmethod
    def _two_phase(cls, items, merge_tolerance: float) -> PhaseModel:
        all_rings = [list(p.rings) for p in items]
        ids = tuple(p.material_id for p in items)
        ref = max(all_rings[0][:2], key=lambda r: r.intensity)
        rings = []
        for p, rs in enumerate(all_rings):
            other = all_rings[1 - p]
            for r in rs:
                if r.radius_invA > _MAX_RING_NORM * ref.radius_invA:
                    continue
                marker = not any(
                    abs(o.radius_invA / r.radius_invA - 1) < merge_tolerance for o in other
                )
                rings.append(
                    ModelRing(
                        p,
                        r.hkl,
                        r.radius_invA,
                        round(r.rotation_deg, 6) % 60.0,
                        r.intensity,
                        marker,
                    )
                )
        shared = [
            min(
                (r for r in rings if r.phase == p and not r.marker),
                key=lambda r: r.radius_invA,
                default=None,
            )
            for p in (0, 1)
        ]
        ratio = (
            shared[1].radius_invA / shared[0].radius_invA
            if shared[0] is not None and shared[1] is not None
            else 1.0
        )
        return cls(
            phases=tuple(p.name for p in items),
            material_ids=ids,
            rings=tuple(rings),
            reference_radius_invA=ref.radius_invA,
            lattice_ratio=float(ratio),
        )

    def _log_rings(self, calibration: Calibration | None) -> None:
        if calibration is not None:
            log.info(
                "phase model %s: rings %s",
                self.phases,
                [
                    (r.phase, r.hkl, round(r.radius_invA / calibration.q_sampling_invA, 1))
                    for r in self.rings
                ],
            )

    @property
    def assign_tolerance(self) -> float:
        """Relative radius tolerance for assigning hexagons to rings (tighter once refined)."""
        return self.refined_ring_tolerance if self.radii_learned else self.ring_tolerance

    @property
    def shared_radius_se(self) -> float:
        """Standard error of ``shared_radius_invA`` as a fraction of the two phases' gap.

        The median of ``shared_radius_n`` radii of spread ``share_sigma`` (both in units of
        the gap between the phases' shared rings): ``1.2533 * share_sigma / sqrt(n)``; ``inf``
        where the radius was not learned. A share is measured against this radius, so an error
        of 0.1 moves every pattern's share by 0.1 towards or away from the threshold.
        """
        if self.shared_radius_n < 1 or not self.shared_radius_invA:
            return float("inf")
        return _median_se(self.share_sigma, self.shared_radius_n)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Name of each label code (index = code): none, the two phases, both, unassigned."""
        return ("none", self.phases[0], self.phases[1], "both", "unassigned")

    # -- derived geometry ------------------------------------------------------------------
    def radii_px(self, calibration: Calibration) -> np.ndarray:
        """Ring radii on the detector [px]."""
        return np.array([r.radius_invA for r in self.rings]) / calibration.q_sampling_invA

    def annulus_px(self, calibration: Calibration, *, margin: float = 0.12) -> tuple[float, float]:
        """Inner and outer radius [px] of the annulus where the rings are expected."""
        rp = self.radii_px(calibration)
        pad = 2.0 * calibration.disk_radius_px + 2.0
        return float(max(rp.min() * (1 - margin) - pad, 0.0)), float(rp.max() * (1 + margin) + pad)

    def reach_px(self, calibration: Calibration) -> float:
        """How far from the beam [px] the detector must reach for the outer ring's spots.

        The ring radius plus half a disk radius (with at least half of a disk on the detector,
        its Difference-of-Gaussians peak stays at the disk centre).
        """
        return float(self.radii_px(calibration).max() + 0.5 * calibration.disk_radius_px)

    def check_detector(self, shape_hw: tuple[int, int], calibration: Calibration) -> None:
        """Raise InputError if the detector cannot hold the rings that decide the phases."""
        need = self.reach_px(calibration)
        cy, cx = calibration.center_yx
        h, w = shape_hw
        room = (
            min(cy, cx, h - 1 - cy, w - 1 - cx)
            if calibration.center_yx != (0.0, 0.0)
            else min(h, w) / 2 - 1
        )
        if need > room:
            raise InputError(
                f"detector {h}x{w} px is too small for the phase rings: they reach "
                f"{need:.1f} px from the beam at q_sampling_invA={calibration.q_sampling_invA}, "
                f"only {room:.1f} px fit"
            )

    # -- learning from data ----------------------------------------------------------------
    def refine(
        self,
        hexagon_table: np.ndarray,
        *,
        q_sampling_invA: float | None = None,
        quiet: bool = False,
    ) -> PhaseModel:
        """Ring radii learned from the hexagons found across a scan.

        Parameters
        ----------
        hexagon_table : structured ndarray
            ``PhaseResult.hexagons`` (fields dp_index, radius_invA, inliers, radius_fine_invA).
        q_sampling_invA : float, optional
            The calibration the radii were measured with; named in the warning when the rings
            say it is off by more than :data:`CAMERA_LENGTH_WARN` (2 %).
        quiet : bool
            Do not log the warnings (they are still returned in ``warnings``).

        Returns
        -------
        PhaseModel
            A new model; this one is unchanged. Clusters with fewer than 20 hexagons keep
            their expected values (scaled by the common camera-length factor when known).
            Shared rings are learned from patterns without the second phase's marker (first
            phase) or from the marker radius times the reference ratio (second phase). The
            precise radius of the first phase's shared ring (``radius_fine_invA`` of patterns
            without the marker) and its scatter set ``shared_radius_invA`` and ``share_sigma``.
        """
        hx = np.asarray(hexagon_table)
        if hx.size == 0 or not np.any(hx["inliers"] >= 3):
            msg = no_hexagon_warning(self.phases, log_it=not quiet)
            return replace(self, warnings=self.warnings + (msg,))
        hx = _trusted_hexagons(hx)
        radii = hx["radius_invA"]
        exp = np.array([r.radius_invA for r in self.rings])
        ref_i = int(np.argmin(np.abs(exp - self.reference_radius_invA)))
        notes = list(self.history)
        tol = self.ring_tolerance
        # Which patterns show a marker hexagon of phase 2 (markers are unique to it).
        marker_i = [i for i, r in enumerate(self.rings) if r.marker and r.phase == 1]
        no_marker = np.ones(hx.size, bool)
        scales = []
        if marker_i:
            m, no_marker = self._without_marker(hx, exp[marker_i[0]])
            if m.sum() >= _MIN_CLUSTER:
                scales.append(
                    (float(np.median(radii[m] / exp[marker_i[0]])), int(m.sum()), "marker")
                )
        # Camera-length scale: the reference ring in patterns without the marker (pure first
        # phase; the second phase's shared ring lies 2 % further out), else the marker ring.
        near = (np.abs(radii / exp[ref_i] - 1) < 2 * tol) & no_marker
        if near.sum() >= _MIN_CLUSTER:
            scales.insert(
                0, (float(np.median(radii[near] / exp[ref_i])), int(near.sum()), "reference ring")
            )
        scale, n_used, what = scales[0] if scales else (1.0, 0, "none")
        warned = camera_length_warning(scale, q_sampling_invA, log_it=not quiet)
        notes.append(f"camera-length scale {scale:.4f} from {n_used} hexagons ({what})")
        new_radius: dict[int, float] = {}
        learned_marker: dict[int, tuple[float, float]] = {}  # phase -> (reference, learned)
        order = sorted(range(len(self.rings)), key=lambda i: not self.rings[i].marker)
        for i in order:
            ring = self.rings[i]
            sel = np.abs(radii / (scale * ring.radius_invA) - 1) < tol
            how = f"{int(sel.sum())} hexagons"
            if not ring.marker:
                # shared ring: only patterns without the other phase's marker are pure
                sel &= no_marker if ring.phase == 0 else False
                how = f"{int(sel.sum())} hexagons without the marker"
            if sel.sum() >= _MIN_CLUSTER:
                r_new = float(np.median(radii[sel]))
                if ring.marker:
                    learned_marker[ring.phase] = (ring.radius_invA, r_new)
            elif not ring.marker and ring.phase in learned_marker:
                r0, r1 = learned_marker[ring.phase]
                r_new = ring.radius_invA * r1 / r0  # same lattice as its marker
                how = "scaled with its phase's marker ring"
            else:
                r_new = scale * ring.radius_invA
                how += ", too few: scaled reference"
            notes.append(
                f"ring {ring.phase}:{ring.hkl} {ring.radius_invA:.4f} -> {r_new:.4f} 1/A ({how})"
            )
            new_radius[i] = r_new
        new_rings = [replace(r, radius_invA=new_radius[i]) for i, r in enumerate(self.rings)]
        shared, sigma, n_shared = self._learn_shared_radius(hexagon_table, new_rings, notes)
        ref_new = new_rings[ref_i].radius_invA
        return replace(
            self,
            rings=tuple(new_rings),
            reference_radius_invA=ref_new,
            shared_radius_invA=shared,
            shared_radius_n=n_shared,
            share_sigma=sigma,
            refined=True,
            radii_learned=n_used >= _MIN_CLUSTER,
            history=tuple(notes),
            warnings=self.warnings + warned,
        )

    def learn_shared_radius(self, hexagon_table) -> PhaseModel:
        """The first phase's precise shared-ring radius relearned from ``hexagon_table`` alone.

        For a refined model and the hexagons of more patterns than it was refined on (found
        with this model): rings and camera length stay; the patterns without the second
        phase's marker and their ``radius_fine_invA`` give ``shared_radius_invA``,
        ``share_sigma`` and ``shared_radius_n`` as in :meth:`refine`. Where they are fewer
        than 10, the model is returned unchanged but for a note in ``history``.
        """
        notes = list(self.history)
        shared, sigma, n = self._learn_shared_radius(hexagon_table, self.rings, notes)
        if n == 0:
            return self if len(notes) == len(self.history) else replace(self, history=tuple(notes))
        return replace(
            self,
            shared_radius_invA=shared,
            shared_radius_n=n,
            share_sigma=sigma,
            history=tuple(notes),
        )

    def _on_marker_ring(self, radii: np.ndarray, marker_radius_invA: float) -> np.ndarray:
        """Hexagons near the second phase's marker ring (within twice the ring tolerance).

        A pattern with a marker hexagon anywhere near it is not a pure first phase.
        """
        return np.abs(radii / marker_radius_invA - 1) < 2 * self.ring_tolerance

    def _without_marker(self, hx: np.ndarray, marker_radius_invA: float):
        """Hexagons on the marker ring, and those of patterns with none (pure first phase)."""
        on = self._on_marker_ring(hx["radius_invA"], marker_radius_invA)
        return on, ~np.isin(hx["dp_index"], np.unique(hx["dp_index"][on]))

    def _learn_shared_radius(self, hexagon_table, rings, notes) -> tuple[float, float, int]:
        """Median, robust spread and count of the precise first-phase shared-ring radius.

        The population does not depend on how many patterns the table holds (it grows in
        :func:`stemtf.phase.learn.refine_shared_radius`): a pattern with a hexagon of 3+
        vertices near the second phase's marker ring is not pure, and the radii come from
        the 4+-vertex hexagons of the others, or from their 3+-vertex ones where fewer than
        10 have 4. 3-vertex hexagons are those of thick, tilted or faint patterns, whose
        precise radius lies off the 4-vertex ones' by -0.5 to +0.25 of the gap
        (``scripts/bench_shared_radius.py --truth``). The count is 0 where the radius was not
        learned (the model's values are returned).
        """
        hx = np.asarray(hexagon_table)
        sh = [r for r in rings if r.phase == 0 and not r.marker]
        if hx.size == 0 or "radius_fine_invA" not in (hx.dtype.names or ()) or not sh:
            return self.shared_radius_invA, self.share_sigma, 0
        hx = hx[hx["inliers"] >= 3]
        marker = [r.radius_invA for r in rings if r.marker and r.phase == 1]
        no_marker = np.ones(hx.size, bool)
        if marker:
            no_marker = self._without_marker(hx, marker[0])[1]
        r_ref = min(r.radius_invA for r in sh)
        fine = hx["radius_fine_invA"]
        sel = no_marker & np.isfinite(fine) & (np.abs(fine / r_ref - 1) < self.ring_tolerance)
        four = sel & (hx["inliers"] >= 4)
        vertices = "3+"
        if four.sum() >= _MIN_SHARED:
            sel, vertices = four, "4+"
        if sel.sum() < _MIN_SHARED:
            notes.append(
                f"shared-ring radius not learned ({int(sel.sum())} precise radii "
                f"without the marker, need {_MIN_SHARED})"
            )
            return self.shared_radius_invA, self.share_sigma, 0
        med = float(np.median(fine[sel]))
        spread = 1.4826 * float(np.median(np.abs(fine[sel] - med)))
        gap = med * (self.lattice_ratio - 1)
        sigma = float(np.clip(spread / gap, 0.02, 1.0)) if gap > 0 else self.share_sigma
        n = int(sel.sum())
        se = _median_se(sigma, n)
        notes.append(
            f"first phase's shared ring {med:.5f} 1/A (precise, {n} "
            f"patterns without the marker, {vertices}-vertex hexagons), share spread "
            f"{sigma:.3f}, standard error "
            f"{se:.3f} of the gap"
        )
        return med, sigma, n

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serialisable description (inverse: :meth:`from_dict`)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["rings"] = [
            {
                "phase": r.phase,
                "hkl": list(r.hkl),
                "radius_invA": r.radius_invA,
                "rotation_deg": r.rotation_deg,
                "intensity": r.intensity,
                "marker": r.marker,
            }
            for r in self.rings
        ]
        for k in ("phases", "material_ids", "history", "warnings"):
            d[k] = list(d[k])
        d["label_names"] = list(self.label_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PhaseModel:
        """Rebuild a model written by :meth:`to_dict` (keys it does not know are ignored)."""
        if d.get("kind") == "family" and cls is PhaseModel:
            from stemtf.phase.family_model import FamilyModel

            return FamilyModel.from_dict(d)
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["rings"] = rings_from_dicts(d["rings"])
        for k in ("phases", "material_ids", "history", "warnings"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)


def _median_se(spread: float, n: int) -> float:
    """Standard error of the median of ``n`` values of robust spread ``spread``."""
    return 1.2533 * spread / float(np.sqrt(n))


def _trusted_hexagons(hx: np.ndarray) -> np.ndarray:
    """Hexagons of 4+ vertices, or of 3+ where those are too few.

    At low dose and on mistilted grains (which keep half a hexagon) the 3-vertex hexagons of
    significant spots are needed too.
    """
    if np.count_nonzero(hx["inliers"] >= 4) >= 2 * _MIN_CLUSTER:
        return hx[hx["inliers"] >= 4]
    return hx[hx["inliers"] >= 3]


def rings_from_dicts(rows) -> tuple[ModelRing, ...]:
    """Rings from the ``rings`` list of :meth:`PhaseModel.to_dict`."""
    return tuple(
        ModelRing(
            r["phase"],
            tuple(r["hkl"]),
            r["radius_invA"],
            r["rotation_deg"],
            r["intensity"],
            r["marker"],
        )
        for r in rows
    )


def camera_length_warning(
    scale: float, q_sampling_invA: float | None, *, log_it: bool = True
) -> tuple[str, ...]:
    """One warning line when the rings say the camera length is > 2 % off, else none."""
    if abs(scale - 1) <= CAMERA_LENGTH_WARN:
        return ()
    given = (
        f"given q_sampling_invA={q_sampling_invA:.6g}, the rings say "
        f"{q_sampling_invA / scale:.6g} 1/A per px"
        if q_sampling_invA
        else "check q_sampling_invA"
    )
    msg = (
        f"calibration: the phase rings lie {100 * (scale - 1):+.1f} % off the "
        f"reference radii ({given}); the learned radii absorb it"
    )
    if log_it:
        log.warning("%s", msg)
    return (msg,)


def no_hexagon_warning(phases, *, log_it: bool = True) -> str:
    """The warning of a calibration sample without any hexagon of the phases."""
    msg = (
        "no hexagon of the phases " + ", ".join(phases) + " was found in the "
        "calibration sample: the map will be 'none'/'unassigned' throughout (check "
        "the zone axis, q_sampling_invA and the detector geometry)"
    )
    if log_it:
        log.warning("%s", msg)
    return msg
