"""Run an exported TensorFlow SavedModel (``serving_default`` signature) on batches of patterns.

TensorFlow is imported only when the model is first used, so building the object (and
pickling it to dask workers) is cheap; each process loads the model once.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.denoise.base import check_batch
from stemtf.errors import InputError

__all__ = ["SavedModelDenoiser", "find_version_dir", "resolve_version_dir"]

log = logging.getLogger(__name__)

#: SavedModels loaded in this process: (path, signature) -> (module, fn, input name, rank).
_LOADED: dict[tuple[str, str], tuple[Any, Any, str, int | None]] = {}


def find_version_dir(path: str | os.PathLike) -> Path | None:
    """``path`` itself if it is a SavedModel folder, else its highest numeric version, else None.

    The one "highest SavedModel version" finder of the package (TF Serving layout
    ``saved_models/<name>/<version>/saved_model.pb``).
    """
    p = Path(path)
    if (p / "saved_model.pb").is_file():
        return p
    if not p.is_dir():
        return None
    versions = [
        (int(c.name), c)
        for c in p.iterdir()
        if c.name.isdigit() and (c / "saved_model.pb").is_file()
    ]
    return max(versions)[1] if versions else None


def resolve_version_dir(path: str | os.PathLike) -> Path:
    """The SavedModel folder: ``path`` itself, or its highest numeric version subfolder.

    Accepts ``saved_models/<name>/<version>/`` or ``saved_models/<name>/`` (TF Serving layout).

    Raises
    ------
    InputError
        Neither holds a ``saved_model.pb``.
    """
    found = find_version_dir(path)
    if found is not None:
        return found
    raise InputError(
        f"--denoise {str(path)!r} is not a SavedModel folder (no saved_model.pb in it or in a "
        "numeric version subfolder); allowed: none, a SavedModel folder, "
        "http(s)://HOST:8501/v1/models/NAME or grpc://HOST:8500/NAME"
    )


class SavedModelDenoiser:
    """A Denoiser that calls a SavedModel's ``serving_default`` with float32 ``(B, H, W)`` counts.

    Parameters
    ----------
    path : path-like
        SavedModel folder (``.../<name>/<version>/``) or its parent holding numeric versions.
    batch_size : int
        Patterns per call.
    signature : str
        Signature name.
    pad_multiple : int
        Pad H and W (edge values) up to a multiple of this before the call and crop after, for
        U-Nets that halve the size ``levels`` times; 1 disables.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        batch_size: int = 32,
        signature: str = "serving_default",
        pad_multiple: int = 16,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} is not allowed: it must be >= 1")
        if pad_multiple < 1:
            raise InputError(f"pad_multiple={pad_multiple!r} is not allowed: it must be >= 1")
        self.path = resolve_version_dir(path)
        self.batch_size = int(batch_size)
        self.signature = signature
        self.pad_multiple = int(pad_multiple)
        self.info = {
            "kind": "savedmodel",
            "model": self.path.parent.name if self.path.name.isdigit() else self.path.name,
            "version": self.path.name if self.path.name.isdigit() else None,
            "path": str(self.path.resolve()),
            "card": _model_card(self.path),
        }

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_fn", "_loaded")}

    def _load(self) -> None:
        import tensorflow as tf

        key = (str(self.path.resolve()), self.signature)
        if key in _LOADED:  # one load per process, also for unpickled copies (dask tasks)
            self._loaded, self._fn, self._input_name, self._rank = _LOADED[key]
            return
        try:
            self._loaded = tf.saved_model.load(str(self.path))
        except Exception as e:  # noqa: BLE001 - TF raises many types for a bad folder
            raise InputError(
                f"--denoise {str(self.path)!r}: cannot load the SavedModel ({type(e).__name__}: {' '.join(str(e).split())[:300]})"
            ) from None
        sigs = self._loaded.signatures
        if self.signature not in sigs:
            raise InputError(
                f"--denoise {str(self.path)!r}: no signature {self.signature!r}; "
                f"it has {', '.join(sigs) or 'none'}"
            )
        fn = sigs[self.signature]
        _, kwargs = fn.structured_input_signature
        if len(kwargs) != 1:
            raise InputError(
                f"--denoise {str(self.path)!r}: signature {self.signature!r} takes inputs "
                f"{sorted(kwargs)}; allowed: exactly one float32 (B, H, W) or (B, H, W, 1) input"
            )
        ((self._input_name, spec),) = kwargs.items()
        self._rank = spec.shape.rank
        if self._rank not in (3, 4, None):
            raise InputError(
                f"--denoise {str(self.path)!r}: input {self._input_name!r} has rank {self._rank}; "
                "allowed: (B, H, W) or (B, H, W, 1)"
            )
        self._fn = fn
        _LOADED[key] = (self._loaded, fn, self._input_name, self._rank)

    @property
    def scan_context(self) -> str | None:
        """The scan context the model takes (its card's ``scan_context``), or None."""
        card = self.info.get("card") or {}
        return card.get("scan_context") or (card.get("domain") or {}).get("scan_context")

    def __call__(self, batch: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Run the signature on a ``(B, H, W)`` batch of counts; same shape out.

        A scan-context model (:attr:`scan_context`) also needs ``context``: the ``(B, H, W)``
        mean counts of each pattern's neighbouring probe positions (same frame); it is given to
        the model as a second channel.
        """
        import tensorflow as tf

        arr = check_batch(batch)
        if self.scan_context and context is None:
            raise InputError(
                f"--denoise {str(self.path)!r} is a scan-context model ({self.scan_context}): "
                "it needs each pattern's neighbours (use it through stemtf analyze)"
            )
        channels = [arr]
        if context is not None:
            if not self.scan_context:
                raise InputError(
                    f"--denoise {str(self.path)!r} takes no scan context (its card records none)"
                )
            from stemtf.denoise.context import check_context

            ctx = check_context(context, arr)
            channels.append(ctx)
        if getattr(self, "_fn", None) is None:
            self._load()
        b, h, w = arr.shape
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
            channels = [np.pad(c, pads, mode="edge") for c in channels]
        arr = channels[0]
        out = np.empty_like(arr)
        for start in range(0, b, self.batch_size):
            if len(channels) > 1:
                x = np.stack([c[start : start + self.batch_size] for c in channels], axis=-1)
            else:
                x = arr[start : start + self.batch_size]
                if self._rank == 4:
                    x = x[..., None]
            result = self._fn(**{self._input_name: tf.constant(x)})
            y = next(iter(result.values())) if isinstance(result, dict) else result
            y = np.asarray(y, dtype=np.float32)
            if y.ndim == 4 and y.shape[-1] == 1:
                y = y[..., 0]
            if y.shape != x.shape[:3]:
                raise InputError(
                    f"--denoise {str(self.path)!r}: output shape {y.shape} differs from input {x.shape[:3]}"
                )
            out[start : start + len(y)] = y
        if ph or pw:
            out = out[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return np.ascontiguousarray(out)

    def __repr__(self) -> str:
        return f"SavedModelDenoiser({str(self.path)!r})"


def _model_card(version_dir: Path) -> dict[str, Any] | None:
    """The model card JSON beside the SavedModel (in it or its parent), if any."""
    for folder in (version_dir, version_dir.parent):
        for card in sorted(folder.glob("*card*.json")):
            try:
                return json.loads(card.read_text())
            except (OSError, ValueError):
                log.warning("model card %s is not readable JSON; ignored", card)
    return None
