"""Report pieces: hexagon overlay geometry, ring markers, phase-map colours, self-contained HTML."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stemtf.phase.lattice import hexagon_vertices
from stemtf.report import (
    LABEL_COLORS,
    figure_png,
    hexagon_outline,
    radius_histogram_figure,
    save_phase_map,
    write_report_html,
)
from stemtf.report.figures import radius_markers


def test_hexagon_outline_matches_phase_vertices():
    outline = hexagon_outline((40.0, 50.0), 12.5, 17.0)
    np.testing.assert_allclose(outline[:6], hexagon_vertices(np.array([40.0, 50.0]), 12.5, 17.0))
    np.testing.assert_allclose(outline[6], outline[0])  # closed
    np.testing.assert_allclose(np.hypot(outline[:, 0] - 40, outline[:, 1] - 50), 12.5)


def test_radius_markers_from_phase_model_dict():
    d = {
        "phases": ["O3", "O1"],
        "rings": [
            {"phase": 0, "hkl": [1, 1, 0], "radius_invA": 0.697},
            {"phase": 1, "hkl": [1, 0, 0], "radius_invA": 0.409},
        ],
    }
    assert radius_markers(d) == [("O3 {110}", 0.697), ("O1 {100}", 0.409)]
    assert radius_markers({"a": {"inner_radius_invA": 0.4, "radius_px": 3}}) == [
        ("a.inner_radius_invA", 0.4)
    ]


def test_phase_map_colours(tmp_path):
    labels = np.array([[0, 1, 4], [2, 3, 4]], np.uint8).repeat(20, 0).repeat(20, 1)
    virtual = np.arange(60 * 70, dtype=float).reshape(60, 70)
    png = save_phase_map(
        tmp_path / "map.png",
        labels,
        virtual,
        (10, 50, 5, 65),
        {0: "none", 1: "O3", 2: "O1", 3: "both", 4: "unassigned"},
    )
    assert (tmp_path / "map.png").read_bytes() == png
    img = np.asarray(Image.open(tmp_path / "map.png").convert("RGB")).reshape(-1, 3)
    for code, hex_color in LABEL_COLORS.items():
        rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
        assert np.any(np.all(np.abs(img.astype(int) - rgb) <= 2, axis=1)), code


def test_report_html_is_self_contained(tmp_path):
    counts, edges = np.array([0, 3, 1]), np.array([0.0, 0.3, 0.6, 0.9])
    png = figure_png(radius_histogram_figure(counts, edges, [("O3 {110}", 0.697)]))
    path = write_report_html(
        tmp_path / "r.html",
        title="t <b>",
        summary={"fraction none": "100 %"},
        images=[("Ring radii", "caption", png)],
        tables=[("Calibration", {"q_sampling_invA": 0.0125, "center_yx": [1.0, 2.0]})],
    )
    html = path.read_text()
    assert html.count("data:image/png;base64,") == 1
    assert 'src="http' not in html and "<link" not in html and "<script" not in html
    assert "t &lt;b&gt;" in html and "0.0125" in html


def test_provenance_and_phase_model_are_collapsed_readable_tables(tmp_path):
    model = {
        "phases": ["O3", "O1"],
        "rings": [
            {"phase": 0, "hkl": [1, 1, 0], "radius_invA": 0.6968641, "marker": False},
            {"phase": 1, "hkl": [1, 0, 0], "radius_invA": 0.4094683, "marker": True},
        ],
        "history": [],
    }
    provenance = {
        "stemtf_version": "0.1",
        "config": {"roi": [0, 5, 0, 7], "phases": ["nmc811-o3", "nmc811-o1"], "seed": 0},
        "file_metadata": {"q_sampling_invA": 0.0125, "origin": {"q_sampling_invA": "flag"}},
        "model_version": None,
    }
    html = write_report_html(
        tmp_path / "r.html",
        title="t",
        summary={},
        images=[],
        tables=[],
        collapsed=[("Phase model", model), ("Provenance", provenance)],
    ).read_text()
    for heading in ("Phase model", "Provenance"):
        start = html.index(f"<details><summary>{heading}</summary>")  # closed by default
        assert "<details open" not in html and html.index("</details>", start) > start
    assert '{"' not in html and "[{" not in html  # no raw JSON anywhere
    # rings: one row per ring under column headers; nested settings as nested key/value rows
    assert "<th>radius_invA</th>" in html and "<td>0.696864</td>" in html
    assert "<td>1, 1, 0</td>" in html and "<th>roi</th><td>0, 5, 0, 7</td>" in html
    assert "<th>q_sampling_invA</th><td>flag</td>" in html  # origin, nested two deep
    assert "<th>history</th><td>&ndash;</td>" in html and "None" not in html
