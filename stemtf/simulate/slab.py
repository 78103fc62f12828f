"""Fill the orthogonal simulation box with atoms: supercell, seeded site ordering, phonons."""

from __future__ import annotations

from itertools import product
from typing import TYPE_CHECKING

import numpy as np

from stemtf.simulate.supercell import OrthoCell, order_sites

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms

__all__ = ["build_slab"]

_WRAP_TOL = 1e-9


def _lattice_points(p: np.ndarray) -> np.ndarray:
    """Integer translations n (conventional basis) with ``n @ inv(p)`` in [0, 1)^3."""
    corners = np.array(list(product((0, 1), repeat=3))) @ p
    lo, hi = np.floor(corners.min(0)).astype(int), np.ceil(corners.max(0)).astype(int)
    grids = np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    n = np.stack([g.ravel() for g in grids], axis=1)
    f = n @ np.linalg.inv(p)
    inside = np.all((f >= -_WRAP_TOL) & (f < 1 - _WRAP_TOL), axis=1)
    return n[inside]


def build_slab(
    species: list,
    frac: np.ndarray,
    cell: OrthoCell,
    repeats: tuple[int, int, int],
    rng: np.random.Generator,
    *,
    phonon_sigma_A: float = 0.0,
) -> Atoms:
    """ASE atoms of ``repeats`` = (rx, ry, nz) copies of ``cell`` in an orthogonal box.

    Parameters
    ----------
    species : list
        Per site of the conventional cell: a symbol or ``{symbol: occupancy}`` (mixed site).
    frac : (S, 3) array
        Fractional coordinates of the sites in the conventional cell.
    cell : OrthoCell
        The zone-axis supercell (:func:`stemtf.simulate.supercell.find_ortho_cell`).
    repeats : (int, int, int)
        Copies along x, y (lateral size) and z (thickness).
    rng : numpy Generator
        Draws the species of mixed sites (independently per site, so the alloy is random in
        3D) and the frozen-phonon displacements.
    phonon_sigma_A : float
        RMS displacement per direction [Å]; 0 for a static lattice.
    """
    from ase import Atoms

    p = np.diag(repeats) @ cell.matrix
    n = _lattice_points(p)
    inv = np.linalg.inv(p)
    frac = np.asarray(frac, float)
    f = ((n[:, None, :] + frac[None, :, :]) @ inv).reshape(-1, 3)
    f = np.mod(f + _WRAP_TOL, 1.0) - _WRAP_TOL
    f = np.clip(f, 0.0, None)
    sp = order_sites(list(species) * len(n), rng)
    extent = cell.extent_A * np.asarray(repeats, float)
    pos = f * extent
    keep = np.array([s is not None for s in sp])
    pos = pos[keep]
    symbols = [s for s in sp if s is not None]
    if phonon_sigma_A > 0:
        pos = pos + rng.normal(0.0, phonon_sigma_A, pos.shape)
        pos[:, 2] = np.clip(pos[:, 2], 0.0, extent[2])
    return Atoms(symbols=symbols, positions=pos, cell=np.diag(extent), pbc=True)
