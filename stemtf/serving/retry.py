"""Retry a request with exponential back-off when the failure is transient."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from stemtf.errors import InputError, check_positive
from stemtf.serving.errors import ServingError

__all__ = [
    "TransientError",
    "with_retries",
    "backoff_delays_s",
    "check_retry_settings",
    "MAX_DELAY_S",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DELAY_S = 30.0  # no single wait between attempts is longer than this


class TransientError(Exception):
    """A failure worth retrying: connection refused or reset, timeout, 503/504/429."""


def backoff_delays_s(retries: int, backoff_s: float) -> list[float]:
    """Waits before attempts 2, 3, ...: ``backoff_s * 2**k`` capped at :data:`MAX_DELAY_S` [s]."""
    return [min(backoff_s * 2.0**k, MAX_DELAY_S) for k in range(retries)]


def check_retry_settings(retries: int, backoff_s: float, timeout_s: float) -> None:
    """Raise :class:`stemtf.errors.InputError` for a negative retry count or bad durations."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise InputError(f"retries={retries!r} is not allowed: it must be an integer >= 0")
    if not isinstance(backoff_s, (int, float)) or backoff_s < 0:
        raise InputError(f"backoff_s={backoff_s!r} is not allowed: it must be >= 0 s")
    check_positive("timeout_s", timeout_s, "s")


def with_retries(attempt: Callable[[], T], *, retries: int, backoff_s: float, what: str) -> T:
    """Call ``attempt()``; on :class:`TransientError` wait and try again, ``retries`` more times.

    Parameters
    ----------
    attempt
        The request. It raises :class:`TransientError` for failures worth retrying and any
        :class:`stemtf.errors.StemtfError` for final ones (those propagate at once).
    retries
        Extra attempts after the first.
    backoff_s
        First wait [s]; each later wait doubles (capped at :data:`MAX_DELAY_S`).
    what
        Start of the error message, e.g. ``"TF Serving at http://host:8501"``.

    Raises
    ------
    ServingError
        When every attempt failed transiently: one line with the last failure.
    """
    delays = backoff_delays_s(retries, backoff_s)
    k = 0
    while True:
        try:
            return attempt()
        except TransientError as err:
            if k == retries:
                n = retries + 1
                raise ServingError(
                    f"{what}: {err} (gave up after {n} attempt{'s' if n > 1 else ''})"
                ) from None
            log.warning("%s: %s; retrying in %.2g s", what, err, delays[k])
            time.sleep(delays[k])
            k += 1
