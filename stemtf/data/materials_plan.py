"""Which materials a dataset config simulates (independent of the dataset seed)."""

from __future__ import annotations

import numpy as np

from stemtf.data.specs import DatasetSpec
from stemtf.errors import InputError

__all__ = ["select_materials", "MATERIAL_SAMPLE_SEED"]

# fixed, so every seed of a config shares the same clean shards (the seed changes splits and noise)
MATERIAL_SAMPLE_SEED = 20240611


def select_materials(spec: DatasetSpec, available: list[str]) -> list[str]:
    """``spec.include_materials`` plus a fixed random sample of ``available`` up to ``spec.n_materials``.

    ``available`` is the library's id list (``stemtf.materials.list_materials``); ids are
    sorted first, so the choice depends only on the set of ids.
    """
    pool = sorted(set(available))
    missing = [m for m in spec.include_materials if m not in pool]
    if missing:
        raise InputError(
            f"dataset config {spec.name!r}: materials {missing} are not in the library"
        )
    rest = [m for m in pool if m not in spec.include_materials]
    if spec.n_materials is None:
        return [*spec.include_materials, *rest]
    n_rest = max(0, spec.n_materials - len(spec.include_materials))
    if n_rest > len(rest):
        raise InputError(
            f"dataset config {spec.name!r} needs {spec.n_materials} materials, the library has {len(pool)}"
        )
    rng = np.random.default_rng(MATERIAL_SAMPLE_SEED)
    chosen = sorted(rest[i] for i in rng.choice(len(rest), size=n_rest, replace=False))
    return [*spec.include_materials, *chosen]
