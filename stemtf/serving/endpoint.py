"""Parse the TF Serving addresses users give: REST model URLs and ``grpc://`` targets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stemtf.errors import InputError

__all__ = ["RestEndpoint", "GrpcEndpoint", "parse_rest_url", "parse_grpc_url"]

REST_FORM = "http(s)://HOST:PORT/v1/models/NAME[/versions/N|/labels/LABEL]"
GRPC_FORM = "grpc://HOST:PORT/NAME[/versions/N|/labels/LABEL]"
_REST_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
)
_GRPC_PATH = re.compile(
    r"/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
)


@dataclass(frozen=True)
class RestEndpoint:
    """A model on TF Serving's REST API.

    ``model_url`` is ``scheme://host:port/v1/models/NAME[/versions/N|/labels/L]``: TF Serving's
    predict URL is ``model_url + ":predict"`` and its metadata URL ``model_url + "/metadata"``.
    """

    model_url: str
    host: str
    port: int
    name: str
    version: int | None = None
    label: str | None = None

    @property
    def predict_url(self) -> str:
        """``POST`` target of the predict API."""
        return f"{self.model_url}:predict"

    @property
    def metadata_url(self) -> str:
        """``GET`` target of the model metadata API."""
        return f"{self.model_url}/metadata"


@dataclass(frozen=True)
class GrpcEndpoint:
    """A model on TF Serving's gRPC API (``host:port`` target plus the model spec)."""

    target: str
    name: str
    version: int | None = None
    label: str | None = None


def parse_rest_url(url: str) -> RestEndpoint:
    """Parse ``http(s)://HOST:PORT/v1/models/NAME[/versions/N|/labels/L]``.

    A trailing ``/``, ``:predict`` or ``/metadata`` is accepted and dropped. Raises
    :class:`InputError` naming the URL and the allowed form otherwise.
    """
    text = str(url).strip()
    for suffix in (":predict", "/metadata"):
        text = text.removesuffix(suffix)
    text = text.rstrip("/")
    parts = urlsplit(text)
    match = _REST_PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
        raise InputError(f"TF Serving URL {url!r} is not of the form {REST_FORM}")
    if parts.query or parts.fragment:
        raise InputError(f"TF Serving URL {url!r} must not have a query or fragment: {REST_FORM}")
    port = _port(url, parts, default=443 if parts.scheme == "https" else 80)
    version = match["version"]
    return RestEndpoint(
        model_url=text,
        host=parts.hostname,
        port=port,
        name=match["name"],
        version=int(version) if version else None,
        label=match["label"],
    )


def parse_grpc_url(url: str) -> GrpcEndpoint:
    """Parse ``grpc://HOST:PORT/NAME[/versions/N|/labels/L]`` (TF Serving's gRPC port is 8500)."""
    text = str(url).strip().rstrip("/")
    parts = urlsplit(text)
    match = _GRPC_PATH.fullmatch(parts.path)
    if parts.scheme != "grpc" or not parts.hostname or match is None:
        raise InputError(f"TF Serving gRPC address {url!r} is not of the form {GRPC_FORM}")
    port = _port(url, parts, default=8500)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    version = match["version"]
    return GrpcEndpoint(
        target=f"{host}:{port}",
        name=match["name"],
        version=int(version) if version else None,
        label=match["label"],
    )


def _port(url: str, parts, default: int) -> int:
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"TF Serving address {url!r} has an invalid port") from None
    return default if port is None else port
