"""The human-facing outputs of a run: ``phase_map.png`` and the self-contained ``report.html``.

Both are drawn from ``results.h5`` (read back, so the pictures show exactly what was saved);
the hexagon radii are histogrammed in slices, so memory stays flat for large tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_figures_and_report", "radius_histogram"]

#: Rows of the hexagon table read at a time for the histogram.
_SLICE = 1 << 18
#: Histogram bin width [1/Å].
RADIUS_BIN_INVA = 0.005


def radius_histogram(results_h5: Path, q_max_invA: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of the hexagon radii [1/Å] in ``results.h5``."""
    import h5py

    edges = np.arange(0.0, max(q_max_invA, RADIUS_BIN_INVA) + RADIUS_BIN_INVA, RADIUS_BIN_INVA)
    counts = np.zeros(len(edges) - 1, np.int64)
    with h5py.File(results_h5, "r") as f:
        if "hexagons" in f and "radius_invA" in (f["hexagons"].dtype.names or ()):
            table = f["hexagons"]
            for start in range(0, table.shape[0], _SLICE):
                radii = table.fields("radius_invA")[start : start + _SLICE]
                counts += np.histogram(radii, bins=edges)[0]
    return counts, edges


def write_figures_and_report(
    out: Path,
    summary: dict[str, Any],
    examples: list[dict[str, Any]],
    names: dict[int, str],
    roi: tuple[int, int, int, int],
    q_sampling_invA: float,
    phase_model: dict[str, Any],
    provenance: dict[str, Any],
) -> None:
    """Write ``phase_map.png`` and ``report.html`` into ``out`` (atomically)."""
    import h5py

    from stemtf.report import (
        example_figure,
        figure_png,
        radius_histogram_figure,
        save_phase_map,
        write_report_html,
    )
    from stemtf.report.figures import radius_markers

    with h5py.File(out / "results.h5", "r") as f:
        labels = f["labels"][...]
        overview = f["virtual/overview_bf"][...]
        confidence = f["confidence"][...]
    map_png = save_phase_map(out / "phase_map.png", labels, overview, roi, names)
    qy, qx = summary["analysis_detector_shape"]  # the calibration's (binned) pixels
    q_max = 0.5 * np.hypot(qy, qx) * q_sampling_invA
    counts, edges = radius_histogram(out / "results.h5", q_max)
    hist_png = figure_png(radius_histogram_figure(counts, edges, radius_markers(phase_model)))
    ex_png = figure_png(example_figure(examples, names, q_sampling_invA))
    conf_png = _confidence_png(confidence, roi)
    headline = {
        "input": summary["input"],
        "scan (Ry, Rx)": summary["scan_shape"],
        "ROI y0 y1 x0 x1": summary["roi_y0_y1_x0_x1"],
        "patterns analysed": summary["patterns"],
        **(
            {"detector binning": f"{summary['detector_binning']} x {summary['detector_binning']}"}
            if summary["detector_binning"] > 1
            else {}
        ),
        **(
            {"detector values per electron": f"{summary['counts_per_electron']:g} (divided out)"}
            if summary.get("counts_per_electron", 1.0) != 1.0
            else {}
        ),
        **{f"fraction {k}": f"{100 * v:.2f} %" for k, v in summary["phase_fractions"].items()},
        "hexagons found": summary["hexagons"],
        **{
            f"labelled by {k.replace('_', ' ')}": v
            for k, v in (summary.get("relabelled_by_step") or {}).items()
        },
        "throughput [DP/s]": summary["dps_per_s"],
        "denoiser": summary["denoiser"].get("model"),
    }
    for i, text in enumerate(summary.get("warnings", [])):
        headline[f"warning {i + 1}"] = text
    write_report_html(
        out / "report.html",
        title=f"stemtf phase map: {Path(summary['input']).name}",
        summary=headline,
        images=[
            (
                "Phase map",
                "Left: virtual bright field of the whole scan with the ROI in red. "
                "Right: phases, one colour per label as in the legend (default run: orange O3, "
                "blue O1, grey both, magenta unassigned, dark none).",
                map_png,
            ),
            ("Confidence", "Per-pattern confidence of the label, 0 to 1.", conf_png),
            (
                "Example patterns",
                "log(1 + counts) of the analysed patterns; white rings: detected "
                "spots; hexagons by the phase of their ring (cyan first phase, e.g. O3, "
                "yellow second, e.g. O1, then green, pink, red, lilac).",
                ex_png,
            ),
            (
                "Ring radii",
                "Radii of all accepted hexagons; dashed: ring radii of the phase "
                "model (expected from the reference structures, refined on the data).",
                hist_png,
            ),
        ],
        tables=[
            ("Calibration", summary["calibration"]),
            ("Timings [s]", summary["timings_s"]),
        ],
        collapsed=[
            ("Phase model", phase_model),
            ("Provenance", provenance),
        ],
    )


def _confidence_png(confidence: np.ndarray, roi) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stemtf.report import figure_png

    y0, y1, x0, x1 = roi
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(
        confidence,
        vmin=0,
        vmax=1,
        cmap="viridis",
        interpolation="nearest",
        extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5),
    )
    fig.colorbar(im, ax=ax, label="confidence")
    ax.set_xlabel("scan x [px]")
    ax.set_ylabel("scan y [px]")
    return figure_png(fig)
