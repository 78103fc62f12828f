"""Write a TF Serving ``models.config`` (``ModelServerConfig`` in protobuf text format).

The message is TF Serving's own ``model_server_config_pb2.ModelServerConfig`` printed by
``google.protobuf.text_format`` (needs the optional ``serving`` extra).

TF Serving reads it with ``--model_config_file=/models/models.config``; each ``config`` entry
names a model and the *base path* holding its numbered version folders
(``/models/rdunet/1/saved_model.pb``, ...). By default TF Serving serves the latest version.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from stemtf.errors import InputError
from stemtf.fileio import atomic_path
from stemtf.serving.extra import import_serving_api

__all__ = ["models_config_text", "write_models_config"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def models_config_text(models: Sequence[tuple[str, str]]) -> str:
    """The text of a ``models.config`` serving ``(name, base_path)`` pairs.

    Raises
    ------
    InputError
        An empty list, a repeated or invalid model name (letters, digits, ``.``, ``_``, ``-``;
        it appears in the REST URL ``/v1/models/NAME``), or a base path that is not absolute
        on the server (TF Serving resolves it there, e.g. ``/models/rdunet``).
    StemtfError
        ``tensorflow-serving-api`` (the ``serving`` extra) is not installed.
    """
    from google.protobuf import text_format

    if not models:
        raise InputError("models.config needs at least one (name, base_path) model")
    names = [name for name, _ in models]
    config = import_serving_api("writing models.config").model_server_config_pb2.ModelServerConfig()
    for name, base_path in models:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InputError(
                f"model name {name!r} is not allowed: use letters, digits, '.', '_' or '-'"
            )
        if names.count(name) > 1:
            raise InputError(f"model name {name!r} appears twice in models.config")
        if not PurePosixPath(str(base_path)).is_absolute() and "://" not in str(base_path):
            raise InputError(
                f"base_path={str(base_path)!r} for model {name!r} is not allowed: give the "
                "absolute path on the server (e.g. /models/rdunet) or a storage URL (gs://...)"
            )
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = str(base_path)
        entry.model_platform = "tensorflow"
    return text_format.MessageToString(config)


def write_models_config(path: str | os.PathLike, name: str, base_path: str | os.PathLike) -> Path:
    """Write a ``models.config`` serving model ``name`` from ``base_path`` (atomic write).

    Parameters
    ----------
    path
        File to write (conventionally ``models.config``).
    name
        Model name clients use: ``http://HOST:8501/v1/models/<name>``.
    base_path
        Absolute folder on the server holding the numbered versions, e.g. ``/models/rdunet``.

    Returns
    -------
    Path
        ``path``.
    """
    text = models_config_text([(name, str(base_path))])
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
