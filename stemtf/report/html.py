"""A self-contained ``report.html``: images embedded as base64 PNG, tables of the run."""

from __future__ import annotations

import base64
import html
import json
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
"""


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table>{cells}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=str)
    return str(v)


def write_report_html(
    path: str | Path,
    *,
    title: str,
    summary: dict[str, Any],
    images: list[tuple[str, str, bytes]],
    tables: list[tuple[str, dict[str, Any]]],
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
        Key/value tables (calibration, settings, provenance).
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
    parts.append("</body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return Path(path)
