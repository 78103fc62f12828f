"""Denoise detector patterns with a model hosted by TF Serving, through its REST API."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.serving.client_base import ServingDenoiser
from stemtf.serving.endpoint import parse_rest_url
from stemtf.serving.errors import ServingError
from stemtf.serving.rest_transport import request_json, rest_pool
from stemtf.serving.signature import signatures_from_json

__all__ = ["RestDenoiser"]


log = logging.getLogger(__name__)
_FORMATS = ("columnar", "row")
_MAX_EXACT_INT = 2**24  # float32 holds every integer up to this exactly


def _json_tensor(part: np.ndarray) -> list:
    """Nested lists for JSON; whole-number counts as ints (exact, 3x faster and shorter)."""
    if part.size and np.all(np.abs(part) < _MAX_EXACT_INT) and np.array_equal(part, np.rint(part)):
        return part.astype(np.int64).tolist()
    return part.tolist()


class RestDenoiser(ServingDenoiser):
    """A stemtf Denoiser backed by TF Serving's REST predict API.

    ``denoiser(batch)`` sends float32 ``(B, H, W)`` counts in batches of ``batch_size`` to
    ``POST {url}:predict`` and returns the denoised ``(B, H, W)`` counts, or raises: a result is
    returned only when every pattern came back.

    Parameters
    ----------
    url
        ``http(s)://HOST:8501/v1/models/NAME`` (optionally ``/versions/N`` or ``/labels/L``).
    batch_size
        Patterns per request.
    timeout_s
        Socket timeout per request [s].
    retries
        Extra attempts after a transient failure (connection refused or reset, timeout,
        broken body, HTTP 408/429/502/503/504), by urllib3's ``Retry`` policy
        (:func:`stemtf.serving.rest_transport.retry_policy`).
    backoff_s
        urllib3's back-off factor [s]: the first retry is at once, then the waits are
        ``2 * backoff_s``, ``4 * backoff_s``, ... (at most 30 s).
    signature
        Signature to call.
    input_name, output_name
        Signature input to feed and output to read; ``None`` takes the only one.
    request_format
        ``"columnar"`` (``{"inputs": ...}`` -> ``{"outputs": ...}``, compact) or ``"row"``
        (``{"instances": [...]}`` -> ``{"predictions": [...]}``).
    check_metadata
        Read ``GET {url}/metadata`` now and check the signature (one float input of shape
        ``(B, H, W)`` or ``(B, H, W, 1)``). Without it the input is assumed ``(B, H, W)``.

    Raises
    ------
    InputError
        Malformed URL or settings, unknown model (404), a signature that does not take
        detector counts, or a batch the server rejects (400).
    ServingError
        Server unreachable after the retries, server errors, incomplete or malformed answers.
    """

    kind = "rest"

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 16,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        signature: str = "serving_default",
        input_name: str | None = None,
        output_name: str | None = None,
        request_format: str = "columnar",
        check_metadata: bool = True,
    ) -> None:
        self.endpoint = parse_rest_url(url)
        if request_format not in _FORMATS:
            raise InputError(
                f"request_format={request_format!r} is not allowed: use one of {', '.join(_FORMATS)}"
            )
        self.request_format = request_format
        self.where = f"model {self.endpoint.name!r} at {self.endpoint.model_url}"
        self._configure(
            self.endpoint.model_url,
            name=self.endpoint.name,
            version=self.endpoint.version,
            batch_size=batch_size,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            signature=signature,
            input_name=input_name,
            output_name=output_name,
        )
        self._pool = rest_pool(self.retries, self.backoff_s)
        if check_metadata:
            self._check_metadata()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the connection pool (for dask workers); it is rebuilt on unpickling."""
        return {k: v for k, v in self.__dict__.items() if k != "_pool"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pool = rest_pool(self.retries, self.backoff_s)

    def __repr__(self) -> str:
        return f"RestDenoiser({self.endpoint.model_url!r}, batch_size={self.batch_size})"

    def _request(self, method: str, url: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return request_json(
            self._pool,
            method,
            url,
            payload,
            timeout_s=self.timeout_s,
            model=f"TF Serving {self.where}",
            retries=self.retries,
        )

    def _check_metadata(self) -> None:
        body = self._request("GET", self.endpoint.metadata_url, None)
        spec = body.get("model_spec")
        version = spec.get("version") if isinstance(spec, dict) else None
        try:
            signatures = signatures_from_json(body["metadata"]["signature_def"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ServingError(
                f"{self.where}: metadata answer has no metadata.signature_def map"
            ) from None
        self._adopt(signatures, str(version) if version is not None else None)

    def _payload(self, part: np.ndarray) -> dict[str, Any]:
        tensor = _json_tensor(part)
        payload: dict[str, Any] = {"signature_name": self.signature}
        if self.request_format == "row":
            payload["instances"] = tensor
        elif self.input_name is not None:
            payload["inputs"] = {self.input_name: tensor}
        else:
            payload["inputs"] = tensor
        return payload

    def _pick_output(self, body: dict[str, Any]) -> Any:
        key = "predictions" if self.request_format == "row" else "outputs"
        if key not in body:
            raise ServingError(f"{self.where}: answer has no {key!r} key (keys: {sorted(body)})")
        value = body[key]
        if self.request_format == "columnar" and isinstance(value, dict):
            return self._named(value)
        if (
            self.request_format == "row"
            and isinstance(value, list)
            and value
            and all(isinstance(v, dict) for v in value)
        ):
            return [self._named(v) for v in value]
        return value

    def _named(self, outputs: dict[str, Any]) -> Any:
        name = self.output_name
        if name is None:
            if len(outputs) != 1:
                raise ServingError(
                    f"{self.where}: answer has outputs [{', '.join(sorted(outputs))}]; pass "
                    "output_name"
                )
            name = next(iter(outputs))
        if name not in outputs:
            raise ServingError(f"{self.where}: answer lacks output {name!r}")
        return outputs[name]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Denoise float32 ``(B, H, W)`` counts; returns float32 ``(B, H, W)``."""
        return self._denoise(
            batch,
            lambda part: self._pick_output(
                self._request("POST", self.endpoint.predict_url, self._payload(part))
            ),
        )
