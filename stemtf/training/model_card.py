"""Model card (JSON + Markdown) written beside an exported SavedModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemtf.fileio import atomic_path, write_json_atomic

__all__ = ["write_model_card", "render_markdown"]

INTENDED_USE = (
    "Denoising 4D-STEM nanobeam electron diffraction patterns given as detector counts "
    "(shot-noise-limited, ~1e3-1e5 e-/pattern) before spot finding and phase mapping."
)
LIMITATIONS = (
    "Trained on simulated patterns with a synthetic noise model: check weak-spot recall and "
    "spot positions on your data (stemtf evaluate) before trusting weak reflections; a "
    "denoiser can suppress or invent weak peaks."
)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_markdown(card: dict[str, Any]) -> str:
    """Human-readable Markdown of a model card dict."""
    lines = [f"# Model card: {card['name']} version {card['version']}", ""]
    lines += [f"- created (UTC): {card['created_utc']}",
              f"- architecture: {card['architecture']} ({card['parameters']:,} parameters)",
              f"- dataset version: {card.get('dataset_version') or 'unknown'}",
              f"- serving signature: `{card['signature']['name']}`: {card['signature']['input']} "
              f"-> {card['signature']['output']}",
              f"- normalisation: {card['normalization']}", ""]
    lines += ["## Model config", "", "| key | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in card["model_config"].items()]
    if card.get("training"):
        lines += ["", "## Training", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in card["training"].items()]
    lines += ["", "## Measured metrics", ""]
    if card.get("metrics"):
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in card["metrics"].items()
                  if not isinstance(v, dict | list)]
    else:
        lines.append("none recorded")
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Limitations", "",
              card["limitations"], "", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in card.get("versions", {}).items()]
    return "\n".join(lines) + "\n"


def write_model_card(folder: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder`` (atomically)."""
    card = {"intended_use": INTENDED_USE, "limitations": LIMITATIONS, **card}
    j = write_json_atomic(folder / "model_card.json", card)
    md = folder / "model_card.md"
    with atomic_path(md) as tmp:
        tmp.write_text(render_markdown(card))
    return j, md
