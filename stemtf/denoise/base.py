"""The denoiser interface: any callable mapping a float32 batch of counts to a same-shape batch."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from stemtf.errors import InputError

__all__ = ["Denoiser", "IdentityDenoiser", "check_batch"]


@runtime_checkable
class Denoiser(Protocol):
    """``denoiser(batch)``: float32 ``(B, H, W)`` detector counts -> ``(B, H, W)`` denoised counts."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Denoise a ``(B, H, W)`` float32 batch of counts."""
        ...


def check_batch(batch: np.ndarray, where: str = "denoiser input") -> np.ndarray:
    """Return ``batch`` as float32 ``(B, H, W)``; raise InputError for another rank."""
    arr = np.asarray(batch, dtype=np.float32)
    if arr.ndim != 3:
        raise InputError(f"{where}: batch of shape {arr.shape} is not allowed: expected (B, H, W)")
    return arr


class IdentityDenoiser:
    """``--denoise none``: patterns pass through unchanged (as float32)."""

    info: dict[str, Any] = {"kind": "none", "model": "none", "version": None}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The batch unchanged (as float32)."""
        return check_batch(batch)

    def __repr__(self) -> str:
        return "IdentityDenoiser()"
