"""The camera length from the scan's mean radial profile (for scans too faint for hexagons).

:meth:`stemtf.phase.model.PhaseModel.refine` learns the camera length from hexagons, which
needs about twenty of them in the calibration sample. At a few hundred electrons per pattern
the spot finder finds fewer, and a camera length a few percent off the given one then stays
uncorrected: the phase rings sit a few pixels from where the spot finder and the matched
filter look, and most of the lattice signal is lost (``report`` split, all field conditions
at 3e2 e-/DP, 4 % calibration error: O1-present F1 0.56 with the given pixel size, 0.80 with
the true one).

Summed over a sample of patterns, the Bragg disks of grains at all in-plane rotations make
rings whatever the rotations, and a ring holds the counts of hundreds of disks. The counts
per pixel, by distance from each pattern's beam centre (ellipticity corrected), are summed
over the sample; a ring-shaped window :data:`WINDOW_DISKS` disk radii wide on each side of a
trial radius, minus the level of bands just inside and outside it (scaled by area), gives the
ring's excess counts at every trial scale of the expected radius, and the best trial scale
(refined by a parabola) is the camera-length scale. The two phases' {110} rings (O3 and O1,
1.8 % apart) merge in this profile; measured against the first phase's radius, the scale was
good to -0.7 ... +1.6 % (mean |error| 0.38 %) on the ``tune`` split wherever the ring stood
:data:`MIN_Z` sigmas (63 of 66 scenes, eleven conditions, 1e2-2e3 e-/DP; the three weaker
rings, under a 30 % carbon film or a detector's gain map, were off by up to 1.9 %), so it
replaces the given pixel size only where it says
that is more than :data:`MIN_CORRECTION` off (:func:`stemtf.phase.learn.correct_camera_length`);
the hexagons of the corrected calibration then refine it where they can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.calibration import Calibration, annulus_pixels, corrected_offsets
from stemtf.phase.dog import remove_hot_pixels

__all__ = ["ProfileScale", "camera_scale_from_profile"]

#: Trial scales span this relative range either side of the expected radius.
SEARCH = 0.12
#: Trial-scale step (relative) and radial bin of the profile [px].
STEP, BIN_PX = 0.001, 0.05
#: The ring window's half-width [disk radii]: narrower than the disk, so that the window's
#: excess peaks where the disks' cores are (on the ``tune`` split, 62 scenes of eleven
#: conditions at 1e2-2e3 e-/DP, 0.25 px bins: mean |error| 0.32 % with 0.6, 0.39 % with a full
#: disk radius, whose plateau lets features beside the ring pull the maximum).
WINDOW_DISKS = 0.6
#: Background bands from this far to this far outside the disk-wide window [px].
BG_FROM_PX, BG_TO_PX = 1.5, 4.0
#: A ring counts only where its excess stands this many shot-noise sigmas.
MIN_Z = 12.0
#: The scale replaces the given calibration only where it is further than this from 1.
MIN_CORRECTION = 0.02


@dataclass(frozen=True)
class ProfileScale:
    """Camera-length scale of a ring in the mean radial profile.

    Attributes
    ----------
    scale : float
        Ring radius found / expected (> 1: the rings lie further out than the given pixel size
        predicts; the true pixel size is ``q_sampling_invA / scale``).
    z : float
        The ring's excess counts at that scale in shot-noise sigmas.
    excess_counts : float
        The ring's excess counts over the background bands.
    patterns : int
        Patterns summed.
    """

    scale: float
    z: float
    excess_counts: float
    patterns: int

    def significant(self) -> bool:
        """Whether the ring stands :data:`MIN_Z` sigmas."""
        return bool(self.z >= MIN_Z)


def _profile(dps, centers, calibration: Calibration, r_lo: float, r_hi: float, chunk: int = 64):
    """Counts and pixels per radial bin from ``r_lo`` to ``r_hi`` [px], summed over patterns."""
    n, h, w = dps.shape
    n_bins = int(math.ceil((r_hi - r_lo) / BIN_PX))
    counts = np.zeros(n_bins)
    pixels = np.zeros(n_bins)
    py, px, pix = annulus_pixels((h, w), calibration, centers, r_lo, r_hi)
    if pix.size == 0:
        return counts, pixels
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        vals = remove_hot_pixels(dps[s:e]).reshape(e - s, h * w)[:, pix].astype(np.float64)
        dy, dx = corrected_offsets(
            py, px, centers[s:e], calibration.ellipticity_ratio, calibration.ellipticity_angle_deg
        )
        r = np.hypot(dy, dx)
        b = np.floor((r - r_lo) / BIN_PX).astype(np.int64)
        ok = (b >= 0) & (b < n_bins)
        counts += np.bincount(b[ok], weights=vals[ok], minlength=n_bins)
        pixels += np.bincount(b[ok], minlength=n_bins)
    return counts, pixels


def camera_scale_from_profile(
    dps: np.ndarray,
    centers_yx: np.ndarray,
    calibration: Calibration,
    radius_invA: float,
) -> ProfileScale | None:
    """The scale of a ring's radius in the sample's mean radial profile.

    Parameters
    ----------
    dps : ndarray, shape (N, H, W)
        Patterns (counts), e.g. the calibration sample.
    centers_yx : ndarray, shape (N, 2)
        Each pattern's beam centre [px].
    calibration : Calibration
        The given pixel size, disk radius and ellipticity.
    radius_invA : float
        The ring's expected radius [1/Å].

    Returns
    -------
    ProfileScale or None
        None where the ring's trial range does not fit on the detector or holds no pixels.
    """
    arr = np.asarray(dps)
    if arr.ndim != 3:
        raise InputError(f"dps must be a (N, H, W) batch, got shape {arr.shape}")
    if not radius_invA > 0:
        raise InputError(f"radius_invA={radius_invA!r} is not allowed: it must be > 0")
    n = arr.shape[0]
    centers = np.asarray(centers_yx, float).reshape(n, 2)
    radius_px = radius_invA / calibration.q_sampling_invA
    disk = calibration.disk_radius_px
    half = WINDOW_DISKS * disk
    reach = half + BG_TO_PX + 1.0
    r_lo = max(radius_px * (1.0 - SEARCH) - reach, disk + 1.0)
    r_hi = radius_px * (1.0 + SEARCH) + reach
    counts, pixels = _profile(arr, centers, calibration, r_lo, r_hi)
    if pixels.sum() == 0:
        return None
    mid = r_lo + (np.arange(counts.size) + 0.5) * BIN_PX
    cum_c = np.concatenate([[0.0], np.cumsum(counts)])
    cum_p = np.concatenate([[0.0], np.cumsum(pixels)])

    def _sum(lo, hi):  # bins whose centres lie in [lo, hi)
        i0 = np.searchsorted(mid, lo)
        i1 = np.searchsorted(mid, hi)
        return cum_c[i1] - cum_c[i0], cum_p[i1] - cum_p[i0]

    scales = np.arange(1.0 - SEARCH, 1.0 + SEARCH + STEP / 2, STEP)
    z = np.full(scales.size, -np.inf)
    ex = np.zeros(scales.size)
    for k, s in enumerate(scales):
        r = s * radius_px
        c_in, p_in = _sum(r - half, r + half)
        c_a, p_a = _sum(r - half - BG_TO_PX, r - half - BG_FROM_PX)
        c_b, p_b = _sum(r + half + BG_FROM_PX, r + half + BG_TO_PX)
        c_bg, p_bg = c_a + c_b, p_a + p_b
        # both bands must hold at least half the pixels a full band would (on the detector)
        if p_in == 0 or min(p_a, p_b) < 0.5 * p_in * (BG_TO_PX - BG_FROM_PX) / (2 * half):
            continue
        scale_bg = p_in / p_bg
        ex[k] = c_in - c_bg * scale_bg
        z[k] = ex[k] / math.sqrt(c_in + c_bg * scale_bg**2 + 1.0)
    if not np.isfinite(z).any():
        return None
    k = int(np.argmax(z))
    best = float(scales[k])
    if 0 < k < scales.size - 1 and np.isfinite(z[k - 1]) and np.isfinite(z[k + 1]):
        den = z[k - 1] - 2 * z[k] + z[k + 1]
        if den < 0:
            best += float(np.clip(0.5 * (z[k - 1] - z[k + 1]) / den, -0.5, 0.5)) * STEP
    # a maximum at the edge of the trial range is no ring found inside it
    zk = float(z[k]) if 0 < k < scales.size - 1 else 0.0
    return ProfileScale(scale=best, z=zk, excess_counts=float(ex[k]), patterns=n)
