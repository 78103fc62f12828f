"""A montage PNG of diffraction patterns for a person to look at."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stemtf.fileio import atomic_path

__all__ = ["write_montage"]

MAX_PANELS = 36


def write_montage(
    path: str | os.PathLike,
    patterns: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    q_sampling_invA: float | None = None,
    gamma: float = 0.25,
) -> Path:
    """Write up to 36 patterns side by side (intensity ** ``gamma``) to ``path`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pats = np.asarray(patterns)[:MAX_PANELS]
    n = len(pats)
    cols = min(n, 6)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    h, w = pats.shape[1:]
    extent = None
    if q_sampling_invA:
        q = q_sampling_invA
        extent = (-(w // 2) * q, (w - w // 2) * q, (h - h // 2) * q, -(h // 2) * q)
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(np.clip(pats[k], 0, None) ** gamma, cmap="inferno", extent=extent)
        if titles is not None and k < len(titles):
            ax.set_title(titles[k], fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)
