"""Maps and reports of an analysis: phase map PNG, figures, self-contained HTML."""

from stemtf.report.colors import HEXAGON_COLORS, LABEL_COLORS
from stemtf.report.figures import example_figure, hexagon_outline, radius_histogram_figure
from stemtf.report.html import write_report_html
from stemtf.report.phase_map import figure_png, phase_map_figure, save_phase_map

__all__ = [
    "HEXAGON_COLORS",
    "LABEL_COLORS",
    "example_figure",
    "figure_png",
    "hexagon_outline",
    "phase_map_figure",
    "radius_histogram_figure",
    "save_phase_map",
    "write_report_html",
]
