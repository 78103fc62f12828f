"""A label-free check of a denoiser on the user's own scan (binomial thinning, Poisson deviance).

If a pixel's count ``N`` is Poisson(λ), keeping each electron with probability ``p`` gives two
independent counts ``A ~ Poisson(pλ)`` and ``B = N - A ~ Poisson((1-p)λ)`` of the same
pattern (Noise2Self / "data fission"). A method that denoises ``A`` well predicts ``B``:
its score is the mean Poisson deviance of ``B`` against ``f(A)·(1-p)/p``, lower is better.
Scored side by side on a seeded sample of the scan's patterns:

* ``raw``: ``f`` = identity (what the pipeline gets without denoising);
* ``classical``: isolated hot pixels replaced by the 3x3 median, then a Gaussian of
  ``σ = 0.45 × disk radius`` (the spot finder's own scale; 0.7-4 px);
* ``model``: the denoiser as ``analyze`` would run it (frame, resampling, count rescale).

Only the annulus where the phase rings lie is scored (:func:`ring_annulus`, when the geometry
is known): the science is there, not in the central beam or the far background. The model
wins when it beats raw and the classical filter by :data:`WIN_Z` paired standard errors over
the patterns. Detector defects are not Poisson: a hot pixel is hot in both halves, so pixels
that stand out as isolated spikes of their pattern (:func:`hot_pixel_mask`) are left out of
every score.
:func:`choose_denoiser` turns the scores into ``--denoise auto``'s decision. ``auto`` also
keeps the raw counts when the scan's dose lies outside the dose range the model was trained on
(its card's domain, within a factor 2): there the deviance, dominated by the diffuse background
of the annulus, was measured to favour a model that erases the weak spots the phase map needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemtf.denoise.base import IdentityDenoiser, check_batch
from stemtf.denoise.frame import counts_per_pattern, hot_pixel_mask
from stemtf.errors import InputError, check_range

__all__ = [
    "SelfCheck",
    "self_check",
    "choose_denoiser",
    "denoiser_for_scan",
    "resume_key",
    "poisson_deviance",
    "thin",
    "hot_pixel_mask",
    "classical_filter",
    "SELF_CHECK_DPS",
    "THIN_P",
]

log = logging.getLogger(__name__)

#: Patterns of the sample used for the check.
SELF_CHECK_DPS = 64
#: Thinning probability (the denoised half).
THIN_P = 0.5
#: The model wins when its deviance is below raw's and the classical filter's by at least this
#: many paired standard errors over the patterns (one-sided, ~98 %).
WIN_Z = 2.0
#: Floor of a prediction [counts] (a zero prediction of a non-zero count scores this).
MU_FLOOR = 1e-3


def thin(counts: np.ndarray, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split integer counts into two independent halves by binomial thinning.

    Returns
    -------
    (A, B) : float32 arrays
        ``A ~ Binomial(counts, p)``, ``B = counts - A``.
    """
    check_range("thinning p", p, 0.01, 0.99)
    n = np.rint(np.maximum(np.asarray(counts, np.float64), 0.0)).astype(np.int64)
    a = np.random.default_rng(seed).binomial(n, p)
    return a.astype(np.float32), (n - a).astype(np.float32)


def poisson_deviance(y: np.ndarray, mu: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Poisson deviance per pattern ``2 Σ [y log(y/μ) - (y - μ)]`` (μ floored).

    See :func:`deviance_per_pattern` (this is its mean).
    """
    return float(deviance_per_pattern(y, mu, mask).mean())


def deviance_per_pattern(
    y: np.ndarray, mu: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Poisson deviance of each pattern ``2 Σ [y log(y/μ) - (y - μ)]`` (μ floored), ``(B,)``.

    Parameters
    ----------
    y, mu : ndarray (B, H, W)
        Observed counts and predictions.
    mask : ndarray (B, H, W) or (H, W) of bool, optional
        Pixels scored (default all).
    """
    y = np.asarray(y, np.float64)
    mu = np.maximum(np.asarray(mu, np.float64), MU_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    if mask is not None:
        term = np.where(np.broadcast_to(mask, term.shape), term, 0.0)
    return 2.0 * term.reshape(len(y), -1).sum(axis=1)


def classical_filter(
    batch: np.ndarray, disk_radius_px: float, hot: np.ndarray | None = None
) -> np.ndarray:
    """Hot pixels -> 3x3 median, then a Gaussian of σ = 0.45 r (0.7-4 px), counts kept.

    ``hot`` (B, H, W) bool: pixels to replace (default: :func:`hot_pixel_mask` of ``batch``).
    """
    from scipy.ndimage import gaussian_filter, median_filter

    x = np.array(batch, dtype=np.float32, copy=True)
    hot = hot_pixel_mask(x) if hot is None else hot
    if hot.any():
        med = median_filter(x, size=(1, 3, 3), mode="nearest")
        x[hot] = med[hot]
    sigma = float(np.clip(0.45 * disk_radius_px, 0.7, 4.0))
    return gaussian_filter(x, sigma=(0, sigma, sigma), mode="nearest")


@dataclass(frozen=True)
class SelfCheck:
    """Scores of the self-check (mean Poisson deviance per pattern; lower is better).

    Attributes
    ----------
    deviance : dict
        ``raw``, ``classical`` and ``model`` scores.
    z : dict
        ``raw``, ``classical``: how many standard errors the model's per-pattern deviance lies
        below that method's (paired over the patterns; positive = the model is better).
    model_counts_kept : float
        Total counts of the model's output over its input, on the thinned half, hot pixels
        left out of both (a detector's hot pixels are not electrons: a saturated pixel would
        otherwise make a count-keeping model look as if it dropped most of the counts).
    patterns, p, seed, masked_pixels : int, float, int, int
        What was scored.
    integer_counts : bool
        The data hold integer counts (binomial thinning is exact only then).
    """

    deviance: dict[str, float]
    z: dict[str, float]
    model_counts_kept: float
    patterns: int
    p: float
    seed: int
    masked_pixels: int
    integer_counts: bool

    @property
    def winner(self) -> str:
        """The method with the lowest mean deviance."""
        return min(self.deviance, key=self.deviance.get)

    @property
    def model_wins(self) -> bool:
        """Whether the model beats raw and the classical filter.

        By at least :data:`WIN_Z` paired standard errors each (a tie within the sampling noise
        is no win).
        """
        return min(self.z.values()) >= WIN_Z

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable verdict (``summary.json``'s ``denoiser.self_check``)."""
        return {
            "method": "binomial thinning, Poisson deviance of the other half",
            "deviance_per_dp": {k: round(v, 4) for k, v in self.deviance.items()},
            "winner": self.winner,
            "model_better_by_std_errors": {k: round(v, 2) for k, v in self.z.items()},
            "model_wins": self.model_wins,
            "model_counts_kept": round(self.model_counts_kept, 4),
            "patterns": self.patterns,
            "thin_p": self.p,
            "seed": self.seed,
            "masked_hot_pixels": self.masked_pixels,
            "integer_counts": self.integer_counts,
        }


def self_check(
    denoiser: Any,
    sample: np.ndarray,
    disk_radius_px: float,
    *,
    seed: int = 0,
    p: float = THIN_P,
    n_dps: int = SELF_CHECK_DPS,
    region: np.ndarray | None = None,
) -> SelfCheck:
    """Score ``denoiser`` against raw and the classical filter on the scan's own patterns.

    Parameters
    ----------
    denoiser : Denoiser
        Run on the thinned half exactly as on the scan.
    sample : ndarray (K, H, W)
        Raw patterns of the scan (counts).
    disk_radius_px : float
        Disk radius of the data [px] (sets the classical filter).
    seed : int
        Seeds the thinning.
    p : float
        Share of the counts in the denoised half.
    n_dps : int
        At most this many patterns of ``sample`` are used (the first ones; the sample is
        already a seeded spread over the scan).
    region : ndarray (H, W) of bool, optional
        Pixels scored (e.g. the annulus of the phase rings); default all.
    """
    raw = check_batch(sample, "self-check sample")
    if len(raw) == 0:
        raise InputError("self-check: the sample holds no patterns")
    raw = raw[:n_dps]
    integer = bool(np.all(np.abs(raw - np.rint(raw)) < 1e-3))
    hot = hot_pixel_mask(raw)
    keep = ~hot if region is None else (~hot & np.asarray(region, bool)[None])
    a, b = thin(raw, p, seed)
    scale = (1.0 - p) / p
    den = np.maximum(np.asarray(denoiser(a), np.float64), 0.0)
    preds = {"raw": a, "classical": classical_filter(a, disk_radius_px), "model": den}
    per = {k: deviance_per_pattern(b, v * scale, keep) for k, v in preds.items()}
    deviance = {k: float(v.mean()) for k, v in per.items()}
    z = {}
    for k in ("raw", "classical"):
        diff = per[k] - per["model"]
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        zk = diff.mean() / se if se > 0 else (99.0 if diff.mean() > 0 else -99.0)
        z[k] = float(np.clip(zk, -99.0, 99.0))
    cold = ~hot
    kept = float(den[cold].sum(dtype=np.float64) / max(float(a[cold].sum(dtype=np.float64)), 1e-12))
    return SelfCheck(deviance, z, kept, len(raw), float(p), int(seed), int(hot.sum()), integer)


#: Innermost ring the phases are told by [1/Å] (O1 {100}; spinel's {2-20} 0.346 is a confuser
#: the phase identification rejects, so it is inside the annulus too).
INNER_RING_INVA = 0.34


def ring_annulus(geometry: Any) -> np.ndarray:
    """``(H, W)`` bool: the annulus about the detector centre where the phase rings lie.

    With the phase identification's own margins: ±12 % radius, 2 disk radii + 2 px, 6 px
    descan.
    """
    from stemtf.denoise.frame import DESCAN_MARGIN_PX, OUTER_RING_INVA, RING_MARGIN

    h, w = geometry.detector_px
    cy, cx = geometry.center_yx if geometry.center_yx is not None else (h / 2.0, w / 2.0)
    pad = 2.0 * geometry.disk_radius_px + 2.0 + DESCAN_MARGIN_PX
    r_in = max(INNER_RING_INVA * (1 - RING_MARGIN) / geometry.q_sampling_invA - pad, 0.0)
    r_out = OUTER_RING_INVA * (1 + RING_MARGIN) / geometry.q_sampling_invA + pad
    yy, xx = np.mgrid[:h, :w] + 0.5
    r = np.hypot(yy - cy, xx - cx)
    return (r >= r_in) & (r <= r_out)


def choose_denoiser(
    requested: str,
    denoiser: Any,
    sample: np.ndarray,
    geometry: Any,
    *,
    seed: int = 0,
    dose_e: float | None = None,
) -> tuple[Any, list[str]]:
    """Frame ``denoiser`` for this scan, run the self-check and decide; for ``analyze``.

    Parameters
    ----------
    requested : str
        The ``--denoise`` value: ``auto`` lets the self-check decide; a named model is forced
        (the verdict is still recorded and a loss is warned about).
    denoiser : Denoiser
        As loaded by :func:`stemtf.denoise.load`.
    sample : ndarray (K, H, W)
        Raw patterns of the scan.
    geometry : DataGeometry or None
        The scan's detector geometry; None = unknown (no resampling).
    seed : int
        Seeds the thinning.
    dose_e : float, optional
        Mean counts per pattern (for the domain check); default from ``sample``.

    Returns
    -------
    (Denoiser, list of str)
        The denoiser to use on every pattern (with an ``info`` dict holding ``decision``,
        ``self_check`` and ``domain``), and warning lines.
    """
    from stemtf.denoise.domain import (
        ModelDomain,
        disk_in_domain,
        dose_in_domain,
        mismatch_line,
    )
    from stemtf.denoise.frame import Frame, FramedDenoiser

    info = dict(getattr(denoiser, "info", {"kind": "custom", "model": requested}))
    if info.get("kind") == "none" or isinstance(denoiser, IdentityDenoiser):
        return denoiser, []
    if info.get("kind") == "classical":  # named: no model, no domain, no self-check
        return _classical(denoiser, requested, geometry)
    warnings: list[str] = []
    name = "/".join(str(v) for v in (info.get("model"), info.get("version")) if v) or requested
    try:
        domain = ModelDomain.from_card(info.get("card"))
    except InputError as e:
        domain = None
        warnings.append(f"denoiser {name}: {e}; treated as unknown domain")
    sample = check_batch(sample, "self-check sample")
    if dose_e is None:  # hot pixels left out (a few saturated pixels outweigh a low dose)
        dose_e = float(counts_per_pattern(sample).mean())
    if geometry is not None:
        frame = Frame.for_geometry(
            geometry.detector_px,
            geometry.disk_radius_px,
            domain.disk_radius_px if domain else None,
            geometry.q_sampling_invA,
            center_yx=geometry.center_yx,
        )
        line = mismatch_line(name, geometry, domain, dose_e, zoom=frame.zoom[0])
        if line:
            warnings.append(line)
    else:
        h, w = sample.shape[1:]
        frame = Frame((h, w), (0, h, 0, w), (h, w))
        warnings.append(
            f"denoiser {name}: the scan's q-sampling is not known; patterns are "
            f"not resampled and the self-check on this scan decides"
        )
    framed = FramedDenoiser(
        denoiser, frame, disk_radius_px=geometry.disk_radius_px if geometry else 3.0
    )
    auto = str(requested).strip().lower() == "auto"
    if framed.scan_context:
        return _scan_context_decision(
            framed, name, requested, info, warnings, domain, geometry, dose_e
        )
    region = None if geometry is None else ring_annulus(geometry)
    check = self_check(
        framed, sample, geometry.disk_radius_px if geometry else 3.0, seed=seed, region=region
    )
    verdict = check.to_dict()
    d = check.deviance
    numbers = (
        f"Poisson deviance per pattern: model {d['model']:.1f}, classical "
        f"{d['classical']:.1f}, raw {d['raw']:.1f}"
    )
    in_dose = dose_in_domain(domain, dose_e)
    in_disk = disk_in_domain(domain, geometry)
    outside = []  # why auto may not use the model on this scan, whatever the deviance says
    if not in_dose:
        lo, hi = domain.auto_range_e()
        outside.append(
            f"the scan's dose ({dose_e:.3g} e-/DP) is outside the range in which auto uses it "
            f"({lo:.3g}-{hi:.3g} e-/DP: {_range_origin(domain)})"
        )
    if not in_disk:
        lo, hi = domain.auto_disk_radius_invA
        outside.append(
            f"the scan's disk radius ({geometry.disk_radius_invA:.4g} 1/Å: "
            f"{geometry.semiangle_mrad:g} mrad at {geometry.energy_eV / 1e3:g} kV) is outside "
            f"the probes it was trained on ({lo:.4g}-{hi:.4g} 1/Å, from its card)"
        )
    if check.model_wins and not outside:
        decision = "model"
        reason = f"self-check: the denoiser {name} wins on this scan ({numbers})"
    elif check.model_wins and auto:
        # Outside the trained dose range (or probe) the deviance was measured blind to what
        # decides the phase map: the model wins on the diffuse background of the ring annulus
        # while it erases weak O1 {100} spots (bench_denoise, 128 px, 1e2-3e2 e-/DP; and
        # bench_geometry with 2 mrad probes). So auto keeps the raw counts there; naming the
        # model still forces it.
        decision = "none"
        reason = (
            f"self-check: the denoiser {name} wins on this scan ({numbers}), but "
            + " and ".join(outside)
            + "; --denoise auto analyses WITHOUT denoising (name the model to force it)"
        )
        warnings.append(reason)
    elif auto:
        decision = "none"
        reason = (
            f"self-check: the denoiser {name} does not win on this scan ({numbers}); "
            f"--denoise auto analyses WITHOUT denoising"
        )
        warnings.append(reason)
    else:  # named explicitly: forced, with what speaks against it
        decision = "model (forced: named explicitly)"
        reason = (
            f"self-check: the denoiser {name} wins on this scan ({numbers}); used because it "
            f"was named explicitly, although " + " and ".join(outside)
            if check.model_wins
            else f"self-check: the denoiser {name} does not win on this scan ({numbers}); "
            f"used because it was named explicitly"
        )
        warnings.append(reason)
    log.info("%s", reason)
    chosen = _decided(framed, info, requested, decision, reason, verdict, domain, geometry, dose_e)
    return chosen, warnings


def _decided(framed, info, requested, decision, reason, verdict, domain, geometry, dose_e):
    """The denoiser ``decision`` names (the framed model or the identity), its ``info`` filled."""
    extra = {
        "requested": str(requested),
        "decision": decision,
        "decision_reason": reason,
        "self_check": verdict,
        "domain": domain.to_dict() if domain else None,
        "data_geometry": (
            {
                "detector_px": list(geometry.detector_px),
                "q_sampling_invA": geometry.q_sampling_invA,
                "disk_radius_px": round(geometry.disk_radius_px, 3),
            }
            if geometry
            else None
        ),
        "data_dose_e": round(dose_e, 1),
    }
    if decision == "none":
        chosen: Any = IdentityDenoiser()
        chosen.info = {**IdentityDenoiser.info, **extra, "candidate": info, "note": reason}
    else:
        chosen = framed
        chosen.info = {**dict(getattr(framed, "info", info)), **extra}
    return chosen


def _classical(denoiser, requested, geometry):
    """``--denoise classical``: the self-check's classical filter at the scan's disk radius."""
    warnings: list[str] = []
    # a new instance: the loaded one is cached per process and shared between scans
    chosen = denoiser.with_disk_radius(
        geometry.disk_radius_px if geometry is not None else denoiser.disk_radius_px
    )
    if geometry is not None:
        reason = (
            f"classical filter named: hot pixels -> 3x3 median, Gaussian sigma "
            f"{chosen.sigma_px:.2f} px (0.45 x the scan's disk radius {geometry.disk_radius_px:.2f} px)"
        )
    else:
        reason = (
            f"classical filter named: the scan's q-sampling, beam energy or probe semi-angle is "
            f"not known, so its disk radius is taken as {chosen.disk_radius_px:g} px (Gaussian "
            f"sigma {chosen.sigma_px:.2f} px)"
        )
        warnings.append(reason)
    chosen.info = {
        **chosen.info,
        "requested": str(requested),
        "decision": "classical (named explicitly)",
        "decision_reason": reason,
        "self_check": None,
    }
    log.info("%s", reason)
    return chosen, warnings


def _scan_context_decision(framed, name, requested, info, warnings, domain, geometry, dose_e):
    """A scan-context model: used only when named (the self-check does not cover it).

    The self-check thins isolated sample patterns; a scan-context model's output depends on the
    neighbours' counts too, which that check does not split, so its deviance would not be
    measured on independent halves. ``auto`` therefore never uses such a model; naming it
    forces it, with a warning that no self-check backs it.
    """
    auto = str(requested).strip().lower() == "auto"
    verdict = {"skipped": "scan-context model: the self-check covers per-pattern models only"}
    if auto:
        decision = "none"
        reason = (
            f"the denoiser {name} is a scan-context model, which the self-check does not "
            "cover; --denoise auto analyses WITHOUT denoising (name the model to force it)"
        )
    else:
        decision = "model (forced: named explicitly)"
        reason = (
            f"the denoiser {name} is a scan-context model ({framed.scan_context}): used because "
            "it was named explicitly; no self-check backs it on this scan"
        )
    warnings.append(reason)
    log.info("%s", reason)
    chosen = _decided(framed, info, requested, decision, reason, verdict, domain, geometry, dose_e)
    return chosen, warnings


def _range_origin(domain) -> str:
    """Where the dose range in which ``auto`` uses a model comes from (for the warning)."""
    from stemtf.denoise.domain import DOSE_TOLERANCE_FACTOR

    if domain.auto_dose_range_e is not None:
        return "where the model improved the phase map, from its card"
    return f"the trained range, x{DOSE_TOLERANCE_FACTOR:g} tolerance"


def denoiser_for_scan(
    requested: str,
    denoiser: Any,
    sample: np.ndarray,
    detector_px: tuple[int, int],
    metadata: Any,
    *,
    seed: int = 0,
    dose_e: float | None = None,
) -> tuple[Any, list[str]]:
    """:func:`choose_denoiser` for ``analyze``: geometry from the scan's metadata, timed.

    Parameters
    ----------
    metadata : object
        Has ``q_sampling_invA``, ``energy_eV``, ``semiangle_mrad`` (None where unknown).
    dose_e : float, optional
        Mean counts per pattern of ``sample`` where already measured (as :func:`choose_denoiser`).

    Returns
    -------
    (Denoiser, list of str)
        As :func:`choose_denoiser`; warnings are also logged. ``info["self_check"]["seconds"]``
        is the time the check took.
    """
    import time

    from stemtf.denoise.domain import DataGeometry

    t0 = time.perf_counter()
    q, e, a = (
        getattr(metadata, k, None) for k in ("q_sampling_invA", "energy_eV", "semiangle_mrad")
    )
    geometry = DataGeometry(tuple(detector_px), q, e, a) if q and e and a else None
    chosen, warnings = choose_denoiser(
        requested, denoiser, sample, geometry, seed=seed, dose_e=dose_e
    )
    for line in warnings:
        log.warning("%s", line)
    if isinstance(chosen.info.get("self_check"), dict):
        chosen.info["self_check"]["seconds"] = round(time.perf_counter() - t0, 3)
    return chosen, warnings


def resume_key(info: dict[str, Any]) -> dict[str, Any]:
    """The part of a denoiser's ``info`` that decides results (timings and scores left out).

    The self-check's numbers (also quoted in ``decision_reason`` and ``note``) may differ in
    the last digits between runs; the ``decision`` they led to is kept.
    """
    skip = ("self_check", "decision_reason") + (("note",) if "decision" in info else ())
    return {k: v for k, v in info.items() if k not in skip}
