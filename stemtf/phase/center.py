"""Transmitted-beam (000) position per pattern: the descan correction."""

from __future__ import annotations

import warnings

import numpy as np

from stemtf.phase.dog import dog_filter

__all__ = ["beam_centers", "friedel_centers", "refine_beam_centers", "scan_smoothed_centers"]

#: Midpoints of Friedel pairs within this distance [px] of each other agree on the centre.
_PAIR_AGREE_PX = 1.0
#: The transmitted disk's count centroid replaces the DoG centre only with this many
#: background-subtracted counts in the disk.
REFINE_MIN_COUNTS = 20.0


def beam_centers(
    dps: np.ndarray,
    *,
    sigma_px: float,
    guess_yx: tuple[float, float] | None = None,
    search_radius_px: float | None = None,
    response: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel position of the transmitted beam in each pattern.

    The strongest Difference-of-Gaussians response within ``search_radius_px`` of ``guess_yx``
    (default: the detector centre ``(H//2, W//2)`` and a quarter of the detector) is refined to
    the centroid of the positive response around it.

    Parameters
    ----------
    dps : ndarray, shape (B, H, W)
        Patterns.
    sigma_px : float
        DoG sigma [px] (about 0.6 x the disk radius).
    guess_yx : (float, float), optional
        Where to look [px].
    search_radius_px : float, optional
        How far from ``guess_yx`` to look [px].
    response : ndarray, shape (B, H, W), optional
        Precomputed ``dog_filter(dps, sigma_px)``.

    Returns
    -------
    centers : ndarray, shape (B, 2)
        ``[y, x]`` [px].
    strength : ndarray, shape (B,)
        DoG response at the centre (0 where the pattern is empty).
    """
    dps = np.asarray(dps)
    b, h, w = dps.shape
    resp = dog_filter(dps, sigma_px) if response is None else response
    gy, gx = (h // 2, w // 2) if guess_yx is None else guess_yx
    rad = min(h, w) / 4.0 if search_radius_px is None else search_radius_px
    win = int(np.clip(np.ceil(2.0 * sigma_px), 1, 5))
    y0 = int(max(win, np.floor(gy - rad)))
    y1 = int(min(h - win, np.ceil(gy + rad) + 1))
    x0 = int(max(win, np.floor(gx - rad)))
    x1 = int(min(w - win, np.ceil(gx + rad) + 1))
    sub = resp[:, y0:y1, x0:x1].reshape(b, -1)
    arg = np.argmax(sub, axis=1)
    strength = sub[np.arange(b), arg]
    py = arg // (x1 - x0) + y0
    px = arg % (x1 - x0) + x0
    off = np.arange(-win, win + 1)
    oy, ox = np.meshgrid(off, off, indexing="ij")
    patch = np.maximum(
        resp[np.arange(b)[:, None, None], py[:, None, None] + oy, px[:, None, None] + ox], 0.0
    )
    tot = patch.sum(axis=(1, 2))
    safe = np.where(tot > 0, tot, 1.0)
    cy = py + (patch * oy).sum(axis=(1, 2)) / safe
    cx = px + (patch * ox).sum(axis=(1, 2)) / safe
    centers = np.stack([cy, cx], axis=1).astype(float)
    empty = ~(strength > 0)
    centers[empty] = (gy, gx)
    return centers, np.where(empty, 0.0, strength).astype(float)


def friedel_centers(
    table,
    guess_yx: np.ndarray,
    *,
    tolerance_px: float = 2.0,
    max_spots: int = 18,
    min_pairs: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Pattern centres from Friedel pairs of spots (g and -g), blind to the transmitted beam.

    Two spots at about the same distance from ``guess_yx`` and about opposite directions are
    taken as a Friedel pair; their midpoint is the centre. The median midpoint of each pattern
    is returned where at least ``min_pairs`` pairs agree within 1 px, else the guess. Works behind a beam
    stop, where the transmitted beam cannot be located.

    Parameters
    ----------
    table : SpotTable
        Spots of the batch.
    guess_yx : ndarray, shape (B, 2)
        Approximate centres [px] (e.g. the calibration's global centre).
    tolerance_px : float
        How far the midpoint may lie from the guess ... and how unequal the two radii may be.
    max_spots : int
        Strongest spots per pattern considered.
    min_pairs : int
        Pairs needed to trust the estimate.

    Returns
    -------
    centers : ndarray, shape (B, 2)
    n_pairs : ndarray of int, shape (B,)
    """
    from stemtf.phase.hexagons import _padded

    guess = np.asarray(guess_yx, float)
    n_dp = guess.shape[0]
    y, x, _, valid = _padded(table, n_dp, max_spots)
    my = 0.5 * (y[:, :, None] + y[:, None, :])
    mx = 0.5 * (x[:, :, None] + x[:, None, :])
    # a pair is g, -g: its midpoint is the centre, so it must lie near the guess, and the two
    # spots must be far apart (not a spot paired with its own neighbour)
    dy = my - guess[:, 0, None, None]
    dx = mx - guess[:, 1, None, None]
    sep = np.hypot(y[:, :, None] - y[:, None, :], x[:, :, None] - x[:, None, :])
    ok = valid[:, :, None] & valid[:, None, :] & (np.hypot(dy, dx) <= 3 * tolerance_px)
    ok &= sep > 6 * tolerance_px
    iu = np.triu(np.ones(ok.shape[1:], bool), 1)
    ok &= iu[None]
    cy = np.where(ok, my, np.nan).reshape(n_dp, -1)
    cx = np.where(ok, mx, np.nan).reshape(n_dp, -1)
    out = guess.copy()
    n_pairs = np.zeros(n_dp, np.int64)
    has = ok.any(axis=(1, 2))
    if not has.any():
        return out, n_pairs
    # true pairs share one midpoint to a fraction of a pixel; chance pairs scatter: take the
    # median, then the median of the midpoints within 1 px of it (twice), and count those
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled below
        c_y = np.nanmedian(cy[has], axis=1)
        c_x = np.nanmedian(cx[has], axis=1)
        for _ in range(2):
            near = np.hypot(cy[has] - c_y[:, None], cx[has] - c_x[:, None]) <= _PAIR_AGREE_PX
            n_y = np.nanmedian(np.where(near, cy[has], np.nan), axis=1)
            n_x = np.nanmedian(np.where(near, cx[has], np.nan), axis=1)
            c_y = np.where(np.isfinite(n_y), n_y, c_y)
            c_x = np.where(np.isfinite(n_x), n_x, c_x)
        near = np.hypot(cy[has] - c_y[:, None], cx[has] - c_x[:, None]) <= _PAIR_AGREE_PX
    n_pairs[has] = near.sum(axis=1)
    use = np.flatnonzero(has)[n_pairs[has] >= min_pairs]
    sel = n_pairs[has] >= min_pairs
    out[use, 0] = c_y[sel]
    out[use, 1] = c_x[sel]
    n_pairs[~np.isin(np.arange(n_dp), use)] = np.minimum(
        n_pairs[~np.isin(np.arange(n_dp), use)], min_pairs - 1
    )
    return out, n_pairs


def friedel_pair_count(
    table,
    centers_yx: np.ndarray,
    *,
    tolerance_px: float = 1.5,
    min_separation_px: float = 6.0,
    max_spots: int = 18,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Spot pairs per pattern symmetric about the pattern's centre (g and -g), shape (B,).

    A crystal along any zone axis diffracts in Friedel pairs; noise peaks, hot pixels and the
    amorphous ring's speckle almost never do, so this counts crystal evidence independent of
    which phase (if any) the spots belong to. Each spot is counted in at most one pair.

    Parameters
    ----------
    table : SpotTable
        Spots of the batch [px].
    centers_yx : ndarray, shape (B, 2)
        Pattern centres [px].
    tolerance_px : float
        How far the pair's midpoint may lie from the centre.
    min_separation_px : float
        Pairs closer together than this are a spot and its own neighbour, not g and -g.
    max_spots : int
        Strongest spots per pattern considered.
    keep : bool ndarray, optional
        Spots that take part (e.g. significant above shot noise); default all.
    """
    from stemtf.phase.hexagons import _padded

    if keep is not None:
        table = table.subset(keep)
    c = np.asarray(centers_yx, float)
    n_dp = c.shape[0]
    y, x, _, valid = _padded(table, n_dp, max_spots)
    dy = 0.5 * (y[:, :, None] + y[:, None, :]) - c[:, 0, None, None]
    dx = 0.5 * (x[:, :, None] + x[:, None, :]) - c[:, 1, None, None]
    sep = np.hypot(y[:, :, None] - y[:, None, :], x[:, :, None] - x[:, None, :])
    ok = valid[:, :, None] & valid[:, None, :] & (np.hypot(dy, dx) <= tolerance_px)
    ok &= sep > min_separation_px
    # one pair per spot: a spot pairs with at most one partner (take either orientation once)
    paired = ok.any(axis=2)
    return paired.sum(axis=1) // 2


def refine_beam_centers(dps: np.ndarray, centers: np.ndarray, disk_radius_px: float) -> np.ndarray:
    """Beam centres [px] refined to the count centroid of the transmitted disk.

    The DoG peak of a disk several pixels wide is flat-topped, and its argmax wanders by about
    a pixel with shot noise; the background-subtracted count centroid of the disk (the
    aperture of :func:`stemtf.phase.spots.aperture_centroids`, re-centred twice) uses every
    count. Patterns whose disk holds fewer than :data:`REFINE_MIN_COUNTS` keep their centre.
    Dead pixels should be filled first (:func:`stemtf.phase.dog.fill_dead_pixels`): a dead
    column through the disk pulls its centroid.

    Parameters
    ----------
    dps : ndarray (B, H, W)
        Patterns in counts (hot pixels suppressed).
    centers : ndarray (B, 2)
        Starting centres [px], e.g. :func:`beam_centers`.
    disk_radius_px : float
        Radius of the transmitted disk [px].
    """
    from stemtf.phase.spots import SpotTable, aperture_centroids, aperture_counts

    c = np.asarray(centers, float).reshape(-1, 2).copy()
    if c.shape[0] == 0:
        return c
    zeros = np.zeros(c.shape[0])
    start = SpotTable(np.arange(c.shape[0]), c[:, 0], c[:, 1], zeros, zeros)
    found = aperture_centroids(dps, start, disk_radius_px, iterations=2)
    excess, _ = aperture_counts(dps, found, disk_radius_px)
    ok = excess >= REFINE_MIN_COUNTS
    c[ok, 0], c[ok, 1] = found.y[ok], found.x[ok]
    return c


#: Half-width [probe positions] of the scan window of :func:`scan_smoothed_centers`' local fit.
SMOOTH_HALF_WINDOW = 3
#: Floor [px] under the scan's centre jitter estimated by :func:`scan_smoothed_centers`.
MIN_JITTER_PX = 0.15


def _box_sums(values: np.ndarray, half: int) -> np.ndarray:
    """Sum over each position's (2 half + 1)^2 scan window (within the scan) of (Ry, Rx, K)."""
    ry, rx = values.shape[:2]
    p = np.pad(values, ((half + 1, half), (half + 1, half)) + ((0, 0),) * (values.ndim - 2))
    c = p.cumsum(axis=0).cumsum(axis=1)
    k = 2 * half + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _local_plane(values: np.ndarray, weights: np.ndarray, half: int) -> np.ndarray:
    """Leave-one-out weighted local plane fit of (Ry, Rx, D) values, evaluated at each position.

    At each scan position, ``v = a + b y + c x`` is fitted by weighted least squares to the
    other positions of its window; where the window's weights cannot fix the slopes (edges,
    empty regions) the slopes are damped towards zero (a weighted mean).
    """
    ry, rx, dim = values.shape
    yy, xx = np.mgrid[:ry, :rx].astype(np.float64)
    yy -= ry / 2.0
    xx -= rx / 2.0
    w = np.asarray(weights, np.float64)
    basis = np.stack([np.ones_like(yy), yy, xx], axis=-1)  # (Ry, Rx, 3)
    outer = basis[..., :, None] * basis[..., None, :] * w[..., None, None]  # (Ry, Rx, 3, 3)
    rhs = basis[..., :, None] * (values * w[..., None])[..., None, :]  # (Ry, Rx, 3, D)
    a = _box_sums(outer.reshape(ry, rx, 9), half).reshape(ry, rx, 3, 3) - outer
    b = _box_sums(rhs.reshape(ry, rx, 3 * dim), half).reshape(ry, rx, 3, dim) - rhs
    # damp the slopes where the window's weights cannot fix them
    ridge = 1e-3 * np.maximum(a[..., 0, 0], 1e-12)
    a[..., 1, 1] += ridge
    a[..., 2, 2] += ridge
    a[..., 0, 0] += 1e-12
    coef = np.linalg.solve(a, b)  # (Ry, Rx, 3, D)
    return np.einsum("yxk,yxkd->yxd", basis, coef)


def scan_smoothed_centers(
    grid: np.ndarray,
    centers_yx: np.ndarray,
    disk_radius_px: float,
    *,
    half_window: int = SMOOTH_HALF_WINDOW,
    min_jitter_px: float = MIN_JITTER_PX,
) -> np.ndarray:
    """Beam centres [px] of a scan, each pattern's own estimate weighed against its neighbours'.

    At a few tens of counts in the transmitted disk (low dose, thick crystal) a pattern's own
    centre wanders by px (measured: median 2.3 px off the true centre in O1 at 10^2 e-/DP on a
    256 px detector with a 7.7 px disk), which smears the disks a matched filter sums. The
    descan moves the beam smoothly across the scan (a plane plus a small jitter), so the
    neighbours know it too. Each pattern's background-subtracted count centroid of the
    transmitted disk (variance ``R^2 / 4 T / N^2`` per axis for ``T`` counts in the disk of
    which ``N`` above the background) is combined with a leave-one-out weighted plane fit over
    its ``(2 half_window + 1)^2`` scan window, by their variances: the fit's scatter about the
    well-measured patterns' centres (the jitter, at least ``min_jitter_px``) against the
    pattern's own. Patterns with thousands of counts keep their own centre; an empty one takes
    its neighbours'.

    Parameters
    ----------
    grid : ndarray, shape (Ry, Rx, H, W)
        Patterns in scan order, counts (hot pixels suppressed or not: done here).
    centers_yx : ndarray, shape (Ry * Rx, 2)
        Starting centres [px] (e.g. the identification's).
    disk_radius_px : float
        Radius of the transmitted disk [px].
    half_window : int
        Half-width of the scan window [probe positions] (>= 1).
    min_jitter_px : float
        Floor under the estimated jitter [px] (> 0).

    Returns
    -------
    ndarray, shape (Ry * Rx, 2)
    """
    from stemtf.errors import InputError
    from stemtf.phase.dog import fill_dead_pixels, suppress_hot_pixels
    from stemtf.phase.spots import SpotTable, aperture_centroids, aperture_counts

    g = np.asarray(grid)
    if g.ndim != 4:
        raise InputError(f"grid must be a (Ry, Rx, H, W) scan, got shape {g.shape}")
    if not (isinstance(half_window, int) and half_window >= 1):
        raise InputError(f"half_window={half_window!r} is not allowed: an integer >= 1")
    if not (disk_radius_px > 0 and min_jitter_px > 0):
        raise InputError(
            f"disk_radius_px={disk_radius_px!r}, min_jitter_px={min_jitter_px!r}: both must be > 0"
        )
    ry, rx = g.shape[:2]
    n = ry * rx
    c0 = np.asarray(centers_yx, float).reshape(n, 2)
    if n == 0:
        return c0.copy()
    dps = fill_dead_pixels(suppress_hot_pixels(g.reshape((n,) + g.shape[2:]).astype(np.float32)))
    zeros = np.zeros(n)
    r2 = disk_radius_px**2 / 4.0

    def measure(start: np.ndarray):
        table = SpotTable(np.arange(n), start[:, 0], start[:, 1], zeros, zeros)
        found = aperture_centroids(dps, table, disk_radius_px, iterations=2)
        excess, _, var = aperture_counts(dps, found, disk_radius_px, return_variance=True)
        own = np.stack([found.y, found.x], axis=1)
        sig = np.maximum(excess, 0.0)
        # per-axis variance of the centroid; no counts above the background: no information
        own_var = np.where(sig > 0, r2 * np.maximum(var, 1.0) / np.maximum(sig, 1e-9) ** 2, np.inf)
        return own, own_var

    own, own_var = measure(c0)
    tau2 = min_jitter_px**2
    fit = c0
    for _ in range(2):
        w = 1.0 / (own_var + tau2)
        fit = _local_plane(own.reshape(ry, rx, 2), w.reshape(ry, rx), half_window).reshape(n, 2)
        good = own_var < 0.1
        # the jitter from the well-measured patterns, where they are a fair share of the scan
        # (a few bright outliers, e.g. hot-pixel clusters, would set it otherwise)
        if good.sum() >= max(10, n // 4):
            resid = ((own[good] - fit[good]) ** 2).sum(axis=1) / 2.0 - own_var[good]
            tau2 = max(min_jitter_px**2, float(np.median(resid)))
        # re-measure from the fit: a window started off the disk pulls to its start
        own, own_var = measure(fit)
        # a centroid far outside its own and the fit's scatter locked onto something else
        z2 = ((own - fit) ** 2).sum(axis=1) / (own_var + tau2)
        own_var[z2 > 25.0] = np.inf
    shrink = np.where(np.isfinite(own_var), tau2 / (tau2 + own_var), 0.0)[:, None]
    return fit + shrink * (own - fit)
