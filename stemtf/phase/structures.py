"""Reference crystal structures for phase identification, by material id.

Uses the materials library (``stemtf.materials.get(id).structure``). TEMPORARY: until that
library is in the tree, the two NMC811 phases are built here from the lattice parameters in
PHYSICS.md (LiNiO2-like O3, NiO2 O1); delete the fallback once ``stemtf.materials`` lands.
"""

from __future__ import annotations

from stemtf.errors import InputError

__all__ = ["reference_structure"]

#: Lattice parameters [Å] of the fallback structures (PHYSICS.md).
O3_A_ANGSTROM, O3_C_ANGSTROM, O3_Z_OXYGEN = 2.87, 14.20, 0.241
O1_A_ANGSTROM, O1_C_ANGSTROM, O1_Z_OXYGEN = 2.82, 4.40, 0.23


def _fallback(material_id: str):
    from pymatgen.core import Lattice, Structure

    if material_id == "nmc811-o3":
        return Structure.from_spacegroup(
            "R-3m", Lattice.hexagonal(O3_A_ANGSTROM, O3_C_ANGSTROM), ["Li", "Ni", "O"],
            [[0, 0, 0], [0, 0, 0.5], [0, 0, O3_Z_OXYGEN]])
    if material_id == "nmc811-o1":
        return Structure.from_spacegroup(
            "P-3m1", Lattice.hexagonal(O1_A_ANGSTROM, O1_C_ANGSTROM), ["Ni", "O"],
            [[0, 0, 0], [1 / 3, 2 / 3, O1_Z_OXYGEN]])
    raise InputError(f"material id {material_id!r} is unknown: allowed 'nmc811-o3', 'nmc811-o1' "
                     "(the full list comes with the materials library: stemtf materials list)")


def reference_structure(material_id: str):
    """pymatgen Structure (conventional cell) of ``material_id``."""
    try:
        from stemtf.materials import get
    except ImportError:
        return _fallback(material_id)
    return get(material_id).structure
