"""N-phase model (1-8 phases): rings, markers, separability, label names and their learning.

Built from ring data (:class:`stemtf.materials.rings.PhaseRings`, or any object with
``name``, ``material_id`` and ``rings`` of ``radius_invA``, ``rotation_deg``, ``intensity``,
``hkl``), never from structures: :mod:`stemtf.phase` imports no pymatgen.

Labels (fixed by the phases before a scan is read, so maps of one phase list compare):
``none``, each phase's display name, the mixtures ``A+B`` the rings allow (a marker and
both lattices visible, :mod:`stemtf.phase.separability`), the ambiguities ``A|B`` of pairs only
an absolute radius separates (used where the scan's calibration is not good enough for the
pair, never guessed), ``unassigned``.

:meth:`FamilyModel.refine` learns the camera length from the scan: the clusters of precise
main-ring radii among patterns without a marker hexagon are phases without markers (O3, H3,
rock salt) at one common camera length, and the factor that puts the most of them on a phase's
ring (and agrees with the marker hexagons of O1 or spinel, whose identity needs no camera
length) wins; the given calibration only breaks ties. The clusters' spread sets the per-pattern
radius precision and, divided by the square root of their size, the calibration accuracy the
scan supports; the absolute-radius pairs whose separation needs a better calibration become
ambiguities.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.model import (
    ModelRing,
    PhaseModel,
    camera_length_warning,
    no_hexagon_warning,
    rings_from_dicts,
)
from stemtf.phase.separability import Separation, main_ring, separations

__all__ = ["FamilyModel", "build_family", "MAX_PHASES"]

log = logging.getLogger(__name__)

#: Most phases one run takes.
MAX_PHASES = 8
#: Rings up to this multiple of the largest main ring take part.
_MAX_RING_NORM = 1.15
#: Hexagons a learned cluster needs.
_MIN_CLUSTER = 20
#: Kernel widths (relative) of the camera-length score: precise main-ring radii, RANSAC
#: radii of marker hexagons.
_KERNEL_MAIN = 0.004
_KERNEL_MARKER = 0.01
#: The calibration accuracy a scan supports is never claimed better than this (relative):
#: the reference lattice parameters and the radius measurement's own bias.
_CALIBRATION_FLOOR = 0.001


@dataclass(frozen=True)
class FamilyModel(PhaseModel):
    """Phases of a family (1-8), their rings, how each pair is told apart, the labels.

    Inherits the ring geometry (:meth:`radii_px`, :meth:`annulus_px`, :meth:`check_detector`)
    and the decision thresholds of :class:`PhaseModel`; ``ModelRing.phase`` is the phase
    index and ``ModelRing.marker`` says the ring belongs to that phase only.

    Attributes
    ----------
    min_marker_fraction : float
        A phase's marker rings together must reach this fraction of the primary ring's
        template response (3 %: spinel's {2-20} and {4-22} are a few per cent of its {4-40}
        at 60-100 Å; O3's dynamically leaked {100} at 2 % stays below).
    zone_axes : tuple of (int, int, int)
        Each phase's hexagonal zone ([001] hexagonal/trigonal, [111] cubic).
    main_rings : tuple of int
        Index (into ``rings``) of each phase's main ring (innermost of at least half the
        strongest kinematic intensity).
    separations : tuple of Separation
        Every pair, in order (0, 1), (0, 2), ...
    mixtures, ambiguities : tuple of (int, int)
        Pairs with an ``A+B`` label and with an ``A|B`` label.
    dropped : tuple of str
        Phases left out and why (one line each; also in ``warnings``).
    given_calibration_accuracy : float
        Relative camera-length accuracy assumed for the given calibration until the scan
        teaches a better one.
    learned_calibration_accuracy : float
        The accuracy learned by :meth:`refine` (0: not learned).
    radius_sigma : float
        Per-pattern precision (relative) of a main-ring radius, learned by :meth:`refine`.
    calibration_note : str
        How the camera length was set.
    """

    min_marker_fraction: float = 0.03
    zone_axes: tuple[tuple[int, int, int], ...] = ()
    main_rings: tuple[int, ...] = ()
    separations: tuple[Separation, ...] = ()
    mixtures: tuple[tuple[int, int], ...] = ()
    ambiguities: tuple[tuple[int, int], ...] = ()
    dropped: tuple[str, ...] = field(default=())
    given_calibration_accuracy: float = 0.02
    learned_calibration_accuracy: float = 0.0
    radius_sigma: float = 0.004
    calibration_note: str = "given"

    # -- labels ----------------------------------------------------------------------------
    @property
    def label_names(self) -> tuple[str, ...]:
        """none, the phases, the mixtures ``A+B``, the ambiguities ``A|B``, unassigned."""
        p = self.phases
        return (
            ("none",)
            + tuple(p)
            + tuple(f"{p[a]}+{p[b]}" for a, b in self.mixtures)
            + tuple(f"{p[a]}|{p[b]}" for a, b in self.ambiguities)
            + ("unassigned",)
        )

    @property
    def unassigned_code(self) -> int:
        """Code of ``unassigned`` (the last label)."""
        return len(self.label_names) - 1

    def mixture_code(self, a: int, b: int) -> int:
        """Label code of ``A+B`` (either order), -1 if the pair has none."""
        key = (min(a, b), max(a, b))
        if key not in self.mixtures:
            return -1
        return 1 + len(self.phases) + self.mixtures.index(key)

    def ambiguity_code(self, a: int, b: int) -> int:
        """Label code of ``A|B`` (either order), -1 if the pair has none."""
        key = (min(a, b), max(a, b))
        if key not in self.ambiguities:
            return -1
        return 1 + len(self.phases) + len(self.mixtures) + self.ambiguities.index(key)

    # -- calibration -----------------------------------------------------------------------
    @property
    def calibration_accuracy(self) -> float:
        """Relative camera-length accuracy now: learned if :meth:`refine` could, else given."""
        return self.learned_calibration_accuracy or self.given_calibration_accuracy

    def separation(self, a: int, b: int) -> Separation:
        """The :class:`Separation` of phases ``a`` and ``b``."""
        a, b = min(a, b), max(a, b)
        n = len(self.phases)
        return self.separations[a * n - a * (a + 1) // 2 + (b - a - 1)]

    def decidable_matrix(self) -> np.ndarray:
        """(P, P) bool: whether this model, at its calibration accuracy, separates each pair."""
        n = len(self.phases)
        out = np.ones((n, n), bool)
        acc = self.calibration_accuracy
        for s in self.separations:
            out[s.a, s.b] = out[s.b, s.a] = s.decidable(acc)
        return out

    def distinctions(self) -> list[dict]:
        """Which pairs this run can and cannot tell apart, by what (for summary.json)."""
        acc = self.calibration_accuracy
        rows = []
        for s in self.separations:
            made = s.decidable(acc)
            if s.method == "absolute":
                why = f"{s.reason}; the scan's calibration is good to {100 * acc:.2f} %: " + (
                    "decided" if made else f"labelled {self.phases[s.a]}|{self.phases[s.b]}"
                )
            else:
                why = s.reason
            rows.append(
                {
                    "pair": [self.phases[s.a], self.phases[s.b]],
                    "method": s.method,
                    "needed_calibration": s.needed_calibration,
                    "decided": made,
                    "mixture_label": s.mixable,
                    "why": why,
                }
            )
        return rows

    def summary_fields(self) -> dict:
        """The calibration accuracy the scan supports and the distinctions it allowed."""
        rows = self.distinctions()
        return {
            "phase_family": {
                "phases": list(self.phases),
                "material_ids": list(self.material_ids),
                "zone_axes": [list(z) for z in self.zone_axes],
                "dropped": list(self.dropped),
                "calibration_accuracy": self.calibration_accuracy,
                "calibration_learned": bool(self.learned_calibration_accuracy > 0),
                "calibration_note": self.calibration_note,
                "radius_precision_per_pattern": self.radius_sigma,
                "distinctions": rows,
                "could_separate": [
                    f"{'/'.join(d['pair'])} ({d['method']})" for d in rows if d["decided"]
                ],
                "could_not_separate": [
                    f"{'/'.join(d['pair'])} ({d['method']})" for d in rows if not d["decided"]
                ],
            }
        }

    # -- learning from data ----------------------------------------------------------------
    def refine(
        self, hexagon_table: np.ndarray, *, q_sampling_invA: float | None = None
    ) -> FamilyModel:
        """Camera length and radius precision learned from the scan's hexagons.

        Parameters
        ----------
        hexagon_table : structured ndarray
            ``PhaseResult.hexagons`` of a sample (fields dp_index, radius_invA, inliers,
            radius_fine_invA).
        q_sampling_invA : float, optional
            The calibration the radii were measured with (named in the warning when the
            rings say it is more than 2 % off).

        Returns
        -------
        FamilyModel
            A new model (this one unchanged): every ring scaled by the learned camera-length
            factor, ``learned_calibration_accuracy`` and ``radius_sigma`` set when the
            scan explains at least 20 radii (:func:`_learn_scale`).
        """
        hx = np.asarray(hexagon_table)
        notes = list(self.history)
        if hx.size == 0 or not np.any(hx["inliers"] >= 3):
            msg = no_hexagon_warning(self.phases)
            return replace(self, warnings=self.warnings + (msg,), refined=True)
        hx = hx[hx["inliers"] >= 3]
        rad = hx["radius_invA"].astype(float)
        radius = np.array([r.radius_invA for r in self.rings])
        phase = np.array([r.phase for r in self.rings])
        marker = np.array([r.marker for r in self.rings])
        tol = self.ring_tolerance
        # marker hexagons: their phase needs no camera length, their radius gives one
        marker_dp = np.zeros(0, np.int64)
        mk_r, mk_ref = [], []
        for m in np.flatnonzero(marker):
            near = np.abs(rad / radius[m] - 1) < tol
            marker_dp = np.union1d(marker_dp, hx["dp_index"][near])
            mk_r.append(rad[near])
            mk_ref.append(np.full(int(near.sum()), radius[m]))
        plain = [p for p in range(len(self.phases)) if not marker[phase == p].any()]
        scale, acc, sigma, note = 1.0, 0.0, self.radius_sigma, "given (no phase rings learned)"
        mains = radius[[self.main_rings[p] for p in plain]] if plain else np.zeros(0)
        vals = np.zeros(0)
        if plain:
            lo, hi = mains.min() * (1 - tol), mains.max() * (1 + tol)
            sel = ~np.isin(hx["dp_index"], marker_dp) & (rad > lo) & (rad < hi)
            fine = (
                hx["radius_fine_invA"].astype(float)
                if "radius_fine_invA" in hx.dtype.names
                else rad
            )
            use_fine = sel & np.isfinite(fine)
            vals = fine[use_fine] if use_fine.sum() >= _MIN_CLUSTER else rad[sel]
        found = _learn_scale(
            vals,
            mains,
            [self.phases[p] for p in plain],
            np.concatenate(mk_r) if mk_r else np.zeros(0),
            np.concatenate(mk_ref) if mk_ref else np.zeros(0),
            self.given_calibration_accuracy,
        )
        own: dict[int, float] = {}
        if found is not None:
            scale, acc, sigma, note, own = found
        notes.append(f"camera-length scale {scale:.4f}: {note}")
        warned = camera_length_warning(scale, q_sampling_invA)
        factor = {p: scale for p in range(len(self.phases))}
        for k, r_own in own.items():  # a phase's own cluster sets its rings
            factor[plain[k]] = r_own / radius[self.main_rings[plain[k]]]
            notes.append(f"{self.phases[plain[k]]} main ring learned from its own cluster")
        rings = tuple(replace(r, radius_invA=r.radius_invA * factor[r.phase]) for r in self.rings)
        model = replace(
            self,
            rings=rings,
            reference_radius_invA=self.reference_radius_invA * scale,
            learned_calibration_accuracy=float(acc),  # 0: not learned
            radius_sigma=float(sigma),
            calibration_note=note,
            refined=True,
            radii_learned=bool(acc > 0),
            history=tuple(notes),
            warnings=self.warnings + warned,
        )
        for d in model.distinctions():
            if d["method"] == "absolute":
                notes.append(d["why"])
        return replace(model, history=tuple(notes))

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serialisable description (inverse: :meth:`PhaseModel.from_dict`)."""
        d = super().to_dict()
        d["kind"] = "family"
        d["separations"] = [s.to_dict() for s in self.separations]
        for k in ("zone_axes", "main_rings", "mixtures", "ambiguities", "dropped"):
            d[k] = [list(v) if isinstance(v, tuple) else v for v in getattr(self, k)]
        d.update(self.summary_fields())
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FamilyModel:
        """Rebuild a model written by :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["rings"] = rings_from_dicts(d["rings"])
        d["separations"] = tuple(Separation.from_dict(s) for s in d.get("separations", ()))
        for k in ("zone_axes", "mixtures", "ambiguities"):
            d[k] = tuple(tuple(v) for v in d.get(k, ()))
        for k in ("phases", "material_ids", "history", "warnings", "main_rings", "dropped"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)


def _learn_scale(vals, mains, names, marker_radii, marker_ref, given_accuracy):
    """Camera-length factor that puts the most measured radii on the phases' rings.

    ``vals`` are main-ring radii of patterns without a marker: each is one of the phases
    without markers (``mains``) at a common camera length. ``marker_radii`` are hexagons on
    marker rings (``marker_ref``, e.g. O1 {100}, spinel {2-20}), whose phase needs no camera
    length. A factor scores every radius near a ring it predicts (Gaussian kernel of 0.4 %
    for the precise main-ring radii, 1 % for the RANSAC marker radii): a rock-salt shell and
    an O3 matrix 2.7 % apart, with H3 1.9 % out, fit one factor only one way round. The given
    calibration breaks ties (a Gaussian prior of its accuracy).

    Returns
    -------
    (scale, accuracy, radius_sigma, note, own) or None where fewer than 20 radii are
    explained; ``own`` maps an index of ``mains`` to that phase's main-ring radius learned
    from its own cluster (20 radii or more).
    """
    vals = np.asarray(vals, float)
    mk = np.asarray(marker_radii, float) / np.asarray(marker_ref, float)
    if vals.size + mk.size == 0:
        return None
    grid = np.arange(0.90, 1.10, 2.5e-4)
    score = np.zeros(grid.size)
    if vals.size and mains.size:
        rel = vals[None, :, None] / (grid[:, None, None] * mains[None, None, :]) - 1
        score += np.exp(-0.5 * (rel / _KERNEL_MAIN) ** 2).max(axis=2).sum(axis=1)
    if mk.size:
        score += np.exp(-0.5 * ((mk[None, :] / grid[:, None] - 1) / _KERNEL_MARKER) ** 2).sum(1)
    score *= np.exp(-0.5 * ((grid - 1) / max(given_accuracy, 1e-3)) ** 2)
    best = float(grid[int(np.argmax(score))])
    parts = []
    ratios = np.zeros(0)
    own: dict[int, float] = {}  # phase (index into mains) -> its own learned main radius
    groups: list[np.ndarray] = []
    if vals.size and mains.size:
        rel = vals[:, None] / (best * mains[None, :]) - 1
        which = np.argmin(np.abs(rel), axis=1)
        near = np.abs(rel[np.arange(vals.size), which]) <= 2 * _KERNEL_MAIN
        ratios = vals[near] / mains[which[near]]
        for k in np.unique(which[near]):
            members = vals[near & (which == k)]
            parts.append(f"{members.size} {names[k]}")
            groups.append(members / mains[k])
            if members.size >= _MIN_CLUSTER:
                own[int(k)] = float(np.median(members))
    n_mk = int(np.sum(np.abs(mk / best - 1) <= 2 * _KERNEL_MARKER))
    if ratios.size >= _MIN_CLUSTER:
        # the factor and the radius precision from the largest cluster (the majority phase);
        # phases with a cluster of their own keep their own radius (per-phase biases of the
        # centroid, e.g. thickness, stay out of the absolute decisions)
        major = max(groups, key=lambda g: g.size)
        major = major if major.size >= _MIN_CLUSTER else ratios
        scale = float(np.median(major))
        spread = 1.4826 * float(np.median(np.abs(major / scale - 1)))
        n = major.size
    elif ratios.size + n_mk >= _MIN_CLUSTER and n_mk:
        near = np.abs(mk / best - 1) <= 2 * _KERNEL_MARKER
        allr = np.concatenate([ratios, mk[near]])
        scale = float(np.median(allr))
        spread = max(1.4826 * float(np.median(np.abs(allr / scale - 1))), _KERNEL_MAIN)
        n = allr.size
    else:
        return None
    sigma = float(np.clip(spread, 0.001, 0.02))
    acc = max(spread / math.sqrt(n), _CALIBRATION_FLOOR)
    note = "learned from " + ", ".join(
        (
            ["main-ring radii of patterns without a marker (" + ", ".join(parts) + ")"]
            if parts
            else []
        )
        + ([f"{n_mk} marker hexagons"] if n_mk else [])
    )
    return scale, acc, sigma, note, own


def build_family(
    phase_rings: Sequence,
    *,
    dropped: Sequence[str] = (),
    merge_tolerance: float = 0.05,
    calibration_accuracy: float = 0.02,
) -> FamilyModel:
    """A :class:`FamilyModel` from the phases' ring data.

    Pairs that no calibration separates along their zones lose their later phase (one line
    each in ``dropped`` and ``warnings``).

    Parameters
    ----------
    phase_rings : sequence
        One entry per phase with ``name``, ``material_id``, ``zone_axis`` and ``rings``
        (each with ``hkl``, ``radius_invA``, ``rotation_deg``, ``intensity``), e.g.
        :class:`stemtf.materials.rings.PhaseRings`.
    dropped : sequence of str
        Phases already left out by the caller (e.g. no hexagonal zone), reported with these.
    merge_tolerance : float
        Rings of two phases closer than this (relative) are not markers.
    calibration_accuracy : float
        Relative camera-length accuracy assumed for the given calibration.

    Raises
    ------
    InputError
        No phase, more than 8, or none left.
    """
    items = list(phase_rings)
    dropped = list(dropped)
    if not items:
        raise InputError(
            "--phases: no usable phase is left" + (f" ({'; '.join(dropped)})" if dropped else "")
        )
    if len(items) > MAX_PHASES:
        raise InputError(f"--phases: {len(items)} phases given, at most {MAX_PHASES} are allowed")
    if not 0 < calibration_accuracy < 1:
        raise InputError(
            f"calibration_accuracy={calibration_accuracy!r} is not allowed: give a relative "
            "accuracy between 0 and 1"
        )
    while True:
        model = _assemble(items, merge_tolerance, calibration_accuracy)
        bad = [s for s in model.separations if s.method == "none"]
        if not bad:
            break
        s = bad[0]
        msg = (
            f"phase {items[s.b].name!r} ({items[s.b].material_id}) dropped: against "
            f"{items[s.a].name!r}, {s.reason}"
        )
        log.warning("%s", msg)
        dropped.append(msg)
        items.pop(s.b)
    return replace(model, dropped=tuple(dropped), warnings=tuple(dropped))


def _assemble(items: list, merge_tolerance: float, calibration_accuracy: float) -> FamilyModel:
    names = [str(p.name) for p in items]
    for i, n in enumerate(names):  # labels must be unique and free of the joiners
        if "+" in n or "|" in n:
            names[i] = n.replace("+", "_").replace("|", "_")
        if names[:i].count(names[i]):
            names[i] = f"{names[i]} ({items[i].material_id})"
    mains = []
    for p in items:
        r = np.array([x.radius_invA for x in p.rings])
        mains.append(float(r[main_ring(r, [x.intensity for x in p.rings])]))
    limit = _MAX_RING_NORM * max(mains)
    raw = [
        (pi, x)
        for pi, p in enumerate(items)
        for x in sorted(p.rings, key=lambda x: x.radius_invA)
        if x.radius_invA <= limit
    ]
    ph = np.array([pi for pi, _ in raw])
    rad = np.array([x.radius_invA for _, x in raw])
    inten = np.array([x.intensity for _, x in raw])
    marker = np.array(
        [
            not np.any((ph != pi) & (np.abs(rad / x.radius_invA - 1) < merge_tolerance))
            for pi, x in raw
        ]
    )
    rings = tuple(
        ModelRing(
            int(pi),
            tuple(int(v) for v in x.hkl),
            float(x.radius_invA),
            round(float(x.rotation_deg), 6) % 60.0,
            float(x.intensity),
            bool(m),
        )
        for (pi, x), m in zip(raw, marker, strict=True)
    )
    main_idx = []
    for pi in range(len(items)):
        idx = np.flatnonzero(ph == pi)
        main_idx.append(int(idx[main_ring(rad[idx], inten[idx])]))
    seps = separations(names, ph, rad, inten, merge_tolerance=merge_tolerance)
    return FamilyModel(
        phases=tuple(names),
        material_ids=tuple(str(p.material_id) for p in items),
        rings=rings,
        reference_radius_invA=float(rad[main_idx[0]]),
        zone_axes=tuple(tuple(int(v) for v in p.zone_axis) for p in items),
        main_rings=tuple(main_idx),
        separations=seps,
        mixtures=tuple((s.a, s.b) for s in seps if s.mixable),
        ambiguities=tuple((s.a, s.b) for s in seps if s.method in ("absolute", "ratio")),
        given_calibration_accuracy=float(calibration_accuracy),
    )
