"""Simulate one (material, zone axis) and write it as a clean-DP shard (HDF5)."""

from __future__ import annotations

import json
import os
import zlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.fileio import ensure_writable_dir
from stemtf.materials.material import Material
from stemtf.simulate.config import SimulationConfig
from stemtf.simulate.patterns import simulate_patterns

__all__ = ["simulate_shard", "shard_name", "shard_seed", "shard_attrs"]


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "unknown"


def shard_name(material_id: str, zone_axis) -> str:
    """File name of a shard: ``<material_id>__<u>_<v>_<w>.h5``."""
    u, v, w = (int(x) for x in zone_axis)
    return f"{material_id}__{u}_{v}_{w}.h5"


def shard_seed(seed: int, material_id: str, zone_axis) -> int:
    """A per-shard seed from the run seed, the material and the zone axis (stable across runs)."""
    key = zlib.crc32(f"{material_id}|{tuple(int(x) for x in zone_axis)}".encode())
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1, np.uint32)[0])


def shard_attrs(config: SimulationConfig, info: dict[str, Any]) -> dict[str, Any]:
    """File attributes: physics parameters, provenance and package versions."""
    from stemtf import __version__

    attrs: dict[str, Any] = {
        "energy_eV": float(config.energy_eV),
        "semiangle_mrad": float(config.semiangle_mrad),
        "q_sampling_invA": float(config.q_sampling_invA),
        "wavelength_A": float(config.wavelength_A),
        "disk_radius_invA": float(config.disk_radius_invA),
        "sampling_A": float(config.sampling_A),
        "slice_thickness_A": float(info["slice_thickness_A"]),
        "frozen_phonons": int(config.frozen_phonons),
        "phonon_sigma_A": float(config.phonon_sigma_A),
        "cell_strain": float(info["cell_strain"]),
        "supercell_matrix": np.asarray(info["supercell_matrix"], np.int32),
        "box_A": np.asarray(info["box_A"], float),
        "gpts": np.asarray(info["gpts"], np.int32),
        "simulation_method": "abTEM plane-wave multislice (IAM, Lobato, infinite projection); "
        "ZOLZ Bragg intensities rendered as disks of radius alpha/lambda",
        "simulation_config_json": json.dumps(config.as_attrs()),
        "abtem_version": _version("abtem"),
        "numpy_version": _version("numpy"),
        "pymatgen_version": _version("pymatgen"),
        "ase_version": _version("ase"),
        "stemtf_version": __version__,
    }
    return attrs


def simulate_shard(
    material: Material,
    zone_axis,
    config: SimulationConfig,
    out_path: str | os.PathLike,
    *,
    seed: int = 0,
    rotation_deg: float = 0.0,
) -> Path:
    """Simulate the thickness series and write it to ``out_path`` atomically."""
    from stemtf.shards import write_shard

    out = Path(out_path)
    ensure_writable_dir(out.parent if str(out.parent) else ".", "folder of output file")
    patterns, table, info = simulate_patterns(
        material, zone_axis, config, seed=seed, rotation_deg=rotation_deg, return_info=True
    )
    return write_shard(out, patterns, table, shard_attrs(config, info))
