"""Split a scan into chunks of whole scan rows.

Rows inside the ROI are analysed (phase identification on the ROI columns); rows outside it
only contribute to the overview virtual image, so the phase map can be shown in context.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chunk", "plan_chunks"]


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
