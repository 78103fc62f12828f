"""The materials library: the packaged offline set, CIF folders and cached Materials Project entries.

``list_materials`` reads only the small packaged JSON (no pymatgen import), so listing is fast;
``Material.structure`` builds the pymatgen structure on first use.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

from stemtf.errors import InputError
from stemtf.materials.material import Material

__all__ = ["LIBRARY_PATH", "get", "list_materials", "material_from_record", "SOURCES"]

LIBRARY_PATH = Path(__file__).parent / "data" / "library.json.gz"
SOURCES = (
    "stemtf-nmc811",
    "pymatgen-test-structures",
    "ase-bulk",
    "pymatgen-aflow",
    "ase-dcdft",
    "cif",
    "materials-project",
)
_MP_ID = re.compile(r"^mp-\d+$")
_HOW_TO_LIST = "see the valid ids with `stemtf materials list`"


def material_from_record(rec: dict[str, Any]) -> Material:
    """Make a :class:`Material` from a library record (as written by the builder)."""
    return Material(
        id=rec["id"],
        formula=rec["formula"],
        spacegroup_symbol=rec["spacegroup_symbol"],
        spacegroup_number=int(rec["spacegroup_number"]),
        source=rec["source"],
        aliases=tuple(rec.get("aliases", ())),
        note=rec.get("note", ""),
        structure_data=rec["structure"],
    )


@functools.lru_cache(maxsize=1)
def _offline() -> tuple[Material, ...]:
    try:
        with gzip.open(LIBRARY_PATH, "rt") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(
            f"materials library {LIBRARY_PATH} cannot be read ({e}); rebuild it with "
            "`python scripts/build_materials_library.py`"
        ) from None
    return tuple(material_from_record(r) for r in doc["materials"])


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, Material]:
    index: dict[str, Material] = {}
    for m in _offline():
        for key in (m.id, *m.aliases):
            index.setdefault(key.lower(), m)
    return index


def list_materials(
    *,
    source: str | None = None,
    cif_dir: str | os.PathLike | None = None,
    include_mp_cache: bool = True,
) -> list[Material]:
    """All available materials: the offline library, then ``cif_dir`` CIFs, then cached MP entries.

    Parameters
    ----------
    source : str, optional
        Keep only this source (one of :data:`SOURCES`).
    cif_dir : path, optional
        Folder of ``*.cif`` files to add (ids ``cif-<file stem>``).
    include_mp_cache : bool
        Add Materials Project structures already fetched into the local cache.
    """
    if source is not None and source not in SOURCES:
        raise InputError(f"source={source!r} is not known: allowed {', '.join(SOURCES)}")
    out = list(_offline())
    if cif_dir is not None:
        from stemtf.materials.cif import load_cif_dir

        out.extend(load_cif_dir(cif_dir))
    if include_mp_cache:
        from stemtf.materials.mp import cached_materials

        out.extend(cached_materials())
    return [m for m in out if source is None or m.source == source]


def get(material_id: str, *, cif_dir: str | os.PathLike | None = None) -> Material:
    """Return the material with this id (or alias; case-insensitive).

    ``mp-NNN`` ids come from the local Materials Project cache, or are fetched when
    ``MP_API_KEY`` is set. ``cif-<stem>`` ids need ``cif_dir``.
    """
    key = str(material_id).strip().lower()
    found = _index().get(key)
    if found is not None:
        return found
    if cif_dir is not None:
        from stemtf.materials.cif import load_cif_dir

        for m in load_cif_dir(cif_dir):
            if m.id.lower() == key:
                return m
    if _MP_ID.match(key):
        from stemtf.materials.mp import get_mp

        return get_mp(key)
    hint = " (CIF ids need --cif-dir)" if key.startswith("cif-") else ""
    raise InputError(f"material={material_id!r} is not known{hint}: {_HOW_TO_LIST}")
