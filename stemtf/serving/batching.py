"""Checks and splitting shared by the REST and gRPC denoiser clients."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stemtf.errors import InputError, check_positive
from stemtf.serving.errors import ServingError

__all__ = ["check_batch", "chunks", "check_result", "check_batch_size", "check_retry_settings"]


def check_retry_settings(retries: int, backoff_s: float, timeout_s: float) -> None:
    """Raise :class:`InputError` for a negative retry count or bad durations [s]."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise InputError(f"retries={retries!r} is not allowed: it must be an integer >= 0")
    if not isinstance(backoff_s, (int, float)) or backoff_s < 0:
        raise InputError(f"backoff_s={backoff_s!r} is not allowed: it must be >= 0 s")
    check_positive("timeout_s", timeout_s, "s")


def check_batch_size(batch_size: int) -> int:
    """Return ``batch_size`` if it is an integer >= 1, else raise :class:`InputError`."""
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise InputError(f"batch_size={batch_size!r} is not allowed: it must be an integer >= 1")
    return int(batch_size)


def check_batch(batch: np.ndarray, fixed_hw: tuple[int, int], where: str) -> np.ndarray:
    """``batch`` as float32 ``(B, H, W)``; raise :class:`InputError` for other shapes.

    ``fixed_hw`` holds the signature's fixed detector size, ``-1`` where any size is allowed.
    """
    arr = np.asarray(batch)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(
            f"batch of shape {arr.shape} and dtype {arr.dtype} is not allowed for {where}: "
            "give float32 (B, H, W) detector counts"
        )
    for axis, (have, want) in enumerate(zip(arr.shape[1:], fixed_hw, strict=True)):
        if want != -1 and have != want:
            raise InputError(
                f"batch of shape {arr.shape} does not fit {where}: axis {axis + 1} must be {want}"
            )
    return arr.astype(np.float32, copy=False)


def chunks(batch: np.ndarray, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, batch[start:start + batch_size])`` over the first axis."""
    for start in range(0, batch.shape[0], batch_size):
        yield start, batch[start : start + batch_size]


def check_result(value: object, sent: np.ndarray, where: str) -> np.ndarray:
    """The server's answer for ``sent`` as float32 of the same ``(b, H, W)`` shape.

    A trailing channel axis of 1 is dropped. Anything else (fewer or more patterns than were
    sent, ragged lists, another detector size, non-numbers) raises :class:`ServingError`, so a
    partial answer is never taken for a complete one.
    """
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise ServingError(
            f"{where}: malformed answer (not a regular numeric array) for a batch of "
            f"{sent.shape[0]}"
        ) from None
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim >= 1 and arr.shape[0] != sent.shape[0]:
        raise ServingError(
            f"{where}: incomplete answer: {arr.shape[0]} patterns returned for {sent.shape[0]} sent"
        )
    if arr.shape != sent.shape:
        raise ServingError(
            f"{where}: answer of shape {arr.shape} does not match the batch sent {sent.shape}"
        )
    return arr
