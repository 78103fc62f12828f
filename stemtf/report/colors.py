"""Colours of the phase maps and overlays (the study's convention), one per label name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["LABEL_COLORS", "HEXAGON_COLORS", "PHASE_COLORS", "label_colors", "label_cmap"]

#: Label code -> colour: 0 none (dark), 1 first phase / O3 (orange), 2 second / O1 (blue),
#: 3 both (grey), 4 unassigned (a crystal no phase fits: magenta).
LABEL_COLORS = {0: "#141414", 1: "#ff8c1a", 2: "#2f6fd6", 3: "#9e9e9e", 4: "#c0399b"}
#: Hexagon phase code (phase index + 1) -> overlay colour: O3 cyan, O1 yellow, then more.
HEXAGON_COLORS = {
    1: "#00e5ff",
    2: "#ffe600",
    3: "#7dff6b",
    4: "#ff6bd5",
    5: "#ff5c5c",
    6: "#b8b8ff",
    7: "#ffffff",
    8: "#ffb366",
}
#: Phase display name -> colour in N-phase maps (others take :data:`_PALETTE` in order).
PHASE_COLORS = {
    "O3": "#ff8c1a",
    "O1": "#2f6fd6",
    "H3": "#2ca02c",
    "spinel": "#8c3fd1",
    "rock salt": "#d62728",
}
_PALETTE = ("#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f", "#1f3b73", "#ff9896", "#98df8a")
_DEFAULT_NAMES = ("none", "O3", "O1", "both", "unassigned")


def _rgb(c: str) -> np.ndarray:
    return np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], float)


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(v)):02x}" for v in np.clip(rgb, 0, 255))


def label_colors(names: Sequence[str] | Mapping[int, str] | None = None) -> dict[int, str]:
    """Label code -> colour for a run's label names (one distinct colour per label).

    The default O3/O1 names keep :data:`LABEL_COLORS`. Otherwise: ``none`` dark,
    ``unassigned`` magenta, each phase its :data:`PHASE_COLORS` colour (or the next of a
    palette), a mixture ``A+B`` the mean of A's and B's, an ambiguity ``A|B`` that mean
    washed towards grey.
    """
    if names is None:
        return dict(LABEL_COLORS)
    if isinstance(names, Mapping):
        names = [names[k] for k in sorted(names)]
    names = list(names)
    if tuple(names) == _DEFAULT_NAMES:
        return dict(LABEL_COLORS)
    phase: dict[str, str] = {}
    spare = iter(_PALETTE * 4)
    for n in names:
        if n in ("none", "unassigned", "both") or "+" in n or "|" in n:
            continue
        phase[n] = PHASE_COLORS.get(n) or next(spare)
    out: dict[int, str] = {}
    for code, n in enumerate(names):
        if n == "none":
            c = LABEL_COLORS[0]
        elif n == "unassigned":
            c = LABEL_COLORS[4]
        elif n == "both":
            c = LABEL_COLORS[3]
        elif n in phase:
            c = phase[n]
        else:
            sep = "+" if "+" in n else "|"
            parts = [phase.get(p, "#9e9e9e") for p in n.split(sep, 1)]
            mean = 0.5 * (_rgb(parts[0]) + _rgb(parts[1]))
            c = _hex(mean if sep == "+" else 0.45 * mean + 0.55 * _rgb("#d0d0d0"))
        while c in out.values():  # one colour per label
            c = _hex(0.8 * _rgb(c) + 0.2 * _rgb("#ffffff"))
        out[code] = c
    return out


def label_cmap(names: Sequence[str] | Mapping[int, str] | None = None):
    """A matplotlib ListedColormap and BoundaryNorm for the label codes of ``names``.

    Without names: the default codes 0..4.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = label_colors(names)
    n = len(colors)
    cmap = ListedColormap([colors[k] for k in range(n)])
    return cmap, BoundaryNorm(np.arange(n + 1) - 0.5, cmap.N)
