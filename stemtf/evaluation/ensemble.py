"""Geometric self-ensemble ("RDUNet+"): average a denoiser over the 8 flips/rotations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["self_ensemble"]


def self_ensemble(
    denoise: Callable[[np.ndarray], np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap ``denoise((B, H, W)) -> (B, H, W)``: mean over the dihedral group D4 of the input.

    Each transformed batch is denoised, transformed back and averaged, as in RDUNet+.
    """

    def run(batch: np.ndarray) -> np.ndarray:
        acc = np.zeros(batch.shape, np.float64)
        for flip in (False, True):
            x = batch[:, :, ::-1] if flip else batch
            for k in range(4):
                y = np.rot90(
                    denoise(np.ascontiguousarray(np.rot90(x, k, axes=(1, 2)))), -k, axes=(1, 2)
                )
                acc += y[:, :, ::-1] if flip else y
        return (acc / 8.0).astype(np.float32)

    return run
