"""Rings of a phase along its hexagonal zone, from the structure (PHYSICS.md numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.materials.rings import (
    PhaseNotUsable,
    display_name,
    hexagonal_zone,
    load_phases,
    phase_rings,
)


def _rings(mid):
    p = phase_rings(mid)
    return p, [(r.hkl, r.radius_invA, r.rotation_deg) for r in p.rings if r.radius_invA < 0.8]


def test_layered_phases_along_001():
    o3, r3 = _rings("nmc811-o3")
    assert o3.zone_axis == (0, 0, 1) and o3.crystal_system == "trigonal" and o3.name == "O3"
    # R-3m: {100} extinct along [001]; the first ring is {110} at 2/a
    assert [h for h, _, _ in r3] == [(1, 1, 0)]
    assert r3[0][1] == pytest.approx(2 / 2.87, rel=1e-6)
    o1, r1 = _rings("nmc811-o1")
    assert [h for h, _, _ in r1] == [(1, 0, 0), (1, 1, 0)]
    assert r1[0][1] / r1[1][1] == pytest.approx(1 / np.sqrt(3), rel=1e-9)
    assert (r1[0][2] - r1[1][2]) % 60 == pytest.approx(30.0)
    _, rh = _rings("nmc811-h3")
    assert rh[0][1] == pytest.approx(2 / 2.817, rel=1e-6)  # 1.9 % beyond O3's {110}
    assert rh[0][1] / r3[0][1] - 1 == pytest.approx(0.0188, abs=5e-4)


def test_cubic_phases_along_111():
    rs, rr = _rings("nmc811-rocksalt")
    assert rs.zone_axis == (1, 1, 1) and rs.crystal_system == "cubic" and rs.name == "rock salt"
    # {111} is not in the zero-order zone of [111]: the first ring is {2-20} at sqrt(8)/a
    assert len(rr) == 1 and sorted(abs(v) for v in rr[0][0]) == [0, 2, 2]
    assert rr[0][1] == pytest.approx(np.sqrt(8) / 4.17, rel=1e-6)
    sp, rsp = _rings("nmc811-spinel")
    radii = [r for _, r, _ in rsp]
    # {2-20} 0.346, {4-22} 0.600, {4-40} 0.692 (PHYSICS.md); {2-20} at half of {4-40}
    assert radii == pytest.approx([0.3462, 0.5996, 0.6924], abs=2e-4)
    assert radii[0] / radii[2] == pytest.approx(0.5, rel=1e-9)
    assert (rsp[1][2] - rsp[2][2]) % 60 == pytest.approx(30.0)  # {4-22} rotated 30 deg
    assert (rsp[0][2] - rsp[2][2]) % 60 == pytest.approx(0.0)


def test_cif_file_gives_the_library_rings(tmp_path):
    from pymatgen.io.cif import CifWriter

    from stemtf.materials import get

    path = tmp_path / "NiO_test.cif"
    CifWriter(get("nmc811-rocksalt").structure).write_file(path)
    p = phase_rings(str(path))
    assert p.name == "NiO_test" and p.zone_axis == (1, 1, 1)
    ref = phase_rings("nmc811-rocksalt")
    assert [r.radius_invA for r in p.rings] == pytest.approx([r.radius_invA for r in ref.rings])


def test_no_hexagonal_zone_and_not_a_crystal_are_left_out(tmp_path):
    from stemtf.materials import get

    with pytest.raises(PhaseNotUsable, match=r"phase 'pmg-VO2': tetragonal .* no hexagonal zone"):
        phase_rings("pmg-VO2")
    with pytest.raises(PhaseNotUsable, match="no hexagonal zone"):
        hexagonal_zone(get("pmg-VO2").structure, "'VO2'")
    junk = tmp_path / "junk.cif"
    junk.write_text("data_junk\n_cell_length_a 3\nnot a crystal\n")
    phases, dropped = load_phases(["nmc811-o3", "pmg-VO2", str(junk)])
    assert [p.name for p in phases] == ["O3"]
    assert len(dropped) == 2 and "pmg-VO2" in dropped[0] and "junk.cif" in dropped[1]
    assert all("\n" not in d for d in dropped)


def test_typos_and_repeats_are_errors(tmp_path):
    with pytest.raises(InputError, match="phase 'nmc811-o4'.* not known"):
        load_phases(["nmc811-o3", "nmc811-o4"])
    with pytest.raises(InputError, match="CIF file not found"):
        load_phases([str(tmp_path / "missing.cif")])
    with pytest.raises(InputError, match="given twice"):
        load_phases(["nmc811-o3", "NMC811-O3"])


def test_display_names():
    assert [display_name(m) for m in ("nmc811-o3", "nmc811-o1", "nmc811-spinel")] == [
        "O3",
        "O1",
        "spinel",
    ]
    assert display_name("aflow-A_cF4_225_a-Cu") == "CU"
