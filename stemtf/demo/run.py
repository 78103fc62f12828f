"""``stemtf demo``: the whole chain on a small synthetic NMC811 scan with ground truth.

1. The clean-pattern library of the scene (abTEM multislice, O3 and O1 along [001], six grain
   rotations, five thicknesses), simulated once (~20 s on 2 CPU cores) and cached by
   :func:`stemtf.scenes.build_library` (``$STEMTF_CACHE`` or ``~/.cache/stemtf/scenes``).
2. A scan from it at the chosen dose (:func:`stemtf.scenes.simulate_scan`: O3 matrix, O1
   domains, a band of columns holding both, vacuum, detector noise model), with its truth.
3. :func:`stemtf.analysis.analyze` on the scan with the denoiser ``denoise`` (default the
   bundled model, see :mod:`stemtf.denoise.bundled`).
4. Per-class precision, recall, F1 and macro-F1 against the truth
   (:func:`stemtf.phase.metrics.phase_metrics`, as ``stemtf evaluate-phases``), written to
   ``evaluation.json`` with a truth-vs-map figure.

Output folder: ``scan.h5``, ``scan_truth.h5``, ``analysis/`` (``results.h5``,
``phase_map.png``, ``summary.json``, ``report.html``), ``evaluation.json``,
``truth_vs_map.png``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError, check_range
from stemtf.fileio import ensure_writable_dir, write_json_atomic

__all__ = ["DemoResult", "run_demo", "DEFAULT_SHAPE", "DEFAULT_DOSE_E"]

log = logging.getLogger(__name__)

#: Default scan size (Ry, Rx): 576 patterns of 128 x 128 px.
DEFAULT_SHAPE = (24, 24)
#: Default dose [e-/DP].
DEFAULT_DOSE_E = 1e4


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote and measured.

    Attributes
    ----------
    out_dir : Path
        The demo folder.
    report_html : Path
        The analysis report.
    metrics : dict
        :func:`stemtf.phase.metrics.phase_metrics` of the phase map against the truth.
    denoiser : dict
        The denoiser's provenance (``note`` says why, when ``auto`` found no model).
    timings_s : dict
        Wall time of each step [s].
    """

    out_dir: Path
    report_html: Path
    metrics: dict[str, Any]
    denoiser: dict[str, Any]
    timings_s: dict[str, float]

    @property
    def macro_f1(self) -> float:
        """Macro-averaged F1 of the phase map against the truth."""
        return float(self.metrics["macro_f1"])


def run_demo(
    out_dir: str | os.PathLike,
    *,
    dose_e: float = DEFAULT_DOSE_E,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    seed: int = 0,
    denoise: str = "auto",
    library: Any = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> DemoResult:
    """Simulate, analyse and evaluate a small synthetic scan (see the module docstring).

    Parameters
    ----------
    out_dir : path
        Output folder (created).
    dose_e : float
        Electrons per pattern (10 to 1e9).
    shape : (int, int)
        Scan size (Ry, Rx), 2 to 512 each.
    seed : int
        Seed of the scene, the noise and the analysis.
    denoise : str
        ``auto`` (bundled model, none with a recorded note if not installed), ``none``, a
        SavedModel folder or a TF Serving URL.
    library : CleanLibrary, optional
        Clean patterns to use instead of the cached abTEM library (tests).
    cache_dir : path, optional
        Library cache folder (default ``$STEMTF_CACHE`` or ``~/.cache/stemtf``).
    progress : bool
        Progress bar during the analysis.

    Returns
    -------
    DemoResult
    """
    from stemtf.analysis import AnalyzeConfig, analyze
    from stemtf.demo.figure import save_truth_comparison
    from stemtf.phase.metrics import format_metrics, phase_metrics
    from stemtf.scenes import build_library, read_truth, simulate_scan

    check_range("--dose-e", dose_e, 10.0, 1e9, "e-/DP")
    ry, rx = (int(v) for v in shape)
    for name, v in (("--shape rows", ry), ("--shape columns", rx)):
        check_range(name, v, 2, 512, "positions")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"--seed={seed!r} is not allowed: it must be an integer >= 0")
    out = ensure_writable_dir(out_dir, "--out")
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()
    if library is None:
        library = build_library(cache_dir=cache_dir)
    timings["clean_library"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scan, truth_file = simulate_scan(
        out / "scan.h5", shape=(ry, rx), dose_e=dose_e, seed=seed, library=library
    )
    timings["simulate_scan"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    config = AnalyzeConfig(input_path=scan, out_dir=out / "analysis", denoise=denoise, seed=seed)
    result = analyze(config, progress=progress)
    timings["analyze"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    import h5py

    with h5py.File(result.files["results.h5"], "r") as f:
        pred = np.asarray(f["labels"])
    truth, _ = read_truth(truth_file)
    metrics = phase_metrics(pred, truth)
    denoiser = dict(result.summary.get("denoiser", {}))
    names = {0: "none", 1: "O3", 2: "O1", 3: "both"}
    save_truth_comparison(
        out / "truth_vs_map.png",
        truth,
        pred,
        names,
        f"{ry} x {rx} scan, {dose_e:g} e-/DP, denoiser "
        f"{denoiser.get('model', denoise)}: macro-F1 {metrics['macro_f1']:.3f}",
    )
    timings["evaluate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    write_json_atomic(
        out / "evaluation.json",
        {
            "scan": str(scan),
            "truth": str(truth_file),
            "results": str(result.files["results.h5"]),
            "report_html": str(result.files["report.html"]),
            "dose_e": dose_e,
            "shape": [ry, rx],
            "seed": seed,
            "denoise": denoise,
            "denoiser": denoiser,
            "library": library.info(),
            "timings_s": timings,
            "analyze_dps_per_s": result.summary.get("dps_per_s"),
            **metrics,
        },
    )
    log.info("demo evaluation against the truth:\n%s", format_metrics(metrics))
    return DemoResult(out, result.files["report.html"], metrics, denoiser, timings)
