"""Which pairs of phases a pattern along their hexagonal zones can tell apart, and by what.

Derived from ring data alone (radii [1/Å], rotations, kinematic intensities per phase), before
any scan is read, so a run's label names are fixed by its phases:

- **marker**: one phase has a ring the other lacks (no ring of the other within the merge
  tolerance), e.g. O1 {100} against O3, spinel {2-20} against O3. Decided per pattern from the
  marker's presence, measured at the radius the pattern's own lattice predicts (camera-length
  free).
- **ratio**: every ring matches, but the radius ratio of two rings differs by more than
  ``ratio_tolerance`` between the phases. Reported; per pattern such a pair is still decided
  like an absolute one (the ratio evidence is not used yet).
- **absolute**: one ring each, at radii ``s`` apart (relative): O3 vs H3 1.9 %, O3 vs rock salt
  2.7 %. Needs the camera length to better than ``s / 2``; with a worse calibration the pair
  is an ambiguity ``A|B``, never a guess.
- **none**: closer than ``min_separation``: no calibration separates them along this zone.

A pair is *mixable* (a label ``A+B`` exists) when one of the two has a marker and each lattice
stays visible beside the other: by its own marker, or by a shared ring at least
``mix_min_separation`` away (the blended disk's radius gives the share, as for O3+O1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Separation", "pair_separation", "separations", "main_ring", "METHODS"]

#: Ways a pair can be told apart, best first.
METHODS = ("marker", "ratio", "absolute", "none")


@dataclass(frozen=True)
class Separation:
    """How two phases ``a < b`` (indices) are told apart along their zones.

    Attributes
    ----------
    a, b : int
        Phase indices.
    method : str
        One of :data:`METHODS`.
    markers_a, markers_b : tuple of int
        Ring indices (into the ring list given) of a's rings b lacks, and b's rings a lacks.
    radius_separation : float
        Relative separation of the two phases' main rings, |r_b / r_a - 1|.
    ratio_difference : float
        Largest relative difference of a ring-radius ratio between the phases (0 if none).
    needed_calibration : float
        Relative camera-length accuracy the absolute radius needs (``radius_separation / 2``);
        0 for a marker pair.
    mixable : bool
        Whether a pattern holding both can be labelled ``A+B``.
    reason : str
        One line for the summary.
    """

    a: int
    b: int
    method: str
    markers_a: tuple[int, ...]
    markers_b: tuple[int, ...]
    radius_separation: float
    ratio_difference: float
    needed_calibration: float
    mixable: bool
    reason: str

    def decidable(self, calibration_accuracy: float) -> bool:
        """Whether a scan with this relative camera-length accuracy separates the pair."""
        if self.method == "marker":
            return True
        if self.method in ("absolute", "ratio"):
            return bool(
                np.isfinite(calibration_accuracy) and calibration_accuracy < self.needed_calibration
            )
        return False

    def to_dict(self) -> dict:
        """JSON form."""
        return {
            "a": self.a,
            "b": self.b,
            "method": self.method,
            "markers_a": list(self.markers_a),
            "markers_b": list(self.markers_b),
            "radius_separation": self.radius_separation,
            "ratio_difference": self.ratio_difference,
            "needed_calibration": self.needed_calibration,
            "mixable": self.mixable,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Separation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["a"],
            d["b"],
            d["method"],
            tuple(d["markers_a"]),
            tuple(d["markers_b"]),
            float(d["radius_separation"]),
            float(d["ratio_difference"]),
            float(d["needed_calibration"]),
            bool(d["mixable"]),
            d["reason"],
        )


def main_ring(radius: np.ndarray, intensity: np.ndarray) -> int:
    """Index of a phase's main ring: the innermost of those at least half the strongest's |F|^2.

    ``radius`` and ``intensity`` are one phase's rings (any order).
    """
    inten = np.asarray(intensity, float)
    order = np.argsort(np.asarray(radius, float), kind="stable")
    strong = order[inten[order] >= 0.5 * inten.max()]
    return int(strong[0])


def _unmatched(r_from: np.ndarray, r_to: np.ndarray, tol: float) -> np.ndarray:
    """Which of ``r_from`` have no radius of ``r_to`` within the relative tolerance."""
    if r_to.size == 0:
        return np.ones(r_from.size, bool)
    rel = np.abs(r_from[:, None] / r_to[None, :] - 1)
    return ~np.any(rel < tol, axis=1)


def pair_separation(
    names: Sequence[str],
    ring_phase: np.ndarray,
    ring_radius_invA: np.ndarray,
    ring_intensity: np.ndarray,
    a: int,
    b: int,
    *,
    merge_tolerance: float = 0.05,
    ratio_tolerance: float = 0.01,
    min_separation: float = 0.004,
    mix_min_separation: float = 0.01,
) -> Separation:
    """Separation of phases ``a`` and ``b`` from the model's ring arrays (see module doc).

    Parameters
    ----------
    names : sequence of str
        Display names (for the reason).
    ring_phase, ring_radius_invA, ring_intensity : ndarray (R,)
        Phase index, radius [1/Å] and kinematic intensity of every ring of the model.
    a, b : int
        The pair (``a < b``).
    merge_tolerance : float
        Rings closer than this (relative) are the same ring as far as markers go.
    ratio_tolerance : float
        Smallest ring-ratio difference that counts.
    min_separation : float
        Main rings closer than this (relative) cannot be separated at any calibration.
    mix_min_separation : float
        Shared rings this far apart (relative) give the share of each lattice in a blend.
    """
    if a > b:
        a, b = b, a
    phase = np.asarray(ring_phase)
    rad = np.asarray(ring_radius_invA, float)
    inten = np.asarray(ring_intensity, float)
    ia, ib = np.flatnonzero(phase == a), np.flatnonzero(phase == b)
    ma = ia[_unmatched(rad[ia], rad[ib], merge_tolerance)]
    mb = ib[_unmatched(rad[ib], rad[ia], merge_tolerance)]
    main_a = ia[main_ring(rad[ia], inten[ia])]
    main_b = ib[main_ring(rad[ib], inten[ib])]
    sep = abs(rad[main_b] / rad[main_a] - 1)
    # ratio: rings matched in order, ratio to the main ring compared
    ratio_diff = 0.0
    if ma.size == 0 and mb.size == 0:
        for i in ia:
            if i == main_a:
                continue
            j = ib[np.argmin(np.abs(rad[ib] / rad[i] - 1))]
            if j == main_b:
                continue
            ra, rb = rad[i] / rad[main_a], rad[j] / rad[main_b]
            ratio_diff = max(ratio_diff, abs(rb / ra - 1))
    na, nb = names[a], names[b]
    mixable = False
    if ma.size or mb.size:
        method = "marker"
        owners = [
            f"{na} has {ma.size}" if ma.size else "",
            f"{nb} has {mb.size}" if mb.size else "",
        ]
        reason = f"marker ring ({' and '.join(o for o in owners if o)} the other lacks)"
        vis_a = bool(ma.size) or sep >= mix_min_separation
        vis_b = bool(mb.size) or sep >= mix_min_separation
        mixable = vis_a and vis_b
        needed = 0.0
    elif ratio_diff >= ratio_tolerance:
        method = "ratio"
        needed = sep / 2
        reason = (
            f"ring radius ratio differs by {100 * ratio_diff:.1f} %, but patterns are decided "
            f"on the absolute radius: main rings {100 * sep:.1f} % apart, needs the camera "
            f"length to better than {100 * needed:.2f} %"
        )
    elif sep >= min_separation:
        method = "absolute"
        needed = sep / 2
        reason = (
            f"absolute radius only: main rings {100 * sep:.1f} % apart, needs the camera "
            f"length to better than {100 * needed:.2f} %"
        )
    else:
        method = "none"
        needed = 0.0
        reason = (
            f"main rings {100 * sep:.2f} % apart and no marker ring or radius ratio: "
            "no calibration separates them along this zone"
        )
    return Separation(
        a,
        b,
        method,
        tuple(int(i) for i in ma),
        tuple(int(i) for i in mb),
        float(sep),
        float(ratio_diff),
        float(needed),
        bool(mixable),
        reason,
    )


def separations(
    names: Sequence[str],
    ring_phase: np.ndarray,
    ring_radius_invA: np.ndarray,
    ring_intensity: np.ndarray,
    **kw,
) -> tuple[Separation, ...]:
    """:func:`pair_separation` of every pair, in order (0, 1), (0, 2), ..., (1, 2), ..."""
    n = len(names)
    return tuple(
        pair_separation(names, ring_phase, ring_radius_invA, ring_intensity, a, b, **kw)
        for a in range(n)
        for b in range(a + 1, n)
    )
