"""On-the-fly re-noising: draw fresh detector noise for a stored target (same maths as the builder).

A stored ``clean`` target already carries its geometry, spot dimming and beam stop, so
re-noising renormalises it to sum 1 and applies :func:`stemtf.noise.apply` with those three
switched off: a new dose, background, blur, gain, shot noise and detector artefacts.
"""

from __future__ import annotations

import numpy as np

from stemtf.noise import NoiseConfig
from stemtf.noise import apply as apply_noise

__all__ = ["renoise_config", "renoise_pair"]


def renoise_config(base: NoiseConfig) -> NoiseConfig:
    """``base`` without the components that a stored target already carries."""
    return base.replace(geometry=False, spot_dimming=False, beam_stop=False)


def renoise_pair(
    target: np.ndarray, seed: int, config: NoiseConfig, q_sampling_invA: float
) -> tuple[np.ndarray, np.ndarray]:
    """A new (noisy, target) pair, float32 counts, from a stored counts-scale ``target`` (H, W).

    Deterministic in ``seed``. A target with no counts (all blocked) is returned unchanged
    with an all-zero noisy frame.
    """
    t = np.asarray(target, dtype=np.float64)
    total = t.sum()
    if total <= 0:
        return np.zeros_like(t, dtype=np.float32), t.astype(np.float32)
    res = apply_noise(
        t / total,
        config,
        np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF),
        q_sampling_invA=q_sampling_invA,
    )
    return res.noisy, res.target
