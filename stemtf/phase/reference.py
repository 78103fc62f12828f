"""Moved: the kinematic rings of a structure are computed by :mod:`stemtf.materials.rings`.

Phase identification receives ring data (:class:`stemtf.materials.rings.PhaseRings`); this
name stays for code that imported it from here. Importing it pulls in no pymatgen (the ring
code takes a structure object built elsewhere).
"""

from __future__ import annotations

from stemtf.materials.rings import Ring, zone_rings

__all__ = ["Ring", "zone_rings"]
