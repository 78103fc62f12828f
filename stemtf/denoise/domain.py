"""The domain a denoiser was trained for (from its model card) and the geometry of the data.

A model card (``model_card.json`` beside the SavedModel) records under ``"domain"`` the
detector frame the network learned: q-sampling [1/Å per px], Bragg-disk radius [px], detector
side [px], beam energy and semi-angle, dose range [e-/DP] and the simulated conditions. A card
without it means *unknown domain*: the model is never silently trusted (no resampling, a
warning, and the self-check of :mod:`stemtf.denoise.selfcheck` decides).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from stemtf.errors import InputError, check_positive
from stemtf.physics import disk_radius_invA
from stemtf.physics import disk_radius_px as _disk_radius_px

__all__ = [
    "DataGeometry",
    "ModelDomain",
    "DISK_RADIUS_TOLERANCE",
    "DOSE_TOLERANCE_FACTOR",
    "dose_in_domain",
    "mismatch_line",
]

#: Scan contexts a model may take (None: the pattern alone; see ``ModelDomain.scan_context``).
SCAN_CONTEXTS = (None, "neighbour_mean_8")
#: A data disk radius within this relative distance of the model's counts as in domain.
DISK_RADIUS_TOLERANCE = 0.25
#: Relative tolerance of the q-sampling for "same frame".
Q_SAMPLING_TOLERANCE = 0.05
#: A scan's dose counts as inside a model's trained range within this factor of its ends.
DOSE_TOLERANCE_FACTOR = 2.0


@dataclass(frozen=True)
class DataGeometry:
    """Detector geometry of the user's scan.

    Attributes
    ----------
    detector_px : (int, int)
        Detector shape (H, W) [px].
    q_sampling_invA : float
        Reciprocal pixel size [1/Å per px].
    energy_eV, semiangle_mrad : float
        Beam energy [eV] and convergence semi-angle [mrad].
    center_yx : (float, float) or None
        Beam centre [px]; None = the detector centre.
    """

    detector_px: tuple[int, int]
    q_sampling_invA: float
    energy_eV: float
    semiangle_mrad: float
    center_yx: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.detector_px)
        if h < 1 or w < 1:
            raise InputError(f"detector shape {self.detector_px!r} is not allowed: >= 1 px")
        object.__setattr__(self, "detector_px", (h, w))
        check_positive("q_sampling_invA", self.q_sampling_invA, "1/Å per px")
        check_positive("energy_eV", self.energy_eV, "eV")
        check_positive("semiangle_mrad", self.semiangle_mrad, "mrad")

    @property
    def disk_radius_invA(self) -> float:
        """Bragg-disk radius alpha / lambda [1/Å]."""
        return disk_radius_invA(self.semiangle_mrad, self.energy_eV)

    @property
    def disk_radius_px(self) -> float:
        """Bragg-disk radius alpha / lambda on the detector [px]."""
        return self.disk_radius_invA / self.q_sampling_invA

    def describe(self) -> str:
        """One-line description (q-sampling, disk radius, detector)."""
        h, w = self.detector_px
        return (
            f"q {self.q_sampling_invA:.4g} 1/Å/px, disk radius {self.disk_radius_px:.1f} px, "
            f"{h}x{w} px detector"
        )


@dataclass(frozen=True)
class ModelDomain:
    """What a denoiser was trained on (the ``domain`` record of its model card).

    Attributes
    ----------
    q_sampling_invA : float
        Reciprocal pixel size of the training patterns [1/Å per px].
    disk_radius_px : float
        Bragg-disk radius of the training patterns [px].
    detector_px : int
        Side of the training patterns [px].
    energy_eV, semiangle_mrad : float
        Beam energy [eV] and semi-angle [mrad] of the simulations.
    dose_range_e : (float, float)
        Doses of the training patterns [e-/DP].
    conditions : tuple of str
        Simulated conditions (noise-model components, field conditions).
    auto_dose_range_e : (float, float) or None
        Doses [e-/DP] at which ``--denoise auto`` may use the model, where the phase map was
        measured to gain from it on scenes other than those quoted (e.g. the field benchmark's
        ``tune`` split); None: the trained range within :data:`DOSE_TOLERANCE_FACTOR`.
    auto_disk_radius_invA : (float, float) or None
        Transmitted-disk radii [1/Å] (probe semi-angle / wavelength) at which ``--denoise
        auto`` may use the model: those of the probes it was trained on. The frame resamples
        every pattern to the model's disk radius in px, but the rings then sit at a distance
        (in disk radii) the model never saw where the probe differs; the self-check's deviance
        does not see what that does to the map (``scripts/bench_geometry.py --denoise auto``:
        2 mrad probes at 200 kV lost 0.03-0.05 O1-present F1 with ``rdunet/2``, trained on 1
        and 1.5 mrad). None: no restriction. A probe in this range is also in the model's
        training domain for :func:`mismatch_line` (no "q-sampling" warning), whatever the
        detector's own q-sampling: the frame brings its disks to the model's radius.
    scan_context : str or None
        What the model takes beside each pattern: None (the pattern alone) or
        ``"neighbour_mean_8"`` (a second channel, the mean counts of the 8 neighbouring probe
        positions, :func:`stemtf.denoise.context.neighbour_mean`).
    """

    q_sampling_invA: float
    disk_radius_px: float
    detector_px: int
    energy_eV: float
    semiangle_mrad: float
    dose_range_e: tuple[float, float]
    conditions: tuple[str, ...] = ()
    auto_dose_range_e: tuple[float, float] | None = None
    auto_disk_radius_invA: tuple[float, float] | None = None
    scan_context: str | None = None

    def __post_init__(self) -> None:
        if self.scan_context not in SCAN_CONTEXTS:
            raise InputError(
                f"domain scan_context={self.scan_context!r} is not allowed: one of "
                f"{', '.join(repr(c) for c in SCAN_CONTEXTS)}"
            )
        check_positive("domain q_sampling_invA", self.q_sampling_invA, "1/Å per px")
        check_positive("domain disk_radius_px", self.disk_radius_px, "px")
        check_positive("domain detector_px", self.detector_px, "px")
        for name, unit in (
            ("dose_range_e", "e-/DP"),
            ("auto_dose_range_e", "e-/DP"),
            ("auto_disk_radius_invA", "1/Å"),
        ):
            value = getattr(self, name)
            if value is None:  # only the auto_* ranges are optional
                continue
            try:
                lo, hi = (float(v) for v in value)
                ok = 0 < lo <= hi
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"domain {name}={value!r} is not allowed: 0 < low <= high {unit}")
            object.__setattr__(self, name, (lo, hi))
        object.__setattr__(self, "conditions", tuple(str(c) for c in self.conditions))

    @classmethod
    def from_spec(
        cls,
        detector_px: int,
        q_sampling_invA: float,
        energy_eV: float,
        semiangle_mrad: float,
        dose_range_e: tuple[float, float],
        conditions: tuple[str, ...] = (),
    ) -> ModelDomain:
        """The domain of a dataset simulated with these settings (disk radius computed)."""
        r = _disk_radius_px(semiangle_mrad, energy_eV, q_sampling_invA)
        return cls(
            float(q_sampling_invA),
            round(float(r), 3),
            int(detector_px),
            float(energy_eV),
            float(semiangle_mrad),
            tuple(dose_range_e),
            tuple(conditions),
        )

    @classmethod
    def from_card(cls, card: dict[str, Any] | None) -> ModelDomain | None:
        """The card's ``domain`` record; None when there is none (unknown domain).

        Raises
        ------
        InputError
            The record is there but malformed.
        """
        rec = (card or {}).get("domain")
        if not rec:
            return None
        try:
            return cls(
                float(rec["q_sampling_invA"]),
                float(rec["disk_radius_px"]),
                int(rec["detector_px"]),
                float(rec["energy_eV"]),
                float(rec["semiangle_mrad"]),
                tuple(rec["dose_range_e"]),
                tuple(rec.get("conditions", ())),
                None if rec.get("auto_dose_range_e") is None else tuple(rec["auto_dose_range_e"]),
                None
                if rec.get("auto_disk_radius_invA") is None
                else tuple(rec["auto_disk_radius_invA"]),
                rec.get("scan_context"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(
                f"model card domain record {rec!r} is malformed ({e}); allowed: "
                "q_sampling_invA, disk_radius_px, detector_px, energy_eV, "
                "semiangle_mrad, dose_range_e [lo, hi], conditions, auto_dose_range_e [lo, hi], "
                "auto_disk_radius_invA [lo, hi], scan_context"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable record (the model card's ``domain``)."""
        d = asdict(self)
        d["dose_range_e"] = list(self.dose_range_e)
        d["conditions"] = list(self.conditions)
        if self.auto_dose_range_e is None:
            d.pop("auto_dose_range_e")
        else:
            d["auto_dose_range_e"] = list(self.auto_dose_range_e)
        if self.auto_disk_radius_invA is None:
            d.pop("auto_disk_radius_invA")
        else:
            d["auto_disk_radius_invA"] = list(self.auto_disk_radius_invA)
        if self.scan_context is None:
            d.pop("scan_context")
        return d

    def auto_range_e(self) -> tuple[float, float]:
        """Doses [e-/DP] at which ``--denoise auto`` may use the model (see the attribute)."""
        if self.auto_dose_range_e is not None:
            return self.auto_dose_range_e
        lo, hi = self.dose_range_e
        return lo / DOSE_TOLERANCE_FACTOR, hi * DOSE_TOLERANCE_FACTOR

    def describe(self) -> str:
        """One-line description (q-sampling, disk radius, detector, probes, doses)."""
        probes = (
            ""
            if self.auto_disk_radius_invA is None
            else (
                f", probes {self.auto_disk_radius_invA[0]:.4g}-"
                f"{self.auto_disk_radius_invA[1]:.4g} 1/Å disk radius"
            )
        )
        return (
            f"q {self.q_sampling_invA:.4g} 1/Å/px, disk radius {self.disk_radius_px:.1f} px, "
            f"{self.detector_px} px detector{probes}, {self.dose_range_e[0]:.0e}-"
            f"{self.dose_range_e[1]:.0e} e-/DP"
        )


def dose_in_domain(domain: ModelDomain | None, dose_e: float | None) -> bool:
    """Whether ``dose_e`` [e-/DP] lies where ``--denoise auto`` may use the model.

    :meth:`ModelDomain.auto_range_e`: the card's ``auto_dose_range_e``, else the trained range
    within a factor :data:`DOSE_TOLERANCE_FACTOR` of its ends; True when either is unknown.
    """
    if domain is None or dose_e is None or not dose_e > 0:
        return True
    lo, hi = domain.auto_range_e()
    return lo <= dose_e <= hi


def disk_in_domain(domain: ModelDomain | None, data: DataGeometry | None) -> bool:
    """Whether the scan's disk radius [1/Å] lies where ``--denoise auto`` may use the model.

    The card's ``auto_disk_radius_invA``; True when it, the domain or the geometry is unknown.
    """
    if domain is None or data is None or domain.auto_disk_radius_invA is None:
        return True
    lo, hi = domain.auto_disk_radius_invA
    return lo <= data.disk_radius_invA <= hi


def mismatch_line(
    name: str,
    data: DataGeometry,
    domain: ModelDomain | None,
    dose_e: float | None = None,
    *,
    zoom: float = 1.0,
) -> str | None:
    """One warning line when the data lie outside the model's domain, else None.

    Parameters
    ----------
    name : str
        The model (shown in the line).
    data : DataGeometry
        The scan's geometry.
    domain : ModelDomain or None
        The model's; None = unknown (always a line).
    dose_e : float, optional
        Mean counts per pattern of the scan [e-/DP].
    zoom : float
        The resampling factor applied to the data before the model (model px per data px).
    """
    if domain is None:
        return (
            f"denoiser {name}: its model card has no domain record (unknown domain: "
            f"training q-sampling and disk radius not known); data {data.describe()}; "
            f"patterns are not resampled and the self-check on this scan decides"
        )
    problems = []
    r_frame = data.disk_radius_px * zoom
    if abs(r_frame / domain.disk_radius_px - 1.0) > DISK_RADIUS_TOLERANCE:
        problems.append("disk radius")
    # In the model's frame every disk has the model's radius in px, so the frame's q-sampling
    # is the probe's disk radius [1/Å] over it: a probe the model was trained on (its card's
    # auto_disk_radius_invA; rdunet/2 saw 128 px at 1 mrad and 256 px at 1.5 mrad through
    # this frame) is in its domain whatever the detector's own q-sampling.
    frame_q_off = abs(data.q_sampling_invA / zoom / domain.q_sampling_invA - 1.0)
    if frame_q_off > Q_SAMPLING_TOLERANCE and not (
        domain.auto_disk_radius_invA is not None and disk_in_domain(domain, data)
    ):
        problems.append("q-sampling")
    if not dose_in_domain(domain, dose_e):
        problems.append("dose")
    if not problems:
        return None
    resampled = (
        ""
        if math.isclose(zoom, 1.0)
        else (
            f"; patterns resampled x{zoom:.3g} to the model's disk radius "
            f"({r_frame:.1f} px in the model's frame)"
        )
    )
    dose = f", {dose_e:.3g} e-/DP" if dose_e is not None else ""
    verdict = (
        "--denoise auto keeps the raw counts (outside the dose range in which auto uses it; "
        "name the model to force it)"
        if "dose" in problems
        else "the self-check on this scan decides"
    )
    return (
        f"denoiser {name} outside its training domain ({', '.join(problems)}): data "
        f"{data.describe()}{dose}; model {domain.describe()}{resampled}; {verdict}"
    )
