"""``analyze``: a 4D-STEM scan in, a phase map and its report out; chunked and resumable.

Pass 1 reads a seeded sample of patterns, calibrates the detector and learns the ring radii
(:func:`stemtf.phase.calibrate`, :meth:`PhaseModel.from_materials`, :meth:`PhaseModel.refine`).
Pass 2 identifies the phases chunk by chunk (whole scan rows, dask), saving each finished chunk
under ``DIR/.stemtf-work``; a rerun after a kill repeats the cheap, deterministic pass 1,
checks it matches (the input is recognised by the SHA-256 of its content), and skips the
chunks already done. The four final files are staged in the work folder when every chunk is
done and published together, ``summary.json`` last (see :mod:`stemtf.analysis.publish`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.analysis.assemble import write_results
from stemtf.analysis.checksum import check_unchanged, file_sha256, file_stamp
from stemtf.analysis.config import AnalyzeConfig
from stemtf.analysis.executor import choose_scheduler, run_tasks
from stemtf.analysis.geometry import check_q_sampling
from stemtf.analysis.plan import RELABEL_STEPS, RunPlan, RunTimings, plan_chunks
from stemtf.analysis.publish import (
    OUTPUT_FILES,
    files_record,
    publish,
    remove_stale_temporaries,
    staging_dir,
)
from stemtf.analysis.records import build_provenance, build_summary
from stemtf.analysis.sample import few_counts_warning, read_sample, sample_positions
from stemtf.analysis.virtual import VirtualDetectors
from stemtf.analysis.workdir import WorkDir
from stemtf.analysis.worker import (
    CONTEXT_HALO_ROWS,
    ChunkTask,
    cached_denoiser,
    chunk_seed,
    run_chunk,
)
from stemtf.errors import InputError
from stemtf.fileio import write_json_atomic
from stemtf.physics import disk_radius_px

__all__ = ["analyze", "AnalyzeResult", "OUTPUT_FILES", "CHUNK_BYTES"]

log = logging.getLogger(__name__)

#: Default chunk size target: this many bytes of float32 patterns per chunk ...
CHUNK_BYTES = 64 * 1024 * 1024
#: ... but at least this many ROI rows (each chunk also analyses ``CONTEXT_HALO_ROWS`` rows
#: above and below it for its scan-context steps: 16 rows keep that extra work <= 25 %) ...
MIN_CHUNK_ROWS = 16
#: ... as long as a chunk stays under this many bytes.
MAX_CHUNK_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class AnalyzeResult:
    """Paths of the outputs and the summary written to ``summary.json``."""

    out_dir: Path
    summary: dict[str, Any]

    @property
    def files(self) -> dict[str, Path]:
        """Output name -> path."""
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


def _check_given_q(scan, config: AnalyzeConfig, md) -> None:
    """A given pixel size (flag or file) must put a phase ring on the detector."""
    from stemtf.phase import PhaseModel

    if md.q_sampling_invA is None:
        return
    origin = md.origin.get("q_sampling_invA", "flag")
    source = (
        "--q-sampling-invA"
        if origin == "flag"
        else f"{scan.path}: q sampling from the file ({origin})"
    )
    model = PhaseModel.from_materials(list(config.phases))
    check_q_sampling(
        model,
        md.q_sampling_invA,
        scan.shape[2:],
        source,
        energy_eV=md.energy_eV,
        semiangle_mrad=md.semiangle_mrad,
    )


def _disk_radius_px(md) -> float | None:
    """Transmitted-disk radius [px] from the calibration inputs (None without a q sampling)."""
    if md.q_sampling_invA is None:
        return None
    return disk_radius_px(md.semiangle_mrad, md.energy_eV, md.q_sampling_invA)


def _binning(scan, config: AnalyzeConfig, md) -> int:
    """The detector binning of the run: the user's, or automatic from the disk radius."""
    from stemtf.io.binning import MIN_BINNED_PX, analysis_binning

    if config.detector_binning is not None:
        b = int(config.detector_binning)
        qy, qx = scan.shape[2:]
        if b > 1 and min(qy, qx) // b < MIN_BINNED_PX:
            raise InputError(
                f"--bin={b} is not allowed for {scan.path}: its {qy}x{qx} px detector would "
                f"keep {qy // b}x{qx // b} px; give a factor that keeps at least "
                f"{MIN_BINNED_PX} px a side (at most {max(1, min(qy, qx) // MIN_BINNED_PX)})"
            )
        return b
    disk_px = _disk_radius_px(md)
    return 1 if disk_px is None else analysis_binning(disk_px, scan.shape[2:])


def _pass1(scan, config: AnalyzeConfig, roi, md, denoiser) -> tuple[Any, Any, Any, float]:
    """Calibrate and learn the ring radii on a seeded sample; deterministic for a seed."""
    from stemtf.phase import HEXAGON_DTYPE, PhaseModel, calibrate
    from stemtf.phase.identify import identify_phases
    from stemtf.phase.learn import correct_camera_length, refine_ellipticity, refine_on_sample

    t0 = time.perf_counter()
    rows, cols = sample_positions(roi, config.sample_dps, config.seed)
    sample = _denoised(scan, rows, cols, denoiser, read_sample(scan, rows, cols))
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
    seed = chunk_seed(config.seed, 2**31)
    calibration = refine_ellipticity(sample, calibration, model, seed=seed)
    # one identification of the sample serves both steps while the calibration stands
    first = identify_phases(sample, calibration, model, seed=seed)
    given = calibration
    calibration, model = correct_camera_length(
        sample, calibration, model, seed=seed, identified=first
    )
    if calibration != given:  # identified with the pixel size it replaced
        first = None
    model = refine_on_sample(sample, calibration, model, seed=seed, identified=first)
    model = _refine_shared_radius(
        scan, config, roi, (rows, cols), sample, calibration, model, denoiser
    )
    return calibration, model, HEXAGON_DTYPE, time.perf_counter() - t0


def _denoised(scan, rows, cols, denoiser, dps: np.ndarray) -> np.ndarray:
    """The patterns read at ``(rows, cols)`` as the analysis sees them (denoised, >= 0)."""
    if getattr(denoiser, "scan_context", None):  # a scan-context model: the neighbours too
        from stemtf.analysis.sample import read_sample_context

        dps = denoiser(dps, read_sample_context(scan, rows, cols))
    else:
        dps = denoiser(dps)
    return np.maximum(np.asarray(dps, np.float32), 0.0)


def _refine_shared_radius(scan, config, roi, taken, sample, calibration, model, denoiser):
    """Pass 1 looks at more of the scan where the sample's shared-ring radius is loose."""
    from stemtf.analysis.sample import more_positions
    from stemtf.phase import learn

    rows, cols = more_positions(roi, *taken, config.seed)
    step = max(int(config.sample_dps), 64)

    def batches():
        yield sample
        for i in range(0, len(rows), step):
            r, c = rows[i : i + step], cols[i : i + step]
            order = np.lexsort((c, r))  # reading order within the batch
            r, c = r[order], c[order]
            log.info("pass 1: %d more patterns for the shared-ring radius", len(r))
            yield _denoised(scan, r, c, denoiser, read_sample(scan, r, c, require_signal=False))

    cap = learn.SHARED_MAX_PATTERNS
    if getattr(denoiser, "info", {}).get("kind") not in ("none", "classical"):
        cap = learn.SHARED_MAX_PATTERNS_DENOISED  # a network denoises each further pattern
    return learn.refine_shared_radius(
        batches(),
        calibration,
        model,
        seed=chunk_seed(config.seed, 2**31),
        max_patterns=max(cap, len(sample)),
    )


def _matched_params() -> dict:
    """The low-dose matched filter's default thresholds (JSON-safe) for the resume key."""
    from dataclasses import asdict

    from stemtf.phase.matched import MatchedParams

    return {
        k: (v if math.isfinite(v) else str(v)) if isinstance(v, float) else v
        for k, v in asdict(MatchedParams()).items()
    }


def _plan(config: AnalyzeConfig) -> tuple[RunPlan, WorkDir, Any, bool, float]:
    """Open and hash the input, run pass 1, and start (or resume) the work folder.

    Returns the plan, the work folder, the denoiser chosen for the scan, whether finished
    chunks are resumed, and pass 1's time [s].
    """
    from stemtf import __version__
    from stemtf.denoise.frame import counts_per_pattern
    from stemtf.denoise.selfcheck import denoiser_for_scan, resume_key
    from stemtf.io import check_roi, open_scan
    from stemtf.provenance import source_sha256

    scan = open_scan(
        config.input_path, dataset_path=config.dataset_path, scan_shape=config.scan_shape
    )
    roi = check_roi(config.roi, scan.shape, scan.path)
    ry, rx, qy, qx = scan.shape
    md = _calibration_inputs(scan, config)
    _check_given_q(scan, config, md)
    if config.counts_per_electron != 1.0:  # detector values -> electrons, before anything else
        from stemtf.io.binning import electron_scan

        log.info(
            "%s: values divided by %g (detector values per electron) for the analysis",
            scan.path,
            config.counts_per_electron,
        )
        scan = electron_scan(scan, config.counts_per_electron)
    binning = _binning(scan, config, md)
    if binning > 1:  # wide disks: summed b x b, counts kept (stemtf.io.binning)
        from stemtf.io.binning import binned_metadata, binned_scan

        log.info(
            "%s: detector %dx%d binned %dx%d for the analysis (disk radius %.1f px at %.4g 1/Å "
            "per px)",
            scan.path,
            qy,
            qx,
            binning,
            binning,
            _disk_radius_px(md) or float("nan"),
            md.q_sampling_invA or float("nan"),
        )
        scan = binned_scan(scan, binning)
        md = binned_metadata(md, binning)
        qy, qx = scan.shape[2:]
        _check_given_q(scan, config, md)  # the rings must still be found on the binned pixels
    work = WorkDir(config.out_dir)
    remove_stale_temporaries(work.out_dir)
    stamp = file_stamp(scan.path)
    sha = file_sha256(scan.path)  # of the content as read now; never an earlier run's
    check_unchanged(scan.path, stamp)
    denoiser = cached_denoiser(config.denoise, config.denoise_batch)
    sample = read_sample(scan, *sample_positions(roi, config.sample_dps, config.seed))
    totals = counts_per_pattern(sample)  # hot pixels left out: the dose, once
    denoiser, warnings = denoiser_for_scan(  # frame for this detector, self-check, decide
        config.denoise,
        denoiser,
        sample,
        (qy, qx),
        md,
        seed=config.seed,
        dose_e=float(totals.mean()),
    )
    del sample
    few = few_counts_warning(totals, scan.path)  # values that are not electron counts
    if few:
        log.warning("%s", few)
        warnings.append(few)
    denoiser_info = dict(getattr(denoiser, "info", {"kind": "custom", "model": config.denoise}))

    calibration, model, hex_dtype, t_pass1 = _pass1(scan, config, roi, md, denoiser)
    for w in model.warnings:  # camera length contradicted, no hexagon found at all
        if binning > 1 and "q_sampling_invA" in w:  # values per binned pixel: say so
            w += f" (per pixel of the detector binned {binning}x{binning}: divide by {binning})"
        warnings.append(w)
    try:  # the rings must fit on the detector; if not, say so (labels will be none)
        model.check_detector((qy, qx), calibration)
    except InputError as e:
        warnings.append(f"{e}; patterns are labelled none where the rings fall off the detector")
        log.warning("%s", warnings[-1])
    chunk_dps = (
        config.chunk_dps
        if config.chunk_dps is not None
        else default_chunk_dps((qy, qx), roi[3] - roi[2])
    )
    chunks = plan_chunks(ry, rx, roi, chunk_dps)
    sources = source_sha256()  # the code that labels: keys the resume, goes into provenance
    key = {
        "fingerprint": config.fingerprint(),
        "input_sha256": sha,
        "chunk_dps": chunk_dps,
        "calibration": calibration.to_dict(),
        "phase_model": model.to_dict(),
        "denoiser": resume_key(denoiser_info),
        # chunks of a version with other scan-context steps hold other labels (and another
        # length of per-step counts): never resumed into this run
        "stemtf_version": __version__,
        # ... nor chunks of other sources under the same version (a threshold changed)
        "stemtf_source_sha256": sources,
        "relabel_steps": list(RELABEL_STEPS),
        # the matched filter's thresholds decide low-dose labels: chunks made with others differ
        "matched_params": _matched_params(),
        "detector_binning": binning,
        "counts_per_electron": config.counts_per_electron,
        # chunks analysed with another context halo hold other labels near their edges
        "context_halo_rows": CONTEXT_HALO_ROWS,
    }
    resumed = work.start(key) is not None  # another run's chunks are discarded, never reused
    work.save_state({"key": key, "input": {"stamp": stamp, "sha256": sha}})
    plan = RunPlan(
        config=config,
        scan=scan,
        roi=roi,
        metadata=md,
        input_sha256=sha,
        input_stamp=stamp,
        calibration=calibration,
        model=model,
        hexagon_dtype=hex_dtype,
        virtual=VirtualDetectors.from_calibration(
            (qy, qx), calibration.center_yx, calibration.disk_radius_px
        ),
        chunks=tuple(chunks),
        chunk_dps=chunk_dps,
        denoiser_info=denoiser_info,
        warnings=tuple(warnings),
        stemtf_version=__version__,
        detector_binning=binning,
        stemtf_source_sha256=sources,
    )
    return plan, work, denoiser, resumed, t_pass1


def default_chunk_dps(detector_px: tuple[int, int], roi_width: int) -> int:
    """Patterns per chunk when ``--chunk`` is not given.

    ``CHUNK_BYTES`` of float32 patterns, raised to ``MIN_CHUNK_ROWS`` ROI rows where that stays
    under ``MAX_CHUNK_BYTES``.
    """
    dp_bytes = int(detector_px[0]) * int(detector_px[1]) * 4
    rows_target = min(MIN_CHUNK_ROWS * max(int(roi_width), 1), MAX_CHUNK_BYTES // dp_bytes)
    return max(1, CHUNK_BYTES // dp_bytes, rows_target)


def _pass2(plan: RunPlan, work: WorkDir, denoiser: Any, progress: bool) -> tuple[float, int, str]:
    """Identify the phases of the chunks not done yet.

    Returns (wall time [s], patterns analysed in this run, scheduler).
    """
    from tqdm import tqdm

    roi = plan.roi
    width = roi[3] - roi[2]
    todo = [c for c in plan.chunks if not work.done(c.name)]
    todo_dps = sum((c.row1 - c.row0) * width for c in todo if c.analyse)
    scheduler = choose_scheduler(plan.config.scheduler, todo_dps, len(todo))
    ry, rx = plan.scan.shape[:2]
    log.info(
        "%s: %d x %d scan, ROI %s, %d chunks (%d to do), scheduler %s",
        plan.scan.path,
        ry,
        rx,
        roi,
        len(plan.chunks),
        len(todo),
        scheduler,
    )
    tasks = (
        ChunkTask(
            plan.scan,
            c,
            roi,
            plan.calibration,
            plan.model,
            plan.virtual,
            denoiser,
            plan.config.denoise_batch,
            plan.config.seed,
        )
        for c in todo
    )
    t0 = time.perf_counter()
    with tqdm(
        total=plan.n_dps,
        initial=plan.n_dps - todo_dps,
        unit="DP",
        disable=not progress,
        desc="analyze",
        dynamic_ncols=True,
    ) as bar:
        for task, arrays in run_tasks(run_chunk, tasks, scheduler):
            work.save_chunk(task.chunk.name, arrays)
            if task.chunk.analyse:
                bar.update((task.chunk.row1 - task.chunk.row0) * width)
    return time.perf_counter() - t0, todo_dps, scheduler


def analyze(config: AnalyzeConfig, *, progress: bool = True) -> AnalyzeResult:
    """Run the analysis described by ``config``; see the module docstring.

    Parameters
    ----------
    config : AnalyzeConfig
        The run's settings.
    progress : bool
        Show a progress bar over the patterns.

    Returns
    -------
    AnalyzeResult
        The output folder and the summary written to ``summary.json``.

    Raises
    ------
    InputError
        Unreadable or non-4D input, bad counts (NaN/Inf, negative, all zero, constant), ROI
        out of range, a pixel size that puts no phase ring on the detector, calibration that
        cannot be inferred, an unusable denoiser or scheduler, an input changed while read.
    """
    t_start = time.perf_counter()
    plan, work, denoiser, resumed, t_pass1 = _plan(config)
    pass2_s, dps_this_run, scheduler = _pass2(plan, work, denoiser, progress)
    return _finish(plan, work, t_pass1, pass2_s, resumed, dps_this_run, scheduler, t_start=t_start)


def _finish(
    plan: RunPlan,
    work: WorkDir,
    pass1_s: float,
    pass2_s: float,
    resumed: bool,
    dps_this_run: int,
    scheduler: str,
    *,
    t_start: float,
) -> AnalyzeResult:
    """Stage results.h5, the PNG, the report and summary.json, then publish them as a set."""
    from stemtf.analysis.outputs import write_figures_and_report

    staged = staging_dir(work.path)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    provenance = build_provenance(plan, created_utc=created)
    t0 = time.perf_counter()
    counts = write_results(
        staged / "results.h5",
        work,
        list(plan.chunks),
        scan_shape=plan.scan.shape,
        roi=plan.roi,
        phases=tuple(plan.model.phases),
        label_names=tuple(plan.model.label_names),
        material_ids=plan.config.phases,
        calibration={**plan.calibration.to_dict(), "detector_binning": plan.detector_binning},
        phase_model=plan.model.to_dict(),
        virtual=plan.virtual.to_dict(),
        provenance=provenance,
        hexagon_dtype=plan.hexagon_dtype,
    )
    timings = RunTimings(
        pass1_s=pass1_s,
        pass2_s=pass2_s,
        assemble_s=time.perf_counter() - t0,
        resumed=resumed,
        dps_this_run=dps_this_run,
        scheduler=scheduler,
    )
    if counts["zero_patterns"] == plan.n_dps:
        raise InputError(
            f"{plan.scan.path}: all {plan.n_dps} patterns in the ROI are zero (no counts)"
        )
    check_unchanged(plan.scan.path, plan.input_stamp)  # the hash recorded is of what was read
    summary = build_summary(plan, counts, timings)
    t0 = time.perf_counter()
    write_figures_and_report(
        staged,
        summary,
        counts["examples"],
        plan.label_names,
        plan.roi,
        plan.calibration.q_sampling_invA,
        plan.model.to_dict(),
        provenance,
    )
    summary["timings_s"]["figures_report"] = time.perf_counter() - t0
    summary["timings_s"]["total_wall"] = time.perf_counter() - t_start
    summary["files"] = files_record(staged)
    write_json_atomic(staged / "summary.json", summary, default=_json_default)
    publish(staged, work.out_dir)
    fractions = {k: round(v, 4) for k, v in summary["phase_fractions"].items()}
    log.info("phase fractions %s; outputs in %s", fractions, work.out_dir)
    return AnalyzeResult(work.out_dir, summary)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
