"""Bragg spot detection: Difference of Gaussians, local maxima, sub-pixel centroids.

:func:`find_spots` handles one pattern (skimage-like: image first, tuning keyword-only,
``np.empty((0, 3))`` when nothing is found); :func:`find_spots_batch` does the same for a whole
batch with one OpenCV call per filter and returns a flat table tagged by pattern index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.dog import dog_filter

__all__ = [
    "SpotTable",
    "find_spots",
    "find_spots_batch",
    "noise_scale",
    "aperture_centroids",
    "aperture_counts",
    "excess_over_ring",
    "strongest_spots",
]

#: Median absolute deviation -> standard deviation for Gaussian noise.
MAD_TO_STD = 1.4826
#: Every n-th masked pixel is used for the robust noise estimate (speed; the median is stable).
_NOISE_SUBSAMPLE = 13


@dataclass(frozen=True)
class SpotTable:
    """Spots of a batch, flat: row ``i`` is a spot of pattern ``dp_index[i]``.

    ``y``, ``x`` [px] are sub-pixel detector coordinates, ``intensity`` the DoG response at the
    peak (same scale as the patterns), ``snr`` that response over the pattern's noise level.
    """

    dp_index: np.ndarray
    y: np.ndarray
    x: np.ndarray
    intensity: np.ndarray
    snr: np.ndarray

    def __len__(self) -> int:
        return int(self.dp_index.size)

    def subset(self, keep: np.ndarray) -> SpotTable:
        """The spots selected by ``keep`` (a boolean mask or indices), in table order."""
        return SpotTable(*(np.asarray(getattr(self, f.name))[keep] for f in fields(self)))

    def of(self, i: int) -> np.ndarray:
        """Spots of pattern ``i`` as a ``(K, 3)`` array ``[y, x, intensity]``."""
        sel = self.dp_index == i
        return np.stack([self.y[sel], self.x[sel], self.intensity[sel]], axis=1)


#: Shot-noise sigmas a spot must stand above the same aperture turned about the beam centre to
#: count as crystal evidence (:func:`excess_over_ring`): the speckle of a
#: carbon film's ring passes the local-annulus test at 10^4 e-/DP (z 3-5) but stands < 2
#: above the ring (tune split, all-conditions vacuum); Bragg disks stand 15-20 and more.
RING_Z = 3.0


def noise_scale(response: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Robust per-pattern noise level of a DoG ``response`` inside ``mask``.

    The median absolute response (about zero: a DoG has no response to flat or slowly varying
    background) times 1.4826, from every few masked pixels. Returns float32 (B,).
    """
    idx = np.flatnonzero(mask.ravel())[::_NOISE_SUBSAMPLE]
    if idx.size == 0:
        return np.zeros(response.shape[0], np.float32)
    vals = np.abs(response.reshape(response.shape[0], -1)[:, idx])
    return (MAD_TO_STD * np.median(vals, axis=1)).astype(np.float32)


def _check_mask(mask: np.ndarray | None, hw: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(hw, bool)
    m = np.asarray(mask, bool)
    if m.shape != hw:
        raise InputError(f"mask shape {m.shape} does not match the pattern shape {hw}")
    return m


def _is_peak(resp, b, y, x, dist: int) -> np.ndarray:
    """Local maxima among candidate pixels (window of half-size ``dist``).

    Ties are broken in raster order. Candidates lie at least ``dist`` pixels inside the pattern.
    """
    c = resp[b, y, x]
    keep = np.ones(b.size, bool)
    for dy in range(-dist, dist + 1):
        for dx in range(-dist, dist + 1):
            if dy == 0 and dx == 0:
                continue
            nb = resp[b, y + dy, x + dx]
            keep &= (c > nb) if (dy, dx) < (0, 0) else (c >= nb)
    return keep


def _not_ridge(resp, b, y, x, edge_ratio: float) -> np.ndarray:
    """True where the response peak is blob-like, not a ridge (Hessian eigenvalue ratio test)."""
    c = resp[b, y, x]
    dyy = resp[b, y + 1, x] + resp[b, y - 1, x] - 2 * c
    dxx = resp[b, y, x + 1] + resp[b, y, x - 1] - 2 * c
    dxy = 0.25 * (
        resp[b, y + 1, x + 1]
        - resp[b, y + 1, x - 1]
        - resp[b, y - 1, x + 1]
        + resp[b, y - 1, x - 1]
    )
    tr = dxx + dyy
    det = dxx * dyy - dxy * dxy
    lim = (edge_ratio + 1) ** 2 / edge_ratio
    return (det > 0) & (tr * tr < lim * det)


def _subpixel(resp: np.ndarray, b: np.ndarray, y: np.ndarray, x: np.ndarray, rad: int):
    """Centroid of the positive response in a (2 rad + 1)^2 window around each peak."""
    off = np.arange(-rad, rad + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    win = resp[b[:, None, None], y[:, None, None] + oy, x[:, None, None] + ox]
    win = np.maximum(win, 0.0)
    tot = win.sum(axis=(1, 2))
    tot = np.where(tot > 0, tot, 1.0)
    dy = (win * oy).sum(axis=(1, 2)) / tot
    dx = (win * ox).sum(axis=(1, 2)) / tot
    return y + dy, x + dx


def strongest_spots(table: SpotTable, n: int) -> SpotTable:
    """The ``n`` strongest spots of each pattern (by DoG response), in the table's order."""
    if len(table) == 0:
        return table
    order = np.lexsort((-table.intensity, table.dp_index))
    b = table.dp_index[order]
    start = np.searchsorted(b, b, side="left")
    keep = np.sort(order[np.arange(b.size) - start < n])
    return table.subset(keep)


def aperture_counts(
    dps: np.ndarray, table: SpotTable, disk_radius_px: float, *, return_variance: bool = False
) -> tuple[np.ndarray, ...]:
    """Counts of each spot above its local background, and their shot-noise significance.

    Aperture photometry on a pattern in counts: the counts within the disk (radius + 1 px)
    minus the background expected there from an annulus 1.5-3 px outside it, over the Poisson
    standard deviation of that difference (the disk's counts plus the scaled variance of the
    background estimate, plus one count, so that a few counts on an empty background are not
    "significant"). Unlike the robust noise level of a whole pattern (zero
    in a sparse low-dose pattern), this tells a reflection from a few stray counts.

    Returns
    -------
    excess : ndarray (N,)
        Background-subtracted counts in the disk.
    z : ndarray (N,)
        ``excess / sqrt(variance)``.
    variance : ndarray (N,), only with ``return_variance``
        Shot-noise variance of ``excess`` (plus one).
    """
    if len(table) == 0:
        return (np.zeros(0),) * (3 if return_variance else 2)
    disk, ring, _ = _apertures(dps, table, disk_radius_px)
    total = disk.sum(axis=1, dtype=np.float64)
    bg = ring.mean(axis=1, dtype=np.float64)
    n_disk, n_ring = float(disk.shape[1]), float(ring.shape[1])
    excess = total - bg * n_disk
    variance = np.maximum(total, 0.0) + np.maximum(bg, 0.0) * n_disk**2 / n_ring + 1.0
    z = excess / np.sqrt(variance)
    return (excess, z, variance) if return_variance else (excess, z)


def excess_over_ring(
    dps: np.ndarray,
    table: SpotTable,
    centers: np.ndarray,
    disk_radius_px: float,
    *,
    return_variance: bool = False,
) -> tuple[np.ndarray, ...]:
    """Counts of each spot above the pattern's counts at the same radius elsewhere on the ring.

    An amorphous film's diffuse ring (carbon support: 0.47 and 0.85 1/A) or a thickness halo
    is rotationally symmetric: a disk aperture on it holds more counts than the annulus just
    around it (:func:`aperture_counts` then calls it a spot), but no more than the same
    aperture turned about the beam centre. A Bragg spot holds more. The controls are the
    spot's disk aperture turned by +-d and +-2 d (d: at least 20 deg, and at least the disk's
    diameter plus 1 px along the arc; 2 d only while it stays below 50 deg, short of a
    hexagon's next vertex), those wholly on the detector; their median total is the
    background.

    Parameters
    ----------
    dps : ndarray (B, H, W)
        Patterns in counts.
    table : SpotTable
    centers : ndarray (B, 2)
        Beam centre (y, x) [px] of each pattern.
    disk_radius_px : float

    Returns
    -------
    excess : ndarray (N,)
        Disk counts minus the controls' median disk counts (NaN where no control lies on the
        detector).
    z : ndarray (N,)
        ``excess`` over the shot noise of the two (``sqrt(disk + median + 1)``).
    variance : ndarray (N,), only with ``return_variance``
        That shot-noise variance.
    """
    n = len(table)
    if n == 0:
        return (np.zeros(0),) * (3 if return_variance else 2)
    arr = np.asarray(dps)
    h, w = arr.shape[1:]
    c = np.asarray(centers, float)[table.dp_index]
    dy, dx = table.y - c[:, 0], table.x - c[:, 1]
    r = np.maximum(np.hypot(dy, dx), 1e-6)
    step = np.maximum(np.radians(20.0), (2.0 * disk_radius_px + 3.0) / r)
    own = _apertures(arr, table, disk_radius_px)[0].sum(axis=1, dtype=np.float64)
    a = np.ceil(disk_radius_px + 3.0)
    totals = np.full((n, 4), np.nan)
    for j, k in enumerate((-2, -1, 1, 2)):
        ang = k * step
        cy = c[:, 0] + dy * np.cos(ang) - dx * np.sin(ang)
        cx = c[:, 1] + dy * np.sin(ang) + dx * np.cos(ang)
        ok = (cy >= a) & (cy <= h - 1 - a) & (cx >= a) & (cx <= w - 1 - a)
        if abs(k) == 2:
            ok &= 2.0 * step < np.radians(50.0)
        if ok.any():
            ctl = SpotTable(table.dp_index[ok], cy[ok], cx[ok], table.intensity[ok], table.snr[ok])
            totals[ok, j] = _apertures(arr, ctl, disk_radius_px)[0].sum(axis=1, dtype=np.float64)
    some = np.isfinite(totals).any(axis=1)
    bg = np.full(n, np.nan)
    bg[some] = np.nanmedian(totals[some], axis=1)
    excess = own - bg
    variance = np.maximum(own, 0.0) + np.maximum(bg, 0.0) + 1.0
    z = excess / np.sqrt(variance)
    return (excess, z, variance) if return_variance else (excess, z)


def _apertures(dps, table: SpotTable, disk_radius_px: float):
    """Counts in each spot's disk aperture (radius + 1 px) and background ring (1.5-3 px out).

    Apertures about the spot's nearest pixel: one pair of pixel lists serves every spot.

    Returns
    -------
    disk, ring : ndarray (N, n_disk), (N, n_ring)
    disk_yx : tuple of ndarray (N, n_disk)
        The disk pixels' coordinates [px].
    """
    arr = np.asarray(dps)
    h, w = arr.shape[1:]
    a = int(np.ceil(disk_radius_px + 3.0))
    off = np.arange(-a, a + 1)
    dy, dx = (g.ravel() for g in np.meshgrid(off, off, indexing="ij"))
    d = np.hypot(dy, dx)
    in_disk = d <= disk_radius_px + 1.0
    in_ring = (d > disk_radius_px + 1.5) & (d <= disk_radius_px + 3.0)
    iy = np.clip(np.rint(table.y).astype(np.int64), a, h - 1 - a)[:, None]
    ix = np.clip(np.rint(table.x).astype(np.int64), a, w - 1 - a)[:, None]
    b = table.dp_index[:, None]
    yy, xx = iy + dy[in_disk], ix + dx[in_disk]
    disk = arr[b, yy, xx]
    ring = arr[b, iy + dy[in_ring], ix + dx[in_ring]]
    return disk, ring, (yy, xx)


def aperture_centroids(
    dps: np.ndarray, table: SpotTable, disk_radius_px: float, *, iterations: int = 3
) -> SpotTable:
    """The spots located by the centroid of their counts above the local background.

    A Difference-of-Gaussians peak on a flat Bragg disk of a few tens of counts can sit
    anywhere on the disk (several px off for a 7-8 px disk); the centroid of the disk's
    background-subtracted counts is located to about ``R / 2 / sqrt(counts)`` px
    (:func:`stemtf.phase.ringfit.count_centroids`: the window re-centred on the sub-pixel
    centroid ``iterations`` times). Spots without positive excess keep their position.

    Parameters
    ----------
    dps : ndarray (B, H, W)
        Patterns in counts.
    table : SpotTable
        Spots [px] in the detector frame.
    disk_radius_px : float
    iterations : int
        Re-centring steps (>= 1).

    Returns
    -------
    SpotTable
        Same spots, ``y``/``x`` refined.
    """
    if len(table) == 0:
        return table
    from stemtf.phase.ringfit import count_centroids

    y, x, _, _ = count_centroids(
        np.asarray(dps),
        np.asarray(table.dp_index, np.int64),
        np.asarray(table.y, float)[:, None],
        np.asarray(table.x, float)[:, None],
        disk_radius_px,
        iterations,
    )
    y, x = y[:, 0], x[:, 0]
    return SpotTable(table.dp_index, y, x, table.intensity, table.snr)


def find_spots_batch(
    dps: np.ndarray,
    *,
    sigma_px: float = 1.0,
    threshold: float = 5.0,
    rel_threshold: float = 0.02,
    abs_threshold: float = 0.0,
    mask: np.ndarray | None = None,
    min_distance_px: int = 1,
    edge_ratio: float | None = 5.0,
    response: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> SpotTable:
    """Detect spots in a batch of patterns.

    Parameters
    ----------
    dps : ndarray, shape (B, H, W)
        Patterns (counts or any non-negative scale).
    sigma_px : float
        Narrow DoG sigma [px].
    threshold : float
        Keep peaks whose DoG response exceeds ``threshold`` x the pattern's robust noise level.
    rel_threshold : float
        ... and exceeds ``rel_threshold`` x the pattern's strongest response in ``mask`` (this
        floor matters for noise-free patterns, whose noise level is zero).
    abs_threshold : float
        ... and exceeds this absolute response (e.g. the response of a disk of a few counts,
        so that single counts in a sparse low-dose pattern are not spots).
    mask : ndarray of bool, shape (H, W), optional
        Where spots may be (e.g. an annulus). Default: everywhere.
    min_distance_px : int
        Peaks closer than this to a stronger one are dropped (neighbourhood half-size).
    edge_ratio : float or None
        Drop peaks on ridges (rings, streaks): the ratio of the principal curvatures of the
        response must stay below this (SIFT's edge test); ``None`` keeps every peak.
    response, noise : ndarray, optional
        Precomputed ``dog_filter(dps, sigma_px)`` and its :func:`noise_scale` (saves work when
        the caller needs them too).

    Returns
    -------
    SpotTable
    """
    stack = np.asarray(dps)
    if stack.ndim != 3:
        raise InputError(f"dps must be a (B, H, W) batch, got shape {stack.shape}")
    b, h, w = stack.shape
    if response is None and not np.all(np.isfinite(stack)):
        raise InputError("diffraction patterns contain NaN or Inf values")
    m = _check_mask(mask, (h, w)).copy()
    rad = int(np.clip(np.ceil(2.0 * sigma_px), 1, 5))
    margin = max(rad, min_distance_px)
    m[:margin] = False
    m[h - margin :] = False
    m[:, :margin] = False
    m[:, w - margin :] = False
    resp = dog_filter(stack, sigma_px) if response is None else response
    if noise is None:
        noise = noise_scale(resp, m)
    flat = resp.reshape(b, -1)[:, m.ravel()]
    peak = flat.max(axis=1) if flat.shape[1] else np.zeros(b, np.float32)
    thr = np.maximum(threshold * noise, rel_threshold * np.maximum(peak, 0.0))
    thr = np.maximum(thr, max(float(abs_threshold), float(np.finfo(np.float32).tiny)))
    # Threshold first (one pass over the batch), then test only the few candidates for being
    # local maxima: strictly above the neighbours before them in raster order and not below
    # the ones after (so a plateau gives one peak).
    cand = resp > thr[:, None, None]
    cand &= m[None]
    bi, yi, xi = np.nonzero(cand)
    if bi.size:
        keep = _is_peak(resp, bi, yi, xi, min_distance_px)
        bi, yi, xi = bi[keep], yi[keep], xi[keep]
    if edge_ratio is not None and bi.size:
        keep = _not_ridge(resp, bi, yi, xi, edge_ratio)
        bi, yi, xi = bi[keep], yi[keep], xi[keep]
    inten = resp[bi, yi, xi]
    ys, xs = _subpixel(resp, bi, yi, xi, rad)
    snr = inten / np.where(noise[bi] > 0, noise[bi], np.inf)
    return SpotTable(
        dp_index=bi.astype(np.int64),
        y=ys.astype(np.float64),
        x=xs.astype(np.float64),
        intensity=inten.astype(np.float64),
        snr=snr.astype(np.float64),
    )


def find_spots(
    dp: np.ndarray,
    *,
    sigma_px: float = 1.0,
    threshold: float = 5.0,
    rel_threshold: float = 0.02,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Find Bragg spots in one diffraction pattern.

    Parameters
    ----------
    dp : ndarray, shape (H, W)
        One pattern (counts or any non-negative scale).
    sigma_px : float
        Narrow DoG sigma [px]; about 0.6 x the disk radius suits nanobeam disks.
    threshold : float
        Minimum DoG response in units of the pattern's robust noise level.
    rel_threshold : float
        Minimum DoG response as a fraction of the strongest response in ``mask``.
    mask : ndarray of bool, shape (H, W), optional
        Where spots may be found.

    Returns
    -------
    ndarray, shape (K, 3)
        ``[y, x, intensity]`` per spot, sub-pixel positions [px], strongest first;
        ``np.empty((0, 3))`` if none.
    """
    arr = np.asarray(dp)
    if arr.ndim != 2:
        raise InputError(f"dp must be one (H, W) pattern, got shape {arr.shape}")
    table = find_spots_batch(
        arr[None], sigma_px=sigma_px, threshold=threshold, rel_threshold=rel_threshold, mask=mask
    )
    out = table.of(0)
    if out.shape[0] == 0:
        return np.empty((0, 3))
    return out[np.argsort(-out[:, 2], kind="stable")]
