"""A small library of clean diffraction patterns per phase x in-plane rotation x thickness.

Simulated once with :func:`stemtf.simulate.simulate_rotations` (one multislice run per phase,
zone axis and tilt gives the whole thickness series at every rotation) and cached as a ``.npz`` keyed by every parameter
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
from stemtf.physics import disk_radius_px

__all__ = [
    "CleanLibrary",
    "build_library",
    "default_cache_dir",
    "tilt_axis_mrad",
    "DEFAULT_ROTATIONS_DEG",
    "DEFAULT_THICKNESSES_A",
    "FIELD_THICKNESSES_A",
    "OFFZONE_AXES",
]

log = logging.getLogger(__name__)

#: In-plane grain rotations [deg]; the [001] patterns repeat every 60 deg.
DEFAULT_ROTATIONS_DEG = (3.0, 13.0, 24.0, 33.0, 44.0, 52.0)
#: Specimen thicknesses [Å] of the library (one multislice run gives the series).
DEFAULT_THICKNESSES_A = (60.0, 100.0, 140.0, 300.0, 340.0)
#: A finer 30-200 Å series for field scenes (the thickness map grows into the particle).
FIELD_THICKNESSES_A = (30.0, 45.0, 60.0, 80.0, 100.0, 125.0, 150.0, 175.0, 200.0)
#: Off-[001] zone axes of O3 grains (hexagonal setting). [110] is [100] up to inversion in
#: R-3m (the 3-fold axis maps [100] to [-1-10]), so the second axis is the other in-plane
#: family, [1-10].
OFFZONE_AXES = ((1, 0, 0), (1, -1, 0))
#: The central-beam-only (vacuum) pattern keeps pixels within this many px beyond the disk.
_VACUUM_EDGE_PX = 1.5


@dataclass(frozen=True)
class CleanLibrary:
    """Clean patterns ``(P, R, T, H, W)`` float32, each summing to 1, and their axes.

    ``patterns[p, r, t]`` is phase ``material_ids[p]`` at rotation ``rotations_deg[r]`` and
    thickness ``thicknesses_A[t]`` along [001] without tilt; ``vacuum`` is the transmitted beam
    alone (H, W). Optional axes: ``tilted[p, r, k - 1, t]`` the same under beam tilt
    ``tilts_mrad[k]`` (k >= 1; ``tilts_mrad[0]`` is (0, 0), the untilted ``patterns``), tilt
    (x, y) [mrad] in the crystal frame before the in-plane rotation; ``offzone[z, r, t]`` the
    first phase along zone axis ``offzone_axes[z]``. ``phase_zone_axes`` (one [uvw] per phase,
    e.g. [111] for a cubic phase) and ``rotation_offsets_deg`` (added to every rotation of that
    phase, e.g. its topotactic orientation on the first phase) are empty when every phase is
    along [001] without offset.
    """

    patterns: np.ndarray
    vacuum: np.ndarray
    material_ids: tuple[str, ...]
    rotations_deg: tuple[float, ...]
    thicknesses_A: tuple[float, ...]
    q_sampling_invA: float
    energy_eV: float
    semiangle_mrad: float
    tilts_mrad: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    tilted: np.ndarray | None = None
    offzone_axes: tuple[tuple[int, int, int], ...] = ()
    offzone: np.ndarray | None = None
    seed: int = 0
    phase_zone_axes: tuple[tuple[int, int, int], ...] = ()
    rotation_offsets_deg: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        p = self.patterns
        n_p = len(self.material_ids)
        for name in ("phase_zone_axes", "rotation_offsets_deg"):
            v = getattr(self, name)
            if v and len(v) != n_p:
                raise InputError(f"library {name} has {len(v)} entries for {n_p} phases")
        object.__setattr__(
            self, "phase_zone_axes", tuple(tuple(int(c) for c in a) for a in self.phase_zone_axes)
        )
        object.__setattr__(
            self, "rotation_offsets_deg", tuple(float(o) for o in self.rotation_offsets_deg)
        )
        if p.ndim != 5 or p.shape[:3] != (
            len(self.material_ids),
            len(self.rotations_deg),
            len(self.thicknesses_A),
        ):
            raise InputError(f"library patterns of shape {p.shape} do not match its axes")
        if self.vacuum.shape != p.shape[3:]:
            raise InputError("library vacuum pattern does not match the pattern shape")
        tilts = tuple((float(a), float(b)) for a, b in self.tilts_mrad)
        if not tilts or tilts[0] != (0.0, 0.0):
            raise InputError(f"library tilts {self.tilts_mrad!r} must start with (0, 0)")
        object.__setattr__(self, "tilts_mrad", tilts)
        want = p.shape[:2] + (len(tilts) - 1,) + p.shape[2:]
        if len(tilts) > 1 and (self.tilted is None or self.tilted.shape != want):
            raise InputError(f"library tilted patterns do not match its {len(tilts)} tilts")
        axes = tuple(tuple(int(v) for v in a) for a in self.offzone_axes)
        object.__setattr__(self, "offzone_axes", axes)
        want = (len(axes),) + p.shape[1:]
        if axes and (self.offzone is None or self.offzone.shape != want):
            raise InputError(f"library off-zone patterns do not match its {len(axes)} axes")

    @property
    def detector_shape(self) -> tuple[int, int]:
        """Detector shape (H, W) [px]."""
        return tuple(self.patterns.shape[3:])

    @property
    def tilt_magnitudes_mrad(self) -> np.ndarray:
        """|tilt| [mrad] per tilt index."""
        return np.hypot(*np.asarray(self.tilts_mrad, float).T)

    def pattern(self, phase: int, rotation: int, thickness: int, tilt: int = 0) -> np.ndarray:
        """Clean pattern of ``phase`` at library indices (tilt index 0 = untilted)."""
        if tilt == 0:
            return self.patterns[phase, rotation, thickness]
        return self.tilted[phase, rotation, tilt - 1, thickness]

    def zone_axis_of(self, phase: int) -> tuple[int, int, int]:
        """Zone axis [uvw] of library phase ``phase`` (its own basis) on zone."""
        return self.phase_zone_axes[phase] if self.phase_zone_axes else (0, 0, 1)

    def info(self) -> dict:
        """JSON-serialisable description (no arrays)."""
        extra = {}
        if self.phase_zone_axes:
            extra["phase_zone_axes"] = [list(a) for a in self.phase_zone_axes]
        if self.rotation_offsets_deg:
            extra["rotation_offsets_deg"] = list(self.rotation_offsets_deg)
        return {
            "material_ids": list(self.material_ids),
            "rotations_deg": list(self.rotations_deg),
            "thicknesses_A": list(self.thicknesses_A),
            "q_sampling_invA": self.q_sampling_invA,
            "energy_eV": self.energy_eV,
            "semiangle_mrad": self.semiangle_mrad,
            "detector_px": list(self.detector_shape),
            "tilts_mrad": [list(t) for t in self.tilts_mrad],
            "offzone_axes": [list(a) for a in self.offzone_axes],
            "seed": self.seed,
            **extra,
        }


def tilt_axis_mrad(
    max_tilt_mrad: float, *, magnitudes: int = 3, azimuths_deg: tuple[float, ...] = (10.0, 40.0)
) -> tuple[tuple[float, float], ...]:
    """A library tilt axis as (x, y) tilts [mrad].

    (0, 0), then ``magnitudes`` tilt sizes up to ``max_tilt_mrad`` (equal steps) times the
    azimuths [deg] (crystal frame).
    """
    out = [(0.0, 0.0)]
    if max_tilt_mrad > 0:
        for m in np.linspace(max_tilt_mrad / magnitudes, max_tilt_mrad, magnitudes):
            for a in azimuths_deg:
                out.append(
                    (
                        round(float(m * np.cos(np.radians(a))), 6),
                        round(float(m * np.sin(np.radians(a))), 6),
                    )
                )
    return tuple(out)


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
    tilts_mrad: tuple[tuple[float, float], ...] = ((0.0, 0.0),),
    offzone_axes: tuple[tuple[int, int, int], ...] = (),
    phase_zone_axes: tuple[tuple[int, int, int], ...] | None = None,
    rotation_offsets_deg: tuple[float, ...] | None = None,
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
    tilts_mrad : tuple of (float, float)
        Beam-tilt axis (x, y) [mrad], abTEM ``PlaneWave(tilt=...)`` (the Fresnel propagator is
        tilted, so spot intensities follow the Laue circle; positions stay on the lattice);
        must start with (0, 0); see :func:`tilt_axis_mrad`.
    offzone_axes : tuple of [uvw]
        Extra zone axes of the first phase (off-zone grains), untilted; e.g.
        :data:`OFFZONE_AXES`.
    phase_zone_axes : tuple of [uvw], optional
        One zone axis per phase (each in its own conventional basis), replacing ``zone_axis``;
        e.g. [111] for the cubic spinel and rock salt of the NMC811 degradation family.
    rotation_offsets_deg : tuple of float, optional
        Per phase, added to every library rotation of that phase [deg], so that rotation ``r``
        is the same grain orientation for every phase (e.g.
        :func:`stemtf.scenes.family.topotactic_offsets_deg`).
    """
    key = {
        "material_ids": list(material_ids),
        "detector_px": int(detector_px),
        "q_sampling_invA": float(q_sampling_invA),
        "energy_eV": float(energy_eV),
        "semiangle_mrad": float(semiangle_mrad),
        "rotations_deg": list(map(float, rotations_deg)),
        "thicknesses_A": list(map(float, thicknesses_A)),
        "zone_axis": list(zone_axis),
        "seed": int(seed),
        "tilts_mrad": [list(map(float, t)) for t in tilts_mrad],
        "offzone_axes": [list(map(int, a)) for a in offzone_axes],
        "format": 2,
    }
    n_p = len(material_ids)
    for name, v in (
        ("phase_zone_axes", phase_zone_axes),
        ("rotation_offsets_deg", rotation_offsets_deg),
    ):
        if v is not None and len(v) != n_p:
            raise InputError(f"{name}={list(v)!r} needs one entry per phase ({n_p})")
    if phase_zone_axes is not None:  # keys of libraries without them stay as they were
        key["phase_zone_axes"] = [list(map(int, a)) for a in phase_zone_axes]
    if rotation_offsets_deg is not None:
        key["rotation_offsets_deg"] = [float(o) for o in rotation_offsets_deg]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    cache = None
    if cache_dir != "":
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = cache / f"library-{digest}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    lib = _from_arrays(
                        z["patterns"],
                        z["vacuum"],
                        key,
                        z["tilted"] if "tilted" in z else None,
                        z["offzone"] if "offzone" in z else None,
                    )
                log.info("clean-pattern library from cache %s", path)
                return lib
            except (OSError, ValueError, KeyError) as e:
                log.warning("ignoring unreadable library cache %s (%s)", path, e)
    from stemtf.materials import get as get_material
    from stemtf.simulate import SimulationConfig, simulate_rotations

    def simulate(mat, uvw, tilt, offset_deg=0.0):
        """(R, T, H, W): every library rotation from one multislice run."""
        config = SimulationConfig(
            energy_eV=energy_eV,
            semiangle_mrad=semiangle_mrad,
            detector_px=int(detector_px),
            q_sampling_invA=q_sampling_invA,
            thicknesses_A=tuple(thicknesses_A),
            tilt_mrad=tuple(tilt),
        )
        log.info("simulating %s %s tilt %s mrad", mat.id, list(uvw), tilt)
        rots = rotations_deg if offset_deg == 0.0 else [r + offset_deg for r in rotations_deg]
        pats = simulate_rotations(mat, uvw, config, seed=seed, rotations_deg=rots)
        if pats.shape[1] != len(thicknesses_A):
            raise InputError(
                f"simulation returned {pats.shape[1]} thicknesses, expected {len(thicknesses_A)}"
            )
        return pats

    if not tilts_mrad or tuple(map(float, tilts_mrad[0])) != (0.0, 0.0):
        raise InputError(f"tilts_mrad={tilts_mrad!r}: the tilt axis must start with (0, 0)")
    n_p, n_r, n_k = len(material_ids), len(rotations_deg), len(tilts_mrad)
    shape = (len(thicknesses_A), detector_px, detector_px)
    out = np.zeros((n_p, n_r) + shape, np.float32)
    tilted = np.zeros((n_p, n_r, n_k - 1) + shape, np.float32) if n_k > 1 else None
    offzone = np.zeros((len(offzone_axes), n_r) + shape, np.float32) if offzone_axes else None
    mats = [get_material(mid) for mid in material_ids]
    axes = list(phase_zone_axes) if phase_zone_axes is not None else [zone_axis] * n_p
    offsets = [float(o) for o in rotation_offsets_deg] if rotation_offsets_deg else [0.0] * n_p
    for p, mat in enumerate(mats):
        out[p] = simulate(mat, axes[p], (0.0, 0.0), offsets[p])
        for k in range(1, n_k):
            tilted[p, :, k - 1] = simulate(mat, axes[p], tilts_mrad[k], offsets[p])
    for z, uvw in enumerate(offzone_axes):
        offzone[z] = simulate(mats[0], uvw, (0.0, 0.0))
    disk_px = disk_radius_px(semiangle_mrad, energy_eV, q_sampling_invA)
    vac = vacuum_pattern(out[0, 0, 0], disk_px)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        extra = {k: v for k, v in (("tilted", tilted), ("offzone", offzone)) if v is not None}
        with atomic_path(cache / f"library-{digest}.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, patterns=out, vacuum=vac, key=json.dumps(key), **extra)
    return _from_arrays(out, vac, key, tilted, offzone)


def _from_arrays(
    patterns: np.ndarray,
    vacuum: np.ndarray,
    key: dict,
    tilted: np.ndarray | None = None,
    offzone: np.ndarray | None = None,
) -> CleanLibrary:
    return CleanLibrary(
        patterns=np.asarray(patterns, np.float32),
        vacuum=np.asarray(vacuum, np.float32),
        material_ids=tuple(key["material_ids"]),
        rotations_deg=tuple(key["rotations_deg"]),
        thicknesses_A=tuple(key["thicknesses_A"]),
        q_sampling_invA=key["q_sampling_invA"],
        energy_eV=key["energy_eV"],
        semiangle_mrad=key["semiangle_mrad"],
        tilts_mrad=tuple(tuple(t) for t in key["tilts_mrad"]),
        tilted=None if tilted is None else np.asarray(tilted, np.float32),
        offzone_axes=tuple(tuple(a) for a in key["offzone_axes"]),
        offzone=None if offzone is None else np.asarray(offzone, np.float32),
        seed=key["seed"],
        phase_zone_axes=tuple(tuple(a) for a in key.get("phase_zone_axes", ())),
        rotation_offsets_deg=tuple(key.get("rotation_offsets_deg", ())),
    )
