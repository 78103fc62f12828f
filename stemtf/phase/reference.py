"""Expected hexagon rings of a crystal along a zone axis, from its reciprocal lattice.

Kinematic zero-order Laue zone: reflections g = h a* + k b* + l c* with g . [u v w] = 0, their
length |g| [1/Å] (crystallographic reciprocal lattice, no 2 pi), in-plane direction, and the
structure factor F(g) = sum_j occ_j Z_j exp(2 pi i g . r_j). Atomic numbers stand in for the
scattering factors: extinctions (F = 0) are exact, relative intensities only indicative.
Reflections of equal length form a ring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ring", "zone_rings"]

#: Relative |F|^2 below which a reflection counts as extinct.
_EXTINCT = 1e-6


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


def zone_rings(structure, zone_axis=(0, 0, 1), *, q_max_invA: float = 1.5) -> list[Ring]:
    """Allowed rings of ``structure`` (pymatgen Structure) along ``zone_axis`` up to q_max.

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
