"""The provenance and summary builders: pure functions of the run plan (no run needed)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.analysis import AnalyzeConfig
from stemtf.analysis.plan import RunPlan, RunTimings, plan_chunks
from stemtf.analysis.records import build_provenance, build_summary
from stemtf.analysis.virtual import VirtualDetectors
from stemtf.io import ScanMetadata, open_scan
from stemtf.phase import HEXAGON_DTYPE, Calibration, PhaseModel


@pytest.fixture
def plan(tmp_path):
    np.save(tmp_path / "s.npy", np.ones((4, 5, 16, 16), np.uint16))
    config = AnalyzeConfig(tmp_path / "s.npy", tmp_path / "out", roi=(1, 3, 0, 5))
    calibration = Calibration(q_sampling_invA=0.05)
    return RunPlan(
        config=config,
        scan=open_scan(tmp_path / "s.npy"),
        roi=(1, 3, 0, 5),
        metadata=ScanMetadata(q_sampling_invA=0.05, origin={"q_sampling_invA": "flag"}),
        input_sha256="ab" * 32,
        input_stamp={"size": 1},
        calibration=calibration,
        model=PhaseModel.from_materials(list(config.phases)),
        hexagon_dtype=HEXAGON_DTYPE,
        virtual=VirtualDetectors.from_calibration((16, 16), (8.0, 8.0), 2.0),
        chunks=tuple(plan_chunks(4, 5, (1, 3, 0, 5), 10)),
        chunk_dps=10,
        denoiser_info={"kind": "none", "model": "none"},
        warnings=("detector small",),
        stemtf_version="9.9",
    )


def test_summary_lists_every_label_of_the_model(plan):
    counts = {
        "label_counts": {"none": 4, "O3": 3, "O1": 2, "both": 0, "unassigned": 1},
        "zero_patterns": 0,
        "n_hexagons": 7,
        "timings_s": {"read": 0.1, "denoise": 0.0, "identify": 0.5, "virtual": 0.0},
    }
    timings = RunTimings(1.0, 2.0, 0.1, resumed=False, dps_this_run=10, scheduler="synchronous")
    s = build_summary(plan, counts, timings)
    assert (
        s["label_names"]
        == list(plan.model.label_names)
        == ["none", "O3", "O1", "both", "unassigned"]
    )
    assert s["label_codes"] == {"0": "none", "1": "O3", "2": "O1", "3": "both", "4": "unassigned"}
    assert s["patterns"] == 10 and sum(s["phase_fractions"].values()) == pytest.approx(1.0)
    assert s["phase_fractions"]["unassigned"] == pytest.approx(0.1)
    assert s["dps_per_s"] == pytest.approx(5.0) and s["identify_dps_per_s_per_worker"] == 20.0
    assert s["warnings"] == ["detector small"] and s["phases"] == {
        "O3": "nmc811-o3",
        "O1": "nmc811-o1",
    }
    idle = build_summary(plan, counts, RunTimings(1.0, 0.0, 0.1, True, 0, "synchronous"))
    assert idle["dps_per_s"] is None and idle["resumed"] is True


def test_provenance_is_a_function_of_the_plan(plan):
    a = build_provenance(plan, created_utc="2026-01-01T00:00:00+00:00")
    assert a == build_provenance(plan, created_utc="2026-01-01T00:00:00+00:00")
    assert a["input_sha256"] == "ab" * 32 and a["input_shape"] == [4, 5, 16, 16]
    assert a["config"]["roi"] == (1, 3, 0, 5) and a["stemtf_version"] == "9.9"
    assert a["file_metadata"]["origin"] == {"q_sampling_invA": "flag"}
