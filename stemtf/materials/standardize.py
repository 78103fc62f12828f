"""Standardise a structure: conventional standard cell and space group (pymatgen/spglib)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stemtf.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["standardize", "formula", "SYMPREC"]

SYMPREC = 0.01  # [Å] spglib symmetry tolerance
ANGLE_TOLERANCE_DEG = 5.0


def standardize(structure: Structure, name: str = "structure") -> tuple[Structure, str, int]:
    """Return ``(conventional standard structure, space-group symbol, number)``.

    Oxidation states and site properties are dropped. Raises :class:`InputError` naming
    ``name`` when the structure is not a 3D crystal spglib can analyse.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = structure.copy()
    s.remove_oxidation_states()
    if len(s) == 0 or s.volume <= 1e-3:
        raise InputError(f"{name}: not a crystal (no atoms or zero cell volume)")
    try:
        sga = SpacegroupAnalyzer(s, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE_DEG)
        conv = sga.get_conventional_standard_structure()
        return conv, sga.get_space_group_symbol(), int(sga.get_space_group_number())
    except Exception as e:  # noqa: BLE001 - spglib raises assorted types for bad cells
        raise InputError(f"{name}: symmetry analysis failed ({type(e).__name__}: {e})") from None


def formula(structure: Structure) -> str:
    """Formula per formula unit, mixed sites kept: ``LiNi0.8Mn0.1Co0.1O2``, ``LiNi2O4``.

    The number of formula units is the gcd of the site counts per distinct site species
    (so partial occupancies reduce correctly); elements in order of electronegativity.
    """
    import math
    from collections import Counter
    from functools import reduce

    counts = Counter(site.species for site in structure)
    units = reduce(math.gcd, counts.values())
    comp = structure.composition / units
    parts = []
    for el, amt in sorted(comp.items(), key=lambda kv: (_electronegativity(kv[0]), kv[0].symbol)):
        amt = round(float(amt), 6)
        parts.append(f"{el.symbol}{'' if amt == 1 else format(amt, 'g')}")
    return "".join(parts)


def _electronegativity(el) -> float:
    """Pauling electronegativity, noble gases (no value) last."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = float(el.X)
    return x if x == x else float("inf")
