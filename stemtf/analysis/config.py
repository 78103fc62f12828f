"""Settings of one ``stemtf analyze`` run, validated on construction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemtf.errors import InputError, check_positive, check_range
from stemtf.physics import ENERGY_RANGE_EV

__all__ = ["AnalyzeConfig", "DEFAULT_PHASES"]

#: Phases mapped by default: label bit 1 = first phase (O3), bit 2 = second (O1).
DEFAULT_PHASES = ("nmc811-o3", "nmc811-o1")


@dataclass(frozen=True)
class AnalyzeConfig:
    """Everything that decides the output of an analysis (plus how it is run).

    Attributes
    ----------
    input_path : Path
        The 4D-STEM file.
    out_dir : Path
        Output folder (results.h5, phase_map.png, summary.json, report.html).
    denoise : str
        ``auto``, ``none``, ``classical``, a SavedModel folder or a TF Serving URL (see
        :func:`stemtf.denoise.load`).
    roi : (y0, y1, x0, x1) or None
        Half-open scan window to analyse; None = the whole scan.
    scheduler : str or None
        None: in-process for small scans, a dask ``LocalCluster`` for large ones;
        ``"synchronous"``; ``"local"`` (always a LocalCluster); or a dask.distributed address.
    dataset_path : str or None
        HDF5 dataset path.
    scan_shape : (Ry, Rx) or None
        Scan shape for flat frame stacks.
    q_sampling_invA, energy_eV, semiangle_mrad : float or None
        Calibration overriding the file metadata [1/Å per px], [eV], [mrad].
    phases : tuple of str
        1-8 material ids or CIF files. The default pair O3/O1 gives labels 0 none, 1 O3,
        2 O1, 3 both, 4 unassigned; other sets the names of ``PhaseModel.label_names``.
    seed : int
        Seed of every random choice (sample positions, RANSAC per chunk).
    chunk_dps : int or None
        About this many patterns per chunk (whole scan rows; at least one row), >= 1; None =
        about 64 MB of float32 patterns per chunk, or 16 ROI rows if that is more and stays
        under 1 GB. Each chunk also analyses two ROI rows above and below it for its
        scan-context steps (and drops their results), so the map does not depend on the
        chunking; small chunks cost that extra work more often.
    sample_dps : int
        Patterns in the calibration / ring-radius learning sample (pass 1).
    denoise_batch : int
        Patterns per denoiser call.
    detector_binning : int or None
        Sum the detector in ``b x b`` blocks before anything else (counts preserved); None =
        automatic (:func:`stemtf.io.binning.analysis_binning`: only where the Bragg disks are
        wider than the spot finder's range, radius > ~8.9 px, binned to ~5 px), 1 = never; a
        forced factor must leave the detector >= 32 px a side.
    counts_per_electron : float
        Detector values per electron (a camera in linear mode: its conversion gain; a
        flat-fielded or normalised file: its scale). Every pattern is divided by it before
        anything else, because every test of ``analyze`` weighs values against their shot noise
        as electron counts (``scripts/bench_gain.py``: a scan in 8 units per electron maps
        worse without a word). 1 (default) for electron-counting detectors.
    """

    input_path: Path
    out_dir: Path
    denoise: str = "none"
    roi: tuple[int, int, int, int] | None = None
    scheduler: str | None = None
    dataset_path: str | None = None
    scan_shape: tuple[int, int] | None = None
    q_sampling_invA: float | None = None
    energy_eV: float | None = None
    semiangle_mrad: float | None = None
    phases: tuple[str, ...] = DEFAULT_PHASES
    seed: int = 0
    chunk_dps: int | None = None
    sample_dps: int = 256
    denoise_batch: int = 32
    detector_binning: int | None = None
    counts_per_electron: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_path", Path(self.input_path))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        phases = tuple(p.strip() for p in self.phases if p.strip())
        if not 1 <= len(phases) <= 8 or len({p.lower() for p in phases}) != len(phases):
            raise InputError(
                f"--phases={','.join(self.phases)!r} is not allowed: give 1 to 8 distinct "
                "material ids or CIF files, e.g. nmc811-o3,nmc811-o1 (see `stemtf materials list`)"
            )
        object.__setattr__(self, "phases", phases)
        if self.roi is not None:
            if len(self.roi) != 4:
                raise InputError(f"--roi={self.roi!r} is not allowed: give y0 y1 x0 x1")
            object.__setattr__(self, "roi", tuple(int(v) for v in self.roi))
        if self.scan_shape is not None:
            object.__setattr__(self, "scan_shape", tuple(int(v) for v in self.scan_shape))
        if self.q_sampling_invA is not None:
            check_positive("--q-sampling-invA", self.q_sampling_invA, "1/Å per px")
        if self.energy_eV is not None:
            lo, hi = (e / 1e3 for e in ENERGY_RANGE_EV)
            check_range("--energy-keV", self.energy_eV / 1e3, lo, hi, "keV")
        if self.semiangle_mrad is not None:
            check_range("--semiangle-mrad", self.semiangle_mrad, 0.01, 100.0, "mrad")
        check_range("--seed", self.seed, 0, 2**32 - 1)
        if self.chunk_dps is not None:
            check_range("--chunk", self.chunk_dps, 1, 10**7, "patterns")
        check_range("sample_dps", self.sample_dps, 1, 10**5, "patterns")
        check_range("denoise_batch", self.denoise_batch, 1, 4096, "patterns")
        if self.detector_binning is not None:
            check_range("--bin", self.detector_binning, 1, 16, "px per binned px (a side)")
        check_range(
            "--counts-per-electron", self.counts_per_electron, 1e-3, 1e4, "detector values per e-"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        d = dataclasses.asdict(self)
        d["input_path"] = str(self.input_path)
        d["out_dir"] = str(self.out_dir)
        return d

    def fingerprint(self) -> str:
        """Hash of the settings that change results (not where or how the run executes)."""
        d = self.to_dict()
        for key in ("out_dir", "scheduler", "denoise_batch"):
            d.pop(key)
        d["input_path"] = str(Path(self.input_path).resolve())
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
