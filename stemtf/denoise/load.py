"""``stemtf.denoise.load(spec)``: a denoiser from ``none``, a SavedModel folder or a TF Serving URL."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from stemtf.denoise.base import Denoiser, IdentityDenoiser
from stemtf.denoise.savedmodel import SavedModelDenoiser
from stemtf.errors import InputError

__all__ = ["load", "ALLOWED"]

ALLOWED = (
    "auto, none, classical, a SavedModel folder, http(s)://HOST:8501/v1/models/NAME or "
    "grpc://HOST:8500/NAME"
)


def _serving_class(name: str) -> Any:
    """Helper E's client class, imported lazily; InputError if the serving stage is missing."""
    for module_name in ("stemtf.serving.client", "stemtf.serving"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise InputError(
        f"--denoise: the TF Serving client stemtf.serving.client.{name} is not available in "
        "this installation; use a SavedModel folder or none"
    )


def load(spec: str | Path | None, **kwargs: Any) -> Denoiser:
    """Build the denoiser that ``spec`` names.

    Parameters
    ----------
    spec : str or Path
        ``"none"`` (or None) -> identity; ``"auto"`` -> the bundled model
        (:func:`stemtf.denoise.bundled.load_bundled`; identity with a warning when none is
        installed); ``"classical"`` -> :class:`stemtf.denoise.classical.ClassicalDenoiser`
        (hot-pixel median and a disk-scale Gaussian; ``analyze`` sets the scan's disk radius);
        ``http://``/``https://`` URL -> TF Serving REST
        client; ``grpc://HOST:PORT/NAME`` -> TF Serving gRPC client; otherwise a SavedModel
        folder.
    **kwargs
        Passed to the denoiser class (e.g. ``batch_size``).

    Returns
    -------
    Denoiser
        Callable on float32 ``(B, H, W)`` counts; has an ``info`` dict for provenance.
    """
    if spec is None or str(spec).strip().lower() == "none":
        return IdentityDenoiser()
    text = str(spec).strip()
    low = text.lower()
    if low == "auto":
        from stemtf.denoise.bundled import load_bundled

        return load_bundled(**kwargs)
    if low == "classical":
        from stemtf.denoise.classical import ClassicalDenoiser

        return ClassicalDenoiser()
    if low.startswith(("http://", "https://")):
        denoiser = _serving_class("RestDenoiser")(text, **kwargs)
        kind = "rest"
    elif low.startswith("grpc://"):
        denoiser = _serving_class("GrpcDenoiser")(text, **kwargs)
        kind = "grpc"
    elif "://" in text:
        raise InputError(f"--denoise {text!r}: unknown URL scheme; allowed: {ALLOWED}")
    else:
        if not Path(text).exists():
            raise InputError(f"--denoise {text!r} does not exist; allowed: {ALLOWED}")
        return SavedModelDenoiser(text, **kwargs)
    if not hasattr(denoiser, "info"):
        try:
            denoiser.info = {"kind": kind, "model": text, "version": None}
        except AttributeError:
            pass
    return denoiser
