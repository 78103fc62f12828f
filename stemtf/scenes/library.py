"""A small library of clean diffraction patterns per phase x in-plane rotation x thickness.

Simulated once with :func:`stemtf.simulate.simulate_patterns` (one multislice run per phase and
rotation gives the whole thickness series) and cached as a ``.npz`` keyed by every parameter
that changes the patterns, so later scenes with the same geometry reuse it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemtf.errors import InputError
from stemtf.fileio import atomic_path

__all__ = ["CleanLibrary", "build_library", "default_cache_dir", "DEFAULT_ROTATIONS_DEG",
           "DEFAULT_THICKNESSES_A"]

log = logging.getLogger(__name__)

#: In-plane grain rotations [deg]; the [001] patterns repeat every 60 deg.
DEFAULT_ROTATIONS_DEG = (3.0, 13.0, 24.0, 33.0, 44.0, 52.0)
#: Specimen thicknesses [Å] of the library (one multislice run gives the series).
DEFAULT_THICKNESSES_A = (60.0, 100.0, 140.0, 300.0, 340.0)
#: The central-beam-only (vacuum) pattern keeps pixels within this many px beyond the disk.
_VACUUM_EDGE_PX = 1.5


@dataclass(frozen=True)
class CleanLibrary:
    """Clean patterns ``(P, R, T, H, W)`` float32, each summing to 1, and their axes.

    ``patterns[p, r, t]`` is phase ``material_ids[p]`` at rotation ``rotations_deg[r]`` and
    thickness ``thicknesses_A[t]``; ``vacuum`` is the transmitted beam alone (H, W).
    """

    patterns: np.ndarray
    vacuum: np.ndarray
    material_ids: tuple[str, ...]
    rotations_deg: tuple[float, ...]
    thicknesses_A: tuple[float, ...]
    q_sampling_invA: float
    energy_eV: float
    semiangle_mrad: float

    def __post_init__(self) -> None:
        p = self.patterns
        if p.ndim != 5 or p.shape[:3] != (len(self.material_ids), len(self.rotations_deg),
                                          len(self.thicknesses_A)):
            raise InputError(f"library patterns of shape {p.shape} do not match its axes")
        if self.vacuum.shape != p.shape[3:]:
            raise InputError("library vacuum pattern does not match the pattern shape")

    @property
    def detector_shape(self) -> tuple[int, int]:
        return tuple(self.patterns.shape[3:])

    def info(self) -> dict:
        """JSON-serialisable description (no arrays)."""
        return {"material_ids": list(self.material_ids),
                "rotations_deg": list(self.rotations_deg),
                "thicknesses_A": list(self.thicknesses_A),
                "q_sampling_invA": self.q_sampling_invA, "energy_eV": self.energy_eV,
                "semiangle_mrad": self.semiangle_mrad,
                "detector_px": list(self.detector_shape)}


def vacuum_pattern(pattern: np.ndarray, disk_radius_px: float) -> np.ndarray:
    """The transmitted disk of ``pattern`` alone (renormalised to sum 1)."""
    h, w = pattern.shape
    yy, xx = np.mgrid[:h, :w]
    keep = np.hypot(yy - h // 2, xx - w // 2) <= disk_radius_px + _VACUUM_EDGE_PX
    out = np.where(keep, pattern, 0.0).astype(np.float32)
    s = out.sum()
    if s <= 0:
        raise InputError("cannot make a vacuum pattern: no transmitted beam at the centre")
    return out / s


def default_cache_dir() -> Path:
    """``$STEMTF_CACHE`` or ``~/.cache/stemtf`` (scene libraries go in ``scenes/``)."""
    return Path(os.environ.get("STEMTF_CACHE", Path.home() / ".cache" / "stemtf")) / "scenes"


def build_library(
    *,
    material_ids: tuple[str, ...] = ("nmc811-o3", "nmc811-o1"),
    detector_px: int = 128,
    q_sampling_invA: float = 0.0125,
    energy_eV: float = 200e3,
    semiangle_mrad: float = 1.0,
    rotations_deg: tuple[float, ...] = DEFAULT_ROTATIONS_DEG,
    thicknesses_A: tuple[float, ...] = DEFAULT_THICKNESSES_A,
    zone_axis: tuple[int, int, int] = (0, 0, 1),
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> CleanLibrary:
    """Simulate (or load from the cache) the clean-pattern library of a scene.

    Parameters
    ----------
    material_ids : tuple of str
        Phases (materials library ids), in label order.
    detector_px, q_sampling_invA, energy_eV, semiangle_mrad
        Detector size [px], reciprocal pixel [1/Å], beam energy [eV], semi-angle [mrad].
    rotations_deg, thicknesses_A : tuple of float
        Library axes.
    zone_axis : (int, int, int)
        Beam direction [uvw] (the O3/O1 diagnostic is along [001]).
    seed : int
        Simulation seed (site ordering of the mixed transition-metal sites).
    cache_dir : path, optional
        Where the ``.npz`` cache lives; default :func:`default_cache_dir`. ``""`` disables it.
    """
    key = {"material_ids": list(material_ids), "detector_px": int(detector_px),
           "q_sampling_invA": float(q_sampling_invA), "energy_eV": float(energy_eV),
           "semiangle_mrad": float(semiangle_mrad), "rotations_deg": list(map(float, rotations_deg)),
           "thicknesses_A": list(map(float, thicknesses_A)), "zone_axis": list(zone_axis),
           "seed": int(seed), "format": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    cache = None
    if cache_dir != "":
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = cache / f"library-{digest}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    lib = _from_arrays(z["patterns"], z["vacuum"], key)
                log.info("clean-pattern library from cache %s", path)
                return lib
            except (OSError, ValueError, KeyError) as e:
                log.warning("ignoring unreadable library cache %s (%s)", path, e)
    from stemtf.materials import get as get_material
    from stemtf.simulate import SimulationConfig, simulate_patterns

    config = SimulationConfig(energy_eV=energy_eV, semiangle_mrad=semiangle_mrad,
                              detector_px=int(detector_px), q_sampling_invA=q_sampling_invA,
                              thicknesses_A=tuple(thicknesses_A))
    out = np.zeros((len(material_ids), len(rotations_deg), len(thicknesses_A), detector_px,
                    detector_px), np.float32)
    for p, mid in enumerate(material_ids):
        mat = get_material(mid)
        for r, rot in enumerate(rotations_deg):
            log.info("simulating %s rotation %.1f deg", mid, rot)
            pats, _ = simulate_patterns(mat, zone_axis, config, seed=seed, rotation_deg=rot)
            if pats.shape[0] != len(thicknesses_A):
                raise InputError(f"simulation returned {pats.shape[0]} thicknesses, "
                                 f"expected {len(thicknesses_A)}")
            out[p, r] = pats
    disk_px = semiangle_mrad * 1e-3 / _wavelength(energy_eV) / q_sampling_invA
    vac = vacuum_pattern(out[0, 0, 0], disk_px)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache / f"library-{digest}.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, patterns=out, vacuum=vac, key=json.dumps(key))
    return _from_arrays(out, vac, key)


def _wavelength(energy_eV: float) -> float:
    from stemtf.phase.calibration import wavelength_A

    return wavelength_A(energy_eV)


def _from_arrays(patterns: np.ndarray, vacuum: np.ndarray, key: dict) -> CleanLibrary:
    return CleanLibrary(patterns=np.asarray(patterns, np.float32),
                        vacuum=np.asarray(vacuum, np.float32),
                        material_ids=tuple(key["material_ids"]),
                        rotations_deg=tuple(key["rotations_deg"]),
                        thicknesses_A=tuple(key["thicknesses_A"]),
                        q_sampling_invA=key["q_sampling_invA"], energy_eV=key["energy_eV"],
                        semiangle_mrad=key["semiangle_mrad"])
