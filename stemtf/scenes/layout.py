"""Ground-truth layout of a synthetic NMC811 scan: where each phase, grain and thickness is.

A particle (ellipse) in vacuum, split into grains (Voronoi cells, each with one in-plane
rotation from the library), thicker in its middle; O1 domains grow from the surface into the
O3 matrix, each surrounded by a band of columns holding both phases (O1 fraction about a half).
Optionally each grain is mistilted (an index into the library's tilt axis) and some grains are
O3 viewed along another zone axis (truth label 4 'unassigned'; O1 domains do not enter them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError

__all__ = ["SceneLayout", "make_layout", "LABEL_NAMES"]

LABEL_NONE, LABEL_O3, LABEL_O1, LABEL_BOTH, LABEL_UNASSIGNED = 0, 1, 2, 3, 4
#: Truth label names by code (the same as ``stemtf.phase.model.LABEL_NAMES``).
LABEL_NAMES = ("none", "O3", "O1", "both", "unassigned")


@dataclass(frozen=True)
class SceneLayout:
    """Per-probe-position truth, arrays of shape (Ry, Rx).

    ``labels`` uint8 (0 vacuum/none, 1 O3, 2 O1, 3 both, 4 unassigned = O3 off the [001]
    zone); ``rotation_index`` into the library rotations; ``thickness_index`` into the library
    thicknesses; ``o1_fraction`` in [0, 1] (0 for O3, 1 for O1, between for both);
    ``tilt_index`` into the library tilt axis (0 = on zone); ``zone_index`` 0 on [001],
    z + 1 for the library's off-zone axis z. ``phase_index`` is the library phase of a pure
    column (0 everywhere in the O3/O1 scenes; a column with ``o1_fraction`` > 0 mixes library
    phase 0 and 1, see :class:`~stemtf.scenes.render.SceneRenderer`); ``grain_index`` the
    grain (Voronoi cell) of each position; ``label_names`` names the label codes (index =
    code; :data:`LABEL_NAMES` in the O3/O1 scenes, :func:`stemtf.scenes.family.family_label_names`
    in the degradation-family scenes).
    """

    labels: np.ndarray
    rotation_index: np.ndarray
    thickness_index: np.ndarray
    o1_fraction: np.ndarray
    tilt_index: np.ndarray | None = None
    zone_index: np.ndarray | None = None
    phase_index: np.ndarray | None = None
    grain_index: np.ndarray | None = None
    label_names: tuple[str, ...] = LABEL_NAMES

    def __post_init__(self) -> None:
        for name in ("tilt_index", "zone_index", "phase_index", "grain_index"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(self.labels.shape, np.int16))
        names = tuple(str(n) for n in self.label_names)
        if len(names) < 2 or names[0] != "none" or len(set(names)) != len(names):
            raise InputError(
                f"label_names={list(self.label_names)!r}: need distinct names, 'none' first"
            )
        if self.labels.size and int(self.labels.max()) >= len(names):
            raise InputError(
                f"layout labels reach {int(self.labels.max())}, past its {len(names)} label names"
            )
        object.__setattr__(self, "label_names", names)

    @property
    def shape(self) -> tuple[int, int]:
        """Scan shape (Ry, Rx)."""
        return self.labels.shape


def make_layout(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    n_rotations: int,
    n_thicknesses: int,
    n_grains: int = 5,
    n_domains: int = 3,
    both_band: float = 0.05,
    both_fraction: tuple[float, float] = (0.4, 0.6),
    vacuum_margin: float = 0.06,
    tilt_choices: tuple[int, ...] = (0,),
    offzone_grains: int = 0,
    n_offzone_axes: int = 0,
) -> SceneLayout:
    """Draw a scene layout.

    Parameters
    ----------
    shape : (int, int)
        Scan shape (Ry, Rx), each >= 1.
    rng : numpy.random.Generator
    n_rotations, n_thicknesses : int
        Sizes of the clean-pattern library axes.
    n_grains : int
        Voronoi grains in the particle.
    n_domains : int
        O1 domains (ellipses centred near the particle surface).
    both_band : float
        Width of the both-phases band around each domain, as a fraction of the scan size.
    both_fraction : (float, float)
        Range of the O1 fraction in that band.
    vacuum_margin : float
        Fraction of the scan (per side, on average) left as vacuum outside the particle.
    tilt_choices : tuple of int
        Library tilt indices a grain draws its mistilt from (uniformly); (0,) = all on zone.
    offzone_grains : int
        Grains viewed along one of ``n_offzone_axes`` other zone axes (label 4, O3 only);
        grains without O1 domains are taken first, so the scene keeps its O1.
    n_offzone_axes : int
        Off-zone axes in the library.

    The extra draws (tilts, off-zone grains) come after all others, so a layout without them
    is the same as before they existed.
    """
    ry, rx = (int(v) for v in shape)
    if ry < 1 or rx < 1:
        raise InputError(f"scan shape {shape!r} is not allowed: both sizes must be >= 1")
    if n_rotations < 1 or n_thicknesses < 1:
        raise InputError("the clean-pattern library needs at least one rotation and thickness")
    y, x = np.mgrid[:ry, :rx]
    v = (y + 0.5) / ry  # normalised coordinates in [0, 1]
    u = (x + 0.5) / rx
    # particle: a rotated, wobbly ellipse
    cy, cx = 0.5 + rng.uniform(-0.05, 0.05, 2)
    ay, ax = 0.5 - vacuum_margin + rng.uniform(-0.03, 0.03, 2)
    th = rng.uniform(0, np.pi)
    dy, dx = v - cy, u - cx
    p = (np.cos(th) * dx + np.sin(th) * dy) / ax
    q = (-np.sin(th) * dx + np.cos(th) * dy) / ay
    ang = np.arctan2(q, p)
    wob = 1 + 0.08 * np.sin(3 * ang + rng.uniform(0, 2 * np.pi))
    rho = np.hypot(p, q) / wob
    inside = rho < 1.0
    # grains: Voronoi cells of random seeds, each with a rotation index
    seeds = np.column_stack([rng.uniform(0.1, 0.9, n_grains), rng.uniform(0.1, 0.9, n_grains)])
    d2 = (v[..., None] - seeds[:, 0]) ** 2 + (u[..., None] - seeds[:, 1]) ** 2
    grain = np.argmin(d2, axis=-1)
    grain_rot = rng.permutation(np.resize(np.arange(n_rotations), n_grains))
    rotation_index = grain_rot[grain].astype(np.int16)
    # thickness: thick in the middle, thin at the rim
    thick = np.clip(1.0 - rho, 0.0, 1.0) ** 0.5
    thick = thick * (1 + 0.1 * rng.standard_normal()) + 0.05 * np.sin(
        2 * np.pi * (u * rng.uniform(1, 3) + v * rng.uniform(1, 3))
    )
    thickness_index = np.clip(np.rint(thick * (n_thicknesses - 1)), 0, n_thicknesses - 1)
    # O1 domains near the surface: ellipses centred on the rim
    frac = np.zeros((ry, rx))
    dist = np.full((ry, rx), np.inf)
    for _ in range(n_domains):
        a = rng.uniform(0, 2 * np.pi)
        r0 = 1.0 * wob.mean()
        ey = cy + ay * r0 * np.sin(a) * rng.uniform(0.7, 0.95)
        ex = cx + ax * r0 * np.cos(a) * rng.uniform(0.7, 0.95)
        sy, sx = rng.uniform(0.06, 0.13, 2)
        dist = np.minimum(dist, np.hypot((v - ey) / sy, (u - ex) / sx) - 1.0)
    scale = both_band / 0.13  # band width in units of a typical domain semi-axis
    o1 = dist < 0
    both = (dist >= 0) & (dist < scale)
    labels = np.full((ry, rx), LABEL_O3, np.uint8)
    labels[o1] = LABEL_O1
    labels[both] = LABEL_BOTH
    frac[o1] = 1.0
    frac[both] = rng.uniform(*both_fraction, size=int(both.sum()))
    labels[~inside] = LABEL_NONE
    frac[~inside] = 0.0
    tilt_index = np.zeros((ry, rx), np.int16)
    if len(tilt_choices) > 1 or tuple(tilt_choices) != (0,):
        tilt_index = np.asarray(tilt_choices, np.int16)[
            rng.integers(0, len(tilt_choices), n_grains)
        ][grain]
    zone_index = np.zeros((ry, rx), np.int16)
    if offzone_grains > 0:
        if n_offzone_axes < 1:
            raise InputError(f"offzone_grains={offzone_grains} needs a library with off-zone axes")
        if offzone_grains >= n_grains:
            raise InputError(
                f"offzone_grains={offzone_grains} is not allowed: it must be less "
                f"than the {n_grains} grains (some must stay on zone)"
            )
        # prefer grains without O1 domains (an off-zone grain is O3 only), random among ties
        o1_in = np.bincount(grain[inside & (labels > LABEL_O3)], minlength=n_grains)
        chosen = np.lexsort((rng.random(n_grains), o1_in))[:offzone_grains]
        axis = rng.integers(0, n_offzone_axes, offzone_grains)
        grain_zone = np.zeros(n_grains, np.int16)
        grain_zone[chosen] = axis + 1
        zone_index = np.where(inside, grain_zone[grain], 0).astype(np.int16)
        off = zone_index > 0
        labels[off] = LABEL_UNASSIGNED
        frac[off] = 0.0
        tilt_index[off] = 0
    tilt_index[~inside] = 0
    return SceneLayout(
        labels=labels,
        rotation_index=rotation_index,
        thickness_index=thickness_index.astype(np.int16),
        o1_fraction=frac.astype(np.float32),
        tilt_index=tilt_index,
        zone_index=zone_index,
        grain_index=grain.astype(np.int16),
    )
