"""What the REST and gRPC denoisers share: settings, the signature check and the batch loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from stemtf.serving.batching import (
    check_batch,
    check_batch_size,
    check_result,
    check_retry_settings,
    chunks,
)
from stemtf.serving.signature import Signature, TensorInfo, denoiser_input, denoiser_output

__all__ = ["ServingDenoiser"]

log = logging.getLogger(__name__)


class ServingDenoiser:
    """Base of the REST and gRPC denoisers (not used on its own).

    See :class:`~stemtf.serving.rest_client.RestDenoiser` and
    :class:`~stemtf.serving.grpc_client.GrpcDenoiser`.

    Subclasses call :meth:`_configure` from ``__init__``, :meth:`_adopt` with the signatures
    the server reports, and :meth:`_denoise` with a function sending one batch.
    """

    kind = ""
    where = ""

    def _configure(
        self,
        url: str,
        *,
        name: str,
        version: int | None,
        batch_size: int,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        signature: str,
        input_name: str | None,
        output_name: str | None,
    ) -> None:
        self.batch_size = check_batch_size(batch_size)
        check_retry_settings(retries, backoff_s, timeout_s)
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.signature = signature
        self.input: TensorInfo | None = None
        self.input_name = input_name
        self.output_name = output_name
        self.info: dict[str, Any] = {
            "kind": self.kind,
            "model": name,
            "version": None if version is None else str(version),
            "url": url,
        }

    def _adopt(self, signatures: dict[str, Signature], version: str | None) -> None:
        """Check the served signature against the denoiser contract and remember its names."""
        self.input = denoiser_input(signatures, self.signature, self.input_name, self.where)
        self.input_name = self.input.key
        self.output_name = denoiser_output(signatures, self.signature, self.output_name, self.where)
        if version:
            self.info["version"] = str(version)
        log.info(
            "%s: version %s, signature %s, input %s of shape %s",
            self.where,
            self.info["version"],
            self.signature,
            self.input.key,
            self.input.shape,
        )

    @property
    def _rank4(self) -> bool:
        shape = None if self.input is None else self.input.shape
        return shape is not None and len(shape) == 4

    def _denoise(self, batch: np.ndarray, send: Callable[[np.ndarray], Any]) -> np.ndarray:
        """Check ``batch``, send it in chunks and return the answers as one array.

        ``send(chunk)`` returns the answer tensor; the result is float32 ``(B, H, W)``, each
        answer checked to be complete.
        """
        shape = None if self.input is None else self.input.shape
        fixed_hw = (-1, -1) if shape is None else (shape[1], shape[2])
        arr = check_batch(batch, fixed_hw, self.where)
        out = np.empty_like(arr)
        for start, part in chunks(arr, self.batch_size):
            sent = part[..., np.newaxis] if self._rank4 else part
            out[start : start + part.shape[0]] = check_result(send(sent), part, self.where)
            log.debug("%s: patterns %d-%d denoised", self.where, start, start + part.shape[0])
        return out
