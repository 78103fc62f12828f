"""A small in-process server speaking TF Serving's REST API over a real SavedModel.

It answers what TF Serving's REST API documents (model status ``GET /v1/models/NAME``,
``GET .../metadata``, ``POST ...:predict`` in row (``instances`` -> ``predictions``) and
columnar (``inputs`` -> ``outputs``) format, errors as ``{"error": "..."}`` with TF Serving's
HTTP codes), executing the model with :class:`~tfs_double.runner.SavedModelRunner`. It is
for tests and local trials where no ``tensorflow_model_server`` binary exists; it binds
127.0.0.1 and serves one model.

``answer_hook(method, path, status, body) -> (status, body[, content_length])`` lets a test
alter answers (cut a body short, drop predictions, delay) to check how clients cope with faulty
servers.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from tfs_double.runner import SavedModelRunner, ServingStatus

__all__ = ["LocalRestServer", "HTTP_STATUS", "AnswerHook"]

log = logging.getLogger(__name__)
# (method, path, status, body) -> (status, body) or (status, body, declared Content-Length)
AnswerHook = Callable[[str, str, int, bytes], tuple]
# TF Serving's mapping of status codes to HTTP (model_servers/http_server.cc)
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
_SPEC = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_POST = re.compile(_SPEC + r":(?P<method>classify|regress|predict)", re.IGNORECASE)
_GET = re.compile(_SPEC + r"(?P<metadata>/metadata)?", re.IGNORECASE)


def _rows_to_columns(instances: list[Any], wanted: dict[str, Any]) -> dict[str, Any]:
    if len(wanted) == 1 and not (instances and all(isinstance(r, dict) for r in instances)):
        return {next(iter(wanted)): instances}
    if not all(isinstance(r, dict) and set(r) == set(wanted) for r in instances):
        raise ServingStatus(
            "INVALID_ARGUMENT",
            f"Expecting object with keys {sorted(wanted)} for each instance",
        )
    return {k: [r[k] for r in instances] for k in wanted}


def predict_json(runner: SavedModelRunner, body: bytes) -> dict[str, Any]:
    """Answer a predict request body the way TF Serving's REST API does."""
    try:
        request = json.loads(body)
    except ValueError as err:
        raise ServingStatus("INVALID_ARGUMENT", f"JSON Parse error: {err}") from None
    if not isinstance(request, dict):
        raise ServingStatus("INVALID_ARGUMENT", "JSON Value: request is not an object")
    if ("instances" in request) == ("inputs" in request):
        raise ServingStatus(
            "INVALID_ARGUMENT",
            "Missing 'inputs' or 'instances' key"
            if "inputs" not in request
            else "Not formatted correctly expecting only one of 'inputs' or 'instances' keys",
        )
    signature = request.get("signature_name", "")
    wanted = runner.signature_inputs(signature)
    row = "instances" in request
    if row:
        if not isinstance(request["instances"], list):
            raise ServingStatus("INVALID_ARGUMENT", "Expecting 'instances' to be an list/array")
        inputs = _rows_to_columns(request["instances"], wanted)
    else:
        value = request["inputs"]
        named = isinstance(value, dict) and set(value) <= set(wanted) and value
        inputs = value if named else {next(iter(wanted)): value} if len(wanted) == 1 else value
        if not isinstance(inputs, dict):
            raise ServingStatus("INVALID_ARGUMENT", "Expecting 'inputs' to be an object")
    outputs = runner.predict(signature, inputs)
    if not row:
        if len(outputs) == 1:
            return {"outputs": next(iter(outputs.values())).tolist()}
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values())).tolist()}
    n = {np.shape(v)[0] if np.ndim(v) else -1 for v in outputs.values()}
    if len(n) != 1 or -1 in n:
        raise ServingStatus(
            "INVALID_ARGUMENT",
            "Tensors in output do not share the same 0-th dimension: use the columnar format",
        )
    return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(n.pop())]}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    def _answer(self, status: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        length = len(body)
        hook = self.server.answer_hook
        if hook is not None:
            status, body, *declared = hook(self.command, self.path, status, body)
            length = declared[0] if declared else len(body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client left before the answer to %s %s", self.command, self.path)

    def _handle(self, pattern: re.Pattern, run: Callable[[re.Match], dict[str, Any]]) -> None:
        runner = self.server.runner
        try:
            match = pattern.fullmatch(self.path)
            if match is None:
                raise ServingStatus(
                    "INVALID_ARGUMENT", f"Malformed request: {self.command} {self.path}"
                )
            version = int(match["version"]) if match["version"] else None
            runner.check_spec(match["name"], version, match["label"])
            obj, status = run(match), 200
        except ServingStatus as err:
            obj, status = {"error": err.message}, HTTP_STATUS.get(err.code, 500)
        self._answer(status, obj)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        runner = self.server.runner

        def run(match: re.Match) -> dict[str, Any]:
            if match["metadata"]:
                return runner.metadata()
            ok = {"error_code": "OK", "error_message": ""}
            return {
                "model_version_status": [
                    {"version": str(runner.version), "state": "AVAILABLE", "status": ok}
                ]
            }

        self._handle(_GET, run)

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        runner = self.server.runner

        def run(match: re.Match) -> dict[str, Any]:
            if match["method"].lower() != "predict":
                raise ServingStatus("UNIMPLEMENTED", f"{match['method']} is not served here")
            return predict_json(runner, body)

        self._handle(_POST, run)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    runner: SavedModelRunner
    answer_hook: AnswerHook | None


class LocalRestServer:
    """Serve one SavedModel on ``127.0.0.1`` with TF Serving's REST API, in a thread.

    Parameters
    ----------
    runner
        The model (see :class:`~tfs_double.runner.SavedModelRunner`).
    port
        TCP port; 0 picks a free one.
    answer_hook
        Optional ``(method, path, status, body) -> (status, body)`` applied to every answer.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, runner: SavedModelRunner, *, port: int = 0, answer_hook: AnswerHook | None = None
    ) -> None:
        self.runner = runner
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.runner = runner
        self._server.answer_hook = answer_hook
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1/models/NAME``."""
        return f"http://127.0.0.1:{self.port}/v1/models/{self.runner.name}"

    def set_answer_hook(self, hook: AnswerHook | None) -> None:
        """Replace the answer hook (``None`` answers unchanged)."""
        self._server.answer_hook = hook

    def start(self) -> LocalRestServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalRestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
