"""Preview figure: clean/noisy pairs across the dose range."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.fileio import atomic_path

__all__ = ["write_preview"]


def write_preview(
    builder: Any,
    path: str | os.PathLike,
    *,
    n_pairs: int = 5,
    split: str | None = None,
    max_scan: int = 400,
) -> Path:
    """Save a PNG of ``n_pairs`` examples at increasing dose: noisy (top) over clean target (bottom).

    Examples are picked at evenly spaced dose quantiles among the first ``max_scan`` of
    ``split`` (default: the smallest split present). Both rows of a column share one log(1 + counts) colour scale.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = builder.info.splits
    split = split or min(splits, key=lambda s: splits[s].num_examples)
    items = [
        (float(ex["dose_e"]), ex["noisy"], ex["clean"], ex["material_id"].decode())
        for ex in builder.as_dataset(split=split, shuffle_files=False)
        .take(max_scan)
        .as_numpy_iterator()
    ]
    items.sort(key=lambda t: t[0])
    pick = [items[int(round(i))] for i in np.linspace(0, len(items) - 1, min(n_pairs, len(items)))]
    fig, axes = plt.subplots(2, len(pick), figsize=(2.2 * len(pick), 4.6), squeeze=False)
    for j, (dose, noisy, clean, mid) in enumerate(pick):
        vmax = float(np.log1p(max(clean.max(), np.percentile(noisy, 99.9), 1.0)))
        for i, (img, label) in enumerate(((noisy, "noisy"), (clean, "clean"))):
            ax = axes[i, j]
            ax.imshow(np.log1p(np.clip(img, 0, None)), cmap="magma", vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{dose:.3g} e-\n{mid}" if i == 0 else "clean target", fontsize=8)
            if j == 0:
                ax.set_ylabel(label)
    fig.suptitle(
        f"{builder.name}/{builder.builder_config.name} ({split}): log(1 + counts)", fontsize=9
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)
