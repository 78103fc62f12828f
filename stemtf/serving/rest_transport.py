"""One JSON request to TF Serving's REST API, with its failures sorted into clear errors.

TF Serving answers every REST error with a JSON body ``{"error": "<message>"}`` and an HTTP
status mapped from the gRPC code (``NOT_FOUND`` -> 404, ``INVALID_ARGUMENT`` and
``FAILED_PRECONDITION`` -> 400, ``UNAVAILABLE`` -> 503, ``DEADLINE_EXCEEDED`` -> 504,
``RESOURCE_EXHAUSTED`` -> 429, ``INTERNAL``/``UNKNOWN`` -> 500).
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any

from stemtf.errors import InputError
from stemtf.serving.errors import ServingError
from stemtf.serving.retry import TransientError

__all__ = ["request_json", "one_line", "TRANSIENT_HTTP"]

TRANSIENT_HTTP = frozenset({408, 429, 502, 503, 504})
_MAX_MESSAGE = 300


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace to single spaces and cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_message(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return one_line(body.decode(errors="replace")) or "(empty body)"
    if isinstance(obj, dict) and "error" in obj:
        return one_line(str(obj["error"]))
    return one_line(body.decode(errors="replace"))


def request_json(
    method: str,
    url: str,
    payload: dict[str, Any] | None,
    *,
    timeout_s: float,
    model: str,
) -> dict[str, Any]:
    """Send one request and return the decoded JSON object of a 200 answer.

    Parameters
    ----------
    method
        ``"GET"`` or ``"POST"``.
    url
        Full URL (``.../v1/models/NAME:predict`` or ``.../metadata``).
    payload
        JSON body for POST.
    timeout_s
        Socket timeout for connecting and for each read [s].
    model
        Names the model in messages, e.g. ``"model 'rdunet' at http://host:8501"``.

    Raises
    ------
    TransientError
        Connection refused or reset, timeout, truncated body, HTTP 408/429/502/503/504.
    InputError
        HTTP 404 (no such model or version) or 400 (the request does not fit the signature).
    ServingError
        Any other HTTP error, an unresolvable host, or a body that is not a JSON object.
    """
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        try:
            message = _error_message(err.read())
        except (OSError, http.client.HTTPException):
            message = "(error body unreadable)"
        if err.code in TRANSIENT_HTTP:
            raise TransientError(f"HTTP {err.code}: {message}") from None
        if err.code == 404:
            raise InputError(f"{model}: not found (HTTP 404: {message})") from None
        if err.code == 400:
            raise InputError(f"{model} rejected the request (HTTP 400: {message})") from None
        raise ServingError(f"{model}: server error (HTTP {err.code}: {message})") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, socket.gaierror):
            raise ServingError(f"{model}: cannot resolve the host ({reason})") from None
        if isinstance(reason, TimeoutError):
            raise TransientError(f"no answer within {timeout_s:g} s") from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise TransientError(f"cannot connect ({one_line(text)})") from None
    except TimeoutError:
        raise TransientError(f"no answer within {timeout_s:g} s") from None
    except http.client.IncompleteRead as err:
        raise TransientError(
            f"incomplete response ({len(err.partial)} bytes read, {err.expected} missing)"
        ) from None
    except (ConnectionError, http.client.HTTPException) as err:
        raise TransientError(
            f"connection lost ({one_line(type(err).__name__ + ' ' + str(err))})"
        ) from None
    try:
        obj = json.loads(body)
    except ValueError:
        raise ServingError(
            f"{model}: answer is not JSON ({len(body)} bytes: {one_line(body[:80].decode(errors='replace'))})"
        ) from None
    if not isinstance(obj, dict):
        raise ServingError(f"{model}: answer is a JSON {type(obj).__name__}, not an object")
    return obj
