"""The demo's comparison figure: ground-truth labels | predicted phase map | disagreements."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemtf.fileio import atomic_path

__all__ = ["save_truth_comparison"]


def save_truth_comparison(
    path: str | Path, truth: np.ndarray, pred: np.ndarray, names: dict[int, str], title: str
) -> Path:
    """Write a PNG of truth, prediction and the positions where they differ.

    Parameters
    ----------
    path : path
        PNG file (written atomically).
    truth, pred : (Ry, Rx) integer arrays
        Label maps coded 0 none, 1 O3, 2 O1, 3 both.
    names : dict
        Label code -> name for the legend.
    title : str
        Figure title (dose, macro-F1).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from stemtf.report import LABEL_COLORS, figure_png
    from stemtf.report.colors import label_cmap

    cmap, norm = label_cmap()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    wrong = np.asarray(truth) != np.asarray(pred)
    for ax, img, label in ((axes[0], truth, "ground truth"), (axes[1], pred, "stemtf analyze")):
        ax.imshow(img, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(label)
    axes[2].imshow(wrong, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    axes[2].set_title(f"disagreements, black ({100 * wrong.mean():.1f} %)")
    for ax in axes:
        ax.set_xlabel("scan x [px]")
        ax.set_ylabel("scan y [px]")
    axes[1].legend(
        handles=[Patch(color=LABEL_COLORS[k], label=names[k]) for k in sorted(names)],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
        fontsize=8,
    )
    fig.suptitle(title)
    fig.tight_layout()
    png = figure_png(fig)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(png)
    return Path(path)
