"""Colours of the phase maps and overlays (the study's convention)."""

from __future__ import annotations

import numpy as np

__all__ = ["LABEL_COLORS", "HEXAGON_COLORS", "label_cmap"]

#: Label code -> colour: 0 none (dark), 1 first phase / O3 (orange), 2 second / O1 (blue),
#: 3 both (grey), 4 unassigned (a crystal no phase fits: magenta).
LABEL_COLORS = {0: "#141414", 1: "#ff8c1a", 2: "#2f6fd6", 3: "#9e9e9e", 4: "#c0399b"}
#: Hexagon phase code -> overlay colour: O3 cyan, O1 yellow.
HEXAGON_COLORS = {1: "#00e5ff", 2: "#ffe600"}


def label_cmap():
    """A matplotlib ListedColormap and BoundaryNorm for label codes 0..4."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(LABEL_COLORS)
    cmap = ListedColormap([LABEL_COLORS[k] for k in range(n)])
    return cmap, BoundaryNorm(np.arange(n + 1) - 0.5, cmap.N)
