"""Materials from a user folder of CIF files (ids ``cif-<file stem>``)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from stemtf.errors import InputError
from stemtf.materials.material import Material, structure_to_record
from stemtf.materials.sources import slug
from stemtf.materials.standardize import formula, standardize

__all__ = ["load_cif", "load_cif_dir"]

log = logging.getLogger(__name__)


def load_cif(path: str | os.PathLike) -> Material:
    """Read one CIF (first structure) into a :class:`Material`.

    Raises :class:`InputError` naming the file when it cannot be read or holds no crystal.
    """
    from pymatgen.io.cif import CifParser

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser(p).parse_structures(primitive=False)
    except Exception as e:  # noqa: BLE001 - the CIF parser raises many types for bad files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(
            f"CIF file {str(p)!r} cannot be read as a crystal structure ({msg})"
        ) from None
    if not structures:
        raise InputError(f"CIF file {str(p)!r} holds no crystal structure")
    conv, symbol, number = standardize(structures[0], f"CIF file {str(p)!r}")
    return Material(
        id=slug(f"cif-{p.stem}"),
        formula=formula(conv),
        spacegroup_symbol=symbol,
        spacegroup_number=number,
        source="cif",
        note=str(p),
        structure_data=structure_to_record(conv),
    )


def load_cif_dir(folder: str | os.PathLike) -> list[Material]:
    """Read every ``*.cif`` in ``folder`` (sorted by name); any bad file raises InputError."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"cif_dir={str(d)!r} is not a folder")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() == ".cif")
    if not files:
        raise InputError(f"cif_dir={str(d)!r} holds no *.cif files")
    return [load_cif(p) for p in files]
