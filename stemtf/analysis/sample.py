"""Pass 1: a seeded sample of patterns for calibration and ring-radius learning."""

from __future__ import annotations

import numpy as np

from stemtf.errors import InputError
from stemtf.io.scan import Scan
from stemtf.io.validate import check_counts

__all__ = [
    "sample_positions",
    "more_positions",
    "read_sample",
    "read_sample_context",
    "few_counts_warning",
]

#: Below this median of counts per pattern (hot pixels left out) no phase can be told (the
#: benchmarks go down to 10^2 e-/DP, the bundled model's card to 50): the values are probably
#: not electron counts, and ``analyze`` says so.
FEW_COUNTS = 20.0


def sample_positions(
    roi: tuple[int, int, int, int], n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` distinct scan positions in the ROI, drawn with ``seed``, in reading order."""
    y0, y1, x0, x1 = roi
    total = (y1 - y0) * (x1 - x0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A3]))
    flat = np.sort(rng.choice(total, size=min(n, total), replace=False))
    rows, cols = np.divmod(flat, x1 - x0)
    return rows + y0, cols + x0


def more_positions(
    roi: tuple[int, int, int, int], rows: np.ndarray, cols: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every ROI position outside ``(rows, cols)``, in an order drawn at random with ``seed``.

    For pass 1 to look beyond its sample (:func:`stemtf.phase.learn.refine_shared_radius`):
    any prefix of the order is a seeded random draw of the rest of the ROI.
    """
    y0, y1, x0, x1 = roi
    width = x1 - x0
    taken = np.zeros((y1 - y0) * width, bool)
    taken[(np.asarray(rows) - y0) * width + (np.asarray(cols) - x0)] = True
    rest = np.flatnonzero(~taken)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A4]))
    order = rest[rng.permutation(rest.size)]
    r, c = np.divmod(order, width)
    return r + y0, c + x0


def read_sample(
    scan: Scan, rows: np.ndarray, cols: np.ndarray, *, require_signal: bool = True
) -> np.ndarray:
    """Read the patterns at ``(rows, cols)`` one by one (memory: the sample only), checked.

    ``require_signal=False``: only the per-pattern checks (for further patterns of a scan
    whose sample already passed; a stretch of vacuum or blanked beam is then no error).

    Raises
    ------
    InputError
        NaN/Inf or negative counts, every sampled pattern all zero, or every sampled
        pattern constant (the same count in every pixel: no beam, nothing to calibrate on).
    """
    qy, qx = scan.shape[2:]
    out = np.empty((len(rows), qy, qx), np.float32)
    for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
        dp = scan.read(slice(int(r), int(r) + 1), slice(int(c), int(c) + 1))
        check_counts(dp, scan.path, row0=int(r), col0=int(c))
        out[k] = dp[0, 0]
    if not require_signal:
        return out
    if len(out) and not out.reshape(len(out), -1).any(axis=1).any():
        raise InputError(
            f"{scan.path}: all {len(out)} sampled patterns are zero (no counts); "
            "nothing to analyse: check the file or --dataset-path"
        )
    flat = out.reshape(len(out), -1)
    if len(out) and np.all(flat.max(axis=1) == flat.min(axis=1)):
        raise InputError(
            f"{scan.path}: all {len(out)} sampled patterns are constant (every pixel holds the "
            "same count: no transmitted beam, no diffraction); nothing to analyse: check the "
            "file or --dataset-path"
        )
    return out


def read_sample_context(scan: Scan, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(K, H, W)`` mean counts of the (up to 8) neighbours of each sampled position.

    For a scan-context denoiser (:func:`stemtf.denoise.context.neighbour_mean`), float32.
    """
    from stemtf.denoise.context import neighbour_mean

    ry, rx, qy, qx = scan.shape
    out = np.empty((len(rows), qy, qx), np.float32)
    for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
        r0, r1 = max(0, int(r) - 1), min(ry, int(r) + 2)
        c0, c1 = max(0, int(c) - 1), min(rx, int(c) + 2)
        near = scan.read(slice(r0, r1), slice(c0, c1))
        out[k] = neighbour_mean(near)[int(r) - r0, int(c) - c0]
    return out


def few_counts_warning(totals: np.ndarray, path) -> str | None:
    """One warning line where the sample holds fewer than :data:`FEW_COUNTS` per pattern.

    ``totals``: the sample's counts per pattern, hot pixels left out
    (:func:`stemtf.denoise.frame.counts_per_pattern`). Such values are probably not electron
    counts (a normalised pattern sums to 1; a file in other units): the line names the median
    and ``--counts-per-electron``. None otherwise.
    """
    totals = np.asarray(totals, np.float64)
    if totals.size == 0:
        return None
    median = float(np.median(totals))
    if median >= FEW_COUNTS:
        return None
    return (
        f"{path}: the sampled patterns hold a median of {median:.3g} counts each, too few "
        f"electrons for any phase map (below {FEW_COUNTS:g} per pattern); if the file's values "
        f"are not electron counts (normalised patterns sum to 1, a camera in linear mode "
        f"records several values per electron) give --counts-per-electron (values per electron)"
    )
