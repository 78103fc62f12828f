"""Detector calibration for phase identification: q sampling, beam centre, ellipticity.

:func:`calibrate` looks at a sample of patterns: it finds the transmitted beam in each (descan)
and takes the median as the global centre, estimates the elliptical distortion of the rings from
the spots of the strongest hexagons (r(theta) = r0 (1 + e cos 2(theta - psi))), and checks or
infers the reciprocal pixel size from a reference ring.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from stemtf.errors import InputError, check_positive, check_range
from stemtf.phase.lattice import hexagon_vertices
from stemtf.physics import disk_radius_px as _disk_radius_px
from stemtf.physics import electron_wavelength_A as wavelength_A  # re-exported: one formula

__all__ = [
    "Calibration",
    "annulus_pixels",
    "calibrate",
    "wavelength_A",
    "correct_ellipticity",
    "corrected_offsets",
    "fit_ellipticity",
    "hexagon_on_detector",
]

log = logging.getLogger(__name__)

#: Shot-noise significance a spot needs to take part in the ellipticity fit.
_MIN_SPOT_Z = 5.0
#: Above this many percent of radial modulation the ellipticity is not believed (bad fit).
_MAX_ELLIPTICITY = 0.2


@dataclass(frozen=True)
class Calibration:
    """Geometry of the detector for one scan.

    Attributes
    ----------
    q_sampling_invA : float
        Reciprocal pixel size [1/Å per px].
    energy_eV : float
        Beam energy [eV].
    semiangle_mrad : float
        Probe convergence semi-angle [mrad]; sets the disk radius.
    center_yx : (float, float)
        Global transmitted-beam position [px]; (0, 0) means unknown (the detector centre
        ``(H//2, W//2)`` is used).
    ellipticity_ratio : float
        Major / minor axis ratio of the ring distortion (1 = none).
    ellipticity_angle_deg : float
        Direction of the major axis [deg], measured as atan2(y, x).
    """

    q_sampling_invA: float
    energy_eV: float = 200e3
    semiangle_mrad: float = 1.0
    center_yx: tuple[float, float] = (0.0, 0.0)
    ellipticity_ratio: float = 1.0
    ellipticity_angle_deg: float = 0.0

    def __post_init__(self) -> None:
        check_positive("q_sampling_invA", self.q_sampling_invA, "1/Å per px")
        check_range("energy_eV", self.energy_eV, 1e3, 5e6, "eV")
        check_range("semiangle_mrad", self.semiangle_mrad, 0.01, 100.0, "mrad")
        check_range("ellipticity_ratio", self.ellipticity_ratio, 0.5, 2.0)
        object.__setattr__(self, "center_yx", (float(self.center_yx[0]), float(self.center_yx[1])))

    @property
    def wavelength_A(self) -> float:
        """Electron wavelength [Å]."""
        return wavelength_A(self.energy_eV)

    @property
    def disk_radius_px(self) -> float:
        """Bragg disk radius alpha / lambda on the detector [px]."""
        return _disk_radius_px(self.semiangle_mrad, self.energy_eV, self.q_sampling_invA)

    @property
    def sigma_px(self) -> float:
        """DoG sigma matched to the disks [px] (0.45 x disk radius, clipped to 1..4 px)."""
        return float(np.clip(0.45 * self.disk_radius_px, 1.0, 4.0))

    def to_dict(self) -> dict:
        """JSON-serialisable fields."""
        d = asdict(self)
        d["center_yx"] = list(self.center_yx)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["center_yx"] = tuple(d.get("center_yx", (0.0, 0.0)))
        return cls(**d)


def correct_ellipticity(y, x, center_yx, ratio: float, angle_deg: float):
    """Map distorted detector positions to an undistorted frame (same mean radius).

    Points are rotated by ``-angle_deg`` about ``center_yx``, the major axis component is divided
    by ``sqrt(ratio)`` and the minor one multiplied by it, then rotated back.
    """
    if ratio == 1.0:
        return np.asarray(y, float), np.asarray(x, float)
    cy, cx = np.asarray(center_yx, float)[..., 0], np.asarray(center_yx, float)[..., 1]
    dy = np.asarray(y, float) - cy
    dx = np.asarray(x, float) - cx
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    u = ca * dx + sa * dy
    v = -sa * dx + ca * dy
    s = math.sqrt(ratio)
    u, v = u / s, v * s
    return cy + sa * u + ca * v, cx + ca * u - sa * v


def corrected_offsets(py, px, centers_yx, ratio: float, angle_deg: float):
    """Offsets ``(dy, dx)`` (N, P) of pixels (P,) from N beam centres, ellipticity corrected.

    :func:`correct_ellipticity` of each pixel about each centre, minus the centre.

    The correction is linear about the centre, so the pixels and the centres are transformed
    once each ((P,) and (N,)) and only subtracted per pattern and pixel.
    """
    py, px = np.asarray(py, float), np.asarray(px, float)
    c = np.asarray(centers_yx, float).reshape(-1, 2)
    if ratio == 1.0:
        return py[None, :] - c[:, :1], px[None, :] - c[:, 1:]
    zero = np.zeros(2)
    ty, tx = correct_ellipticity(py, px, zero, ratio, angle_deg)
    cy, cx = correct_ellipticity(c[:, 0], c[:, 1], zero, ratio, angle_deg)
    return ty[None, :] - cy[:, None], tx[None, :] - cx[:, None]


def annulus_pixels(shape_hw, calibration: Calibration, centers_yx, r_lo: float, r_hi: float):
    """Pixels that can lie ``r_lo``-``r_hi`` px from any beam centre, ellipticity corrected.

    Returns ``(py, px, flat_index)``, each (P,), for :func:`corrected_offsets`. The band about ``calibration.center_yx`` is widened by the centres' largest shift from it
    and by the ellipticity's stretch at ``r_hi``.
    """
    h, w = shape_hw
    c = np.asarray(centers_yx, float).reshape(-1, 2)
    c0 = np.asarray(calibration.center_yx, float)
    shift = np.abs(c - c0).max() if len(c) else 0.0
    margin = shift + r_hi * abs(calibration.ellipticity_ratio - 1.0) + 1.0
    yy, xx = np.mgrid[:h, :w]
    r0 = np.hypot(yy - c0[0], xx - c0[1])
    sel = (r0 >= r_lo - margin) & (r0 <= r_hi + margin)
    return yy[sel].astype(float), xx[sel].astype(float), np.flatnonzero(sel.ravel())


def hexagon_on_detector(center_yx, radius_px, rotation_deg, ratio: float, angle_deg: float):
    """Detector positions (y, x), each (..., 6), of hexagons given in the undistorted frame.

    The inverse of :func:`correct_ellipticity` applied to :func:`hexagon_vertices`; with
    ``ratio`` 1 the vertices themselves.
    """
    c = np.asarray(center_yx, float)
    verts = hexagon_vertices(c, radius_px, rotation_deg)
    vy, vx = verts[..., 0], verts[..., 1]
    if ratio != 1.0:
        vy, vx = correct_ellipticity(vy, vx, c[..., None, :], 1.0 / ratio, angle_deg)
    return vy, vx


def _ring_spots(dps, centers, strength, sigma_px, tol_px, disk_radius_px=None):
    """Spots on the strongest hexagon of each pattern.

    Returns the spot offsets from the beam [px], the hexagon each belongs to, the hexagon radii
    and the pattern centres (beam, or Friedel pairs where it is hidden).
    """
    from stemtf.phase.hexagons import find_hexagons_batch
    from stemtf.phase.spots import find_spots_batch

    h, w = dps.shape[1:]
    yy, xx = np.mgrid[:h, :w]
    rr = np.hypot(yy - h // 2, xx - w // 2)
    mask = (rr > 3 * sigma_px + 2) & (rr < min(h, w) / 2 - 2)
    from stemtf.phase.dog import disk_response

    # a floor of ~8 counts per disk (radius ~ 2 sigma) instead of a fraction of the strongest
    # peak, which one hot-pixel cluster would set
    floor = 8.0 * disk_response(2.2 * sigma_px, sigma_px)
    table = find_spots_batch(
        dps, sigma_px=sigma_px, threshold=6.0, rel_threshold=0.0, abs_threshold=floor, mask=mask
    )
    if disk_radius_px is not None and len(table):
        # only spots whose counts stand clear of shot noise (a ring of amorphous speckle makes
        # round "hexagons" that would dilute the ellipticity towards none)
        from stemtf.phase.spots import aperture_counts

        _, z = aperture_counts(dps, table, disk_radius_px)
        table = table.subset(z >= _MIN_SPOT_Z)
    # Friedel pairs locate the centre where a beam stop hides the transmitted beam
    from stemtf.phase.center import friedel_centers

    fc, n_pairs = friedel_centers(
        table,
        np.broadcast_to([h / 2.0, w / 2.0], centers.shape),
        tolerance_px=max(4.0, min(h, w) / 30.0),
    )
    brightest = np.zeros(len(dps))
    np.maximum.at(brightest, table.dp_index, table.intensity)
    use = (n_pairs >= 3) & ((np.hypot(*(fc - centers).T) > 2.0) | (strength < brightest))
    centers = np.where(use[:, None], fc, centers)
    hexes = find_hexagons_batch(table, centers, tolerance_px=tol_px, min_matches=4, max_hexagons=1)
    rel, ang, radii = [], [], []
    for hx in hexes:
        i = int(hx["dp_index"])
        verts = hexagon_vertices(centers[i], hx["radius_px"], hx["rotation_deg"])
        sp = table.of(i)[:, :2]
        if not len(sp):
            continue
        d = np.linalg.norm(verts[:, None] - sp[None], axis=-1)
        j = np.argmin(d, axis=1)
        ok = d[np.arange(6), j] <= tol_px
        p = sp[j[ok]] - centers[i]
        rel.append(p)  # spot offsets from the beam [px], one hexagon
        ang.append(np.full(len(p), len(radii)))
        radii.append(hx["radius_px"])
    if not rel:
        return np.empty((0, 2)), np.empty(0, np.int64), np.empty(0), centers
    return np.concatenate(rel), np.concatenate(ang), np.asarray(radii), centers


def fit_ellipticity(
    offsets: np.ndarray, group: np.ndarray, *, iterations: int = 4
) -> tuple[float, float]:
    """Ellipticity (ratio, angle [deg]) of rings from spot offsets grouped by hexagon.

    r(theta) / mean r of its hexagon = 1 + e cos 2(theta - psi), fitted by least squares, then
    refitted on the spots corrected by the estimate so far (a fit diluted by partial or
    round hexagons converges instead of stopping short of the true distortion).
    """
    ex = ey = 0.0  # (e cos 2psi, e sin 2psi) so far
    zero = np.zeros(2)
    for _ in range(iterations):
        eps = math.hypot(ex, ey)
        if eps >= _MAX_ELLIPTICITY:
            return 1.0, 0.0
        ratio = (1 + eps) / (1 - eps)
        angle = math.degrees(0.5 * math.atan2(ey, ex))
        y, x = correct_ellipticity(offsets[:, 0], offsets[:, 1], zero, ratio, angle)
        r = np.hypot(y, x)
        mean_r = np.bincount(group, r) / np.maximum(np.bincount(group), 1)
        rel = r / mean_r[group]
        th = np.arctan2(y, x)
        a = np.column_stack([np.ones_like(th), np.cos(2 * th), np.sin(2 * th)])
        coef, *_ = np.linalg.lstsq(a, rel, rcond=None)
        ex += coef[1] / coef[0]
        ey += coef[2] / coef[0]
    eps = math.hypot(ex, ey)
    if eps >= _MAX_ELLIPTICITY:
        return 1.0, 0.0
    return (1 + eps) / (1 - eps), math.degrees(0.5 * math.atan2(ey, ex))


def calibrate(
    sample_dps: np.ndarray,
    *,
    q_sampling_invA: float | None = None,
    energy_eV: float,
    semiangle_mrad: float,
    reference_ring_invA: float | None = None,
    estimate_ellipticity: bool = True,
) -> Calibration:
    """Calibrate the detector from a sample of patterns.

    Parameters
    ----------
    sample_dps : ndarray, shape (K, H, W)
        A few hundred patterns spread over the scan.
    q_sampling_invA : float, optional
        Reciprocal pixel size [1/Å per px] from the file or the user. If missing, it is inferred
        from ``reference_ring_invA``; without either an :class:`InputError` is raised.
    energy_eV, semiangle_mrad : float
        Beam energy [eV] and convergence semi-angle [mrad].
    reference_ring_invA : float, optional
        Radius [1/Å] of the hexagon ring expected to dominate the data (0.697 for the {110}
        of NMC811 O3 along [001]); used to infer a missing q sampling and to check a given one.
    estimate_ellipticity : bool
        Fit the elliptical distortion of the rings.

    Returns
    -------
    Calibration
    """
    dps = np.asarray(sample_dps, dtype=np.float32)
    if dps.ndim != 3 or dps.shape[0] == 0:
        raise InputError(f"sample_dps must be a non-empty (K, H, W) stack, got shape {dps.shape}")
    if not np.all(np.isfinite(dps)):
        raise InputError("sample_dps contain NaN or Inf values")
    from stemtf.phase.dog import suppress_hot_pixels

    dps = suppress_hot_pixels(dps)
    if q_sampling_invA is None and reference_ring_invA is None:
        raise InputError(
            "q_sampling_invA is missing and cannot be inferred: give it (e.g. "
            "--q-sampling-invA 0.0125) or a reference ring radius to infer it from"
        )
    # Without a q sampling, guess the disk size from a typical nanobeam geometry (3 px disks).
    q0 = q_sampling_invA if q_sampling_invA is not None else 1.0
    provisional = Calibration(
        q_sampling_invA=q0, energy_eV=energy_eV, semiangle_mrad=semiangle_mrad
    )
    sigma = provisional.sigma_px if q_sampling_invA is not None else 2.0
    from stemtf.phase.center import beam_centers

    centers, strength = beam_centers(dps, sigma_px=sigma)
    good = strength > 0
    if not good.any():
        raise InputError("sample_dps are empty: no transmitted beam found in any pattern")
    ratio, angle = 1.0, 0.0
    rel, ang, radii, centers_good = _ring_spots(
        dps[good],
        centers[good],
        strength[good],
        sigma,
        tol_px=max(2.0, 1.5 * sigma),
        disk_radius_px=provisional.disk_radius_px if q_sampling_invA is not None else None,
    )
    center = np.median(centers_good, axis=0)
    if q_sampling_invA is None:
        if radii.size < 3:
            raise InputError(
                "q_sampling_invA is missing and cannot be inferred: fewer than 3 hexagons found "
                "in the sample patterns; give --q-sampling-invA"
            )
        q_sampling_invA = reference_ring_invA / float(np.median(radii))
        log.info("inferred q_sampling_invA = %.5f from %d hexagons", q_sampling_invA, radii.size)
    elif reference_ring_invA is not None and radii.size >= 3:
        found = float(np.median(radii)) * q_sampling_invA
        dev = found / reference_ring_invA - 1.0
        if abs(dev) > 0.03:
            log.warning(
                "pixel-size check: strongest ring at %.4f 1/Å, reference %.4f 1/Å "
                "(%+.1f %%); check q_sampling_invA",
                found,
                reference_ring_invA,
                100 * dev,
            )
    if estimate_ellipticity and len(rel) >= 12:
        ratio, angle = fit_ellipticity(rel, ang)
    return Calibration(
        q_sampling_invA=float(q_sampling_invA),
        energy_eV=energy_eV,
        semiangle_mrad=semiangle_mrad,
        center_yx=(center[0], center[1]),
        ellipticity_ratio=ratio,
        ellipticity_angle_deg=angle,
    )
