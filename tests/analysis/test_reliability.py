"""Interruption, reuse and bad-input cases of `stemtf analyze` (issue 13, step 5).

Each test failed before its fix: a pixel size that puts no ring on the detector ran out of
memory; a same-size change with the old mtime reused stale chunks; outputs were not published
as a set; temporary files of a killed run stayed; a failing run deleted another scan's
results; wording (constant scans, --chunk 0, keV ranges, symlink loops).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from stemtf.analysis import OUTPUT_FILES, AnalyzeConfig, analyze
from stemtf.cli import app
from stemtf.errors import InputError

sys.path.insert(0, str(Path(__file__).parent))
from scene import Q_SAMPLING_INVA, pattern, scene  # noqa: E402

CAL = ["--q-sampling-invA", str(Q_SAMPLING_INVA), "--energy-keV", "200", "--semiangle-mrad", "1.0"]


def _run(*args) -> tuple[int, str]:
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            app(
                ["analyze", *map(str, args), "--no-progress", "--denoise", "none"],
                prog_name="stemtf",
            )
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue()


def _config(path, out, **kw) -> AnalyzeConfig:
    return AnalyzeConfig(
        path, out, q_sampling_invA=Q_SAMPLING_INVA, energy_eV=200e3, semiangle_mrad=1.0, **kw
    )


def _digests(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in OUTPUT_FILES}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    data, truth, _ = scene((5, 7), seed=2)
    path = tmp_path_factory.mktemp("small") / "small.npy"
    np.save(path, data)
    return path, data, truth


@pytest.mark.parametrize(
    "q, why",
    [("1e9", "cannot be told from the transmitted disk"), ("1e-9", "wider than the detector")],
)
def test_q_sampling_is_checked_against_the_detector(small, tmp_path, q, why):
    code, out = _run(small[0], "--out", tmp_path, *CAL[2:], "--q-sampling-invA", q)
    assert code == 2, out
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"error: --q-sampling-invA={float(q):g} 1/Å per px"), line
    assert why in line and "allowed:" in line
    assert not any((tmp_path / n).exists() for n in OUTPUT_FILES)


def test_changed_input_with_old_size_and_mtime_is_reanalysed(small, tmp_path):
    path = tmp_path / "scan.npy"
    np.save(path, small[1])
    out = tmp_path / "out"
    first = analyze(_config(path, out, chunk_dps=14), progress=False)
    np.testing.assert_array_equal(h5py.File(out / "results.h5")["labels"][...], small[2])
    st = path.stat()
    np.save(path, small[1][::-1])  # same size and dtype, rows in the other order
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second = analyze(_config(path, out, chunk_dps=14), progress=False)
    assert second.summary["resumed"] is False  # no stale chunk reused
    with h5py.File(out / "results.h5") as f:
        np.testing.assert_array_equal(f["labels"][...], small[2][::-1])
        recorded = f["provenance"].attrs["input_sha256"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert recorded == second.summary["input_sha256"] == actual != first.summary["input_sha256"]


def test_outputs_are_published_as_a_set_summary_last(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    analyze(_config(small[0], out), progress=False)
    before = _digests(out)
    summary = json.loads((out / "summary.json").read_text())
    for name, rec in summary["files"].items():  # the completion mark lists the set
        assert rec["sha256"] == before[name] and name != "summary.json"
    other = tmp_path / "other.npy"
    np.save(other, small[1][:, ::-1])

    def killed(*args, **kwargs):  # a kill after results.h5 was written
        raise KeyboardInterrupt

    monkeypatch.setattr("stemtf.analysis.outputs.write_figures_and_report", killed)
    with pytest.raises(KeyboardInterrupt):
        analyze(_config(other, out), progress=False)
    assert _digests(out) == before  # the earlier complete set is untouched, nothing mixed in
    umask = os.umask(0)
    os.umask(umask)
    for name in OUTPUT_FILES:  # published with the usual permissions (one chmod, in fileio)
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES, ".stemtf-work"])


def test_failing_run_keeps_another_scans_results(small, tmp_path):
    out = tmp_path / "out"
    code, text = _run(small[0], "--out", out, *CAL)
    assert code == 0, text
    before = _digests(out)
    bad = small[1].astype(np.float32)
    bad[3, 2, 5, 5] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    code, text = _run(tmp_path / "nan.npy", "--out", out, *CAL, "--chunk", 7, "--sample", 4)
    assert code == 2 and "holds nan" in text, text
    assert _digests(out) == before


def test_temporary_files_of_a_killed_run_are_removed(small, tmp_path):
    out = tmp_path / "out"
    analyze(_config(small[0], out, chunk_dps=14), progress=False)
    left = [
        out / ".stemtf-tmp-results-k1ll3d.h5",  # as atomic_path names them
        out / ".stemtf-tmp-report-k1ll3d.html",
        out / ".stemtf-work" / "chunks" / ".stemtf-tmp-chunk_000001-k1ll3d.npz",
        out / ".stemtf-work" / "publish" / ".stemtf-tmp-results-k1ll3d.h5",
    ]
    for p in left:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\0" * 64)
    keep = out / "notes.txt"
    keep.write_text("mine")
    result = analyze(_config(small[0], out, chunk_dps=14), progress=False)
    assert result.summary["resumed"] is True
    assert not [p for p in left if p.exists()]
    assert keep.read_text() == "mine"


def test_constant_scan_names_no_internal_parameter(tmp_path):
    np.save(tmp_path / "flat.npy", np.full((3, 4, 32, 32), 5.0, np.float32))
    code, text = _run(tmp_path / "flat.npy", "--out", tmp_path / "out", *CAL)
    assert code == 2, text
    assert "flat.npy: all 12 sampled patterns are constant" in text
    assert "sample_dps" not in text and "Traceback" not in text


def test_chunk_zero_is_refused(small, tmp_path):
    code, text = _run(small[0], "--out", tmp_path, *CAL, "--chunk", 0)
    assert code == 2 and "--chunk=0 is out of range: allowed 1 patterns" in text, text


def test_analyze_and_simulate_accept_the_same_energies():
    from stemtf.simulate import SimulationConfig

    for keV in (20.0, 1000.0):
        AnalyzeConfig("x.npy", "out", energy_eV=keV * 1e3)
        SimulationConfig(energy_eV=keV * 1e3)
    for keV in (10.0, 1100.0):
        with pytest.raises(InputError, match="allowed 20.0 keV to 1000.0 keV"):
            AnalyzeConfig("x.npy", "out", energy_eV=keV * 1e3)
        with pytest.raises(InputError, match="out of range"):
            SimulationConfig(energy_eV=keV * 1e3)


def test_symlink_loop_is_named(tmp_path):
    (tmp_path / "a.npy").symlink_to(tmp_path / "b.npy")
    (tmp_path / "b.npy").symlink_to(tmp_path / "a.npy")
    code, text = _run(tmp_path / "a.npy", "--out", tmp_path / "out", *CAL)
    assert code == 2 and "is a symbolic link loop" in text and "does not exist" not in text


def test_summary_and_report_list_all_five_labels(small, tmp_path):
    result = analyze(_config(small[0], tmp_path), progress=False)
    names = ["none", "O3", "O1", "both", "unassigned"]
    assert result.summary["label_names"] == names
    assert list(result.summary["label_codes"].values()) == names
    assert list(result.summary["phase_counts"]) == names
    html = (tmp_path / "report.html").read_text()
    assert all(f"fraction {n}" in html for n in names)
    for heading in ("Phase model", "Provenance"):  # readable tables, collapsed, no raw JSON
        assert f"<details><summary>{heading}</summary>\n<table>" in html
    assert (
        '{"' not in html and "<th>label_names</th><td>none, O3, O1, both, unassigned</td>" in html
    )


def test_summary_counts_the_patterns_each_scan_context_step_labelled(tmp_path):
    """At 1 % of the counts (two grains, ~8 counts per Bragg spot) the scan context labels
    patterns the spot finder could not: summary.json counts, per step, the patterns each one
    labelled or re-labelled, and every pattern whose final label differs from the per-pattern
    identification is among them."""
    from stemtf.analysis.plan import RELABEL_STEPS
    from stemtf.phase import Calibration, PhaseModel, identify_phases

    rng = np.random.default_rng(5)
    kinds = ["o3"] * 4 + ["none"] + ["o1"] * 4  # two grains across the columns
    clean = np.stack([[pattern(kinds[c], rng) for c in range(9)] for _ in range(9)])
    sparse = rng.binomial(clean.astype(np.int64), 0.01).astype(np.uint16)
    path = tmp_path / "sparse.npy"
    np.save(path, sparse)
    out = tmp_path / "out"
    summary = analyze(_config(path, out), progress=False).summary
    steps = summary["relabelled_by_step"]
    assert list(steps) == list(RELABEL_STEPS)
    assert all(isinstance(v, int) and 0 <= v <= 81 for v in steps.values())
    with h5py.File(out / "results.h5") as f:
        final = f["labels"][...].ravel()
        model = PhaseModel.from_dict(json.loads(f["phase_model"].attrs["json"]))
    cal = Calibration.from_dict(summary["calibration"])
    alone = identify_phases(sparse.reshape(81, 96, 96).astype(np.float32), cal, model).labels
    changed = int((alone != final).sum())
    assert steps["scan_context"] > 0 and sum(steps.values()) >= changed > 0
    o3_grain = np.tile(np.arange(9) < 4, 9)
    missed = o3_grain & (alone == 0)
    assert missed.any() and np.all(final[missed] == 1)  # the context gave them their grain's O3
    assert np.all(final[np.tile(np.arange(9) == 4, 9)] == 0)  # the vacuum column stays none
    html = (out / "report.html").read_text()
    assert f"<th>labelled by scan context</th><td>{steps['scan_context']}</td>" in html
