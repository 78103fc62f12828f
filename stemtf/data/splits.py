"""Assign materials to train/validation/test: by material, never one structure in two splits."""

from __future__ import annotations

import numpy as np

__all__ = ["SPLITS", "SPLIT_CODES", "assign_splits"]

SPLITS = ("train", "validation", "test")
SPLIT_CODES = {name: i for i, name in enumerate(SPLITS)}
_SPLIT_STREAM = 0x5B117  # separates the split draw from the per-example noise streams


def assign_splits(
    material_ids: list[str],
    *,
    seed: int,
    validation_fraction: float,
    test_fraction: float,
    holdout_prefixes: tuple[str, ...] = (),
) -> dict[str, str]:
    """Map every material id to one split.

    Ids starting with a ``holdout_prefixes`` entry go to ``test``. The others are sorted,
    permuted with ``seed`` and cut: ``max(1, round(fraction * n))`` materials each to
    validation and test (when there are at least three; fewer all go to train), the rest
    to train. The result depends only on the set of ids and the seed.
    """
    ids = sorted(set(material_ids))
    out = {m: "test" for m in ids if m.startswith(tuple(holdout_prefixes)) and holdout_prefixes}
    rest = [m for m in ids if m not in out]
    order = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAM])).permutation(
        len(rest)
    )
    rest = [rest[i] for i in order]
    n_val = n_test = 0
    if len(rest) >= 3:
        n_val = max(1, round(validation_fraction * len(rest))) if validation_fraction > 0 else 0
        n_test = max(1, round(test_fraction * len(rest))) if test_fraction > 0 else 0
    for i, m in enumerate(rest):
        out[m] = "validation" if i < n_val else ("test" if i < n_val + n_test else "train")
    return out
