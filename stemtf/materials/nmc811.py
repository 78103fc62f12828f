"""The NMC811 cathode phases and their confusers (see PHYSICS.md), built from their Wyckoff sites.

The transition-metal (TM) site of NMC811 holds Ni0.8 Mn0.1 Co0.1. Here it is a *mixed site*
(partial occupancies) in the pymatgen structure; the simulation turns it into a seeded random
substitution in its supercell (:func:`stemtf.simulate.supercell.order_sites`), so each seed is
one realisation of the random alloy and the average over seeds is the alloy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["NMC811_TM", "nmc811_structures", "O3_A_ANGSTROM", "O3_C_ANGSTROM"]

NMC811_TM = {"Ni": 0.8, "Mn": 0.1, "Co": 0.1}
# O3 pristine NMC811, R-3m (166), hexagonal setting.
O3_A_ANGSTROM = 2.87
O3_C_ANGSTROM = 14.20
O3_Z_OXYGEN = 0.241
# H3: collapsed O3 at deep charge, little Li left (PHYSICS.md, from memory of the literature).
H3_A_ANGSTROM = 2.817
H3_C_ANGSTROM = 13.4
H3_LI_OCCUPANCY = 0.2
# O1: fully delithiated (Ni,Mn,Co)O2, P-3m1 (164), one slab per cell.
O1_A_ANGSTROM = 2.82
O1_C_ANGSTROM = 4.40
O1_Z_OXYGEN = 0.23
# Confusers: LiNi2O4-like spinel Fd-3m (227) and rock-salt NiO Fm-3m (225). pymatgen's Fd-3m
# uses origin choice 1: Li 8a (0,0,0), Ni 16d (5/8,5/8,5/8), O 32e (x,x,x) with x = 0.263 + 1/8.
SPINEL_A_ANGSTROM = 8.17
SPINEL_X_OXYGEN = 0.263 + 0.125
ROCKSALT_A_ANGSTROM = 4.17

_TM_NOTE = (
    "TM site Ni0.8Mn0.1Co0.1 as partial occupancy; simulations draw a seeded random "
    "substitution of the site in the simulation supercell"
)


def nmc811_structures() -> dict[str, tuple[Structure, str]]:
    """Return ``{id: (structure, note)}`` for the five NMC811-related phases."""
    from pymatgen.core import Lattice, Structure

    tm = dict(NMC811_TM)
    o3 = Structure.from_spacegroup(
        "R-3m",
        Lattice.hexagonal(O3_A_ANGSTROM, O3_C_ANGSTROM),
        ["Li", tm, "O"],
        [[0, 0, 0], [0, 0, 0.5], [0, 0, O3_Z_OXYGEN]],
    )
    h3 = Structure.from_spacegroup(
        "R-3m",
        Lattice.hexagonal(H3_A_ANGSTROM, H3_C_ANGSTROM),
        [{"Li": H3_LI_OCCUPANCY}, tm, "O"],
        [[0, 0, 0], [0, 0, 0.5], [0, 0, O3_Z_OXYGEN]],
    )
    o1 = Structure.from_spacegroup(
        "P-3m1",
        Lattice.hexagonal(O1_A_ANGSTROM, O1_C_ANGSTROM),
        [tm, "O"],
        [[0, 0, 0], [1 / 3, 2 / 3, O1_Z_OXYGEN]],
    )
    spinel = Structure.from_spacegroup(
        "Fd-3m",
        Lattice.cubic(SPINEL_A_ANGSTROM),
        ["Li", "Ni", "O"],
        [[0, 0, 0], [5 / 8, 5 / 8, 5 / 8], [SPINEL_X_OXYGEN] * 3],
    )
    rocksalt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(ROCKSALT_A_ANGSTROM), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return {
        "nmc811-o3": (o3, f"pristine O3 NMC811, a={O3_A_ANGSTROM} c={O3_C_ANGSTROM} A; {_TM_NOTE}"),
        "nmc811-o1": (
            o1,
            f"delithiated O1 (Ni,Mn,Co)O2, a={O1_A_ANGSTROM} c={O1_C_ANGSTROM} A; {_TM_NOTE}",
        ),
        "nmc811-h3": (
            h3,
            f"collapsed H3 at deep charge, Li occupancy {H3_LI_OCCUPANCY}, a={H3_A_ANGSTROM} "
            f"c={H3_C_ANGSTROM} A; {_TM_NOTE}",
        ),
        "nmc811-spinel": (spinel, f"LiNi2O4-like spinel confuser, a={SPINEL_A_ANGSTROM} A"),
        "nmc811-rocksalt": (
            rocksalt,
            f"rock-salt NiO surface-reconstruction confuser, a={ROCKSALT_A_ANGSTROM} A",
        ),
    }
