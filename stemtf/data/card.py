"""The dataset card written beside the records: counts per split, dose histogram, materials."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.fileio import atomic_path, write_json_atomic

__all__ = ["dataset_card", "write_card", "DOSE_BIN_EDGES_E"]

DOSE_BIN_EDGES_E = tuple(
    float(x) for x in np.logspace(2, 6, 17)
)  # 4 bins per decade, 1e2..1e6 e-/DP


def dataset_card(builder: Any) -> dict[str, Any]:
    """Summarise a prepared tfds builder (reads only the scalar features of every example)."""
    import tensorflow_datasets as tfds

    skip = {"clean": tfds.decode.SkipDecoding(), "noisy": tfds.decode.SkipDecoding()}
    meta = dict(builder.info.metadata or {})
    splits: dict[str, Any] = {}
    for name, info in builder.info.splits.items():
        ds = builder.as_dataset(split=name, decoders=skip, shuffle_files=False)
        doses = np.array(
            [
                float(ex["dose_e"])
                for ex in ds.map(lambda e: {"dose_e": e["dose_e"]}).as_numpy_iterator()
            ]
        )
        hist, _ = np.histogram(doses, bins=DOSE_BIN_EDGES_E)
        splits[name] = {
            "examples": int(info.num_examples),
            "materials": meta.get("materials", {}).get(name, []),
            "dose_e_histogram": hist.tolist(),
            "dose_e_min": float(doses.min()) if doses.size else None,
            "dose_e_max": float(doses.max()) if doses.size else None,
        }
    return {
        "name": builder.name,
        "config": builder.builder_config.name,
        "version": str(builder.version),
        "dose_e_bin_edges": list(DOSE_BIN_EDGES_E),
        "splits": splits,
        "spec": meta.get("spec"),
        "shards": len(meta.get("shards", [])),
        "skipped_shards": meta.get("skipped_shards", []),
    }


def _markdown(card: dict[str, Any]) -> str:
    lines = [f"# {card['name']}/{card['config']} {card['version']}", ""]
    spec = card.get("spec") or {}
    if spec.get("description"):
        lines += [spec["description"], ""]
    lines += ["| split | examples | materials | dose range [e-/DP] |", "|---|---|---|---|"]
    for name, s in card["splits"].items():
        rng = f"{s['dose_e_min']:.3g}-{s['dose_e_max']:.3g}" if s["dose_e_min"] is not None else "-"
        lines.append(f"| {name} | {s['examples']} | {len(s['materials'])} | {rng} |")
    edges = card["dose_e_bin_edges"]
    lines += [
        "",
        "Dose histogram (examples per bin, all splits):",
        "",
        "| bin [e-/DP] | examples |",
        "|---|---|",
    ]
    total = np.sum([s["dose_e_histogram"] for s in card["splits"].values()], axis=0)
    for lo, hi, n in zip(edges[:-1], edges[1:], total, strict=True):
        if n:
            lines.append(f"| {lo:.3g}-{hi:.3g} | {int(n)} |")
    lines += ["", "Materials:", ""]
    for name, s in card["splits"].items():
        lines.append(f"- {name}: {', '.join(s['materials'])}")
    lines += ["", f"Clean shards used: {card['shards']}; skipped: {len(card['skipped_shards'])}"]
    lines += [f"- {s}" for s in card["skipped_shards"]]
    return "\n".join(lines) + "\n"


def write_card(builder: Any, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write ``dataset_card.json`` and ``DATASET_CARD.md`` into the dataset folder; return both paths."""
    folder = Path(folder or builder.data_dir)
    card = dataset_card(builder)
    js = write_json_atomic(folder / "dataset_card.json", card)
    md = folder / "DATASET_CARD.md"
    with atomic_path(md) as tmp:
        tmp.write_text(_markdown(card))
    return js, md
