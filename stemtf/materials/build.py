"""Build the offline library: standardise every source structure and merge duplicates.

Duplicates (the same crystal from two sources, e.g. fcc Cu from ``ase.build.bulk``, the
Delta-codes set and the AFLOW A1 prototype) are found with pymatgen's ``StructureMatcher``
(lattice scaled, so DFT and experimental lattice constants of one structure type match). The
first source in priority order keeps its id; the others become its aliases.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stemtf.errors import InputError
from stemtf.fileio import atomic_path
from stemtf.materials.material import structure_to_record
from stemtf.materials.standardize import formula, standardize

__all__ = ["build_records", "write_library", "LIBRARY_FORMAT"]

log = logging.getLogger(__name__)
LIBRARY_FORMAT = "stemtf-materials-library"


def build_records(candidates: Iterable[tuple[str, Any, str, str]]) -> list[dict[str, Any]]:
    """Standardise and deduplicate ``(id, structure, source, note)`` candidates.

    Returns one record per distinct structure (input priority order kept), each with ``id``,
    ``formula``, ``spacegroup_symbol``, ``spacegroup_number``, ``source``, ``aliases``,
    ``note`` and ``structure`` (see :func:`stemtf.materials.material.structure_to_record`).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    entries = []
    for ident, structure, source, note in candidates:
        try:
            conv, symbol, number = standardize(structure, ident)
        except InputError as e:
            log.warning("skipped %s", e)
            continue
        entries.append(
            {
                "id": ident,
                "structure": conv,
                "source": source,
                "note": note,
                "spacegroup_symbol": symbol,
                "spacegroup_number": number,
            }
        )
    ids = [e["id"] for e in entries]
    if len(set(ids)) != len(ids):
        raise InputError(
            "material ids are not unique: "
            + ", ".join(sorted({i for i in ids if ids.count(i) > 1}))
        )
    order = {e["id"]: k for k, e in enumerate(entries)}
    by_id = {e["id"]: e for e in entries}
    matcher = StructureMatcher(scale=True, attempt_supercell=False)
    # group within each (space group, reduced formula) so the matcher compares few pairs
    buckets: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for e in entries:
        key = (e["spacegroup_number"], e["structure"].composition.reduced_formula)
        buckets.setdefault(key, []).append(e)
    kept: list[dict[str, Any]] = []
    for bucket in buckets.values():
        if len(bucket) == 1:
            groups = [[bucket[0]["structure"]]]
            members = [[bucket[0]["id"]]]
        else:
            for e in bucket:
                e["structure"].properties["stemtf_id"] = e["id"]
            groups = matcher.group_structures([e["structure"] for e in bucket])
            members = [[s.properties["stemtf_id"] for s in g] for g in groups]
        for ids_in_group in members:
            ids_in_group.sort(key=order.__getitem__)
            head = by_id[ids_in_group[0]]
            head["aliases"] = ids_in_group[1:]
            kept.append(head)
    kept.sort(key=lambda e: order[e["id"]])
    return [
        {
            "id": e["id"],
            "formula": formula(e["structure"]),
            "spacegroup_symbol": e["spacegroup_symbol"],
            "spacegroup_number": e["spacegroup_number"],
            "source": e["source"],
            "aliases": e["aliases"],
            "note": e["note"],
            "structure": structure_to_record(e["structure"]),
        }
        for e in kept
    ]


def write_library(
    path: str | Path, records: list[dict[str, Any]], provenance: dict[str, Any]
) -> Path:
    """Write the library as gzipped JSON atomically (deterministic bytes for a given input)."""
    doc = {
        "format": LIBRARY_FORMAT,
        "format_version": 1,
        "provenance": provenance,
        "materials": records,
    }
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(data)
    return Path(path)
