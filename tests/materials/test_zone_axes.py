"""Zone-axis enumeration: low index first, one per symmetry-equivalent set."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from stemtf.errors import InputError
from stemtf.materials import check_zone_axis, get, zone_axes


def _equivalent(rotations, a, b) -> bool:
    for rot in rotations:
        v = rot @ np.array(a)
        if np.array_equal(v, b) or np.array_equal(-v, b):
            return True
    return False


def test_cubic_zone_axes_in_index_order():
    s = get("nmc811-rocksalt").structure
    assert zone_axes(s, 5) == [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0), (2, 1, 1)]


def test_sixty_zone_axes_pairwise_inequivalent():
    s = get("nmc811-rocksalt").structure
    axes = zone_axes(s)
    assert len(axes) == 60
    ops = SpacegroupAnalyzer(s).get_point_group_operations(cartesian=False)
    rotations = [np.rint(op.rotation_matrix).astype(int) for op in ops]
    for i, a in enumerate(axes):
        for b in axes[i + 1 :]:
            assert not _equivalent(rotations, a, b)
    assert [max(map(abs, a)) for a in axes] == sorted(max(map(abs, a)) for a in axes)


def test_hexagonal_o3_has_001_and_distinguishes_100_from_001():
    axes = zone_axes(get("nmc811-o3").structure, 10)
    assert (0, 0, 1) in axes and (1, 0, 0) in axes
    assert (0, 1, 0) not in axes  # equivalent to [100] under the 3-fold axis


def test_low_symmetry_keeps_more_directions():
    triclinic = [
        m
        for m in __import__("stemtf.materials", fromlist=["x"]).list_materials(
            include_mp_cache=False
        )
        if m.spacegroup_number <= 2
    ]
    assert triclinic
    axes = zone_axes(triclinic[0].structure, 13)
    assert len(axes) == 13 and len(set(axes)) == 13


@pytest.mark.parametrize("bad", [(0, 0, 0), (1, 0), (1.5, 0, 0), ("a", 0, 1)])
def test_bad_zone_axis_refused(bad):
    with pytest.raises(InputError, match="zone_axis"):
        check_zone_axis(bad)
