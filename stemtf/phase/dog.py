"""Difference-of-Gaussians filtering of diffraction patterns with OpenCV, one or many at once.

A batch ``(B, H, W)`` is filtered as one tall image, so OpenCV is called once per batch instead
of once per pattern. Each pattern gets ``pad`` mirrored rows above and below in that tall image
so that no blur reaches into its neighbour: the result equals filtering every pattern alone with
``cv2.BORDER_REFLECT`` (the tests check this against the per-pattern loop).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stemtf.errors import InputError

__all__ = [
    "DOG_SIGMA_RATIO",
    "disk_response",
    "dog_filter",
    "kernel_size",
    "remove_hot_pixels",
    "suppress_hot_pixels",
]

#: Ratio of the wide to the narrow Gaussian (Marr-Hildreth's 1.6 approximates the Laplacian).
DOG_SIGMA_RATIO = 1.6


#: Gaussian kernels are truncated at this many sigmas.
TRUNCATE_SIGMAS = 2.5


def kernel_size(sigma_px: float) -> int:
    """Odd Gaussian kernel size [px] truncated at :data:`TRUNCATE_SIGMAS` sigmas."""
    return 2 * int(math.ceil(TRUNCATE_SIGMAS * sigma_px)) + 1


def _as_stack(dps: np.ndarray) -> np.ndarray:
    arr = np.asarray(dps)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"diffraction patterns must be (H, W) or (B, H, W), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def dog_filter(dps: np.ndarray, sigma_px: float, *, ratio: float = DOG_SIGMA_RATIO) -> np.ndarray:
    """Difference of Gaussians ``G(sigma) - G(ratio*sigma)`` of each pattern.

    Parameters
    ----------
    dps : ndarray, shape (H, W) or (B, H, W)
        Diffraction patterns (any non-negative scale: counts or normalised).
    sigma_px : float
        Narrow Gaussian sigma [px]; about 0.6 x the disk radius suits nanobeam disks.
    ratio : float
        Wide sigma / narrow sigma.

    Returns
    -------
    ndarray, float32, same shape as ``dps``
        The DoG response; positive at spots of about the matched size.
    """
    if not (sigma_px > 0 and math.isfinite(sigma_px)):
        raise InputError(f"sigma_px={sigma_px!r} is not allowed: it must be a finite number > 0")
    single = np.ndim(dps) == 2
    stack = _as_stack(dps)
    b, h, w = stack.shape
    k1, k2 = kernel_size(sigma_px), kernel_size(sigma_px * ratio)
    pad = min(k2 // 2, h)
    padded = np.empty((b, h + 2 * pad, w), np.float32)
    padded[:, pad : pad + h] = stack
    if pad:
        padded[:, :pad] = stack[:, pad - 1 :: -1] if pad < h else stack[:, ::-1]
        padded[:, pad + h :] = stack[:, h - 1 : h - 1 - pad : -1] if pad < h else stack[:, ::-1]
    tall = padded.reshape(-1, w)
    g1 = cv2.GaussianBlur(
        tall, (k1, k1), sigmaX=sigma_px, sigmaY=sigma_px, borderType=cv2.BORDER_REFLECT
    )
    # the wide blur overwrites the padded copy and the difference the narrow blur, in place:
    # no new (B, H, W) buffers (identical output; 3x faster on 512 px batches, where fresh
    # allocations cost more than the arithmetic)
    cv2.GaussianBlur(
        tall,
        (k2, k2),
        sigmaX=sigma_px * ratio,
        sigmaY=sigma_px * ratio,
        borderType=cv2.BORDER_REFLECT,
        dst=tall,
    )
    out = cv2.subtract(g1, tall, dst=g1).reshape(b, h + 2 * pad, w)[:, pad : pad + h]
    return out[0] if single else out


_RING_3X3 = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8)


def _with_neighbour_max(dps: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The patterns as one tall float32 image ``(B * H, W)``, each pixel's largest 8-neighbour.

    One OpenCV call for the batch, so a pattern's first and last rows see one row of the
    previous and next pattern in the batch. Returns the tall image, the neighbour maxima (same
    layout) and the ``(B, H, W)`` shape.
    """
    stack = _as_stack(dps)
    b, h, w = stack.shape
    tall = stack.reshape(b * h, w)
    return tall, cv2.dilate(tall, _RING_3X3, borderType=cv2.BORDER_REPLICATE), (b, h, w)


def suppress_hot_pixels(dps: np.ndarray) -> np.ndarray:
    """Clip every pixel to the largest of its 8 neighbours (float32 copy).

    A hot (salt) pixel stands alone above its neighbours and drops to their level; a Bragg
    disk several pixels wide is left almost unchanged (only single-pixel shot-noise peaks are
    shaved). Without this one saturated pixel outshines every reflection in a low-dose pattern.
    """
    tall, nbr, shape = _with_neighbour_max(dps)
    out = np.minimum(tall, nbr).reshape(shape)
    return out[0] if np.ndim(dps) == 2 else out


#: :func:`remove_hot_pixels`: a pixel is hot where it stands above its largest 8-neighbour ``m``
#: by more than ``HOT_SIGMAS * sqrt(m + 1) + HOT_MARGIN_COUNTS`` (Poisson cannot put it there).
HOT_SIGMAS, HOT_MARGIN_COUNTS = 4.0, 2.0


def remove_hot_pixels(dps: np.ndarray) -> np.ndarray:
    """Replace only pixels that shot noise cannot explain by their neighbours' level.

    Unlike :func:`suppress_hot_pixels`, which clips every pixel to its neighbours' maximum and so
    removes most isolated single counts of a sparse low-dose pattern (57 % of the counts of a
    256 px pattern at 300 e-, most of them in diffracted disks), this keeps every count a
    Poisson draw could give: a pixel is hot where it exceeds its largest 8-neighbour ``m`` by
    more than :data:`HOT_SIGMAS` ``* sqrt(m + 1) +`` :data:`HOT_MARGIN_COUNTS`, and is then
    replaced by ``m``. Two hot pixels that touch (with ~50 random hot pixels on a 256 px
    pattern about one pattern in three has such a pair) shield each other from that test: a
    local maximum that exceeds its *second* largest 8-neighbour by the same bound is hot too
    (replaced by that neighbour), and its partner, alone then, goes in a second pass. A Bragg
    disk two or more pixels wide keeps its counts (its pixels have several neighbours at their
    level). For tests on the counts themselves (the low-dose matched filter,
    :mod:`stemtf.phase.matched`, whose shot-noise variances assume every electron is kept) and
    for patterns that are summed afterwards (scan neighbourhoods), where the hot pixels of
    different patterns fall side by side often enough (about ten pairs in a 3 x 3 sum of 256 px
    patterns with 44 hot pixels each) to make bright two-pixel "spots" that no neighbour clip
    removes -- and a pair inside one pattern makes one in every sum it enters.
    Returns a float32 copy.
    """
    tall, nbr, shape = _with_neighbour_max(dps)
    out = np.array(tall, dtype=np.float32)
    # the limit is at least nbr + margin: test the Poisson bound only on those candidates (the
    # local maxima standing out; few in a pattern), not over every pixel
    cand = np.flatnonzero(out > nbr + HOT_MARGIN_COUNTS)
    if cand.size:
        t, m = out.ravel()[cand], nbr.ravel()[cand]
        hot = t > _hot_limit(m)
        out.ravel()[cand[hot]] = m[hot]
    _replace_paired_hot(out, shape)
    out = out.reshape(shape)
    return out[0] if np.ndim(dps) == 2 else out


def _hot_limit(level: np.ndarray) -> np.ndarray:
    """Largest count shot noise allows above a neighbour level (see :func:`remove_hot_pixels`)."""
    return level + HOT_SIGMAS * np.sqrt(np.maximum(level, 0.0) + 1.0) + HOT_MARGIN_COUNTS


def _in_pattern_neighbours(idx: np.ndarray, h: int, w: int):
    """Each of the 8 neighbours of pixels ``idx`` of a tall ``(B * H, W)`` image, in turn.

    Yields ``(neighbour_index, inside)``: the neighbours' flat indices (the pixel's own where
    ``inside`` is False) and whether that neighbour lies in the pixel's own ``H x W`` pattern.
    """
    y, x = np.divmod(idx, w)
    yy = y % h
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            ok = (yy + dy >= 0) & (yy + dy < h) & (x + dx >= 0) & (x + dx < w)
            yield np.where(ok, idx + dy * w + dx, idx), ok


def _neighbour_top2(flat: np.ndarray, idx: np.ndarray, h: int, w: int):
    """Largest and second largest 8-neighbour of pixels ``idx`` of a tall ``(B * H, W)`` image.

    Neighbours outside the pixel's own ``H x W`` pattern do not count (``-inf`` where fewer
    than two are inside).
    """
    top1 = np.full(idx.size, -np.inf, np.float32)
    top2 = np.full(idx.size, -np.inf, np.float32)
    for nb, ok in _in_pattern_neighbours(idx, h, w):
        v = np.where(ok, flat[nb], -np.inf)
        top2 = np.maximum(top2, np.minimum(top1, v))
        top1 = np.maximum(top1, v)
    return top1, top2


def _replace_paired_hot(out: np.ndarray, shape: tuple[int, ...]) -> None:
    """Touching hot pixels of the tall image ``out``, replaced in place.

    A local maximum above the limit over its second largest neighbour takes that neighbour's
    value; then each of its neighbours above the limit over its (new) largest neighbour, the
    partner, takes that one's.
    """
    _, h, w = shape
    flat = out.ravel()
    nbr = cv2.dilate(out, _RING_3X3, borderType=cv2.BORDER_REPLICATE)
    # a hot pixel of a pair is at least its partner; the limit over any level is > margin + sigmas
    cand = np.flatnonzero((out >= nbr) & (out > HOT_MARGIN_COUNTS + HOT_SIGMAS))
    if cand.size == 0:
        return
    _, second = _neighbour_top2(flat, cand, h, w)
    level = np.maximum(second, 0.0)
    hot = flat[cand] > _hot_limit(level)
    if not hot.any():
        return
    first = cand[hot]
    flat[first] = level[hot]
    # the partners, alone now
    partner = np.unique(np.concatenate([nb[ok] for nb, ok in _in_pattern_neighbours(first, h, w)]))
    largest, _ = _neighbour_top2(flat, partner, h, w)
    level = np.maximum(largest, 0.0)
    hot = flat[partner] > _hot_limit(level)
    flat[partner[hot]] = level[hot]


#: A pixel is dead where it holds no counts in a whole batch while its live 8-neighbours hold
#: at least this many on average (Poisson chance of a live pixel reading 0: e^-20).
DEAD_MIN_NEIGHBOUR_COUNTS = 20.0
#: ... in at least this many of its 8 neighbours (a dead column or row keeps 6 live ones).
_DEAD_MIN_BRIGHT_NEIGHBOURS = 5
#: :func:`fill_dead_pixels`: a pixel is stuck hot where its minimum over the batch exceeds this
#: factor times its 3 x 3 neighbourhood's median of batch minima plus this many counts.
STUCK_HOT_FACTOR, STUCK_HOT_MARGIN_COUNTS = 8.0, 5.0


def fill_dead_pixels(dps: np.ndarray) -> np.ndarray:
    """Dead and stuck-hot pixels replaced by the mean of their good neighbours, per pattern.

    A pixel is taken as dead where its sum over the batch is 0 while at least five of its
    8-neighbours hold :data:`DEAD_MIN_NEIGHBOUR_COUNTS` each. It is stuck hot where its minimum
    over the batch exceeds :data:`STUCK_HOT_FACTOR` times the median of its 3 x 3 neighbourhood's
    minima plus :data:`STUCK_HOT_MARGIN_COUNTS`: a detector defect bright in every pattern (a
    pixel hot in a few frames only, as random hot pixels are, is left to the clip). A
    lone hot pixel is clipped by :func:`suppress_hot_pixels`, but two or three touching ones
    keep each other up there; such a cluster outshone the transmitted beam in every pattern of
    a scan, which then counted as behind a beam stop (its centre taken from Friedel pairs of
    spots). A Bragg disk or the transmitted beam (radius >= 2 px) stays within a factor of
    about 2 of its neighbourhood median and is never taken. Each such pixel gets, in each
    pattern, the mean of its good 8-neighbours. Without the dead-pixel fill a dead column
    through a disk pulls the disk's centroid (and the beam centre) by up to half a pixel.
    Returns a float32 copy (the input where none is found).
    """
    stack = _as_stack(dps).astype(np.float32, copy=False)
    b = stack.shape[0]
    total = stack.sum(axis=0)
    bright = (total >= DEAD_MIN_NEIGHBOUR_COUNTS).astype(np.float32)
    kernel = _RING_3X3.astype(np.float32)
    n_bright = cv2.filter2D(bright, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    dead = (total <= 0) & (n_bright >= _DEAD_MIN_BRIGHT_NEIGHBOURS)
    # stuck: bright in every pattern (the batch minimum; a pixel hot in one frame is not)
    low = stack.min(axis=0)
    hot = low > STUCK_HOT_FACTOR * cv2.medianBlur(low, 3) + STUCK_HOT_MARGIN_COUNTS
    bad = dead | hot
    if not bad.any():
        return stack
    good = (~bad).astype(np.float32)
    out = stack.copy()
    _, h, w = out.shape
    ys, xs = np.nonzero(bad)
    acc = np.zeros((b, ys.size), np.float32)
    n_good = np.zeros(ys.size, np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy, xx = ys + dy, xs + dx
            ok = (dy or dx) & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            yy, xx = np.where(ok, yy, 0), np.where(ok, xx, 0)
            wgt = good[yy, xx] * ok
            acc += out[:, yy, xx] * wgt
            n_good += wgt
    out[:, ys, xs] = acc / np.maximum(n_good, 1.0)
    return out


def disk_response(radius_px: float, sigma_px: float) -> float:
    """Peak DoG response of a uniform disk of ``radius_px`` holding a total of 1."""
    n = 2 * int(math.ceil(radius_px + 4 * sigma_px * DOG_SIGMA_RATIO)) + 1
    yy, xx = np.mgrid[:n, :n] - n // 2
    disk = np.clip(radius_px + 0.5 - np.hypot(yy, xx), 0.0, 1.0).astype(np.float32)
    disk /= disk.sum()
    return float(dog_filter(disk, sigma_px)[n // 2, n // 2])
