"""Pass 1 of a phase analysis: the phase model refined on a sample of the scan.

:meth:`PhaseModel.refine` learns the ring radii, the first phase's precise shared-ring radius
and its scatter from the hexagons of a sample. The precise radius can locate the disks by count
centroids or by a maximum-likelihood disk fit (:mod:`stemtf.phase.ringfit`); which is more
precise depends on the disk size and the background, so the sample decides: the estimator whose
first-phase radii scatter less (the share spread that sets every O1-versus-both decision) is
kept, and the model's history says which and by how much.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from stemtf.phase.calibration import Calibration
from stemtf.phase.model import PhaseModel

__all__ = ["refine_on_sample"]

log = logging.getLogger(__name__)

#: The disk fit replaces the centroids only where it narrows the share spread by this fraction.
ML_MIN_GAIN = 0.1


def refine_on_sample(
    sample: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    *,
    seed: int = 0,
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

    Returns
    -------
    PhaseModel
        The refined model, ``fine_method`` set to the estimator that won on this sample.
    """
    from stemtf.phase.identify import identify_phases

    q = calibration.q_sampling_invA
    first = identify_phases(sample, calibration, model, seed=seed)
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
