"""What a run records about itself: the provenance and ``summary.json``, built from the plan.

Pure functions of their arguments (no I/O), so what the files say can be tested without a run.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.analysis.plan import RunPlan, RunTimings

__all__ = ["build_provenance", "build_summary"]


def build_provenance(plan: RunPlan, *, created_utc: str) -> dict[str, Any]:
    """Where the results come from: versions, settings, the input and its metadata.

    Parameters
    ----------
    plan : RunPlan
        The run.
    created_utc : str
        ISO 8601 time stamp of the run.
    """
    denoiser = plan.denoiser_info
    return {
        "stemtf_version": plan.stemtf_version,
        "stemtf_source_sha256": plan.stemtf_source_sha256,
        "model_version": denoiser.get("version") or denoiser.get("model"),
        "denoiser": denoiser,
        "config": plan.config.to_dict(),
        "input_path": str(Path(plan.scan.path).resolve()),
        "input_sha256": plan.input_sha256,
        "input_format": plan.scan.format,
        "input_shape": list(plan.input_shape),
        "input_dtype": str(plan.input_dtype),
        "file_metadata": plan.metadata.to_dict(),
        "created_utc": created_utc,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def build_summary(plan: RunPlan, counts: dict[str, Any], timings: RunTimings) -> dict[str, Any]:
    """The content of ``summary.json`` (the report's timings are added when it is written).

    Parameters
    ----------
    plan : RunPlan
        The run.
    counts : dict
        What :func:`stemtf.analysis.assemble.write_results` returned: ``label_counts``
        {name: n} for every label, ``zero_patterns``, ``n_hexagons``, stage ``timings_s``,
        ``relabelled_by_step`` (patterns each scan-context step labelled or re-labelled).
    timings : RunTimings
        Stage times of this run.

    Returns
    -------
    dict
        Every label (code and name) with its count and fraction, calibration, denoiser,
        timings [s], throughput [DP/s], warnings, version and input hash.
    """
    n_dp = plan.n_dps
    names = plan.label_names
    label_counts = {names[k]: int(counts["label_counts"].get(names[k], 0)) for k in sorted(names)}
    stage = counts["timings_s"]
    pass2 = timings.pass2_s
    scan = plan.scan
    return {
        "input": str(scan.path),
        "scan_shape": list(scan.shape[:2]),
        "detector_shape": list(plan.input_shape[2:]),
        "detector_binning": plan.detector_binning,
        # the file's values were divided by this before the analysis (1: electron counts)
        "counts_per_electron": plan.config.counts_per_electron,
        "analysis_detector_shape": list(scan.shape[2:]),
        "roi_y0_y1_x0_x1": list(plan.roi),
        "patterns": n_dp,
        "phases": dict(zip(plan.model.phases, plan.model.material_ids, strict=True)),
        "label_codes": {str(k): v for k, v in names.items()},
        "label_names": [names[k] for k in sorted(names)],
        "phase_fractions": {k: v / n_dp for k, v in label_counts.items()},
        "phase_counts": label_counts,
        "zero_patterns": counts["zero_patterns"],
        "relabelled_by_step": counts.get("relabelled_by_step"),
        "hexagons": counts["n_hexagons"],
        # in the analysis frame: q_sampling_invA and center_yx per binned pixel when binned
        "calibration": plan.calibration.to_dict(),
        # what pass 1 learned and why (camera length, ring radii, precise-radius estimator)
        "phase_model_history": list(plan.model.history),
        "denoiser": plan.denoiser_info,
        "scheduler": timings.scheduler,
        "resumed": timings.resumed,
        "timings_s": {
            "pass1_calibrate_learn": timings.pass1_s,
            "pass2_identify_wall": pass2,
            "assemble_results": timings.assemble_s,
            "stage_sums": stage,
        },
        "dps_per_s": (timings.dps_this_run / pass2) if pass2 > 0 and timings.dps_this_run else None,
        "identify_dps_per_s_per_worker": (n_dp / stage["identify"])
        if stage["identify"] > 0
        else None,
        "warnings": list(plan.warnings),
        **(plan.model.summary_fields() if hasattr(plan.model, "summary_fields") else {}),
        "stemtf_version": plan.stemtf_version,
        "stemtf_source_sha256": plan.stemtf_source_sha256,
        "input_sha256": plan.input_sha256,
    }
