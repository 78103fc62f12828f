"""The plan of a run: its chunks of whole scan rows and what pass 1 fixed (:class:`RunPlan`).

Rows inside the ROI are analysed (phase identification on the ROI columns); rows outside it
only contribute to the overview virtual image, so the phase map can be shown in context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Chunk", "plan_chunks", "RELABEL_STEPS", "RunPlan", "RunTimings"]

#: The scan-context steps after the per-pattern identification, in the order ``analyze`` runs
#: them (:func:`stemtf.analysis.worker.run_chunk`); ``summary.json`` counts the patterns each
#: one labelled or re-labelled.
RELABEL_STEPS = (
    "scan_context",
    "matched_filter",
    "faint_regions",
    "grown_grains",
    "marker_check",
    "mixed_vote",
    "faint_crystals",
    "isolated_calls",
    "lone_calls",
    "surrounded_calls",
    "enclosed_none",
    "marker_share",
    "vacuum_calls",
)


@dataclass(frozen=True)
class Chunk:
    """Scan rows ``row0:row1`` (absolute); ``analyse`` is False for overview-only rows."""

    index: int
    row0: int
    row1: int
    analyse: bool

    @property
    def name(self) -> str:
        """File stem of the chunk's saved result."""
        return f"chunk_{self.index:06d}"


def plan_chunks(
    scan_rows: int, scan_cols: int, roi: tuple[int, int, int, int], chunk_dps: int
) -> list[Chunk]:
    """Chunks covering every scan row, about ``chunk_dps`` patterns each (at least one row).

    Rows in ``[roi[0], roi[1])`` form analysed chunks sized by the ROI width; the rows before
    and after form overview-only chunks sized by the full width.
    """
    y0, y1, x0, x1 = roi
    chunks: list[Chunk] = []

    def add(r0: int, r1: int, width: int, analyse: bool) -> None:
        step = max(1, chunk_dps // max(width, 1))
        for start in range(r0, r1, step):
            chunks.append(Chunk(len(chunks), start, min(start + step, r1), analyse))

    add(0, y0, scan_cols, False)
    add(y0, y1, x1 - x0, True)
    add(y1, scan_rows, scan_cols, False)
    return chunks


@dataclass(frozen=True)
class RunPlan:
    """Everything fixed before pass 2 that the chunks and the outputs of a run depend on.

    Attributes
    ----------
    config : AnalyzeConfig
        The run's settings.
    scan : Scan
        The opened input.
    roi : (y0, y1, x0, x1)
        Half-open scan window analysed.
    metadata : ScanMetadata
        Calibration from the file and the flags, with the origin of each value.
    input_sha256 : str
        SHA-256 of the input as read by this run.
    input_stamp : dict
        The input's change stamp when it was hashed (see :mod:`stemtf.analysis.checksum`).
    calibration : Calibration
        Detector calibration from pass 1.
    model : PhaseModel
        Phase model refined in pass 1; ``model.label_names`` names the label codes.
    hexagon_dtype : numpy.dtype
        Row type of the hexagon table.
    virtual : VirtualDetectors
        Bright- and dark-field masks.
    chunks : tuple of Chunk
        The chunks covering the scan.
    chunk_dps : int
        Patterns per chunk aimed at.
    denoiser_info : dict
        What denoised the patterns (kind, model, version, ...).
    warnings : tuple of str
        Warnings for the user, repeated in summary.json and the report.
    stemtf_version : str
        Version of the package that ran.
    detector_binning : int
        The detector was summed in ``b x b`` blocks for the analysis (1: not binned); ``scan``
        is then the binned view (:func:`stemtf.io.binning.binned_scan`) and the calibration is
        in binned pixels.
    stemtf_source_sha256 : str
        SHA-256 of the package's Python sources (:func:`stemtf.provenance.source_sha256`);
        empty when not known.
    """

    config: Any
    scan: Any
    roi: tuple[int, int, int, int]
    metadata: Any
    input_sha256: str
    input_stamp: dict[str, int]
    calibration: Any
    model: Any
    hexagon_dtype: Any
    virtual: Any
    chunks: tuple[Chunk, ...]
    chunk_dps: int
    denoiser_info: dict[str, Any]
    warnings: tuple[str, ...]
    stemtf_version: str
    detector_binning: int = 1
    stemtf_source_sha256: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(Ry, Rx, Qy, Qx)`` of the input file (before any binning)."""
        return tuple(getattr(self.scan.source, "unbinned_shape", self.scan.shape))

    @property
    def input_dtype(self) -> Any:
        """Element type stored in the input file."""
        return getattr(self.scan.source, "source", self.scan.source).dtype

    @property
    def n_dps(self) -> int:
        """Patterns in the ROI."""
        y0, y1, x0, x1 = self.roi
        return (y1 - y0) * (x1 - x0)

    @property
    def label_names(self) -> dict[int, str]:
        """Label code -> name, from the phase model (none, the phases, both, unassigned)."""
        return dict(enumerate(self.model.label_names))


@dataclass(frozen=True)
class RunTimings:
    """How this run went: stage times [s], resumption and scheduler."""

    pass1_s: float
    pass2_s: float
    assemble_s: float
    resumed: bool
    dps_this_run: int
    scheduler: str
