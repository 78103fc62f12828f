"""Orthogonal simulation cell with a zone axis along the beam (z).

A crystal is periodic in an orthogonal box only for special directions, so we search integer
supercells: rows ``n1, n2, [uvw]`` of an integer matrix ``P`` (lattice vectors ``P @ M``),
with ``n1, n2`` short and nearly perpendicular to the zone axis and to each other. The small
remaining shear is removed by a homogeneous strain (fractional coordinates kept), whose size
is reported. Reflection ``hkl`` of the crystal is supercell reflection ``H = P @ hkl``; in the
zero-order Laue zone ``H[2] = 0`` exactly, so its intensity sits on an exact FFT grid point
of the simulation while the detector shows it at the exact, unstrained position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from itertools import product

import numpy as np

from stemtf.errors import InputError

__all__ = ["OrthoCell", "find_ortho_cell", "order_sites"]

SEARCH_INDEX = 10  # |n_i| <= this when searching lateral supercell vectors
SEARCH_LENGTH_A = 60.0  # longest lateral supercell vector considered [Å]
MAX_STRAIN = 0.02  # refuse cells that need more strain than this (~20 mrad of shear)
STRAIN_STEP = 0.004  # strains within one step count as equal; then the smaller area wins


@dataclass(frozen=True)
class OrthoCell:
    """An integer supercell mapped onto an orthogonal box.

    Attributes
    ----------
    matrix : (3, 3) int array
        Rows ``n1, n2, uvw`` in the basis of the conventional lattice.
    rotation : (3, 3) float array
        Rows are the lab axes x, y, z (z along the zone axis) in the crystal's Cartesian frame.
    extent_A : (3,) float array
        Box lengths (Lx, Ly, Lz) of one supercell after straining [Å].
    strain : float
        Largest singular value of ``F - I`` of the straining deformation ``F``.
    """

    matrix: np.ndarray
    rotation: np.ndarray
    extent_A: np.ndarray
    strain: float


def _primitive(uvw) -> np.ndarray:
    g = reduce(math.gcd, (abs(int(x)) for x in uvw))
    return np.array([int(x) // g for x in uvw])


def find_ortho_cell(
    lattice: np.ndarray,
    uvw,
    *,
    max_index: int = SEARCH_INDEX,
    max_length_A: float = SEARCH_LENGTH_A,
    max_strain: float = MAX_STRAIN,
) -> OrthoCell:
    """Find the least-strained orthogonal supercell with zone axis ``uvw`` along z.

    Parameters
    ----------
    lattice : (3, 3) array
        Real-space lattice vectors as rows [Å].
    uvw : three ints
        Zone axis in the lattice basis.
    max_strain : float
        Largest acceptable strain; raises :class:`InputError` when no cell within
        ``max_index`` / ``max_length_A`` is good enough (e.g. some directions of hexagonal
        crystals with an irrational c/a need very large cells).
    """
    m = np.asarray(lattice, float)
    t_int = _primitive(uvw)
    t = t_int @ m
    tz = np.linalg.norm(t)
    zhat = t / tz
    cands = np.array([c for c in product(range(-max_index, max_index + 1), repeat=3) if any(c)])
    vecs = cands @ m
    lengths = np.linalg.norm(vecs, axis=1)
    tilt = np.abs(vecs @ zhat) / lengths
    keep = (lengths <= max_length_A) & (tilt < 2 * max_strain)
    cands, vecs, lengths = cands[keep], vecs[keep], lengths[keep]
    if len(cands) < 2:
        raise InputError(
            f"zone_axis={list(map(int, uvw))}: no orthogonal supercell with strain <= {max_strain} "
            f"within {max_length_A} A; choose another zone axis"
        )
    order = np.argsort(lengths, kind="stable")
    cands, vecs = cands[order], vecs[order]
    # lab frame per candidate first vector: x along its in-plane part, y = z cross x
    perp = vecs - np.outer(vecs @ zhat, zhat)
    xhat = perp / np.linalg.norm(perp, axis=1, keepdims=True)
    yhat = np.cross(zhat, xhat)
    ax, az = np.einsum("ij,ij->i", vecs, xhat), vecs @ zhat
    # all pairs (i first vector, j second vector)
    bx = vecs @ xhat.T  # [j, i]
    by = vecs @ yhat.T
    bz = (vecs @ zhat)[:, None] * np.ones((1, len(vecs)))
    by_abs = np.abs(by)
    with np.errstate(divide="ignore", invalid="ignore"):
        # F maps columns (A, B, t) onto (ax x, |by| y, tz z); F - I has these entries
        s_ax = np.abs(az)[None, :] / ax[None, :]  # shear of A out of plane
        s_bx = np.abs(bx) / by_abs
        s_bz = np.abs(bz - az[None, :] * bx / ax[None, :]) / by_abs
        score = np.maximum(np.maximum(s_ax, s_bx), s_bz)
    area = ax[None, :] * by_abs
    score[by_abs < 0.5] = np.inf
    best = np.lexsort((area.ravel(), np.ceil(score.ravel() / STRAIN_STEP)))[0]
    j, i = np.unravel_index(best, score.shape)
    if not score[j, i] <= max_strain:
        raise InputError(
            f"zone_axis={list(map(int, uvw))}: no orthogonal supercell with strain <= {max_strain} "
            f"within {max_length_A} A; choose another zone axis"
        )
    n1, n2 = cands[i], cands[j] * (1 if by[j, i] > 0 else -1)
    p = np.array([n1, n2, t_int])
    rot = np.array([xhat[i], yhat[i], zhat])
    cell = p @ m @ rot.T  # rows A, B, t in the lab frame
    target = np.diag([cell[0, 0], cell[1, 1], cell[2, 2]])
    f = np.linalg.solve(cell, target).T  # F @ row_k = target_k
    strain = float(np.linalg.norm(f - np.eye(3), 2))
    return OrthoCell(matrix=p, rotation=rot, extent_A=np.diag(target).copy(), strain=strain)


def order_sites(species: list, rng: np.random.Generator) -> list[str | None]:
    """Draw one species per site from its occupancies (``None`` = vacancy), seeded.

    ``species`` entries are element symbols (ordered sites) or ``{symbol: occupancy}``
    dicts (mixed sites, e.g. NMC811's Ni0.8Mn0.1Co0.1).
    """
    out: list[str | None] = []
    u = rng.random(len(species))
    for sp, x in zip(species, u, strict=True):
        if isinstance(sp, str):
            out.append(sp)
            continue
        acc = 0.0
        chosen = None
        for el, occ in sp.items():
            acc += occ
            if x < acc:
                chosen = el
                break
        out.append(chosen)
    return out
