"""Assemble ``results.h5`` from the saved chunk results, one chunk in memory at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.analysis.plan import RELABEL_STEPS, Chunk
from stemtf.analysis.workdir import WorkDir
from stemtf.fileio import atomic_path

__all__ = ["write_results", "hexagon_dtype_with_position"]


def hexagon_dtype_with_position(dtype: np.dtype) -> np.dtype:
    """The phase-identification hexagon dtype plus absolute scan ``row``/``col`` fields."""
    fields = [(n, dtype.fields[n][0]) for n in dtype.names] if dtype.names else []
    return np.dtype(fields + [("row", np.int32), ("col", np.int32)])


def _with_position(hexagons: np.ndarray, chunk: Chunk, roi, dtype: np.dtype) -> np.ndarray:
    out = np.zeros(len(hexagons), dtype)
    for name in hexagons.dtype.names or ():
        out[name] = hexagons[name]
    width = roi[3] - roi[2]
    r, c = np.divmod(hexagons["dp_index"].astype(np.int64), width)
    out["row"] = r + chunk.row0
    out["col"] = c + roi[2]
    # dp_index becomes the flat index in the ROI map (row-major), as for labels.ravel()
    out["dp_index"] = (out["row"] - roi[0]) * width + c
    return out


def _attrs(obj: Any, mapping: dict[str, Any]) -> None:
    for k, v in mapping.items():
        if v is None:
            continue
        obj.attrs[k] = v if isinstance(v, (int, float, str, bool, np.generic)) else json.dumps(v)


def write_results(
    path: Path,
    work: WorkDir,
    chunks: list[Chunk],
    *,
    scan_shape: tuple[int, int, int, int],
    roi: tuple[int, int, int, int],
    phases: tuple[str, ...],
    label_names: tuple[str, ...],
    material_ids: tuple[str, ...],
    calibration: dict[str, Any],
    phase_model: dict[str, Any],
    virtual: dict[str, Any],
    provenance: dict[str, Any],
    hexagon_dtype: np.dtype | None,
) -> dict[str, Any]:
    """Write ``results.h5`` atomically; return counts for the summary.

    ``label_names[code]`` names each label code (``PhaseModel.label_names``); they are stored
    as the ``labels`` dataset's ``label_names`` (JSON list) and ``codes`` attributes and the
    file's ``label_codes`` attribute (JSON object code -> name).

    Returns
    -------
    dict
        ``label_counts`` {name: n}, ``n_hexagons``, ``zero_patterns``, ``relabelled_by_step``
        {step: patterns it labelled or re-labelled}, summed stage
        ``timings_s``, and the ``examples`` (patterns, spots, hexagons) for the report.
    """
    import h5py

    y0, y1, x0, x1 = roi
    ny, nx = y1 - y0, x1 - x0
    names = dict(enumerate(label_names))
    counts = np.zeros(len(names), np.int64)
    timings = {"read": 0.0, "denoise": 0.0, "identify": 0.0, "virtual": 0.0}
    zero = 0
    relabelled = np.zeros(len(RELABEL_STEPS), np.int64)
    examples: dict[int, dict[str, Any]] = {}
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = "stemtf-analyze"
        f.attrs["format_version"] = 1
        f.attrs["label_codes"] = json.dumps({str(k): v for k, v in names.items()})
        f.attrs["roi_y0_y1_x0_x1"] = np.asarray(roi, np.int64)
        f.attrs["scan_shape"] = np.asarray(scan_shape, np.int64)
        labels = f.create_dataset("labels", (ny, nx), np.uint8)
        labels.attrs["codes"] = f.attrs["label_codes"]
        labels.attrs["label_names"] = json.dumps([names[k] for k in sorted(names)])
        conf = f.create_dataset("confidence", (ny, nx), np.float32)
        conf.attrs["range"] = "0..1"
        spots = f.create_dataset("spot_count", (ny, nx), np.int32)
        vgrp = f.create_group("virtual")
        _attrs(vgrp, virtual)
        bf = vgrp.create_dataset("bf", (ny, nx), np.float32)
        adf = vgrp.create_dataset("adf", (ny, nx), np.float32)
        over = vgrp.create_dataset("overview_bf", scan_shape[:2], np.float32)
        bf.attrs["what"] = "bright field of the analysed (denoised) patterns, ROI [counts]"
        adf.attrs["what"] = "annular dark field of the analysed (denoised) patterns, ROI [counts]"
        over.attrs["what"] = "bright field of the raw patterns, whole scan [counts]"
        hdtype = hexagon_dtype_with_position(hexagon_dtype) if hexagon_dtype is not None else None
        hexes = None
        if hdtype is not None:
            hexes = f.create_dataset("hexagons", (0,), hdtype, maxshape=(None,), chunks=(4096,))
            hexes.attrs["dp_index"] = "flat index into labels (row-major, ROI frame)"
        for chunk in chunks:
            d = work.load_chunk(chunk.name)
            over[chunk.row0 : chunk.row1] = d["overview_bf"]
            timings["read"] += float(d.get("t_read", 0.0))
            if not chunk.analyse:
                continue
            rows = slice(chunk.row0 - y0, chunk.row1 - y0)
            labels[rows] = d["labels"]
            conf[rows] = d["confidence"]
            spots[rows] = d["spot_count"]
            bf[rows] = d["bf"]
            adf[rows] = d["adf"]
            counts += np.bincount(d["labels"].ravel(), minlength=len(names))[: len(names)]
            zero += int(d["zero_count"])
            relabelled += np.asarray(d.get("relabelled", np.zeros(len(RELABEL_STEPS))), np.int64)
            for key in ("denoise", "identify", "virtual"):
                timings[key] += float(d[f"t_{key}"])
            if hexes is not None and len(d["hexagons"]):
                rowsx = _with_position(d["hexagons"], chunk, roi, hdtype)
                n0 = hexes.shape[0]
                hexes.resize((n0 + len(rowsx),))
                hexes[n0:] = rowsx
            _keep_examples(examples, d, chunk, roi, hdtype)
        cal = f.create_group("calibration")
        _attrs(cal, calibration)
        pm = f.create_group("phase_model")
        pm.attrs["json"] = json.dumps(phase_model)
        pm.attrs["phases"] = json.dumps(list(phases))
        pm.attrs["material_ids"] = json.dumps(list(material_ids))
        prov = f.create_group("provenance")
        _attrs(prov, provenance)
        n_hex = int(hexes.shape[0]) if hexes is not None else 0
    return {
        "label_counts": {names[k]: int(counts[k]) for k in names},
        "n_hexagons": n_hex,
        "zero_patterns": zero,
        "relabelled_by_step": {k: int(v) for k, v in zip(RELABEL_STEPS, relabelled, strict=True)},
        "timings_s": timings,
        "examples": [examples[k] for k in sorted(examples)],
    }


def _keep_examples(examples, d, chunk, roi, hdtype) -> None:
    """Keep, per label, the example with the highest confidence over all chunks."""
    width = roi[3] - roi[2]
    for k, idx in enumerate(d["ex_index"]):
        lab = int(d["ex_labels"][k])
        confidence = float(d["ex_confidence"][k])
        if lab in examples and examples[lab]["confidence"] >= confidence:
            continue
        r, c = divmod(int(idx), width)
        sp = d["ex_spots"]
        hx = d["ex_hexagons"]
        sel = hx[hx["dp_index"] == idx] if len(hx) else hx
        examples[lab] = {
            "label": lab,
            "confidence": confidence,
            "row": r + chunk.row0,
            "col": c + roi[2],
            "dp": d["ex_dps"][k],
            "spots": sp[sp[:, 0] == k][:, 1:] if len(sp) else np.empty((0, 3)),
            "hexagons": sel,
        }
