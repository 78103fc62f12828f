"""The clean/noisy diffraction dataset: specs, the tfds builder, card and ``load``.

Importing this package is cheap; TensorFlow and tfds are imported by :func:`load` and by
:mod:`stemtf.data.builder` only.
"""

from __future__ import annotations

from stemtf.data.loader import load
from stemtf.data.specs import SPECS, DatasetSpec, get_spec

__all__ = ["load", "DatasetSpec", "SPECS", "get_spec"]
