"""Phase model: which hexagon rings each phase shows, learned ring radii, decision thresholds.

Phases are configured by material id (reference structures); their expected rings along [001]
come from the reciprocal lattice (:mod:`stemtf.phase.reference`), then :meth:`PhaseModel.refine`
replaces the radii by those found in the data (camera-length error absorbed).

For NMC811 O3/O1 (PHYSICS.md § the diagnostic along [001]): both show {110} (O1 about 2 %
further out); only O1 shows the inner {100} hexagon at 0.577 of {110}, rotated 30 deg. A ring
of one phase with no ring of the other within ``merge_tolerance`` is that phase's *marker*.

A pattern without the marker is the first phase (O3). With the marker, the ratio of the shared
{110} radius to the marker {100} radius tells how much of the {110} ring comes from the second
phase's own lattice: exactly sqrt(3) for pure O1 (one lattice), a_O1/a_O3 x sqrt(3) (1.8 %
less) when O3 dominates the {110} ring, as in columns holding both. The ratio is free of the
camera length, so it needs no absolute calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration

__all__ = ["ModelRing", "PhaseModel", "LABEL_NAMES", "LABEL_NONE", "LABEL_FIRST", "LABEL_SECOND",
           "LABEL_BOTH", "LABEL_UNASSIGNED"]

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
    pure_threshold : float
        A pattern with the marker is the pure second phase when its shared/marker radius ratio
        lies more than this fraction of the way from the mixed (first-phase {110}) to the pure
        (second-phase {110}) value; otherwise it holds both.
    marker_split : float
        Marker / shared hexagon intensity ratio separating pure second phase (above) from
        mixed columns (below), learned by :meth:`refine` (0: not learned, not used).
    ring_tolerance : float
        Relative radius tolerance for assigning a hexagon to a ring.
    min_marker_snr : float
        A marker ring measured below this signal-to-noise ratio counts as absent.
    min_marker_fraction : float
        ... and so does one weaker than this fraction of the pattern's strongest ring (weak
        kinematically forbidden reflections of the first phase are not a second phase).
    refined : bool
        Whether :meth:`refine` has adjusted the model to data.
    """

    phases: tuple[str, ...]
    material_ids: tuple[str, ...]
    rings: tuple[ModelRing, ...]
    reference_radius_invA: float
    pure_threshold: float = 0.57
    marker_split: float = 0.0
    ring_tolerance: float = 0.06
    min_marker_snr: float = 3.0
    min_marker_fraction: float = 0.05
    refined: bool = False
    history: tuple[str, ...] = field(default=())

    @classmethod
    def from_materials(
        cls,
        material_ids,
        calibration: Calibration | None = None,
        *,
        names: tuple[str, ...] | None = None,
        zone_axis=(0, 0, 1),
        merge_tolerance: float = 0.05,
    ) -> PhaseModel:
        """Expected rings of two phases from their reference structures.

        Parameters
        ----------
        material_ids : sequence of two str
            E.g. ``["nmc811-o3", "nmc811-o1"]``.
        calibration : Calibration, optional
            Only logged against (rings outside the detector are reported).
        names : tuple of str, optional
            Display names; default from the ids (``nmc811-o3`` -> ``O3``).
        zone_axis : (int, int, int)
            Beam direction [u v w].
        merge_tolerance : float
            Rings of the two phases closer than this relative radius count as shared.
        """
        from stemtf.materials import get as get_material
        from stemtf.phase.reference import zone_rings

        ids = tuple(material_ids)
        if len(ids) != 2:
            raise InputError(f"material_ids={list(ids)!r} is not allowed: give exactly two "
                             "phases (labels are none, phase 1, phase 2, both)")
        if names is None:
            names = tuple(m.split("-")[-1].upper() for m in ids)
        all_rings = [zone_rings(get_material(m).structure, zone_axis, q_max_invA=3.0) for m in ids]
        if not all_rings[0]:
            raise InputError(f"material {ids[0]!r} has no allowed reflection along {zone_axis}")
        ref = max(all_rings[0][:2], key=lambda r: r.intensity)
        rings = []
        for p, rs in enumerate(all_rings):
            other = all_rings[1 - p]
            for r in rs:
                if r.radius_invA > _MAX_RING_NORM * ref.radius_invA:
                    continue
                marker = not any(abs(o.radius_invA / r.radius_invA - 1) < merge_tolerance
                                 for o in other)
                rings.append(ModelRing(p, r.hkl, r.radius_invA, round(r.rotation_deg, 6) % 60.0,
                                       r.intensity, marker))
        model = cls(phases=tuple(names), material_ids=ids, rings=tuple(rings),
                    reference_radius_invA=ref.radius_invA)
        if calibration is not None:
            log.info("phase model %s: rings %s", model.phases,
                     [(r.phase, r.hkl, round(r.radius_invA / calibration.q_sampling_invA, 1))
                      for r in rings])
        return model

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
        """How far from the beam [px] the detector must reach for the outermost ring's spots
        to be found: the ring radius plus half a disk radius (with at least half of a disk on
        the detector, its Difference-of-Gaussians peak stays at the disk centre)."""
        return float(self.radii_px(calibration).max() + 0.5 * calibration.disk_radius_px)

    def check_detector(self, shape_hw: tuple[int, int], calibration: Calibration) -> None:
        """Raise InputError if the detector cannot hold the rings that decide the phases."""
        need = self.reach_px(calibration)
        cy, cx = calibration.center_yx
        h, w = shape_hw
        room = min(cy, cx, h - 1 - cy, w - 1 - cx) if calibration.center_yx != (0.0, 0.0) \
            else min(h, w) / 2 - 1
        if need > room:
            raise InputError(
                f"detector {h}x{w} px is too small for the phase rings: they reach "
                f"{need:.1f} px from the beam at q_sampling_invA={calibration.q_sampling_invA}, "
                f"only {room:.1f} px fit")

    # -- learning from data ----------------------------------------------------------------
    def refine(self, hexagon_table: np.ndarray) -> PhaseModel:
        """Ring radii learned from the hexagons found across a scan.

        Parameters
        ----------
        hexagon_table : structured ndarray
            ``PhaseResult.hexagons`` (fields dp_index, radius_invA, inliers, intensity, ...).

        Returns
        -------
        PhaseModel
            A new model; this one is unchanged. Clusters with fewer than 20 hexagons keep
            their expected values (scaled by the common camera-length factor when known).
            Shared rings are learned from patterns without the second phase's marker (first
            phase) or from the marker radius times the reference ratio (second phase).
        """
        hx = np.asarray(hexagon_table)
        if hx.size == 0:
            log.warning("refine: no hexagons; keeping the reference rings")
            return self
        hx = hx[hx["inliers"] >= 4]
        radii = hx["radius_invA"]
        exp = np.array([r.radius_invA for r in self.rings])
        ref_i = int(np.argmin(np.abs(exp - self.reference_radius_invA)))
        notes = list(self.history)
        # Which patterns show a marker hexagon of phase 2 (markers are unique to it).
        marker_i = [i for i, r in enumerate(self.rings) if r.marker and r.phase == 1]
        has_marker = np.zeros(0, np.int64)
        scales = []
        if marker_i:
            m = np.abs(radii / exp[marker_i[0]] - 1) < 2 * self.ring_tolerance
            has_marker = np.unique(hx["dp_index"][m])
            if m.sum() >= _MIN_CLUSTER:
                scales.append((float(np.median(radii[m] / exp[marker_i[0]])), int(m.sum()),
                               "marker"))
        # Camera-length scale: the reference ring in patterns without the marker (pure first
        # phase; the second phase's shared ring lies 2 % further out), else the marker ring.
        near = (np.abs(radii / exp[ref_i] - 1) < 2 * self.ring_tolerance) & \
            ~np.isin(hx["dp_index"], has_marker)
        if near.sum() >= _MIN_CLUSTER:
            scales.insert(0, (float(np.median(radii[near] / exp[ref_i])), int(near.sum()),
                              "reference ring"))
        scale, n_used, what = scales[0] if scales else (1.0, 0, "none")
        if abs(scale - 1) > 0.03:
            log.warning("pixel-size check: rings are %+.1f %% off the reference; the learned "
                        "radii absorb it (check q_sampling_invA)", 100 * (scale - 1))
        notes.append(f"camera-length scale {scale:.4f} from {n_used} hexagons ({what})")
        new_radius: dict[int, float] = {}
        learned_marker: dict[int, tuple[float, float]] = {}  # phase -> (reference, learned)
        order = sorted(range(len(self.rings)), key=lambda i: not self.rings[i].marker)
        for i in order:
            ring = self.rings[i]
            sel = np.abs(radii / (scale * ring.radius_invA) - 1) < self.ring_tolerance
            how = f"{int(sel.sum())} hexagons"
            if not ring.marker:
                # shared ring: only patterns without the other phase's marker are pure
                sel &= ~np.isin(hx["dp_index"], has_marker) if ring.phase == 0 else False
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
            notes.append(f"ring {ring.phase}:{ring.hkl} {ring.radius_invA:.4f} -> {r_new:.4f} "
                         f"1/A ({how})")
            new_radius[i] = r_new
        new_rings = [replace(r, radius_invA=new_radius[i]) for i, r in enumerate(self.rings)]
        split = self.marker_split
        if marker_i:
            learned = _learn_split(hx, new_rings, marker_i[0], self.ring_tolerance,
                                   self.min_marker_fraction)
            if learned is not None:
                split = learned
                notes.append(f"marker/shared intensity split {split:.3f}")
        ref_new = new_rings[ref_i].radius_invA
        return replace(self, rings=tuple(new_rings), reference_radius_invA=ref_new,
                       marker_split=split, refined=True, history=tuple(notes))

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serialisable description (inverse: :meth:`from_dict`)."""
        return {
            "phases": list(self.phases),
            "material_ids": list(self.material_ids),
            "rings": [{"phase": r.phase, "hkl": list(r.hkl), "radius_invA": r.radius_invA,
                       "rotation_deg": r.rotation_deg, "intensity": r.intensity,
                       "marker": r.marker} for r in self.rings],
            "reference_radius_invA": self.reference_radius_invA,
            "pure_threshold": self.pure_threshold,
            "marker_split": self.marker_split,
            "ring_tolerance": self.ring_tolerance,
            "min_marker_snr": self.min_marker_snr,
            "min_marker_fraction": self.min_marker_fraction,
            "refined": self.refined,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, d: dict) -> PhaseModel:
        """Rebuild a model written by :meth:`to_dict`."""
        d = dict(d)
        d["rings"] = tuple(ModelRing(r["phase"], tuple(r["hkl"]), r["radius_invA"],
                                     r["rotation_deg"], r["intensity"], r["marker"])
                           for r in d["rings"])
        for k in ("phases", "material_ids", "history"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)




def _learn_split(hx: np.ndarray, rings, marker_i: int, tol: float,
                 min_fraction: float) -> float | None:
    """Valley between pure and mixed patterns in log(I_marker / I_shared), or None.

    Two-means on the patterns that show both hexagons; accepted only when both groups hold at
    least 10 % of them and their centres differ by more than a factor 2 (a scan without mixed
    columns, or without pure ones, has one group, and nothing is learned).
    """
    radii = hx["radius_invA"]
    mk = rings[marker_i]
    shared = [r for r in rings if not r.marker]
    in_m = np.abs(radii / mk.radius_invA - 1) < tol
    in_s = np.zeros(radii.size, bool)
    for r in shared:
        in_s |= np.abs(radii / r.radius_invA - 1) < tol
    n = int(hx["dp_index"].max()) + 1 if hx.size else 0
    im = np.zeros(n)
    ish = np.zeros(n)
    np.maximum.at(im, hx["dp_index"][in_m], hx["intensity"][in_m])
    np.maximum.at(ish, hx["dp_index"][in_s], hx["intensity"][in_s])
    # weak marker hexagons (forbidden reflections leaking into the first phase) are no O1
    ok = (im > 0) & (ish > 0) & (im >= min_fraction * ish)
    if ok.sum() < _MIN_CLUSTER:
        return None
    v = np.log(im[ok] / ish[ok])
    lo, hi = np.percentile(v, [25, 75])
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        a, b = v[v < mid], v[v >= mid]
        if a.size == 0 or b.size == 0:
            return None
        lo, hi = a.mean(), b.mean()
    frac = a.size / v.size
    if hi - lo < np.log(2.0) or not 0.1 <= frac <= 0.9:
        return None
    return float(np.exp(0.5 * (lo + hi)))
