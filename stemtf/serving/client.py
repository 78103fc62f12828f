"""Denoisers backed by TF Serving: :class:`RestDenoiser` (REST) and :class:`GrpcDenoiser`.

Both are stemtf Denoisers: ``denoiser(batch)`` takes float32 ``(B, H, W)`` counts and returns
the denoised ``(B, H, W)`` counts. ``stemtf.denoise.load`` maps
``http(s)://HOST:8501/v1/models/NAME`` to :class:`RestDenoiser` and ``grpc://HOST:8500/NAME``
to :class:`GrpcDenoiser`.
"""

from __future__ import annotations

from stemtf.serving.grpc_client import GrpcDenoiser
from stemtf.serving.rest_client import RestDenoiser

__all__ = ["RestDenoiser", "GrpcDenoiser"]
