"""One JSON request to TF Serving's REST API, retried by urllib3's ``Retry`` policy.

TF Serving answers every REST error with a JSON body ``{"error": "<message>"}`` and an HTTP
status mapped from the gRPC code (``NOT_FOUND`` -> 404, ``INVALID_ARGUMENT`` and
``FAILED_PRECONDITION`` -> 400, ``UNAVAILABLE`` -> 503, ``DEADLINE_EXCEEDED`` -> 504,
``RESOURCE_EXHAUSTED`` -> 429, ``INTERNAL``/``UNKNOWN`` -> 500). Connection failures, timeouts,
broken bodies and the transient statuses are retried by the pool's policy
(:func:`retry_policy`); what is left is sorted into :class:`InputError` (the request or the
model name is wrong) and :class:`ServingError` (the server failed).
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)
from urllib3.util.retry import Retry

from stemtf.errors import InputError
from stemtf.serving.errors import ServingError

__all__ = ["request_json", "one_line", "retry_policy", "rest_pool", "TRANSIENT_HTTP", "MAX_DELAY_S"]

#: HTTP statuses worth another attempt: TF Serving's UNAVAILABLE, DEADLINE_EXCEEDED,
#: RESOURCE_EXHAUSTED, and a proxy's 408/502.
TRANSIENT_HTTP = frozenset({408, 429, 502, 503, 504})
#: No single wait between attempts is longer than this [s].
MAX_DELAY_S = 30.0
_MAX_MESSAGE = 300


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace to single spaces and cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def retry_policy(retries: int, backoff_s: float) -> Retry:
    """urllib3's policy for TF Serving requests.

    Up to ``retries`` more attempts after a refused or dropped connection, a timeout, a broken
    body or an HTTP status in :data:`TRANSIENT_HTTP` (honouring ``Retry-After``), for GET and
    POST alike (predict has no side effect). urllib3's back-off: the first retry is at once,
    then it waits ``backoff_s * 2**(n - 1)`` s after the n-th consecutive failure (n >= 2),
    at most :data:`MAX_DELAY_S`.
    """
    return Retry(
        total=retries,
        redirect=0,
        allowed_methods=None,  # retry POST too
        status_forcelist=TRANSIENT_HTTP,
        backoff_factor=backoff_s,
        backoff_max=MAX_DELAY_S,
        raise_on_status=False,  # the last answer comes back: its error message is reported
        respect_retry_after_header=True,
    )


def rest_pool(retries: int, backoff_s: float) -> urllib3.PoolManager:
    """A connection pool whose requests follow :func:`retry_policy`."""
    return urllib3.PoolManager(retries=retry_policy(retries, backoff_s))


def _error_message(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return one_line(body.decode(errors="replace")) or "(empty body)"
    if isinstance(obj, dict) and "error" in obj:
        return one_line(str(obj["error"]))
    return one_line(body.decode(errors="replace"))


def _attempts(n: int) -> str:
    return f"gave up after {n} attempt{'s' if n > 1 else ''}"


def _failure(reason: BaseException | None, timeout_s: float) -> str:
    """What went wrong in a request that got no usable answer, in a few words."""
    text = one_line(str(reason))
    if isinstance(reason, NameResolutionError):
        return f"cannot resolve the host ({text.split(': ', 1)[-1]})"
    if isinstance(reason, NewConnectionError):
        return f"cannot connect ({text.split('new connection: ', 1)[-1]})"
    if isinstance(reason, Urllib3Timeout):
        return f"no answer within {timeout_s:g} s"
    if isinstance(reason, ProtocolError) and "IncompleteRead" in text:
        return f"incomplete response ({text.split('Connection broken: ', 1)[-1]})"
    return f"connection lost ({type(reason).__name__}: {text})"


def request_json(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    payload: dict[str, Any] | None,
    *,
    timeout_s: float,
    model: str,
    retries: int,
) -> dict[str, Any]:
    """Send one request (retried by ``pool``'s policy) and return the JSON object of a 200.

    Parameters
    ----------
    pool : urllib3.PoolManager
        From :func:`rest_pool`.
    method : str
        ``"GET"`` or ``"POST"``.
    url : str
        Full URL (``.../v1/models/NAME:predict`` or ``.../metadata``).
    payload : dict or None
        JSON body for POST.
    timeout_s : float
        Timeout for connecting and for each read [s], per attempt.
    model : str
        Names the model in messages, e.g. ``"model 'rdunet' at http://host:8501"``.
    retries : int
        The retries ``pool``'s policy allows (for the message when all attempts failed).

    Raises
    ------
    InputError
        HTTP 404 (no such model or version) or 400 (the request does not fit the signature).
    ServingError
        No answer after the retries (the last failure and the number of attempts), any other
        HTTP error, or a body that is not a JSON object.
    """
    body = None if payload is None else json.dumps(payload).encode()
    headers = None if body is None else {"Content-Type": "application/json"}
    try:
        response = pool.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        )
    except MaxRetryError as err:
        raise ServingError(
            f"{model}: {_failure(err.reason, timeout_s)} ({_attempts(retries + 1)})"
        ) from None
    if response.status != 200:
        message = _error_message(response.data)
        code = response.status
        if code in TRANSIENT_HTTP:
            n = len(response.retries.history) + 1 if response.retries is not None else 1
            raise ServingError(f"{model}: HTTP {code}: {message} ({_attempts(n)})")
        if code == 404:
            raise InputError(f"{model}: not found (HTTP 404: {message})")
        if code == 400:
            raise InputError(f"{model} rejected the request (HTTP 400: {message})")
        raise ServingError(f"{model}: server error (HTTP {code}: {message})")
    try:
        obj = json.loads(response.data)
    except ValueError:
        head = one_line(response.data[:80].decode(errors="replace"))
        raise ServingError(
            f"{model}: answer is not JSON ({len(response.data)} bytes: {head})"
        ) from None
    if not isinstance(obj, dict):
        raise ServingError(f"{model}: answer is a JSON {type(obj).__name__}, not an object")
    return obj
