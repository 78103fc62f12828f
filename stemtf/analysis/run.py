"""``analyze``: a 4D-STEM scan in, a phase map and its report out; chunked and resumable.

Pass 1 reads a seeded sample of patterns, calibrates the detector and learns the ring radii
(:func:`stemtf.phase.calibrate`, :meth:`PhaseModel.from_materials`, :meth:`PhaseModel.refine`).
Pass 2 identifies the phases chunk by chunk (whole scan rows, dask), saving each finished chunk
under ``DIR/.stemtf-work``; a rerun after a kill repeats the cheap, deterministic pass 1,
checks it matches, and skips the chunks already done. The four final files are written only
when every chunk is done, each atomically, ``summary.json`` last.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.analysis.assemble import label_names, write_results
from stemtf.analysis.checksum import file_sha256, file_stamp
from stemtf.analysis.config import AnalyzeConfig
from stemtf.analysis.executor import choose_scheduler, run_tasks
from stemtf.analysis.plan import plan_chunks
from stemtf.analysis.sample import read_sample, sample_positions
from stemtf.analysis.virtual import VirtualDetectors
from stemtf.analysis.workdir import WorkDir
from stemtf.analysis.worker import ChunkTask, cached_denoiser, chunk_seed, run_chunk
from stemtf.errors import InputError
from stemtf.fileio import write_json_atomic

__all__ = ["analyze", "AnalyzeResult", "OUTPUT_FILES", "CHUNK_BYTES"]

log = logging.getLogger(__name__)

#: The output contract: these four files in the output folder.
OUTPUT_FILES = ("results.h5", "phase_map.png", "summary.json", "report.html")
#: Default chunk size target: this many bytes of float32 patterns per chunk.
CHUNK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class AnalyzeResult:
    """Paths of the outputs and the summary written to ``summary.json``."""

    out_dir: Path
    summary: dict[str, Any]

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.out_dir / name for name in OUTPUT_FILES}


def _calibration_inputs(scan, config: AnalyzeConfig) -> Any:
    md = scan.metadata.with_overrides(
        q_sampling_invA=config.q_sampling_invA,
        energy_eV=config.energy_eV,
        semiangle_mrad=config.semiangle_mrad,
    )
    missing = [
        (flag, what)
        for flag, what, value in (
            ("--energy-keV", "beam energy", md.energy_eV),
            ("--semiangle-mrad", "convergence semi-angle", md.semiangle_mrad),
        )
        if value is None
    ]
    if missing:
        raise InputError(
            f"{scan.path}: calibration cannot be inferred: the file does not record the "
            f"{' or the '.join(w for _, w in missing)}; give {' and '.join(f for f, _ in missing)}"
        )
    return md


def _pass1(scan, config: AnalyzeConfig, roi, md, denoiser) -> tuple[Any, Any, Any, float]:
    """Calibrate and learn the ring radii on a seeded sample; deterministic for a seed."""
    from stemtf.phase import HEXAGON_DTYPE, PhaseModel, calibrate, identify_phases

    t0 = time.perf_counter()
    rows, cols = sample_positions(roi, config.sample_dps, config.seed)
    sample = read_sample(scan, rows, cols)
    sample = np.maximum(np.asarray(denoiser(sample), np.float32), 0.0)
    try:
        calibration = calibrate(
            sample,
            q_sampling_invA=md.q_sampling_invA,
            energy_eV=md.energy_eV,
            semiangle_mrad=md.semiangle_mrad,
        )
    except InputError as e:
        raise InputError(f"{scan.path}: calibration cannot be inferred: {e}") from None
    model = PhaseModel.from_materials(list(config.phases), calibration)
    first = identify_phases(sample, calibration, model, seed=chunk_seed(config.seed, 2**31))
    model = model.refine(first.hexagons)
    return calibration, model, HEXAGON_DTYPE, time.perf_counter() - t0


def analyze(config: AnalyzeConfig, *, progress: bool = True) -> AnalyzeResult:
    """Run the analysis described by ``config``; see the module docstring.

    Raises
    ------
    InputError
        Unreadable or non-4D input, bad counts (NaN/Inf, negative, all zero), ROI out of range,
        calibration that cannot be inferred, an unusable denoiser or scheduler.
    """
    from stemtf import __version__
    from stemtf.io import check_roi, open_scan

    t_start = time.perf_counter()
    scan = open_scan(
        config.input_path, dataset_path=config.dataset_path, scan_shape=config.scan_shape
    )
    roi = check_roi(config.roi, scan.shape, scan.path)
    ry, rx, qy, qx = scan.shape
    md = _calibration_inputs(scan, config)
    work = WorkDir(config.out_dir)
    previous = work.load_state() or {}
    sha = file_sha256(scan.path, previous.get("input"))
    denoiser = cached_denoiser(config.denoise, config.denoise_batch)
    from stemtf.denoise.selfcheck import denoiser_for_scan, resume_key

    denoiser, warnings = denoiser_for_scan(  # frame for this detector, self-check, decide
        config.denoise, denoiser, read_sample(scan, *sample_positions(roi, config.sample_dps,
                                                                     config.seed)),
        (qy, qx), md, seed=config.seed)
    denoiser_info = dict(getattr(denoiser, "info", {"kind": "custom", "model": config.denoise}))

    calibration, model, hex_dtype, t_pass1 = _pass1(scan, config, roi, md, denoiser)
    check = getattr(model, "check_detector", None)
    try:  # the rings must fit on the detector; if not, say so (labels will be none)
        if check is not None:
            check((qy, qx), calibration)
    except InputError as e:
        warnings.append(f"{e}; patterns are labelled none where the rings fall off the detector")
        log.warning("%s", warnings[-1])
    chunk_dps = config.chunk_dps or max(1, CHUNK_BYTES // (qy * qx * 4))
    chunks = plan_chunks(ry, rx, roi, chunk_dps)
    key = {
        "fingerprint": config.fingerprint(),
        "input_sha256": sha,
        "chunk_dps": chunk_dps,
        "calibration": calibration.to_dict(),
        "phase_model": model.to_dict(),
        "denoiser": resume_key(denoiser_info),
    }
    resumed = work.start(key) is not None
    if not resumed:
        for name in OUTPUT_FILES:  # never leave an older run's complete-looking outputs
            (work.out_dir / name).unlink(missing_ok=True)
    work.save_state({"key": key, "input": {"stamp": file_stamp(scan.path), "sha256": sha}})

    virtual = VirtualDetectors.from_calibration(
        (qy, qx), calibration.center_yx, calibration.disk_radius_px
    )
    todo = [c for c in chunks if not work.done(c.name)]
    n_roi = (roi[1] - roi[0]) * (roi[3] - roi[2])
    todo_dps = sum((c.row1 - c.row0) * (roi[3] - roi[2]) for c in todo if c.analyse)
    scheduler = choose_scheduler(config.scheduler, todo_dps, len(todo))
    log.info(
        "%s: %d x %d scan, ROI %s, %d chunks (%d to do), scheduler %s",
        scan.path,
        ry,
        rx,
        roi,
        len(chunks),
        len(todo),
        scheduler,
    )
    tasks = (
        ChunkTask(
            scan,
            c,
            roi,
            calibration,
            model,
            virtual,
            denoiser,
            config.denoise_batch,
            config.seed,
        )
        for c in todo
    )
    t_pass2 = time.perf_counter()
    from tqdm import tqdm

    with tqdm(
        total=n_roi,
        initial=n_roi - todo_dps,
        unit="DP",
        disable=not progress,
        desc="analyze",
        dynamic_ncols=True,
    ) as bar:
        for task, arrays in run_tasks(run_chunk, tasks, scheduler):
            work.save_chunk(task.chunk.name, arrays)
            if task.chunk.analyse:
                bar.update((task.chunk.row1 - task.chunk.row0) * (roi[3] - roi[2]))
    t_pass2 = time.perf_counter() - t_pass2

    return _finish(
        config,
        scan,
        roi,
        work,
        chunks,
        calibration,
        model,
        hex_dtype,
        virtual,
        md,
        sha,
        denoiser_info,
        __version__,
        timings={
            "pass1_s": t_pass1,
            "pass2_s": t_pass2,
            "resumed": resumed,
            "dps_this_run": todo_dps,
            "scheduler": scheduler,
            "warnings": warnings,
        },
        t_start=t_start,
    )


def _finish(
    config,
    scan,
    roi,
    work,
    chunks,
    calibration,
    model,
    hex_dtype,
    virtual,
    md,
    sha,
    denoiser_info,
    version,
    *,
    timings,
    t_start,
) -> AnalyzeResult:
    """Assemble results.h5, then the PNG, the HTML report and summary.json (last)."""
    from stemtf.analysis.outputs import write_figures_and_report

    out = work.out_dir
    provenance = {
        "stemtf_version": version,
        "model_version": denoiser_info.get("version") or denoiser_info.get("model"),
        "denoiser": denoiser_info,
        "config": config.to_dict(),
        "input_path": str(Path(scan.path).resolve()),
        "input_sha256": sha,
        "input_format": scan.format,
        "input_shape": list(scan.shape),
        "input_dtype": str(scan.dtype),
        "file_metadata": md.to_dict(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    t0 = time.perf_counter()
    counts = write_results(
        out / "results.h5",
        work,
        chunks,
        scan_shape=scan.shape,
        roi=roi,
        phases=tuple(model.phases),
        material_ids=config.phases,
        calibration=calibration.to_dict(),
        phase_model=model.to_dict(),
        virtual=virtual.to_dict(),
        provenance=provenance,
        hexagon_dtype=hex_dtype,
    )
    t_assemble = time.perf_counter() - t0
    n_dp = (roi[1] - roi[0]) * (roi[3] - roi[2])
    if counts["zero_patterns"] == n_dp:
        raise InputError(f"{scan.path}: all {n_dp} patterns in the ROI are zero (no counts)")
    names = label_names(tuple(model.phases))
    fractions = {k: v / n_dp for k, v in counts["label_counts"].items()}
    stage = counts["timings_s"]
    pass2 = timings["pass2_s"]
    summary = {
        "input": str(scan.path),
        "scan_shape": list(scan.shape[:2]),
        "detector_shape": list(scan.shape[2:]),
        "roi_y0_y1_x0_x1": list(roi),
        "patterns": n_dp,
        "phases": dict(zip(model.phases, config.phases, strict=True)),
        "label_codes": {str(k): v for k, v in names.items()},
        "phase_fractions": fractions,
        "phase_counts": counts["label_counts"],
        "zero_patterns": counts["zero_patterns"],
        "hexagons": counts["n_hexagons"],
        "calibration": calibration.to_dict(),
        "denoiser": denoiser_info,
        "scheduler": timings["scheduler"],
        "resumed": timings["resumed"],
        "timings_s": {
            "pass1_calibrate_learn": timings["pass1_s"],
            "pass2_identify_wall": pass2,
            "assemble_results": t_assemble,
            "stage_sums": stage,
        },
        "dps_per_s": (timings["dps_this_run"] / pass2)
        if pass2 > 0 and timings["dps_this_run"]
        else None,
        "identify_dps_per_s_per_worker": (n_dp / stage["identify"])
        if stage["identify"] > 0
        else None,
        "warnings": timings["warnings"],
        "stemtf_version": version,
        "input_sha256": sha,
    }
    t0 = time.perf_counter()
    write_figures_and_report(
        out,
        summary,
        counts["examples"],
        names,
        roi,
        calibration.q_sampling_invA,
        model.to_dict(),
        provenance,
    )
    summary["timings_s"]["figures_report"] = time.perf_counter() - t0
    summary["timings_s"]["total_wall"] = time.perf_counter() - t_start
    write_json_atomic(out / "summary.json", summary, default=_json_default)
    _make_readable(out)
    log.info(
        "phase fractions %s; outputs in %s", {k: round(v, 4) for k, v in fractions.items()}, out
    )
    return AnalyzeResult(out, summary)


def _make_readable(out: Path) -> None:
    """Give the outputs the usual permissions (the atomic temp files are created 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for name in OUTPUT_FILES:
        with contextlib.suppress(OSError):
            os.chmod(out / name, 0o666 & ~umask)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
