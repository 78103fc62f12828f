"""Offline structure sources: pymatgen's AFLOW prototypes and test structures, ASE's crystals.

Each source yields ``(id, structure, source, note)`` tuples with real elements; the library
builder (:mod:`stemtf.materials.build`) standardises and deduplicates them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "aflow_prototypes",
    "pymatgen_test_structures",
    "ase_bulk_reference",
    "ase_dcdft",
    "all_sources",
]

log = logging.getLogger(__name__)

Candidate = tuple[str, "Structure", str, str]
# ase.build.bulk crystal structures that need only the reference state's lattice constants
_ASE_BULK_KINDS = {
    "sc",
    "fcc",
    "bcc",
    "hcp",
    "diamond",
    "bct",
    "tetragonal",
    "orthorhombic",
    "rhombohedral",
}


def slug(text: str) -> str:
    """Make an id fragment: letters, digits, ``.``, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def aflow_prototypes() -> Iterator[Candidate]:
    """The 288 AFLOW prototype structures shipped inside pymatgen (real elements)."""
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    seen: dict[str, int] = {}
    for entry in AFLOW_PROTOTYPE_LIBRARY:
        tags = entry["tags"]
        structure = entry["snl"].structure
        base = f"aflow-{tags['aflow']}-{structure.composition.reduced_formula}"
        seen[base] = seen.get(base, 0) + 1
        ident = base if seen[base] == 1 else f"{base}-{seen[base]}"
        names = [f"{k}={tags[k]}" for k in ("mineral", "strukturbericht", "pearson") if tags.get(k)]
        yield slug(ident), structure, "pymatgen-aflow", ", ".join(names)


def pymatgen_test_structures() -> Iterator[Candidate]:
    """The bulk crystals pymatgen ships in ``pymatgen/util/structures`` (interfaces skipped)."""
    import pymatgen.util
    from pymatgen.core import Structure

    folder = Path(pymatgen.util.__file__).parent / "structures"
    for path in sorted(folder.glob("*.json")):
        if "interface" in path.stem.lower():
            continue
        yield (
            slug(f"pmg-{path.stem}"),
            Structure.from_file(path),
            "pymatgen-test-structures",
            path.name,
        )


def ase_bulk_reference() -> Iterator[Candidate]:
    """``ase.build.bulk`` for every element whose reference state is a buildable crystal."""
    from ase.build import bulk
    from ase.data import chemical_symbols, reference_states
    from pymatgen.io.ase import AseAtomsAdaptor

    for z, state in enumerate(reference_states):
        if not state or state.get("symmetry") not in _ASE_BULK_KINDS:
            continue
        symbol = chemical_symbols[z]
        try:
            atoms = bulk(symbol)
        except (ValueError, KeyError, RuntimeError) as e:  # reference state lacks a parameter
            log.debug("ase bulk %s skipped: %s", symbol, e)
            continue
        kind = state["symmetry"]
        yield (
            slug(f"ase-bulk-{symbol}-{kind}"),
            AseAtomsAdaptor.get_structure(atoms),
            "ase-bulk",
            f"reference state {kind}",
        )


def ase_dcdft() -> Iterator[Candidate]:
    """The 71 elemental crystals of ``ase.collections.dcdft`` (Delta-codes DFT set)."""
    from ase.collections import dcdft
    from pymatgen.io.ase import AseAtomsAdaptor

    for name in dcdft.names:
        yield (
            slug(f"ase-dcdft-{name}"),
            AseAtomsAdaptor.get_structure(dcdft[name]),
            "ase-dcdft",
            "Delta-codes DFT set",
        )


def nmc811_phases() -> Iterator[Candidate]:
    """The NMC811 phases and confusers of PHYSICS.md."""
    from stemtf.materials.nmc811 import nmc811_structures

    for ident, (structure, note) in nmc811_structures().items():
        yield ident, structure, "stemtf-nmc811", note


def all_sources() -> Iterator[Candidate]:
    """Every offline source, in priority order (earlier wins when duplicates are merged)."""
    yield from nmc811_phases()
    yield from pymatgen_test_structures()
    yield from ase_bulk_reference()
    yield from aflow_prototypes()
    yield from ase_dcdft()
