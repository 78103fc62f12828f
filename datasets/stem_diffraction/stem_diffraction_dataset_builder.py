"""stem_diffraction dataset: clean/noisy 4D-STEM diffraction pairs (tfds folder layout).

The builder lives in the installed package (:mod:`stemtf.data.builder`) so that
``stemtf build-dataset`` and ``stemtf.data.load`` use it without this folder; this module
exposes it to the tfds CLI::

    tfds build datasets/stem_diffraction --config small --manual_dir SHARDS --data_dir DIR
"""

from __future__ import annotations

from stemtf.data.builder import StemDiffraction


class Builder(StemDiffraction, skip_registration=True):
    """DatasetBuilder for stem_diffraction (the same builder as ``stemtf.data.builder``)."""

    name = "stem_diffraction"
