"""Zone-axis supercells, reflection positions, slabs and disk rendering (no abTEM)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.materials import get
from stemtf.simulate.config import SimulationConfig, electron_wavelength_A
from stemtf.simulate.patterns import zolz_reflections
from stemtf.simulate.render import render_disks
from stemtf.simulate.slab import build_slab
from stemtf.simulate.supercell import find_ortho_cell


@pytest.mark.parametrize("mid", ["nmc811-o3", "nmc811-spinel", "pmg-LiFePO4"])
def test_ortho_cells_put_the_zone_axis_on_z(mid):
    from stemtf.simulate import feasible_zone_axes

    s = get(mid).structure
    m = s.lattice.matrix
    for uvw in feasible_zone_axes(s, 6, SimulationConfig()):
        cell = find_ortho_cell(m, uvw)
        assert cell.matrix[2].tolist() == list(np.array(uvw) // np.gcd.reduce(np.abs(uvw)))
        assert abs(round(np.linalg.det(cell.matrix))) >= 1
        rot = cell.rotation
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        t = np.array(uvw) @ m
        np.testing.assert_allclose(rot[2], t / np.linalg.norm(t), atol=1e-12)
        assert cell.strain <= 0.02


def test_hexagonal_001_needs_no_strain():
    cell = find_ortho_cell(get("nmc811-o3").structure.lattice.matrix, (0, 0, 1))
    assert cell.strain < 1e-12
    np.testing.assert_allclose(sorted(cell.extent_A[:2]), [2.87, 2.87 * np.sqrt(3)], rtol=1e-6)


def test_unreachable_zone_axis_is_refused_cleanly():
    with pytest.raises(InputError, match="zone_axis"):
        find_ortho_cell(
            get("nmc811-o3").structure.lattice.matrix, (1, 0, 1), max_strain=0.001, max_length_A=20
        )


def test_zolz_reflection_positions_equal_inverse_d_spacings():
    s = get("pmg-LiFePO4").structure  # orthorhombic, several distinct spacings
    for uvw in [(0, 0, 1), (1, 1, 0)]:
        cell = find_ortho_cell(s.lattice.matrix, uvw)
        hh, g = zolz_reflections(s.lattice.matrix, cell, 1.0)
        hkl = np.rint(np.c_[hh, np.zeros(len(hh))] @ np.linalg.inv(cell.matrix).T).astype(int)
        assert np.all(hkl @ np.array(uvw) == 0)
        for h, gg in zip(hkl[1:40], g[1:40], strict=True):
            if not h.any():
                continue
            assert np.hypot(*gg) == pytest.approx(1 / s.lattice.d_hkl(h), rel=1e-9)


def test_slab_atom_count_and_seeded_alloy_fractions():
    s = get("nmc811-o3").structure
    cell = find_ortho_cell(s.lattice.matrix, (0, 0, 1))
    from stemtf.materials.material import structure_to_record

    rec = structure_to_record(s)
    atoms = build_slab(
        rec["species"], np.array(rec["frac"]), cell, (6, 4, 6), np.random.default_rng(1)
    )
    cells = abs(round(np.linalg.det(np.diag((6, 4, 6)) @ cell.matrix)))
    assert len(atoms) == cells * len(s)
    tm = [a for a in atoms.get_chemical_symbols() if a in ("Ni", "Mn", "Co")]
    frac = {el: tm.count(el) / len(tm) for el in ("Ni", "Mn", "Co")}
    assert frac == pytest.approx({"Ni": 0.8, "Mn": 0.1, "Co": 0.1}, abs=0.05)
    again = build_slab(
        rec["species"], np.array(rec["frac"]), cell, (6, 4, 6), np.random.default_rng(1)
    )
    assert again.get_chemical_symbols() == atoms.get_chemical_symbols()
    # minimum image distance: no duplicated atoms at the box faces
    from scipy.spatial import cKDTree

    box = np.diag(atoms.cell)
    tree = cKDTree(np.mod(atoms.positions, box), boxsize=box)
    assert not tree.query_pairs(1.5)


def test_render_disk_centroid_and_normalisation():
    q = 0.0125
    pos = np.array([[0.0, 0.0], [0.3133, -0.2071], [5.0, 5.0]])  # last one off the detector
    img = render_disks(pos, [1.0, 0.5, 7.0], detector_px=64, q_sampling_invA=q, radius_invA=0.04)
    assert img.dtype == np.float32 and img.sum() == pytest.approx(1.0, rel=1e-6)
    yy, xx = np.mgrid[:64, :64]
    win = np.hypot(yy - 32 - (-0.2071 / q), xx - 32 - 0.3133 / q) < 6
    w = img * win
    cy, cx = (w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()
    assert (cx - 32) * q == pytest.approx(0.3133, abs=0.02 * q)
    assert (cy - 32) * q == pytest.approx(-0.2071, abs=0.02 * q)
    assert w.sum() == pytest.approx(0.5 / 1.5, rel=1e-5)


def test_wavelengths_and_config_validation():
    assert electron_wavelength_A(200e3) == pytest.approx(0.02508, abs=2e-5)
    assert electron_wavelength_A(300e3) == pytest.approx(0.01969, abs=2e-5)
    for bad in [
        dict(energy_eV=10e3),
        dict(energy_eV=2e6),
        dict(detector_px=0),
        dict(thicknesses_A=(10.0, -1.0)),
        dict(thicknesses_A=()),
        dict(q_sampling_invA=0.0),
        dict(frozen_phonons=-1),
    ]:
        with pytest.raises(InputError):
            SimulationConfig(**bad)
    assert SimulationConfig(thicknesses_A=(60, 20, 20)).thicknesses_A == (20.0, 60.0)
