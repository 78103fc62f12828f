"""Report figures: example patterns with spots and hexagons, the ring-radius histogram."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stemtf.report.colors import HEXAGON_COLORS, label_colors

__all__ = ["example_figure", "radius_histogram_figure", "hexagon_outline", "radius_markers"]


def hexagon_outline(center_yx, radius_px: float, rotation_deg: float) -> np.ndarray:
    """Closed outline (7, 2) ``[y, x]`` of a regular hexagon.

    Vertex k lies at rotation + 60 k deg, angles measured as atan2(y, x) on the detector.
    """
    ang = np.deg2rad(rotation_deg + 60.0 * np.arange(7))
    return np.column_stack(
        [center_yx[0] + radius_px * np.sin(ang), center_yx[1] + radius_px * np.cos(ang)]
    )


def example_figure(examples: list[dict[str, Any]], names: dict[int, str], q_sampling_invA: float):
    """One panel per example pattern.

    Each panel: the log-scaled pattern, detected spots (white rings), hexagons (cyan first
    phase / O3, yellow second phase / O1).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(examples))
    colors = label_colors(names)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.9), squeeze=False)
    for ax, ex in zip(axes[0], examples, strict=False):
        dp = np.log1p(np.maximum(np.asarray(ex["dp"], float), 0.0))
        ax.imshow(dp, cmap="magma", interpolation="nearest")
        spots = np.asarray(ex["spots"]).reshape(-1, 3)
        if len(spots):
            ax.scatter(
                spots[:, 1],
                spots[:, 0],
                s=40,
                facecolors="none",
                edgecolors="white",
                linewidths=0.8,
            )
        for hx in ex["hexagons"]:
            outline = hexagon_outline(
                (float(hx["center_y"]), float(hx["center_x"])),
                float(hx["radius_invA"]) / q_sampling_invA,
                float(hx["rotation_deg"]),
            )
            color = HEXAGON_COLORS.get(int(hx["phase"]), "#ffffff")
            ax.plot(outline[:, 1], outline[:, 0], color=color, lw=1.4)
        lab = int(ex["label"])
        ax.set_title(
            f"({ex['row']}, {ex['col']}): {names.get(lab, lab)}\nconfidence {ex['confidence']:.2f}",
            color=colors.get(lab, "black") if lab else "black",
            fontsize=9,
        )
        ax.set_axis_off()
    for ax in axes[0][len(examples) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def radius_markers(phase_model: dict[str, Any]) -> list[tuple[str, float]]:
    """Ring radii [1/Å] of a phase model's dict, labelled ``O3 {110}`` etc. (for the histogram).

    Uses the ``rings`` list of :meth:`stemtf.phase.PhaseModel.to_dict` (``phase`` index,
    ``hkl``, ``radius_invA``); other dicts yield every number under a key naming a radius.
    """
    rings = phase_model.get("rings")
    if isinstance(rings, list) and all(isinstance(r, dict) for r in rings):
        names = list(phase_model.get("phases", []))
        out = []
        for r in rings:
            i = int(r.get("phase", 0))
            name = names[i] if i < len(names) else f"phase {i + 1}"
            hkl = "".join(str(v) for v in r.get("hkl", ()))
            out.append((f"{name} {{{hkl}}}", float(r["radius_invA"])))
        return out
    found: list[tuple[str, float]] = []

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            leaf = path.rsplit(".", 1)[-1].lower()
            if "radi" in leaf and "norm" not in leaf and "px" not in leaf and np.isfinite(obj):
                found.append((path, float(obj)))

    walk(phase_model, "")
    return found


def radius_histogram_figure(
    counts: np.ndarray, edges: np.ndarray, markers: Iterable[tuple[str, float]] = ()
):
    """Histogram of the accepted hexagons' radii [1/Å] with the model's ring radii marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    centers = 0.5 * (edges[1:] + edges[:-1])
    ax.bar(centers, counts, width=np.diff(edges), color="#555555")
    markers = list(markers)
    for i, (label, value) in enumerate(markers):
        ax.axvline(value, color=f"C{i % 10}", ls="--", lw=1.2, label=f"{label} = {value:.4f}")
    if counts.sum() == 0:
        ax.text(0.5, 0.5, "no hexagons found", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("hexagon radius [1/Å]")
    ax.set_ylabel("hexagons")
    if markers:
        ax.legend(fontsize=7, frameon=False)
        top = max(v for _, v in markers)
        ax.set_xlim(
            0.0, max(1.5 * top, edges[np.flatnonzero(counts)[-1] + 1] if counts.any() else 0)
        )
    fig.tight_layout()
    return fig
