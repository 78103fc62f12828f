"""One chunk of work: read scan rows, check, denoise, identify phases, virtual images.

:func:`run_chunk` is a pure function of a picklable :class:`ChunkTask`, so it runs the same
in-process or on a dask.distributed worker; it returns plain arrays that the driver saves.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemtf.analysis.plan import RELABEL_STEPS, Chunk
from stemtf.analysis.virtual import VirtualDetectors
from stemtf.denoise.base import IdentityDenoiser
from stemtf.io.scan import Scan
from stemtf.io.validate import check_counts

__all__ = ["ChunkTask", "run_chunk", "chunk_seed", "cached_denoiser"]

_DENOISERS: dict[tuple, Any] = {}


def cached_denoiser(spec: str, batch: int) -> Any:
    """One denoiser per process and spec (a SavedModel is loaded once per worker).

    ``auto`` resolves through ``$STEMTF_MODEL_DIR``, so its value is part of the key.
    """
    key = (spec, batch)
    if spec.strip().lower() == "auto":
        from stemtf.denoise.bundled import ENV_VAR

        key = (spec, batch, os.environ.get(ENV_VAR))
    if key not in _DENOISERS:
        from stemtf.denoise import load

        kwargs = {} if spec.strip().lower() == "none" else {"batch_size": batch}
        _DENOISERS[key] = load(spec, **kwargs)
    return _DENOISERS[key]


#: Analysed ROI rows above and below a chunk that its scan-context steps see (their 3 x 3 and
#: 5 x 5 neighbourhood sums reach two rows); their patterns are analysed with the chunk and
#: their results dropped, so a chunk's edge does not act as the scan's edge.
CONTEXT_HALO_ROWS = 2


def chunk_seed(seed: int, index: int) -> int:
    """Independent, reproducible seed of chunk ``index`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs for one chunk (all picklable)."""

    scan: Scan
    chunk: Chunk
    roi: tuple[int, int, int, int]
    calibration: Any
    model: Any
    virtual: VirtualDetectors
    denoise: Any  # a Denoiser (as chosen for the scan) or a --denoise spec
    denoise_batch: int
    seed: int


#: Where a denoiser was applied, a pattern whose denoised counts show no lattice but whose raw
#: counts show one of :data:`RAW_LATTICE_LABELS` takes the raw counts' identification: a network
#: may erase a faint real lattice (thick O3's {110} at 3e2 e-/DP), and the scan-context steps
#: then label the pattern from 3 x 3 raw sums, where thick O3's own weak reflections at the O1
#: marker positions read as O3+O1.
KEEP_RAW_LATTICES = True
#: Only O3 (a hexagon on the shared ring without the marker) is taken over: a single raw
#: pattern's O1 / O3+O1 call rests on its own marker share, which the scan-context steps' pooled
#: counts measure better (tune split, 3e2 e-/DP, 12 scans: taking every label over gave the same
#: O1-present F1, and macro-F1 lower on 6 of them, higher on 1).
RAW_LATTICE_LABELS = (1,)
#: Where a denoiser was applied, a bright pattern (transmitted disk above the matched filter's
#: ``max_beam_counts``) whose denoised counts show the first phase (O3) while its raw counts'
#: own identification shows the second phase's marker (O3+O1) takes the raw call: a
#: network may erase a faint real marker and keep the stronger {110} lattice (the tilted O1
#: share of O3+O1 columns at 10^3-2 x 10^3 e-/DP on the ``tune`` split). Sparser patterns are
#: left to the scan-context steps' pooled counts: at 3 x 10^2 e-/DP a single raw pattern's
#: marker calls on O3 cost O1-present F1 (``tune`` ideal-128 and thick-128). Then
#: :func:`stemtf.phase.matched.check_marker_on_counts` tests every mixed call against the
#: marker's raw counts, as it tests the rest. Two-phase models only.
KEEP_RAW_MARKERS = True
#: The raw calls a denoised first-phase pattern takes over: O3+O1 only. The denoised counts
#: show O3's lattice; the raw counts may add O1's marker to it, not replace it by O1's (a raw
#: pure-O1 call on an O3 pattern near its {110} extinction thickness, ``tune``
#: carbon-thick-detector 2 x 10^3 seed 0, was a false one).
RAW_MARKER_LABELS = (3,)


def _raw_lattices_kept(result: Any, raw: np.ndarray, task: ChunkTask, index: int) -> Any:
    """``result`` with the raw counts' lattices and markers where the denoiser erased them.

    Where the denoised counts show no lattice, the raw counts' lattice; where they show the
    first phase without the marker, the raw counts' marker. Its no-lattice patterns (and,
    with :data:`KEEP_RAW_MARKERS`, its first-phase patterns) are identified again from their
    raw counts; those whose raw call is one of :data:`RAW_LATTICE_LABELS` (first-phase
    patterns: of :data:`RAW_MARKER_LABELS`) take that identification.
    """
    from stemtf.phase import identify_phases
    from stemtf.phase.identify import patterns_from, take_patterns
    from stemtf.phase.matched import MatchedParams, beam_counts
    from stemtf.phase.model import LABEL_FIRST, PhaseModel

    lab = np.asarray(result.labels)
    retry = lab == 0
    # the marker test is a two-phase model's (a family model's codes mean other phases)
    markers = KEEP_RAW_MARKERS and type(task.model) is PhaseModel
    if markers:  # first-phase patterns: the bright ones only (below, a single pattern's
        # marker test is left to the scan-context steps' pooled counts)
        first = np.flatnonzero(lab == LABEL_FIRST)
        beam = beam_counts(
            raw[first], np.asarray(result.centers_yx)[first], task.calibration.disk_radius_px
        )
        retry[first] = beam > MatchedParams().max_beam_counts
    again_at = np.flatnonzero(retry)
    if again_at.size == 0:
        return result
    again = identify_phases(
        raw[again_at],
        task.calibration,
        task.model,
        seed=chunk_seed(task.seed, index),
        return_spots=True,
    )
    called = np.asarray(again.labels)
    take = np.isin(called, RAW_LATTICE_LABELS)
    if markers:  # first-phase patterns take only the raw counts' marker calls
        first = lab[again_at] == LABEL_FIRST
        take[first] = np.isin(called[first], RAW_MARKER_LABELS)
    found = np.flatnonzero(take)
    if found.size == 0:
        return result
    return patterns_from(result, take_patterns(again, found), again_at[found])


def _spots_of(result: Any, i: int) -> np.ndarray:
    """Spots ``[y, x, intensity]`` of pattern ``i`` from a PhaseResult, if it carries them."""
    spots = getattr(result, "spots", None)
    if spots is None:
        return np.empty((0, 3), np.float32)
    if hasattr(spots, "of"):
        return np.asarray(spots.of(i), np.float32).reshape(-1, 3)
    return np.asarray(spots[i], np.float32)[:, :3].reshape(-1, 3)


def _examples(labels, confidence, counts, dps, result, hexagons, offset=0):
    """The most confident pattern of each label present (and the brightest 'none' pattern).

    ``offset``: index in ``result`` of the first pattern of ``labels`` (the chunk's own rows
    after its context halo).
    """
    picks: list[int] = []
    for lab in range(int(labels.max()) + 1 if labels.size else 0):
        idx = np.flatnonzero(labels == lab)
        if idx.size:
            key = counts[idx] if lab == 0 else confidence[idx]
            picks.append(int(idx[np.argmax(key)]))
    spots = [
        np.column_stack([np.full(len(s), k, np.float32), s])
        for k, s in ((k, _spots_of(result, i + offset)) for k, i in enumerate(picks))
    ]
    ex_hex = hexagons[np.isin(hexagons["dp_index"], picks)] if len(hexagons) else hexagons
    return {
        "ex_index": np.asarray(picks, np.int64),
        "ex_labels": labels[picks].astype(np.uint8),
        "ex_confidence": confidence[picks].astype(np.float32),
        "ex_dps": dps[picks].astype(np.float32),
        "ex_spots": np.concatenate(spots) if spots else np.empty((0, 4), np.float32),
        "ex_hexagons": ex_hex,
    }


def run_chunk(task: ChunkTask) -> dict[str, np.ndarray]:
    """Process one chunk; return its arrays (flat pattern index is within the chunk's ROI part).

    Returns
    -------
    dict
        ``overview_bf`` (rows, Rx) for every chunk; for analysed chunks also ``labels``,
        ``confidence``, ``spot_count``, ``bf``, ``adf`` (rows, roi width), ``hexagons``,
        example patterns, ``zero_count``, ``relabelled`` (patterns whose label each scan-context
        step set or changed, in the order of :data:`RELABEL_STEPS`) and stage timings ``t_read``, ``t_denoise``,
        ``t_identify``, ``t_virtual`` [s].
    """
    from stemtf.phase import identify_phases
    from stemtf.phase.context import (
        first_phase_for_lone_calls,
        grow_grains,
        label_faint_regions,
        label_from_neighbours,
        none_for_lone_calls_in_vacuum,
        second_phase_for_surrounded_calls,
        unassign_faint_crystals,
        unassign_isolated_calls,
        vote_on_mixed_calls,
    )
    from stemtf.phase.marker_share import check_marker_share
    from stemtf.phase.matched import (
        check_marker_on_counts,
        label_sparse_patterns,
        second_phase_for_enclosed_patterns,
    )

    c, (y0, y1, x0, x1) = task.chunk, task.roi
    path = task.scan.path
    denoise = None
    if c.analyse:
        denoise = (
            task.denoise
            if callable(task.denoise)
            else cached_denoiser(task.denoise, task.denoise_batch)
        )
    # the scan-context steps see CONTEXT_HALO_ROWS ROI rows above and below the chunk (analysed
    # with it, results kept for the chunk's rows only), so a chunk's edge is no scan edge
    a0, a1 = c.row0, c.row1
    if c.analyse:
        a0, a1 = max(y0, c.row0 - CONTEXT_HALO_ROWS), min(y1, c.row1 + CONTEXT_HALO_ROWS)
    # a scan-context denoiser also needs the rows just above and below those
    halo = 1 if getattr(denoise, "scan_context", None) else 0
    h0, h1 = max(0, a0 - halo), min(task.scan.shape[0], a1 + halo)
    t0 = time.perf_counter()
    read = task.scan.read(slice(h0, h1))  # float32 (rows, Rx, Qy, Qx), full width
    block = read[a0 - h0 : a1 - h0] if (h0, h1) != (a0, a1) else read
    t_read = time.perf_counter() - t0
    out: dict[str, np.ndarray] = {}
    if not c.analyse:
        overview = np.where(np.isfinite(block), block, 0.0)
        out["overview_bf"] = task.virtual.apply(overview)[0]
        out["t_read"] = np.float64(t_read)
        return out
    part = block[:, x0:x1]
    check_counts(part, path, row0=a0, col0=x0)
    context = None
    if halo:  # each pattern's 8 neighbours' mean, those outside the ROI included
        from stemtf.denoise.context import neighbour_mean

        cx0, cx1 = max(0, x0 - 1), min(read.shape[1], x1 + 1)
        near = neighbour_mean(read[:, cx0:cx1])[a0 - h0 : a1 - h0, x0 - cx0 : x1 - cx0]
        context = np.ascontiguousarray(near.reshape((-1,) + near.shape[2:]))
        del near
    del read
    own = block[c.row0 - a0 : c.row1 - a0]  # the chunk's own rows, full width
    if x0 > 0 or x1 < block.shape[1]:
        own = np.where(np.isfinite(own), own, 0.0)
    t1 = time.perf_counter()
    out["overview_bf"] = task.virtual.apply(own)[0]
    del own, block
    rows, cols = part.shape[:2]
    dps = np.ascontiguousarray(part.reshape((rows * cols,) + part.shape[2:]))
    del part
    counts = dps.reshape(len(dps), -1).sum(axis=1)
    t2 = time.perf_counter()
    raw = dps
    dps = np.asarray(denoise(dps) if context is None else denoise(dps, context), np.float32)
    del context
    np.maximum(dps, 0.0, out=dps)  # a denoiser may undershoot zero; counts cannot
    t3 = time.perf_counter()
    result = identify_phases(
        dps, task.calibration, task.model, seed=chunk_seed(task.seed, c.index), return_spots=True
    )
    if KEEP_RAW_LATTICES and not isinstance(denoise, IdentityDenoiser):
        result = _raw_lattices_kept(result, raw, task, c.index)
    # the scan-context steps test counts against their shot noise: the raw counts, whatever
    # the denoiser did (its output is not Poisson); views, in scan order
    grid = raw.reshape((rows, cols) + raw.shape[1:])
    # patterns too sparse for a lattice of their own: their scan neighbourhood, confirmed by
    # their own counts (stemtf.phase.context)
    labels, confidence, by_context = label_from_neighbours(
        grid,
        result.labels,
        result.confidence,
        task.calibration,
        task.model,
        seed=chunk_seed(task.seed, c.index),
    )
    # low-dose patterns where spot finding saw nothing: a matched filter on the raw counts of
    # the marker and shared rings, own or confirmed by the neighbourhood
    labels, confidence, by_matched = label_sparse_patterns(
        grid,
        labels,
        confidence,
        result.centers_yx,
        task.calibration,
        task.model,
    )
    # regions enclosed by labelled patterns and too faint pattern by pattern (a particle's
    # core near an extinction thickness): their pooled counts must show the lattice around them
    labels, confidence, by_faint = label_faint_regions(
        grid,
        labels,
        confidence,
        result.hexagons,
        task.calibration,
    )
    # a grain tilted so far that its patterns keep two disks of the hexagon: a none pattern
    # beside it whose own counts show a labelled neighbour's hexagon takes its label
    labels, confidence, by_grown = grow_grains(
        grid,
        labels,
        confidence,
        result.hexagons,
        result.centers_yx,
        task.calibration,
        task.model,
    )
    # an O3+O1 call stands only where the marker's counts, at the disks the pattern's lattice
    # fixes, stand above the shot noise, own or neighbourhood (the spot finder's test cannot
    # weigh a few stray counts on a sparse pattern)
    labels, confidence, by_marker = check_marker_on_counts(
        grid,
        labels,
        confidence,
        result.hexagons,
        result.centers_yx,
        task.calibration,
        task.model,
    )
    # second phase alone or both: a shared-ring share scattered by shot noise speckles a
    # grain; each such call is re-taken with its same-grain neighbours' vote
    labels, confidence, by_vote = vote_on_mixed_calls(
        grid,
        labels,
        confidence,
        result.share,
        result.share_sd,
        result.lattice_rotation_deg,
        task.model,
    )
    # what the steps so far left none inside a crystal no phase fits (an off-zone grain at a few
    # hundred e-/DP): a 5 x 5 neighbourhood sum that shows such a crystal, own counts confirming
    labels, confidence, by_faint_crystal = unassign_faint_crystals(
        grid,
        labels,
        confidence,
        task.calibration,
        task.model,
        seed=chunk_seed(task.seed, c.index),
    )
    # a lone O1/both call inside an off-zone grain is that grain's pseudo-hexagon
    labels, confidence, by_isolation = unassign_isolated_calls(grid, labels, confidence, task.model)
    # a lone O1/both call inside an O3 grain is O3's thickness-dependent {100} reflections
    labels, confidence, by_lone = first_phase_for_lone_calls(grid, labels, confidence, task.model)
    # a lone O3 call inside an O1/both domain of its grain is a marker lost to thickness or tilt
    labels, confidence, by_surrounded = second_phase_for_surrounded_calls(
        grid, labels, confidence, result.lattice_rotation_deg, task.model
    )
    # a none pattern inside an O1/both domain whose own marker counts match its neighbours' is
    # part of it (O1 near 250 A puts ~88 % of the beam in the transmitted disk)
    labels, confidence, by_enclosed = second_phase_for_enclosed_patterns(
        grid, labels, confidence, result.centers_yx, task.calibration, task.model
    )
    # an O1/both call whose marker is too weak a share of its lattice's counts for any O1 is
    # O3's own weak reflections at the marker positions (thick or incomplete unit cells)
    labels, confidence, by_share = check_marker_share(
        grid,
        labels,
        confidence,
        result.hexagons,
        result.centers_yx,
        task.calibration,
        task.model,
    )
    # a call on a pattern's own three-vertex hexagon with only vacuum around is a chance hexagon
    labels, confidence, by_vacuum = none_for_lone_calls_in_vacuum(
        grid, labels, confidence, result.hexagons, task.model
    )
    t4 = time.perf_counter()
    steps = {
        "scan_context": by_context,
        "matched_filter": by_matched,
        "faint_regions": by_faint,
        "grown_grains": by_grown,
        "marker_check": by_marker,
        "mixed_vote": by_vote,
        "faint_crystals": by_faint_crystal,
        "isolated_calls": by_isolation,
        "lone_calls": by_lone,
        "surrounded_calls": by_surrounded,
        "enclosed_none": by_enclosed,
        "marker_share": by_share,
        "vacuum_calls": by_vacuum,
    }
    # keep the chunk's own rows (flat indices k0:k1 of the analysed block)
    k0, k1 = (c.row0 - a0) * cols, (c.row1 - a0) * cols
    own_rows = c.row1 - c.row0
    dps, counts = dps[k0:k1], counts[k0:k1]
    bf, adf = task.virtual.apply(dps)
    labels = np.asarray(labels, np.uint8)[k0:k1]
    confidence = np.asarray(confidence, np.float32)[k0:k1]
    hexagons = np.asarray(result.hexagons)
    if len(hexagons):
        hexagons = hexagons[(hexagons["dp_index"] >= k0) & (hexagons["dp_index"] < k1)].copy()
        hexagons["dp_index"] -= k0
    out.update(
        labels=labels.reshape(own_rows, cols),
        confidence=confidence.reshape(own_rows, cols),
        spot_count=np.asarray(result.spot_count, np.int32)[k0:k1].reshape(own_rows, cols),
        bf=bf.reshape(own_rows, cols),
        adf=adf.reshape(own_rows, cols),
        hexagons=hexagons,
        zero_count=np.int64((counts == 0).sum()),
        relabelled=np.array([np.count_nonzero(steps[k][k0:k1]) for k in RELABEL_STEPS], np.int64),
        t_read=np.float64(t_read),
        t_denoise=np.float64(t3 - t2),
        t_identify=np.float64(t4 - t3),
        t_virtual=np.float64(t2 - t1 + time.perf_counter() - t4),
        **_examples(labels, confidence, counts, dps, result, hexagons, offset=k0),
    )
    return out
