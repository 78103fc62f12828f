"""``phase_map.png``: the phase map beside a virtual image of the scan with the ROI drawn."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from stemtf.fileio import atomic_path
from stemtf.report.colors import label_cmap, label_colors

__all__ = ["phase_map_figure", "save_phase_map", "figure_png"]


def figure_png(fig, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _robust_limits(img: np.ndarray) -> tuple[float, float]:
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def phase_map_figure(
    labels: np.ndarray,
    virtual: np.ndarray,
    roi: tuple[int, int, int, int],
    names: dict[int, str],
    *,
    virtual_title: str = "virtual bright field",
):
    """Figure: virtual image (whole scan, ROI rectangle) | phase map of the ROI with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.6))
    vmin, vmax = _robust_limits(virtual)
    ax0.imshow(virtual, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    y0, y1, x0, x1 = roi
    ax0.add_patch(
        Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="#ff3030", lw=1.5)
    )
    ax0.set_title(f"{virtual_title}, ROI in red")
    cmap, norm = label_cmap(names)
    colors = label_colors(names)
    ax1.imshow(
        labels,
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5),
    )
    total = max(labels.size, 1)
    handles = [
        Patch(
            color=colors[k],
            label=f"{names[k]} ({100 * np.count_nonzero(labels == k) / total:.1f} %)",
        )
        for k in sorted(names)
    ]
    ax1.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax1.set_title("phase map")
    for ax in (ax0, ax1):
        ax.set_xlabel("scan x [px]")
        ax.set_ylabel("scan y [px]")
    fig.tight_layout()
    return fig


def save_phase_map(path: str | Path, *args, **kwargs) -> bytes:
    """Write :func:`phase_map_figure` as PNG atomically; return the PNG bytes."""
    png = figure_png(phase_map_figure(*args, **kwargs))
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)
    return png
