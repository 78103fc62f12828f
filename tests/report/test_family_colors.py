"""One colour per label of an N-phase run, the default O3/O1 colours unchanged, a legend entry
per label in phase_map.png."""

from __future__ import annotations

import numpy as np

from stemtf.report.colors import LABEL_COLORS, label_cmap, label_colors
from stemtf.report.phase_map import phase_map_figure

FAMILY = (
    "none", "O3", "O1", "H3", "spinel", "rock salt", "O3+O1", "O1+spinel", "O1+rock salt",
    "H3+spinel", "spinel+rock salt", "O3|H3", "O3|rock salt", "H3|rock salt", "unassigned",
)  # fmt: skip


def test_default_names_keep_the_study_colours():
    assert label_colors(["none", "O3", "O1", "both", "unassigned"]) == LABEL_COLORS
    assert label_colors() == LABEL_COLORS


def test_family_labels_get_distinct_colours():
    colors = label_colors(FAMILY)
    assert sorted(colors) == list(range(len(FAMILY)))
    assert len(set(colors.values())) == len(FAMILY)
    assert colors[1] == LABEL_COLORS[1] and colors[2] == LABEL_COLORS[2]  # O3 orange, O1 blue
    assert colors[0] == LABEL_COLORS[0] and colors[14] == LABEL_COLORS[4]  # none, unassigned
    cmap, norm = label_cmap(FAMILY)
    assert cmap.N == len(FAMILY) and norm.N == len(FAMILY) + 1


def test_phase_map_legend_names_every_label():
    import matplotlib.pyplot as plt

    labels = np.arange(len(FAMILY) * 2).reshape(6, 5) % len(FAMILY)
    fig = phase_map_figure(labels, np.ones((6, 5)), (0, 6, 0, 5), dict(enumerate(FAMILY)))
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    plt.close(fig)
    assert [t.split(" (")[0] for t in texts] == list(FAMILY)
    assert texts[0] == "none (6.7 %)"
