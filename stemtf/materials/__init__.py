"""Materials library: crystal structures with stable ids for diffraction simulation.

Offline sources (packaged, deduplicated): pymatgen's AFLOW prototypes and test structures,
ASE's bulk reference states and Delta-codes crystals, and the NMC811 phases. Also any folder of
CIF files and, with ``MP_API_KEY``, the Materials Project (cached locally).

>>> from stemtf.materials import get, zone_axes
>>> m = get("nmc811-o3")
>>> zone_axes(m.structure, 3)
[(1, 0, 0), (0, 0, 1), (1, 0, 1)]
"""

from __future__ import annotations

from stemtf.materials.library import SOURCES, get, list_materials
from stemtf.materials.material import Material
from stemtf.materials.zone_axes import DEFAULT_ZONE_AXES, check_zone_axis, zone_axes

__all__ = [
    "Material",
    "get",
    "list_materials",
    "zone_axes",
    "check_zone_axis",
    "DEFAULT_ZONE_AXES",
    "SOURCES",
]
