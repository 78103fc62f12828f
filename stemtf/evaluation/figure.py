"""Evaluation figure: PSNR and weak-spot recall per dose bin, and one low-dose example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stemtf.fileio import atomic_path

__all__ = ["plot_evaluation"]


def plot_evaluation(
    report: dict[str, Any], path: str | Path, examples: dict[str, np.ndarray]
) -> Path:
    """Write a PNG (atomically): metric curves vs dose and example patterns (log scale).

    ``examples`` maps a title to an (H, W) pattern (e.g. noisy, denoised, clean).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    centres = [float(np.sqrt(lo * hi)) for lo, hi in report["dose_bins_e"]]
    ncol = max(3, len(examples))
    fig = plt.figure(figsize=(3.2 * ncol, 6.4))
    panels = [
        ("psnr_db", "PSNR [dB]"),
        ("weak_recall", "weak-spot recall"),
        ("invented_per_dp", "invented spots / DP"),
    ]
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(2, ncol, i + 1)
        for name, res in report["methods"].items():
            ys = [np.nan if b[key] is None else b[key] for b in res["per_bin"]]
            ax.plot(centres, ys, marker="o", label=name)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(centres, [f"{c:.0e}" for c in centres], fontsize=7)
        ax.set_xlabel("dose [e-/DP]")
        ax.set_ylabel(label)
        if i == 0:
            ax.legend(fontsize=7)
    for j, (title, img) in enumerate(examples.items()):
        ax = fig.add_subplot(2, ncol, ncol + j + 1)
        ax.imshow(np.log1p(np.maximum(img, 0)), cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)
