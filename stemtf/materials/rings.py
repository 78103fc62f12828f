"""Expected hexagon rings of a phase along its hexagonal zone axis, from its structure.

Kinematic zero-order Laue zone: reflections g = h a* + k b* + l c* with g . [u v w] = 0, their
length |g| [1/Å] (crystallographic reciprocal lattice, no 2 pi), in-plane direction, and the
structure factor F(g) = sum_j occ_j Z_j exp(2 pi i g . r_j). Atomic numbers stand in for the
scattering factors: extinctions (F = 0) are exact, relative intensities only indicative.
Reflections of equal length form a ring.

The *hexagonal zone* of a phase is the axis along which its zero-order Laue zone is a
six-fold pattern of hexagons: [001] for hexagonal and trigonal crystals (hexagonal setting),
[111] for cubic ones. :func:`phase_rings` turns a material id or a CIF file into
:class:`PhaseRings` (plain data: numbers and names), which is what phase identification
(:mod:`stemtf.phase`, which imports no pymatgen) receives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemtf.errors import InputError

__all__ = [
    "Ring",
    "PhaseRings",
    "zone_rings",
    "hexagonal_zone",
    "phase_rings",
    "display_name",
    "load_phases",
    "PhaseNotUsable",
    "DISPLAY_NAMES",
]

#: Relative |F|^2 below which a reflection counts as extinct.
_EXTINCT = 1e-6
#: Display names of the NMC811 family (labels of the phase map); other ids: last part, upper.
DISPLAY_NAMES = {
    "nmc811-o3": "O3",
    "nmc811-o1": "O1",
    "nmc811-h3": "H3",
    "nmc811-spinel": "spinel",
    "nmc811-rocksalt": "rock salt",
}


class PhaseNotUsable(InputError):
    """A phase that exists but cannot take part: no hexagonal zone, not a crystal."""


@dataclass(frozen=True)
class Ring:
    """A ring of symmetry-equivalent reflections along the zone axis.

    ``hkl`` is a representative (smallest indices), ``radius_invA`` = |g| [1/Å],
    ``rotation_deg`` the in-plane angle of one reflection modulo 60 deg measured from a* (in
    the frame where a* is along +x), ``multiplicity`` the number of reflections and
    ``intensity`` the kinematic |F|^2 relative to the strongest ring.
    """

    hkl: tuple[int, int, int]
    radius_invA: float
    rotation_deg: float
    multiplicity: int
    intensity: float


@dataclass(frozen=True)
class PhaseRings:
    """One phase as phase identification sees it: a name and its rings along one zone.

    Attributes
    ----------
    material_id : str
        Library id, or ``cif-<stem>`` for a CIF file.
    name : str
        Display name (label of the phase map), e.g. ``O3``, ``rock salt``.
    crystal_system : str
        ``hexagonal``, ``trigonal`` or ``cubic``.
    spacegroup : str
        International symbol.
    zone_axis : (int, int, int)
        The hexagonal zone [u v w] (conventional cell).
    rings : tuple of Ring
        Allowed rings along the zone, sorted by radius [1/Å].
    source : str
        Where the structure came from (library id or CIF path).
    """

    material_id: str
    name: str
    crystal_system: str
    spacegroup: str
    zone_axis: tuple[int, int, int]
    rings: tuple[Ring, ...]
    source: str = ""


def zone_rings(structure, zone_axis=(0, 0, 1), *, q_max_invA: float = 1.5) -> list[Ring]:
    """Allowed rings of ``structure`` (pymatgen Structure) along ``zone_axis`` up to q_max.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        The crystal (partial occupancies allowed).
    zone_axis : (int, int, int)
        Beam direction [u v w] in the structure's cell.
    q_max_invA : float
        Largest ring radius [1/Å].

    Returns
    -------
    list of Ring
        Sorted by radius.
    """
    lat = structure.lattice
    rec = lat.reciprocal_lattice_crystallographic.matrix  # rows a*, b*, c* [1/Å]
    uvw = np.asarray(zone_axis, float)
    n = int(np.ceil(q_max_invA / min(np.linalg.norm(rec, axis=1)))) + 1
    rng = np.arange(-n, n + 1)
    hkl = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
    hkl = hkl[(hkl @ uvw == 0) & np.any(hkl != 0, axis=1)]
    g = hkl @ rec
    q = np.linalg.norm(g, axis=1)
    keep = q <= q_max_invA
    hkl, g, q = hkl[keep], g[keep], q[keep]
    if q.size == 0:
        return []
    frac = np.array([s.frac_coords for s in structure.sites])
    weight = np.array([sum(sp.Z * occ for sp, occ in s.species.items()) for s in structure.sites])
    f = (weight[None, :] * np.exp(2j * np.pi * (hkl @ frac.T))).sum(axis=1)
    inten = np.abs(f) ** 2
    inten = inten / inten.max() if inten.max() > 0 else inten
    allowed = inten > _EXTINCT
    hkl, g, q, inten = hkl[allowed], g[allowed], q[allowed], inten[allowed]
    # In-plane frame: x along the projection of a* (or b* if a* is along the beam).
    beam = uvw @ lat.matrix
    beam /= np.linalg.norm(beam)
    ex = rec[0] - (rec[0] @ beam) * beam
    if np.linalg.norm(ex) < 1e-9:
        ex = rec[1] - (rec[1] @ beam) * beam
    ex /= np.linalg.norm(ex)
    ey = np.cross(beam, ex)
    ang = np.rad2deg(np.arctan2(g @ ey, g @ ex))
    rings: list[Ring] = []
    order = np.argsort(q, kind="stable")
    used = np.zeros(q.size, bool)
    for i in order:
        if used[i]:
            continue
        same = (~used) & (np.abs(q - q[i]) < 1e-6 * max(q[i], 1.0))
        used |= same
        idx = np.flatnonzero(same)
        rep = idx[np.lexsort((-hkl[idx, 2], -hkl[idx, 1], -hkl[idx, 0], np.abs(hkl[idx]).sum(1)))][
            0
        ]
        rings.append(
            Ring(
                hkl=tuple(int(v) for v in hkl[rep]),
                radius_invA=float(q[i]),
                rotation_deg=float(np.mod(ang[rep], 60.0)),
                multiplicity=int(idx.size),
                intensity=float(inten[idx].mean()),
            )
        )
    return rings


def hexagonal_zone(structure, what: str) -> tuple[tuple[int, int, int], str, str]:
    """The zone axis along which ``structure`` shows hexagons, its crystal system and group.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        Conventional standard cell (hexagonal setting for trigonal crystals).
    what : str
        How to name the phase in an error message.

    Returns
    -------
    zone_axis, crystal_system, spacegroup_symbol

    Raises
    ------
    PhaseNotUsable
        For other crystal systems (no hexagonal zone among [001] / [111]).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(structure, symprec=1e-3)
        system = sga.get_crystal_system()
        symbol = sga.get_space_group_symbol()
    except Exception as e:  # noqa: BLE001 - spglib fails in several ways on odd cells
        raise PhaseNotUsable(f"phase {what}: its symmetry cannot be determined ({e})") from None
    if system in ("hexagonal", "trigonal"):
        a, b, c = structure.lattice.abc
        al, be, ga = structure.lattice.angles
        if not (abs(a - b) < 1e-3 * a and abs(ga - 120) < 0.1 and abs(al - 90) < 0.1):
            raise PhaseNotUsable(
                f"phase {what}: {system} ({symbol}) but its cell is not in the hexagonal setting "
                f"(a={a:.4f}, b={b:.4f} A, gamma={ga:.2f} deg); give the hexagonal cell"
            )
        return (0, 0, 1), system, symbol
    if system == "cubic":
        return (1, 1, 1), system, symbol
    raise PhaseNotUsable(
        f"phase {what}: {system} ({symbol}) has no hexagonal zone among [001] (hexagonal, "
        "trigonal) and [111] (cubic), which phase identification needs"
    )


def display_name(material_id: str) -> str:
    """Label of a phase in the map: the family's names, else the id's last part upper-cased."""
    key = material_id.lower()
    if key in DISPLAY_NAMES:
        return DISPLAY_NAMES[key]
    if key.startswith("cif-"):
        return material_id[4:]
    return material_id.split("-")[-1].upper()


def _is_cif(spec: str) -> bool:
    return spec.lower().endswith(".cif") or os.sep in spec or "/" in spec


def phase_rings(
    spec: str,
    *,
    q_max_invA: float = 1.5,
    name: str | None = None,
    zone_axis: tuple[int, int, int] | None = None,
) -> PhaseRings:
    """Rings of one phase along its hexagonal zone: ``spec`` is a material id or a CIF path.

    Parameters
    ----------
    spec : str
        Library id (``nmc811-o3``) or path to a ``.cif`` file.
    q_max_invA : float
        Largest ring radius [1/Å].
    name : str, optional
        Display name; default :func:`display_name` of the id (the file stem for a CIF).
    zone_axis : (int, int, int), optional
        Beam direction; default the phase's hexagonal zone (:func:`hexagonal_zone`).

    Raises
    ------
    InputError
        One line naming the phase: unknown id, CIF file not found.
    PhaseNotUsable
        (an InputError) A CIF that is not a crystal, no hexagonal zone, no allowed
        reflection along it.
    """
    spec = str(spec).strip()
    if not spec:
        raise InputError("phase '': empty phase name (give a material id or a .cif file)")
    if _is_cif(spec):
        from stemtf.materials.cif import load_cif

        p = Path(spec)
        if not p.is_file():
            raise InputError(f"phase {spec!r}: CIF file not found")
        try:
            mat = load_cif(p)
        except InputError as e:
            raise PhaseNotUsable(f"phase {spec!r}: {e}") from None
        source = str(p)
    else:
        from stemtf.materials.library import get

        try:
            mat = get(spec)
        except InputError as e:
            raise InputError(f"phase {spec!r}: {e}") from None
        source = mat.id
    structure = mat.structure
    what = repr(spec)
    if len(structure) == 0 or structure.volume <= 0:
        raise PhaseNotUsable(f"phase {what}: the structure holds no atoms (not a crystal)")
    zone, system, symbol = hexagonal_zone(structure, what)
    if zone_axis is not None:
        zone = tuple(int(v) for v in zone_axis)
    rings = zone_rings(structure, zone, q_max_invA=q_max_invA)
    if not rings:
        raise PhaseNotUsable(
            f"phase {what}: no allowed reflection along {list(zone)} up to {q_max_invA} 1/A"
        )
    mid = mat.id
    return PhaseRings(
        material_id=mid,
        name=name or (Path(spec).stem if _is_cif(spec) else display_name(mid)),
        crystal_system=system,
        spacegroup=symbol,
        zone_axis=zone,
        rings=tuple(rings),
        source=source,
    )


def load_phases(
    specs,
    *,
    names=None,
    zone_axis: tuple[int, int, int] | None = None,
    q_max_invA: float = 3.0,
) -> tuple[list[PhaseRings], list[str]]:
    """Ring data of several phases; the unusable ones are left out with the reason.

    Parameters
    ----------
    specs : sequence of str
        Material ids or CIF paths (1-8; duplicates count once).
    names : sequence of str, optional
        Display names, one per spec.
    zone_axis : (int, int, int), optional
        One zone for all (default: each phase's hexagonal zone).
    q_max_invA : float
        Largest ring radius [1/Å].

    Returns
    -------
    phases : list of PhaseRings
    dropped : list of str
        One line per phase left out (no hexagonal zone, not a crystal, ...).

    Raises
    ------
    InputError
        An unknown id or a missing file (a typo, not a property of the phase), or a
        repeated phase.
    """
    specs = [str(s).strip() for s in specs]
    if names is not None and len(names) != len(specs):
        raise InputError(f"names={list(names)!r} is not allowed: give one name per phase")
    seen: set[str] = set()
    out, dropped = [], []
    for i, spec in enumerate(specs):
        if spec.lower() in seen:
            raise InputError(f"phase {spec!r}: given twice in --phases")
        seen.add(spec.lower())
        try:
            out.append(
                phase_rings(
                    spec,
                    q_max_invA=q_max_invA,
                    name=None if names is None else names[i],
                    zone_axis=zone_axis,
                )
            )
        except PhaseNotUsable as e:
            dropped.append(f"{e}; left out")
    return out, dropped
