"""The :class:`Material` record: a crystal structure with a stable id and its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pymatgen.core import Structure

__all__ = ["Material", "structure_to_record", "record_to_structure"]


@dataclass(frozen=True)
class Material:
    """One crystal of the library.

    Attributes
    ----------
    id : str
        Stable identifier, e.g. ``"nmc811-o3"``, ``"aflow-AB_cF8_225_a_b-NaCl"``, ``"mp-149"``.
    formula : str
        Reduced formula (pymatgen), e.g. ``"LiNi0.8Mn0.1Co0.1O2"``.
    spacegroup_symbol, spacegroup_number : str, int
        International (Hermann-Mauguin) symbol and number.
    source : str
        Where the structure comes from: ``stemtf-nmc811``, ``pymatgen-aflow``,
        ``pymatgen-test-structures``, ``ase-bulk``, ``ase-dcdft``, ``cif``, ``materials-project``.
    aliases : tuple of str
        Ids of duplicate structures (same crystal from another source) merged into this one.
    note : str
        Free text, e.g. how a mixed site is represented.
    """

    id: str
    formula: str
    spacegroup_symbol: str
    spacegroup_number: int
    source: str
    aliases: tuple[str, ...] = ()
    note: str = ""
    structure_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def structure(self) -> Structure:
        """The conventional standard cell as a pymatgen ``Structure`` (built on first use).

        Mixed sites (e.g. the NMC811 transition-metal site) carry partial occupancies.
        """
        if "structure" not in self._cache:
            self._cache["structure"] = record_to_structure(self.structure_data)
        return self._cache["structure"].copy()

    def summary(self) -> dict[str, Any]:
        """JSON-friendly metadata (no structure)."""
        return {
            "id": self.id,
            "formula": self.formula,
            "spacegroup_symbol": self.spacegroup_symbol,
            "spacegroup_number": self.spacegroup_number,
            "source": self.source,
            "aliases": list(self.aliases),
            "note": self.note,
        }


def structure_to_record(structure: Structure) -> dict[str, Any]:
    """Compact JSON form of a structure: lattice rows [Å], species (dict for mixed sites), fractions."""
    species: list[Any] = []
    for site in structure:
        comp = site.species
        if site.is_ordered:
            species.append(str(next(iter(comp.keys())).symbol))
        else:
            species.append({str(el.symbol): round(float(occ), 6) for el, occ in comp.items()})
    return {
        "lattice": [[round(float(x), 8) for x in row] for row in structure.lattice.matrix],
        "species": species,
        "frac": [[round(float(x), 8) for x in site.frac_coords] for site in structure],
    }


def record_to_structure(record: dict[str, Any]) -> Structure:
    """Inverse of :func:`structure_to_record`."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(record["lattice"]), record["species"], record["frac"])
