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
    lines += [
        f"- created (UTC): {card['created_utc']}",
        f"- architecture: {card['architecture']} ({card['parameters']:,} parameters)",
        f"- dataset version: {card.get('dataset_version') or 'unknown'}",
        f"- serving signature: `{card['signature']['name']}`: {card['signature']['input']} "
        f"-> {card['signature']['output']}",
        f"- normalisation: {card['normalization']}",
    ]
    dom = card.get("domain")
    lines += [
        (
            "- training domain: "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in dom.items() if k != "conditions")
            + f"; conditions: {', '.join(dom.get('conditions', [])) or 'none'}"
        )
        if dom
        else "- training domain: not recorded (analyze treats the model as unknown domain)",
        "",
    ]
    lines += ["## Model config", "", "| key | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in card["model_config"].items()]
    if card.get("training"):
        lines += ["", "## Training", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in card["training"].items()]
    lines += ["", "## Measured metrics", ""]
    if card.get("metrics"):
        lines += ["| metric | value |", "|---|---|"]
        lines += [
            f"| {k} | {_fmt(v)} |"
            for k, v in card["metrics"].items()
            if not isinstance(v, dict | list)
        ]
    else:
        lines.append("none recorded")
    lines += _evaluation_lines(card.get("metrics", {}))
    lines += _reproduce_lines(card)
    lines += [
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Limitations",
        "",
        card["limitations"],
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in card.get("versions", {}).items()]
    return "\n".join(lines) + "\n"


_EVAL_COLUMNS = (
    ("psnr_db", "PSNR dB"),
    ("ssim", "SSIM"),
    ("position_error_px", "spot pos. err px"),
    ("recall", "spot recall"),
    ("weak_recall", "weak-spot recall"),
    ("invented_per_dp", "invented spots/DP"),
)


def _evaluation_lines(metrics: dict[str, Any]) -> list[str]:
    """Held-out evaluation tables (``stemtf evaluate`` in the run folder), if recorded."""
    per_bin = metrics.get("evaluation_per_dose_bin")
    overall = metrics.get("evaluation")
    if not overall:
        return []
    head = "| dose e-/DP | method | n | " + " | ".join(t for _, t in _EVAL_COLUMNS) + " |"
    rule = "|---" * (3 + len(_EVAL_COLUMNS)) + "|"
    rows = []
    if per_bin:
        for i, (lo, hi) in enumerate(per_bin["dose_bins_e"]):
            for method, bins in per_bin["methods"].items():
                if bins and i < len(bins) and bins[i]:
                    b = bins[i]
                    rows.append(
                        f"| {lo:.0e}-{hi:.0e} | {method} | {b.get('n', '')} | "
                        + " | ".join(_fmt(b.get(k, float("nan"))) for k, _ in _EVAL_COLUMNS)
                        + " |"
                    )
    for method, b in overall.items():
        if isinstance(b, dict):
            rows.append(
                f"| all | {method} | {b.get('n', '')} | "
                + " | ".join(_fmt(b.get(k, float("nan"))) for k, _ in _EVAL_COLUMNS)
                + " |"
            )
    source = (per_bin or {}).get("source") or "held-out split"
    return ["", f"## Held-out evaluation ({source}, `stemtf evaluate`)", "", head, rule, *rows]


def _reproduce_lines(card: dict[str, Any]) -> list[str]:
    """The commands that rebuild the dataset and retrain this model, from its training config."""
    t = card.get("training") or {}
    if not t:
        return []
    opts = [
        "width",
        "levels",
        "blocks",
        "patch_px",
        "batch_size",
        "steps",
        "lr_schedule",
        "warmup_steps",
        "loss",
        "strategy",
        "precision",
        "seed",
    ]
    train = " ".join(f"--{k.replace('_', '-')} {t[k]}" for k in opts if k in t)
    lr = (
        f" --lr {t['learning_rate']} --weight-decay {t['weight_decay']}"
        if "learning_rate" in t
        else ""
    )
    cfg = t.get("dataset_config", "default")
    if cfg == "field":  # scripts/train_field_denoiser.py: field-scene pairs, any Keras backend
        auto = (t.get("domain") or {}).get("auto_dose_range_e")
        init = "" if t.get("init") else " --init ''"
        return [
            "",
            "## Reproduce",
            "",
            "```",
            "STEMTF_CACHE=... python scripts/train_field_denoiser.py data --out PAIRS.npz "
            "--scenes 400 --seed 0",
            f"KERAS_BACKEND={t.get('backend', 'jax')} python scripts/train_field_denoiser.py "
            f"train --data PAIRS.npz --out RUN{init} --steps {t.get('steps')} "
            f"--batch {t.get('batch_size')} --patch {t.get('patch_px')} "
            f"--lr {t.get('learning_rate')} --weight-decay {t.get('weight_decay')} "
            f"--warmup {t.get('warmup_steps')} --seed {t.get('seed')}"
            + (f" --auto-dose-range {auto[0]:g} {auto[1]:g}" if auto else ""),
            f"stemtf export --run RUN --name {card['name']} --version {card['version']} "
            "--out saved_models",
            "```",
        ]
    return [
        "",
        "## Reproduce",
        "",
        "```",
        f"stemtf build-dataset --config {cfg} --data-dir DATA",
        f"stemtf train --data-dir DATA --dataset-config {cfg} --out RUN {train}{lr}",
        f"stemtf evaluate --model RUN --data-dir DATA --dataset-config {cfg} --split test --self-ensemble",
        f"stemtf export --run RUN --name {card['name']} --version {card['version']} --out saved_models",
        "```",
    ]


def write_model_card(folder: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder`` (atomically)."""
    card = {"intended_use": INTENDED_USE, "limitations": LIMITATIONS, **card}
    j = write_json_atomic(folder / "model_card.json", card)
    md = folder / "model_card.md"
    with atomic_path(md) as tmp:
        tmp.write_text(render_markdown(card))
    return j, md
