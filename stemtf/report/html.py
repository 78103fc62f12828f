"""A self-contained ``report.html``: images embedded as base64 PNG, tables of the run.

Nested values (the phase model's rings, the provenance's settings and file metadata) are shown
as nested tables: a dict as key/value rows, a list of records as one row per record; long
sections are collapsed (``<details>``) and open with a click.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from stemtf.fileio import atomic_path

__all__ = ["write_report_html", "img_tag"]

_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
img { max-width: 100%; } pre { background: #f5f5f5; padding: 0.6em; overflow-x: auto; }
td table { font-size: 1em; margin: 0; } td td, td th { padding: 1px 6px; }
details { margin-top: 1.6em; } summary { font-weight: bold; font-size: 1.15em; cursor: pointer; }
"""


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in rows.items()
    )
    return f"<table>{cells}</table>"


def _records(rows: list[dict[str, Any]]) -> str:
    """One row per record, one column per key (in order of first appearance)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(k))}</td>" for k in keys) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v: Any) -> str:
    """HTML for one value: nested tables for dicts and lists of records, text otherwise."""
    if isinstance(v, dict):
        return _table(v) if v else "&ndash;"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            return _records(list(v))
        if any(isinstance(x, (dict, list, tuple)) for x in v):
            return "<br>".join(_cell(x) for x in v)
        return html.escape(", ".join(_fmt(x) for x in v)) if v else "&ndash;"
    return html.escape(_fmt(v))


def _fmt(v: Any) -> str:
    if v is None:
        return "\u2013"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_report_html(
    path: str | Path,
    *,
    title: str,
    summary: dict[str, Any],
    images: list[tuple[str, str, bytes]],
    tables: list[tuple[str, dict[str, Any]]],
    collapsed: list[tuple[str, dict[str, Any]]] = (),
) -> Path:
    """Write the report atomically.

    Parameters
    ----------
    path : path-like
        Output file.
    title : str
        Page title.
    summary : dict
        Headline numbers (phase fractions, throughput), shown first.
    images : list of (heading, caption, png bytes)
        Figures, embedded.
    tables : list of (heading, dict)
        Key/value tables shown open (calibration, timings).
    collapsed : list of (heading, dict)
        Key/value tables shown closed until clicked (phase model, provenance).

    Returns
    -------
    Path
        ``path``.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _table(summary),
    ]
    for heading, caption, png in images:
        parts += [
            f"<h2>{html.escape(heading)}</h2>",
            img_tag(png, heading),
            f"<p>{html.escape(caption)}</p>",
        ]
    for heading, rows in tables:
        parts += [f"<h2>{html.escape(heading)}</h2>", _table(rows)]
    for heading, rows in collapsed:
        parts += [
            f"<details><summary>{html.escape(heading)}</summary>",
            _table(rows),
            "</details>",
        ]
    parts.append("</body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return Path(path)
