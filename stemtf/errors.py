"""Exceptions that carry a one-line message meant for the user.

The CLI prints ``error: <message>`` and exits non-zero for any :class:`StemtfError`; library code
raises them for bad input, naming the file or parameter, the value and what is allowed.
"""

from __future__ import annotations

__all__ = ["StemtfError", "InputError", "check_range", "check_positive"]


class StemtfError(Exception):
    """An error the user can act on. ``str(err)`` is one line, complete in itself."""


class InputError(StemtfError, ValueError):
    """Bad input: a parameter value, a file, or data that cannot be used."""


def check_range(name: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """Return ``value`` if ``lo <= value <= hi``, else raise :class:`InputError` naming it."""
    u = f" {unit}" if unit else ""
    try:
        ok = lo <= value <= hi
    except TypeError:
        ok = False
    if not ok:
        raise InputError(f"{name}={value!r} is out of range: allowed {lo}{u} to {hi}{u}")
    return value


def check_positive(name: str, value: float, unit: str = "") -> float:
    """Return ``value`` if it is a number > 0, else raise :class:`InputError` naming it."""
    u = f" {unit}" if unit else ""
    try:
        ok = value > 0
    except TypeError:
        ok = False
    if not ok:
        raise InputError(f"{name}={value!r}{u} is not allowed: it must be > 0")
    return value
