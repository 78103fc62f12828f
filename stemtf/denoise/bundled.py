"""The bundled default denoiser: ``--denoise auto``.

The model shipped with stemtf lives in the repository's ``saved_models/rdunet/<version>/``
(TF Serving layout, written by ``stemtf export``). ``auto`` picks, in order:

1. ``$STEMTF_MODEL_DIR`` if set: a SavedModel folder or a folder of numeric versions (an
   explicit setting that holds no model is an error, not a silent fallback); the value
   ``none`` switches ``auto`` off (no denoising, recorded as such; e.g. for test suites);
2. ``<repository>/saved_models/rdunet`` beside the installed package (editable install),
   highest numeric version.

When neither holds a model (a fresh clone before the model is exported), ``auto`` falls back
to no denoising, logs a warning and records the reason in the denoiser's ``info`` (which
``stemtf analyze`` writes into ``summary.json`` and the provenance of ``results.h5``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemtf.denoise.base import Denoiser, IdentityDenoiser
from stemtf.denoise.savedmodel import find_version_dir
from stemtf.errors import InputError

__all__ = [
    "ENV_VAR",
    "MODEL_NAME",
    "BundledModel",
    "find_bundled_model",
    "load_bundled",
    "package_model_root",
]

log = logging.getLogger(__name__)

#: Environment variable overriding where the bundled model is looked for.
ENV_VAR = "STEMTF_MODEL_DIR"
#: Name of the bundled model under ``saved_models/``.
MODEL_NAME = "rdunet"


@dataclass(frozen=True)
class BundledModel:
    """Where ``--denoise auto`` looked and what it found.

    Attributes
    ----------
    version_dir : Path or None
        The SavedModel folder (``.../rdunet/<version>``), None when there is none.
    searched : Path
        The folder that was searched.
    source : str
        ``"env"`` (from ``$STEMTF_MODEL_DIR``) or ``"package"`` (beside the installed package).
    disabled : bool
        ``$STEMTF_MODEL_DIR=none``: no model wanted.
    """

    version_dir: Path | None
    searched: Path
    source: str
    disabled: bool = False

    @property
    def note(self) -> str | None:
        """Why there is no denoising, or None when a model was found."""
        if self.version_dir is not None:
            return None
        if self.disabled:
            return f"--denoise auto: ${ENV_VAR}=none; analysed WITHOUT denoising"
        return (
            f"--denoise auto: no bundled denoiser in {self.searched} (no saved_model.pb in "
            f"it or in a numeric version folder); analysed WITHOUT denoising. Export one "
            f"with `stemtf export --run RUN --name {MODEL_NAME} --version 1 --out "
            f"saved_models`, set ${ENV_VAR}, or pass --denoise none/PATH/URL"
        )


def package_model_root() -> Path:
    """``<repository>/saved_models/rdunet`` for the installed (editable) stemtf package."""
    import stemtf

    return Path(stemtf.__file__).resolve().parents[1] / "saved_models" / MODEL_NAME


def find_bundled_model() -> BundledModel:
    """Locate the model ``--denoise auto`` uses (see the module docstring).

    Raises
    ------
    InputError
        ``$STEMTF_MODEL_DIR`` is set but holds no SavedModel.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env.lower() == "none":
        return BundledModel(None, Path(env), "env", disabled=True)
    if env:
        folder = Path(env).expanduser()
        found = find_version_dir(folder)
        if found is None:
            raise InputError(
                f"${ENV_VAR}={env!r} holds no SavedModel (no saved_model.pb in it or in a "
                f"numeric version folder); allowed: a folder written by `stemtf export`, or "
                f"unset it to use the bundled saved_models/{MODEL_NAME}"
            )
        return BundledModel(found, folder, "env")
    folder = package_model_root()
    return BundledModel(find_version_dir(folder), folder, "package")


def load_bundled(**kwargs: Any) -> Denoiser:
    """The bundled denoiser, or the identity (with a warning and a note) when there is none.

    Parameters
    ----------
    **kwargs
        Passed to :class:`~stemtf.denoise.savedmodel.SavedModelDenoiser` (e.g. ``batch_size``).

    Returns
    -------
    Denoiser
        Its ``info`` dict has ``requested: "auto"``, ``source`` and, when falling back,
        ``note`` saying why the patterns were not denoised.
    """
    from stemtf.denoise.savedmodel import SavedModelDenoiser

    found = find_bundled_model()
    if found.version_dir is None:
        (log.info if found.disabled else log.warning)("%s", found.note)
        denoiser = IdentityDenoiser()
        denoiser.info = {
            **IdentityDenoiser.info,
            "requested": "auto",
            "source": found.source,
            "searched": str(found.searched),
            "note": found.note,
        }
        return denoiser
    denoiser = SavedModelDenoiser(found.version_dir, **kwargs)
    denoiser.info = {**denoiser.info, "requested": "auto", "source": found.source}
    log.info("--denoise auto: bundled model %s", found.version_dir)
    return denoiser
