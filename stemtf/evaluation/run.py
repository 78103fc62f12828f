"""``stemtf evaluate`` end to end: load data and model, run methods, write JSON + PNG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.evaluation.baselines import baselines
from stemtf.evaluation.data import load_eval_set, synthetic_eval_set
from stemtf.evaluation.denoisers import load_model_denoiser
from stemtf.evaluation.ensemble import self_ensemble
from stemtf.evaluation.evaluate import evaluate_methods, format_table
from stemtf.evaluation.figure import plot_evaluation
from stemtf.fileio import ensure_writable_dir, write_json_atomic

__all__ = ["run_evaluation"]

log = logging.getLogger(__name__)


def run_evaluation(
    model: str | Path,
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    split: str = "test",
    dataset_config: str = "small",
    synthetic: int = 0,
    max_examples: int | None = None,
    with_baselines: bool = True,
    ensemble: bool = False,
    spot_sigma_px: float = 1.0,
) -> tuple[dict[str, Any], str]:
    """Evaluate ``model`` and write ``evaluation.json`` and ``evaluation.png`` to ``out_dir``.

    Returns ``(report, table)``.
    """
    if (data_dir is None) == (synthetic == 0):
        raise InputError("give exactly one of --data-dir DIR or --synthetic N")
    data = (
        synthetic_eval_set(synthetic)
        if data_dir is None
        else load_eval_set(data_dir, split, config=dataset_config, max_examples=max_examples)
    )
    denoise, info = load_model_denoiser(model)
    methods = {"rdunet": denoise}
    if ensemble:
        methods["rdunet+"] = self_ensemble(denoise)
    if with_baselines:
        for name, fn in baselines().items():
            methods[name] = (lambda f: lambda b: np.stack([f(dp) for dp in b]))(fn)
    report = evaluate_methods(data, methods, spot_sigma_px=spot_sigma_px)
    report["model"] = info
    out = ensure_writable_dir(out_dir, "evaluation folder")
    write_json_atomic(
        out / "evaluation.json",
        {**report, "summary": {k: v["overall"] for k, v in report["methods"].items()}},
    )
    k = int(np.argmin(data.dose_e))
    examples = {
        f"noisy ({data.dose_e[k]:.0f} e-)": data.noisy[k],
        "rdunet": denoise(data.noisy[k : k + 1])[0],
        "clean": data.target[k],
    }
    plot_evaluation(report, out / "evaluation.png", examples)
    return report, format_table(report)
