"""What the data contradicts reaches summary.json: a wrong calibration, a scan with no hexagon."""

from __future__ import annotations

import json

import h5py
import numpy as np

from stemtf.analysis import AnalyzeConfig, analyze
from stemtf.scenes import FieldConditions, simulate_scan


def _run(scan, out, **kw):
    config = AnalyzeConfig(input_path=scan, out_dir=out, denoise="none", **kw)
    analyze(config, progress=False)
    return json.loads((out / "summary.json").read_text())


def test_wrong_calibration_is_a_warning_naming_both_values(tmp_path, kinematic_library):
    scan, _ = simulate_scan(
        tmp_path / "scan.h5",
        shape=(24, 24),
        dose_e=1e4,
        seed=3,
        library=kinematic_library,
        field=FieldConditions(calibration_error=0.04),
    )
    summary = _run(scan, tmp_path / "out")
    given = kinematic_library.q_sampling_invA * 1.04
    hits = [w for w in summary["warnings"] if "q_sampling_invA" in w and "rings" in w]
    assert len(hits) == 1, summary["warnings"]
    assert f"{given:.6g}" in hits[0] and f"{kinematic_library.q_sampling_invA:.4g}" in hits[0]


def test_a_scan_without_any_hexagon_says_so(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.poisson(0.5, size=(6, 7, 64, 64)).astype(np.float32)
    d[..., 32, 32] += 500
    np.save(tmp_path / "vac.npy", d)
    summary = _run(
        tmp_path / "vac.npy",
        tmp_path / "out",
        q_sampling_invA=0.0125,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )
    assert any("no hexagon of the phases O3, O1" in w for w in summary["warnings"])


def test_the_map_does_not_depend_on_the_chunking(tmp_path, kinematic_library, monkeypatch):
    """At 40 e-/DP the scan-context steps (3 x 3 and 5 x 5 neighbourhood sums) label most
    patterns. One-row chunks see two rows above and below them (``CONTEXT_HALO_ROWS``), so
    their map is the one-chunk map; without that halo each chunk's edge acted as the scan's
    edge and the one-row map lost much of what the neighbourhood sums found."""
    import stemtf.analysis.worker as worker
    from stemtf.scenes import read_truth

    scan, truth_path = simulate_scan(
        tmp_path / "scan.npy", shape=(20, 20), dose_e=40, seed=4, library=kinematic_library
    )
    truth = read_truth(truth_path)[0]
    cal = {
        "q_sampling_invA": kinematic_library.q_sampling_invA,
        "energy_eV": 200e3,
        "semiangle_mrad": 1.0,
        "scheduler": "synchronous",
    }

    def labels(name, chunk):
        out = tmp_path / name
        summary = _run(scan, out, chunk_dps=chunk, **cal)
        with h5py.File(out / "results.h5") as f:
            return f["labels"][:], summary

    whole, summary = labels("whole", 400)
    rows, _ = labels("rows", 20)
    context = sum(v for k, v in summary["relabelled_by_step"].items())
    assert context >= 100, summary["relabelled_by_step"]  # the neighbourhood sums matter here
    o1 = np.isin(truth, (2, 3))
    hit_whole = np.isin(whole, (2, 3))[o1].mean()
    assert hit_whole >= 0.9
    assert (rows == whole).mean() >= 0.97
    assert abs(np.isin(rows, (2, 3))[o1].mean() - hit_whole) <= 0.03
    monkeypatch.setattr(worker, "CONTEXT_HALO_ROWS", 0)
    bare, _ = labels("bare", 20)
    assert (bare == whole).mean() < (rows == whole).mean() - 0.03
