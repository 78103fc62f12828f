"""Zone axes: low-index [uvw] directions, one per set of symmetry-equivalent directions."""

from __future__ import annotations

import math
from functools import reduce
from itertools import product
from typing import TYPE_CHECKING

import numpy as np

from stemtf.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["zone_axes", "check_zone_axis", "DEFAULT_ZONE_AXES"]

DEFAULT_ZONE_AXES = 60
MAX_INDEX = 8


def check_zone_axis(uvw) -> tuple[int, int, int]:
    """Return ``uvw`` as three ints; raise InputError for [0 0 0] or non-integers."""
    try:
        vals = [float(x) for x in uvw]
    except (TypeError, ValueError):
        raise InputError(f"zone_axis={uvw!r} must be three integers u v w") from None
    if len(vals) != 3 or any(v != int(v) for v in vals):
        raise InputError(f"zone_axis={uvw!r} must be three integers u v w")
    t = tuple(int(v) for v in vals)
    if t == (0, 0, 0):
        raise InputError("zone_axis=[0 0 0] is not a direction: give u v w not all zero")
    return t


def _sort_key(uvw: tuple[int, int, int]) -> tuple:
    a = [abs(x) for x in uvw]
    # index order: largest |component|, then sum of |components|, then prefer positive/first-listed
    return (max(a), sum(a), tuple(-x for x in uvw))


def zone_axes(
    structure: Structure, n: int = DEFAULT_ZONE_AXES, *, max_index: int = MAX_INDEX
) -> list[tuple[int, int, int]]:
    """The first ``n`` low-index zone axes unique under the crystal's point group.

    Directions are in the basis of ``structure``'s lattice (use the conventional standard cell).
    Candidates are primitive (gcd 1) [uvw] with |u|, |v|, |w| <= ``max_index``, ordered by
    index (largest component, then sum of |components|); a direction is dropped when a point-group
    operation maps it onto one already chosen. [uvw] and [-u-v-w] give the same zone-axis
    pattern up to a mirror (Friedel), so they count as one as well.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if n < 1:
        raise InputError(f"zone_axes={n!r} must be >= 1")
    ops = SpacegroupAnalyzer(structure, symprec=0.01).get_point_group_operations(cartesian=False)
    rots = np.array([np.rint(op.rotation_matrix).astype(int) for op in ops])
    cands = [
        c
        for c in product(range(-max_index, max_index + 1), repeat=3)
        if any(c) and reduce(math.gcd, (abs(x) for x in c)) == 1
    ]
    cands.sort(key=_sort_key)
    seen: set[tuple[int, int, int]] = set()
    out: list[tuple[int, int, int]] = []
    for c in cands:
        if c in seen:
            continue
        out.append(c)
        orbit = rots @ np.array(c)
        for v in orbit:
            seen.add(tuple(int(x) for x in v))
            seen.add(tuple(int(-x) for x in v))
        if len(out) >= n:
            break
    return out
