"""The error a serving client raises when TF Serving cannot give a complete answer."""

from __future__ import annotations

from stemtf.errors import StemtfError

__all__ = ["ServingError"]


class ServingError(StemtfError):
    """TF Serving is unreachable, answered with an error, or answered incompletely.

    ``str(err)`` is one line naming the server, what failed and, where TF Serving sent one, its
    error message. Bad input (a malformed URL, a batch of the wrong shape, a model name the server
    does not know) raises :class:`stemtf.errors.InputError` instead.
    """
