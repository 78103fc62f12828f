"""Clean diffraction patterns of one (structure, zone axis): multislice, then disks on the detector."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from stemtf.errors import InputError
from stemtf.materials import check_zone_axis
from stemtf.materials.material import Material, structure_to_record
from stemtf.simulate.config import SimulationConfig
from stemtf.simulate.multislice import exit_wave_spectra, period_potential, period_slices
from stemtf.simulate.render import render_disks
from stemtf.simulate.slab import build_slab
from stemtf.simulate.supercell import OrthoCell, find_ortho_cell

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["simulate_patterns", "simulate_rotations", "zolz_reflections", "prepare"]

log = logging.getLogger(__name__)
ANTIALIAS_FRACTION = 2.0 / 3.0  # abTEM band-limits the wave to 2/3 of the Nyquist frequency


def _fast_len(n: int) -> int:
    from scipy.fft import next_fast_len

    return int(next_fast_len(int(n)))


def zolz_reflections(
    lattice: np.ndarray, cell: OrthoCell, k_max_invA: float
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order Laue zone reflections within ``k_max_invA``.

    Returns ``(H, g_lab)``: supercell indices (K, 2) ints (reflection hkl = inv(P) @ (H1, H2, 0)
    is a lattice reflection) and exact positions (K, 2) [1/Å] in the lab frame (x, y), from the
    unstrained reciprocal lattice.
    """
    p = cell.matrix.astype(float)
    h1 = int(math.ceil(k_max_invA * cell.extent_A[0] * 1.2)) + 1
    h2 = int(math.ceil(k_max_invA * cell.extent_A[1] * 1.2)) + 1
    g1, g2 = np.meshgrid(np.arange(-h1, h1 + 1), np.arange(-h2, h2 + 1), indexing="ij")
    hh = np.stack([g1.ravel(), g2.ravel(), np.zeros(g1.size, int)], axis=1)
    hkl = hh @ np.linalg.inv(p).T
    integer = np.all(np.abs(hkl - np.rint(hkl)) < 1e-6, axis=1)
    hh, hkl = hh[integer], np.rint(hkl[integer])
    recip = np.linalg.inv(np.asarray(lattice, float)).T  # rows: reciprocal basis [1/Å]
    g_lab = (hkl @ recip) @ cell.rotation.T
    keep = np.hypot(g_lab[:, 0], g_lab[:, 1]) <= k_max_invA
    return hh[keep, :2], g_lab[keep, :2]


def prepare(structure: Structure, zone_axis, config: SimulationConfig) -> OrthoCell:
    """The zone-axis cell for ``structure`` (raises InputError when none is good enough)."""
    return find_ortho_cell(
        structure.lattice.matrix, check_zone_axis(zone_axis), max_strain=config.max_strain
    )


def _spot_series(
    structure: Structure, zone_axis, config: SimulationConfig, seed: int
) -> dict[str, Any]:
    """Multislice of one (structure, zone axis, tilt): ZOLZ spot positions and intensities.

    One intensity per spot and exit plane: everything a rendered pattern needs except the
    in-plane rotation.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} must be an integer >= 0")
    uvw = check_zone_axis(zone_axis)
    cell = prepare(structure, uvw, config)
    rec = structure_to_record(structure)
    # lateral repeats for the minimum box size, thickness repeats for the deepest exit plane
    rx = max(1, math.ceil(config.lateral_min_A / cell.extent_A[0] - 1e-9))
    ry = max(1, math.ceil(config.lateral_min_A / cell.extent_A[1] - 1e-9))
    nz = max(1, math.ceil(max(config.thicknesses_A) / cell.extent_A[2] - 1e-9))
    box = cell.extent_A * np.array([rx, ry, nz], float)
    half_diag = config.q_sampling_invA * config.detector_px / 2 * math.sqrt(2)
    k_max = half_diag + config.disk_radius_invA
    # grid fine enough for the sampling asked and for the detector's reach inside abTEM's band limit
    gpts = tuple(
        _fast_len(
            max(
                math.ceil(length / config.sampling_A),
                math.ceil(2 * k_max * length / ANTIALIAS_FRACTION) + 2,
            )
        )
        for length in box[:2]
    )
    dz, n_per, exit_idx, used_thickness = period_slices(
        cell.extent_A[2], config.slice_thickness_A, nz, config.thicknesses_A
    )
    hh, g_lab = zolz_reflections(structure.lattice.matrix, cell, k_max)
    ix = np.mod(hh[:, 0] * rx, gpts[0])
    iy = np.mod(hh[:, 1] * ry, gpts[1])
    k_cut = ANTIALIAS_FRACTION * min(gpts[0] / box[0], gpts[1] / box[1]) / 2
    in_band = np.hypot(hh[:, 0] / cell.extent_A[0], hh[:, 1] / cell.extent_A[1]) < k_cut
    planes = sorted(set(exit_idx))
    acc = np.zeros((len(planes), len(hh)))
    n_configs = max(1, config.frozen_phonons)
    num_atoms = 0
    mixed = any(not isinstance(sp, str) for sp in rec["species"])
    phonons = config.frozen_phonons > 0 and config.phonon_sigma_A > 0
    # independent periods along z: all of them with phonons, a few for a random alloy, one otherwise
    n_periods = nz if phonons else (min(nz, config.alloy_periods) if mixed else 1)
    for c in range(n_configs):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), c]))
        units = []
        for _ in range(n_periods):
            atoms = build_slab(
                rec["species"],
                np.array(rec["frac"]),
                cell,
                (rx, ry, 1),
                rng,
                phonon_sigma_A=config.phonon_sigma_A if phonons else 0.0,
            )
            num_atoms += len(atoms) * nz / n_periods / n_configs
            units.append(period_potential(atoms, gpts=gpts, dz=dz, n_per=n_per))
        order = np.arange(nz) if n_periods == nz else rng.integers(0, n_periods, nz)
        slices = np.concatenate([units[k] for k in order], axis=0)
        spec = exit_wave_spectra(
            slices,
            extent_A=(box[0], box[1]),
            dz=dz,
            energy_eV=config.energy_eV,
            exit_indices=planes,
            tilt_mrad=config.tilt_mrad,
        )
        acc += spec[:, ix, iy]
    acc /= n_configs
    acc[:, ~in_band] = 0.0
    info = {
        "supercell_matrix": cell.matrix.tolist(),
        "cell_strain": cell.strain,
        "box_A": box.tolist(),
        "gpts": list(gpts),
        "slice_thickness_A": dz,
        "num_atoms": int(round(num_atoms)),
        "independent_periods": n_periods,
        "num_reflections": int(len(hh)),
    }
    return {
        "uvw": uvw,
        "g_lab": g_lab,
        "intensity": [acc[planes.index(i)] for i in exit_idx],
        "used_thickness": used_thickness,
        "info": info,
    }


def _render_series(
    series: dict[str, Any], config: SimulationConfig, rotation_deg: float
) -> np.ndarray:
    """The (N, H, W) patterns of a spot series, rotated in-plane by ``rotation_deg``."""
    theta = math.radians(rotation_deg)
    rot2 = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    q_xy = series["g_lab"] @ rot2.T
    return np.stack(
        [
            render_disks(
                q_xy,
                inten,
                detector_px=config.detector_px,
                q_sampling_invA=config.q_sampling_invA,
                radius_invA=config.disk_radius_invA,
            )
            for inten in series["intensity"]
        ]
    )


def _structure_and_ident(structure_or_material) -> tuple[Structure, dict[str, Any]]:
    if isinstance(structure_or_material, Material):
        mat = structure_or_material
        return mat.structure, dict(
            material_id=mat.id,
            formula=mat.formula,
            spacegroup_symbol=mat.spacegroup_symbol,
            spacegroup_number=mat.spacegroup_number,
        )
    from stemtf.materials.standardize import formula, standardize

    structure, symbol, number = standardize(structure_or_material)
    return structure, dict(
        material_id="structure",
        formula=formula(structure),
        spacegroup_symbol=symbol,
        spacegroup_number=number,
    )


def simulate_patterns(
    structure_or_material: Structure | Material,
    zone_axis,
    config: SimulationConfig | None = None,
    *,
    seed: int = 0,
    rotation_deg: float = 0.0,
    return_info: bool = False,
) -> tuple[np.ndarray, dict[str, Any]] | tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """Simulate the thickness series of clean DPs of a crystal along a zone axis.

    Parameters
    ----------
    structure_or_material : pymatgen Structure or Material
        The crystal (conventional cell; mixed sites allowed, ordered at random with ``seed``).
    zone_axis : three ints
        Zone axis [uvw] in the basis of the structure's lattice, along the beam.
    config : SimulationConfig
        Physics and detector parameters (``tilt_mrad``: abTEM beam tilt, so spot intensities
        follow the Laue circle while their positions stay on the reciprocal lattice).
    seed : int
        Seeds the site ordering of mixed sites and the frozen-phonon displacements.
    rotation_deg : float
        In-plane rotation of the pattern on the detector [deg], counter-clockwise.
    return_info : bool
        Also return a provenance dict (supercell, strain, box, grid, slices, atoms, seconds).

    Returns
    -------
    patterns : (N, H, W) float32, N = len(config.thicknesses_A), each summing to 1
    table : dict of the shard columns (see :mod:`stemtf.shards`), each of length N
    info : dict, only with ``return_info=True``
    """
    config = config or SimulationConfig()
    structure, ident = _structure_and_ident(structure_or_material)
    t0 = time.perf_counter()
    series = _spot_series(structure, zone_axis, config, seed)
    patterns = _render_series(series, config, rotation_deg)
    uvw, n = series["uvw"], len(series["used_thickness"])
    table = {
        **{k: [v] * n for k, v in ident.items()},
        "zone_axis": [list(uvw)] * n,
        "thickness_A": series["used_thickness"],
        "tilt_mrad": [list(config.tilt_mrad)] * n,
        "rotation_deg": [float(rotation_deg)] * n,
        "seed": [int(seed)] * n,
    }
    info = {**series["info"], "seconds": time.perf_counter() - t0}
    log.debug("simulated %s %s: %s", ident["material_id"], uvw, info)
    return (patterns, table, info) if return_info else (patterns, table)


def simulate_rotations(
    structure_or_material: Structure | Material,
    zone_axis,
    config: SimulationConfig | None = None,
    *,
    seed: int = 0,
    rotations_deg=(0.0,),
) -> np.ndarray:
    """The thickness series at several in-plane rotations from one multislice run.

    The same as stacking :func:`simulate_patterns` per rotation with the same ``seed`` (the
    rotation only turns the spot positions on the detector), at the cost of one run.

    Returns
    -------
    (R, N, H, W) float32, R = len(rotations_deg), N = len(config.thicknesses_A)
    """
    config = config or SimulationConfig()
    structure, _ = _structure_and_ident(structure_or_material)
    series = _spot_series(structure, zone_axis, config, seed)
    return np.stack([_render_series(series, config, float(r)) for r in rotations_deg])
