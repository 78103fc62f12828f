"""Scenes of the NMC811 degradation family: rock-salt shell, spinel and H3 grains, O1 in O3.

A family scene is an O3/O1 scene (:func:`stemtf.scenes.layout.make_layout`: particle, grains,
O1 domains with a band of O3+O1 columns, optional mistilt and off-zone grains) with three more
phases laid over it, drawn after all of the O3/O1 scene's draws:

* whole grains of spinel and of H3 (the grains with the fewest O1 columns, so the O1 stays);
* a rock-salt shell 1-3 px thick at the particle surface (its local thickness varies smoothly
  around the particle between the two bounds), over every on-zone phase below it.

Hexagonal phases (O3, O1, H3) are viewed along [001], the cubic ones (spinel, rock salt)
along [111], each in its topotactic orientation on the O3 matrix: the cubic {2-20} hexagon lies
along O3's {110} hexagon (the oxygen sublattice is shared), so a grain's in-plane rotation means
the same orientation for every phase (:func:`topotactic_offsets_deg`).

Truth labels index :func:`family_label_names`: ``none``, each phase's display name, the O3+O1
mixture, ``unassigned``. Display names are the phase model's
(:func:`stemtf.materials.rings.display_name`: ``O3``, ``O1``, ``H3``, ``spinel``,
``rock salt``); a mixture is the names joined by ``+`` in phase order (``O3+O1``), as the
phase model's mixtures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stemtf.errors import InputError
from stemtf.materials.rings import display_name
from stemtf.scenes.layout import (
    LABEL_BOTH,
    LABEL_NONE,
    LABEL_O1,
    LABEL_O3,
    LABEL_UNASSIGNED,
    SceneLayout,
    make_layout,
)

__all__ = [
    "FAMILY_IDS",
    "FAMILY_ZONES",
    "FamilyScene",
    "display_name",
    "family_label_names",
    "family_library_args",
    "make_family_layout",
    "reflection_angle_deg",
    "topotactic_offsets_deg",
]

#: The degradation family in library order: O3 matrix first, O1 second (mixed columns are
#: ``(1 - f) O3 + f O1``), then H3, spinel, rock salt.
FAMILY_IDS = ("nmc811-o3", "nmc811-o1", "nmc811-h3", "nmc811-spinel", "nmc811-rocksalt")
#: Per phase: zone axis [uvw] and the reflection (hkl) that lies along O3's {110} in the
#: topotactic orientation (cubic [111] parallel to hexagonal [001], cubic {2-20} along {110}).
FAMILY_ZONES = {
    "nmc811-o3": ((0, 0, 1), (1, 1, 0)),
    "nmc811-o1": ((0, 0, 1), (1, 1, 0)),
    "nmc811-h3": ((0, 0, 1), (1, 1, 0)),
    "nmc811-spinel": ((1, 1, 1), (2, -2, 0)),
    "nmc811-rocksalt": ((1, 1, 1), (2, -2, 0)),
}
_P_O3, _P_O1, _P_H3, _P_SPINEL, _P_ROCKSALT = range(5)


def family_label_names(material_ids: tuple[str, ...] = FAMILY_IDS) -> tuple[str, ...]:
    """Truth label names by code: none, each phase, the first two mixed, unassigned."""
    names = tuple(display_name(m) for m in material_ids)
    return ("none", *names, f"{names[0]}+{names[1]}", "unassigned")


def reflection_angle_deg(structure, zone_axis, hkl) -> float:
    """Azimuth [deg] of reflection ``hkl`` in the simulation's lab frame along ``zone_axis``.

    The lab frame is the one :func:`stemtf.simulate.simulate_patterns` renders at rotation 0
    (the zone-axis cell of :func:`stemtf.simulate.supercell.find_ortho_cell`).
    """
    from stemtf.simulate import SimulationConfig
    from stemtf.simulate.patterns import prepare

    uvw = np.asarray(zone_axis, int)
    h = np.asarray(hkl, float)
    if abs(float(h @ uvw)) > 1e-9:
        raise InputError(f"reflection {list(hkl)} is not in the zero-order zone of {list(uvw)}")
    cell = prepare(structure, tuple(uvw), SimulationConfig())
    g = h @ np.linalg.inv(np.asarray(structure.lattice.matrix, float)).T
    x, y, _ = cell.rotation @ g
    return math.degrees(math.atan2(y, x))


def topotactic_offsets_deg(material_ids: tuple[str, ...] = FAMILY_IDS) -> tuple[float, ...]:
    """Per phase, the in-plane rotation [deg] that puts its reference hexagon on the first's.

    Rendering phase ``p`` at library rotation ``r + offset[p]`` puts its reference reflection
    (:data:`FAMILY_ZONES`: {110} of the hexagonal phases, {2-20} of the cubic ones along [111])
    at the azimuth of the first phase's (O3 {110}) at rotation ``r``, modulo the 60 deg of a
    hexagon. Offsets are in [-30, 30), rounded to 1e-6 deg.
    """
    from stemtf.materials import get as get_material

    unknown = [m for m in material_ids if m not in FAMILY_ZONES]
    if unknown:
        raise InputError(
            f"phases {unknown}: no topotactic orientation known; the family scenes know "
            f"{', '.join(FAMILY_ZONES)}"
        )
    angles = [
        reflection_angle_deg(get_material(m).structure, *FAMILY_ZONES[m]) for m in material_ids
    ]
    out = []
    for a in angles:
        d = (angles[0] - a + 30.0) % 60.0 - 30.0
        out.append(round(d, 6) + 0.0)  # + 0.0: no -0.0
    return tuple(out)


def family_library_args(material_ids: tuple[str, ...] = FAMILY_IDS) -> dict:
    """``build_library`` keyword arguments of a family library (ids, zone axes, offsets)."""
    return {
        "material_ids": tuple(material_ids),
        "phase_zone_axes": tuple(FAMILY_ZONES[m][0] for m in material_ids),
        "rotation_offsets_deg": topotactic_offsets_deg(material_ids),
    }


@dataclass(frozen=True)
class FamilyScene:
    """What a degradation-family scene adds to the O3/O1 scene (frozen, validated).

    Parameters
    ----------
    shell_px : (int, int)
        Rock-salt shell thickness range LO HI [px] (probe positions from the surface,
        0 <= LO <= HI <= 8); the local thickness varies smoothly around the particle between
        them (0 0: no shell).
    spinel_grains, h3_grains : int
        Whole grains of spinel and of H3 (0-8 each).
    """

    shell_px: tuple[int, int] = (1, 3)
    spinel_grains: int = 1
    h3_grains: int = 1

    def __post_init__(self) -> None:
        try:
            lo, hi = (v for v in self.shell_px)
        except (TypeError, ValueError):
            raise InputError(f"shell_px={self.shell_px!r} must be a (lo, hi) pair of px") from None
        if any(int(v) != v for v in (lo, hi)) or not 0 <= lo <= hi <= 8:
            raise InputError(
                f"shell_px={self.shell_px!r} is not allowed: need integers 0 <= LO <= HI <= 8 px"
            )
        object.__setattr__(self, "shell_px", (int(lo), int(hi)))
        for name in ("spinel_grains", "h3_grains"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 8:
                raise InputError(f"{name}={v!r} is not allowed: it must be an integer 0 to 8")

    def to_dict(self) -> dict:
        """JSON-serialisable dict (provenance)."""
        d = asdict(self)
        d["shell_px"] = list(self.shell_px)
        d["material_ids"] = list(FAMILY_IDS)
        d["topotactic"] = "cubic [111] || hexagonal [001], cubic {2-20} || O3 {110}"
        return d


def _shell(inside: np.ndarray, shell_px: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Positions within the local shell thickness of the particle surface (bool mask)."""
    from scipy import ndimage

    lo, hi = shell_px
    phase = rng.uniform(0, 2 * np.pi)  # drawn even without a shell: same draws either way
    if hi == 0 or not inside.any() or inside.all():
        return np.zeros_like(inside)
    # distance to the nearest vacuum position (the scan's edge is no surface)
    depth = ndimage.distance_transform_edt(inside)
    yy, xx = np.nonzero(inside)
    cy, cx = yy.mean(), xx.mean()
    y, x = np.mgrid[: inside.shape[0], : inside.shape[1]]
    ang = np.arctan2(y - cy, x - cx)
    local = np.rint(lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * ang + phase)))
    return inside & (depth <= local)


def make_family_layout(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    family: FamilyScene,
    n_rotations: int,
    n_thicknesses: int,
    n_grains: int = 6,
    **o3o1_kw,
) -> SceneLayout:
    """Draw a degradation-family layout (phase order :data:`FAMILY_IDS`).

    Parameters
    ----------
    shape, rng, n_rotations, n_thicknesses, n_grains
        As :func:`stemtf.scenes.layout.make_layout`.
    family : FamilyScene
        Shell thickness and the numbers of spinel and H3 grains.
    **o3o1_kw
        Passed to :func:`~stemtf.scenes.layout.make_layout` (O1 domains, O3+O1 band, mistilt,
        off-zone grains).

    Returns
    -------
    SceneLayout
        Labels index :func:`family_label_names`; ``phase_index`` is the library phase of each
        pure column (0 O3, 2 H3, 3 spinel, 4 rock salt; O1 and O3+O1 columns are phase 0 with
        ``o1_fraction`` 1 or between 0 and 1); rotation, thickness and tilt stay those of the
        grain and position below (the topotactic orientation is in the library).
    """
    base = make_layout(
        shape,
        rng,
        n_rotations=n_rotations,
        n_thicknesses=n_thicknesses,
        n_grains=n_grains,
        **o3o1_kw,
    )
    names = family_label_names()
    code = {n: i for i, n in enumerate(names)}
    o3, o1, h3, spinel, rocksalt = (display_name(m) for m in FAMILY_IDS)
    remap = np.zeros(LABEL_UNASSIGNED + 1, np.uint8)
    remap[[LABEL_NONE, LABEL_O3, LABEL_O1, LABEL_BOTH, LABEL_UNASSIGNED]] = [
        code["none"],
        code[o3],
        code[o1],
        code[f"{o3}+{o1}"],
        code["unassigned"],
    ]
    labels = remap[base.labels]
    phase = np.zeros(base.shape, np.int16)
    frac = base.o1_fraction.copy()
    inside = base.labels != LABEL_NONE
    on_zone = inside & (base.zone_index == 0)
    grain = base.grain_index
    # spinel and H3 grains: on-zone grains of at least half the mean grain area, the fewest
    # O1 columns first
    n_new = family.spinel_grains + family.h3_grains
    area = np.bincount(grain[on_zone], minlength=n_grains)
    off = np.bincount(grain[inside & (base.zone_index > 0)], minlength=n_grains)
    o1_in = np.bincount(grain[inside & (base.labels > LABEL_O3)], minlength=n_grains)
    tie = rng.random(n_grains)
    big = (area >= max(4.0, 0.5 * on_zone.sum() / n_grains)) & (off == 0)
    order = [g for g in np.lexsort((tie, o1_in)) if big[g]]
    if len(order) <= n_new and n_new:
        raise InputError(
            f"spinel_grains={family.spinel_grains} + h3_grains={family.h3_grains} need more "
            f"than {n_new} on-zone grains of at least half the mean grain area; this scene has "
            f"{len(order)} (raise --grains, now {n_grains}, or the scan size)"
        )
    for g, (name, p) in zip(
        order[:n_new],
        [(spinel, _P_SPINEL)] * family.spinel_grains + [(h3, _P_H3)] * family.h3_grains,
        strict=True,
    ):
        cells = on_zone & (grain == g)
        labels[cells], phase[cells], frac[cells] = code[name], p, 0.0
    shell = _shell(inside, family.shell_px, rng) & on_zone
    labels[shell], phase[shell], frac[shell] = code[rocksalt], _P_ROCKSALT, 0.0
    return SceneLayout(
        labels=labels,
        rotation_index=base.rotation_index,
        thickness_index=base.thickness_index,
        o1_fraction=frac.astype(np.float32),
        tilt_index=base.tilt_index,
        zone_index=base.zone_index,
        phase_index=phase,
        grain_index=grain,
        label_names=names,
    )
