"""Second-phase calls need a marker share that the first phase cannot give on its own.

An ideal, infinitely thick O3 crystal along [001] has no reflection at O1's {100} positions (the
marker ring): its rhombohedral centring forbids them, and no double diffraction reaches them. A
real crystal is not ideal: it ends in a fraction of its three-layer repeat (the forbidden
reflections of incomplete unit cells) and carries cation order. The abTEM O3 supercells show
exactly that: weak reflections at the marker positions, stronger past ~200 Å where the {110}
reflections fade. Measured with this module's photometry on the field benchmark's ``tune``
split (``scripts/bench_marker_share.py``; truth-known scenes at 2 x 10^3 - 10^4 e-/DP), O3 at
225-650 Å called O1/both had marker shares of 0.5-1.0 % of its lattice's counts (median; 99th
percentile <= 2.1 %); O1 and O3+O1 columns (20-80 % O1) 6 % or more on thick, 256 px and carbon
scenes and 1-5 % with 20 mrad mistilt or all field conditions at once (5th percentile). A
significance test on the marker alone (the spot finder's, the matched filter's) cannot tell
them apart at high dose: the more counts, the more significant the weak O3 reflections, and
thick O3 grains were called ``both`` (up to 196 of 537 O3 positions of a ``tune`` scene at 10^4
e-/DP).

:func:`check_marker_share` measures, for each pattern called second phase or both, the
marker's share of the lattice's counts: the background-subtracted counts in the six marker
disks at the rotation the pattern's own hexagon fixes (30 deg from {110}; no rotation is
searched), over those in the central disk plus the {110} hexagon (so a diffuse background,
carbon film or halo does not dilute the share). A pattern without a hexagon takes the rotation
of the nearest one within ``reach`` probe positions or, failing that, of its 3 x 3
neighbourhood's {110} ring (the matched filter's rotation scan). The smallest neighbourhood
whose photometry resolves the threshold decides: the pattern's own (standard error at most
``own_precision * min_share``; a pool at a domain boundary mixes in the neighbours' O1), else
the 3 x 3 or 5 x 5 pool of its neighbours also called second phase or both (standard error at
most ``max_error * min_share``). A call whose share stands ``z_below`` standard errors below
``min_share`` returns to the first phase where the {110} hexagon shows a lattice. Where no
neighbourhood resolves it (a few hundred e-/DP or less) the marker's significance tests stand
alone. The step only removes second-phase calls; it never adds them.

Limit (physics, not the method): a column with under ~25 % O1 at a thickness where O1's own
{100} reflections are weak (near 30 Å or 200 Å along [001] at 200 kV, ~2-3 % of O1's counts)
gives a marker share as small as thick O3's; such columns may be called O3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration
from stemtf.phase.context import _hexagon_table, scan_step_start
from stemtf.phase.dog import remove_hot_pixels
from stemtf.phase.matched import (
    BIN_DEG,
    _marker_and_shared_rings,
    _pooled,
    _weighted_neighbourhood_sum,
    hexagon_scan,
    ring_rotation,
)
from stemtf.phase.model import LABEL_BOTH, LABEL_FIRST, LABEL_SECOND, PhaseModel
from stemtf.phase.spots import SpotTable, aperture_counts

__all__ = ["MarkerShare", "MarkerShareParams", "check_marker_share", "marker_share"]


@dataclass(frozen=True)
class MarkerShareParams:
    """Thresholds of :func:`check_marker_share`.

    Attributes
    ----------
    min_share : float
        Smallest marker share of the lattice's counts (central disk plus {110} hexagon) that a
        second-phase call keeps.
    z_below : float
        A call is removed only where its pooled share stands this many standard errors (shot
        noise of the marker counts) below ``min_share``.
    max_error : float
        ... and only where the share's standard error is at most ``max_error * min_share``
        (the photometry resolves the threshold; at a few hundred e-/DP it does not, and the
        marker's significance tests stand).
    min_lattice_z : float
        ... and where the pooled {110} hexagon's counts stand this many sigmas above their
        background (a lattice that the first phase can be).
    own_precision : float
        A pattern whose own share has a standard error of at most ``own_precision *
        min_share`` is decided on its own photometry, not the pool (at a domain boundary the
        pool holds the neighbours' O1).
    reach : int
        A pattern without a hexagon of its own is measured at the rotation of the nearest
        pattern with one within this many probe positions.
    """

    min_share: float = 0.02
    z_below: float = 1.0
    max_error: float = 0.5
    min_lattice_z: float = 3.0
    own_precision: float = 1.0 / 3.0
    reach: int = 2

    def __post_init__(self) -> None:
        if not (isinstance(self.reach, int) and 0 <= self.reach <= 8):
            raise InputError(
                f"reach={self.reach!r} is not allowed: give an integer 0-8 (probe positions)"
            )
        for name in ("min_share", "z_below", "max_error", "min_lattice_z", "own_precision"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise InputError(f"{name}={v!r} is not allowed: it must be a finite number")
        if not 0.0 < self.min_share < 1.0:
            raise InputError(
                f"min_share={self.min_share!r} is not allowed: it must lie in (0, 1) (a share of "
                f"counts)"
            )


@dataclass(frozen=True)
class MarkerShare:
    """Per-pattern photometry of :func:`marker_share` (NaN rows: not measured).

    Attributes
    ----------
    marker, marker_var : ndarray (N,)
        Background-subtracted counts in the six marker disks and their shot-noise variance.
    lattice, lattice_var : ndarray (N,)
        The same for the six {110} disks.
    beam : ndarray (N,)
        Background-subtracted counts in the central disk.
    """

    marker: np.ndarray
    marker_var: np.ndarray
    lattice: np.ndarray
    lattice_var: np.ndarray
    beam: np.ndarray


def _lattice_rotation(hexagons, n: int, model: PhaseModel, marker, shared) -> np.ndarray:
    """Each pattern's {110} rotation [deg] from its own hexagon (NaN where it has none).

    A hexagon on the shared ring (either phase's {110}, most vertices first) fixes it; failing
    that, a hexagon on the marker ring, turned by the rings' fixed angle.
    """
    offset = marker.rotation_deg - shared.rotation_deg
    on_marker = (ring_rotation(hexagons, n, marker.radius_invA) - offset) % 60.0
    on_shared = ring_rotation(hexagons, n, model.shared_radius_invA or shared.radius_invA) % 60.0
    return np.where(np.isfinite(on_shared), on_shared, on_marker)


def _fill_from_neighbours(rotation: np.ndarray, shape: tuple[int, int], reach: int) -> np.ndarray:
    """Rotations of patterns without a hexagon from the nearest scan neighbour with one.

    Neighbours within ``reach`` probe positions, nearest first (a grain spans several
    positions and shares its rotation); rows with none stay NaN.
    """
    ry, rx = shape
    rot = rotation.reshape(ry, rx)
    out = rot.copy()
    offsets = sorted(
        ((dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)),
        key=lambda o: (o[0] ** 2 + o[1] ** 2, o),
    )[1:]
    pad = np.pad(rot, reach, constant_values=np.nan)
    for dy, dx in offsets:
        todo = np.isnan(out)
        if not todo.any():
            break
        near = pad[reach + dy : reach + dy + ry, reach + dx : reach + dx + rx]
        out[todo] = near[todo]
    return out.ravel()


def _pooled_ring_rotation(dps, centers, want, shape, calibration, model, shared, min_z):
    """The {110} rotation [deg] of patterns ``want`` from their 3 x 3 neighbourhood's counts.

    The matched filter's rotation scan (:func:`stemtf.phase.matched.hexagon_scan`) of the
    shared ring, summed over the pattern and its 8 scan neighbours, maximised; NaN where that
    maximum stands under ``min_z`` sigmas (no lattice to fix the marker's positions).
    """
    need = np.flatnonzero(_pooled(want.astype(float)[:, None], shape)[:, 0] > 0)
    r_px = (model.shared_radius_invA or shared.radius_invA) / calibration.q_sampling_invA
    ex_n, var_n = hexagon_scan(dps[need], centers[need], r_px, calibration)[:2]
    ex = np.zeros((want.size, ex_n.shape[1]))
    var = np.zeros_like(ex)
    ex[need], var[need] = ex_n, var_n
    idx = np.flatnonzero(want)
    z = _pooled(ex, shape)[idx] / np.sqrt(np.maximum(_pooled(var, shape)[idx], 1.0))
    best = np.argmax(z, axis=1)
    return np.where(z[np.arange(idx.size), best] >= min_z, best * BIN_DEG, np.nan)


def marker_share(
    dps: np.ndarray,
    centers_yx: np.ndarray,
    rotation_deg: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
) -> MarkerShare:
    """Aperture photometry of the marker hexagon, the {110} hexagon and the central disk.

    Parameters
    ----------
    dps : ndarray, shape (N, H, W)
        Patterns in counts (hot pixels are removed here).
    centers_yx : ndarray, shape (N, 2)
        Beam centres [px].
    rotation_deg : ndarray, shape (N,)
        The {110} (shared-ring) hexagon's rotation of each pattern [deg]; the marker hexagon
        lies at the model's fixed angle from it. NaN rows are not measured.
    calibration : Calibration
    model : PhaseModel
        A two-phase model with a marker ring.

    Returns
    -------
    MarkerShare
    """
    marker, shared = _marker_and_shared_rings(model)
    n = len(dps)
    nan = np.full(n, np.nan)
    out = {k: nan.copy() for k in ("marker", "marker_var", "lattice", "lattice_var", "beam")}
    idx = np.flatnonzero(np.isfinite(rotation_deg))
    if idx.size == 0:
        return MarkerShare(**out)
    arr = remove_hot_pixels(np.asarray(dps)[idx].astype(np.float32, copy=False))
    cen = np.asarray(centers_yx, float)[idx]
    rot = np.asarray(rotation_deg, float)[idx]
    q = calibration.q_sampling_invA
    r_shared = (model.shared_radius_invA or shared.radius_invA) / q
    turn = marker.rotation_deg - shared.rotation_deg
    for key, radius, angle in (
        ("marker", marker.radius_invA / q, rot + turn),
        ("lattice", r_shared, rot),
    ):
        table = _hexagon_table(cen, radius, angle, calibration)
        ex, _, var = aperture_counts(arr, table, calibration.disk_radius_px, return_variance=True)
        out[key][idx] = ex.reshape(-1, 6).sum(axis=1)
        out[key + "_var"][idx] = var.reshape(-1, 6).sum(axis=1)
    zeros = np.zeros(idx.size)
    beam = SpotTable(np.arange(idx.size), cen[:, 0], cen[:, 1], zeros, zeros)
    out["beam"][idx] = aperture_counts(arr, beam, calibration.disk_radius_px)[0]
    return MarkerShare(**out)


def check_marker_share(
    grid: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    hexagons: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    model: PhaseModel,
    params: MarkerShareParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second-phase and both calls whose marker is too weak a share for O1: first phase.

    See the module docstring. A pattern without a hexagon of its own is measured at the
    rotation of the nearest pattern with one (``params.reach``), else at the rotation scan of
    its 3 x 3 neighbourhood's {110} ring, and left alone where that shows no lattice.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        The patterns in scan order (counts).
    labels, confidence : ndarray, shape (Ry * Rx,)
    hexagons : structured ndarray of :data:`stemtf.phase.classify.HEXAGON_DTYPE`
        The identification's hexagons (``dp_index`` within this grid).
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Beam centres [px].
    calibration : Calibration
    model : PhaseModel
        A two-phase model with a marker ring; other model kinds are returned unchanged.
    params : MarkerShareParams, optional

    Returns
    -------
    labels, confidence : ndarray (Ry * Rx,)
        Updated copies.
    changed : bool ndarray (Ry * Rx,)
    """
    prm = params or MarkerShareParams()
    g, labels, confidence, changed = scan_step_start(grid, labels, confidence)
    ry, rx = g.shape[:2]
    n = ry * rx
    if type(model) is not PhaseModel:
        return labels, confidence, changed
    marker, shared = _marker_and_shared_rings(model)
    if marker is None:
        return labels, confidence, changed
    called = np.isin(labels, (LABEL_SECOND, LABEL_BOTH))
    if not called.any():
        return labels, confidence, changed
    rotation = _fill_from_neighbours(
        _lattice_rotation(hexagons, n, model, marker, shared), (ry, rx), prm.reach
    )
    rotation[~called] = np.nan
    dps = g.reshape((n,) + g.shape[2:])
    centers = np.asarray(centers_yx, float)
    lost = called & np.isnan(rotation)
    if lost.any():
        rotation[lost] = _pooled_ring_rotation(
            dps, centers, lost, (ry, rx), calibration, model, shared, prm.min_lattice_z
        )
    ph = marker_share(dps, centers, rotation, calibration, model)
    measured = np.isfinite(ph.marker)

    if not measured.any():
        return labels, confidence, changed

    def pooled(values: np.ndarray, r: int) -> np.ndarray:
        return _weighted_neighbourhood_sum(
            np.where(measured, values, 0.0), (ry, rx), r, lambda dy, dx: 1.0
        )

    def photometry(r: int):
        """Marker counts, their variance, lattice counts, variance and denominator."""
        if r == 0:
            m, m_var, s, s_var = ph.marker, ph.marker_var, ph.lattice, ph.lattice_var
            b = ph.beam
        else:
            m, m_var, s, s_var, b = (
                pooled(v, r)
                for v in (ph.marker, ph.marker_var, ph.lattice, ph.lattice_var, ph.beam)
            )
        m, m_var, s, s_var, b = (np.where(np.isfinite(v), v, 0.0) for v in (m, m_var, s, s_var, b))
        return m, np.maximum(m_var, 0.0), s, s_var, b + np.maximum(s, 0.0)

    # the smallest neighbourhood whose photometry resolves the threshold decides: the
    # pattern's own (a pool at a domain boundary mixes in the neighbours' O1), its 3 x 3 or
    # its 5 x 5 neighbours called second phase or both; where none does (a few hundred e-/DP
    # or less), the marker's significance tests stand
    decided = np.zeros(n, bool)
    for r, precision in ((0, prm.own_precision), (1, prm.max_error), (2, prm.max_error)):
        m, m_var, s, s_var, d = photometry(r)
        se = np.sqrt(m_var)
        here = ~decided & called & (d > 0) & (se <= precision * prm.min_share * d)
        if r == 0:
            here &= measured
        weak = m + prm.z_below * se < prm.min_share * d
        lattice = s >= prm.min_lattice_z * np.sqrt(np.maximum(s_var, 1.0))
        changed |= here & weak & lattice
        decided |= here
    labels[changed] = LABEL_FIRST
    confidence[changed] = 0.5
    return labels, confidence, changed
