"""`stemtf analyze` end to end: output contract, axes, ROI, resume, bad input, real files."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from stemtf.cli import app

sys.path.insert(0, str(Path(__file__).parent))
from scene import Q_SAMPLING_INVA, scene  # noqa: E402

CAL = ["--q-sampling-invA", str(Q_SAMPLING_INVA), "--energy-keV", "200", "--semiangle-mrad", "1.0"]
OUTPUTS = ("results.h5", "phase_map.png", "summary.json", "report.html")


@dataclass
class Ran:
    exit_code: int
    output: str


def _run(*args) -> Ran:
    """Run the command as the console script does (StemtfApp's one-line errors included)."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            app(["analyze", *map(str, args), "--no-progress"], prog_name="stemtf")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Ran(code, out.getvalue())


@pytest.fixture(scope="module")
def odd_scan(tmp_path_factory):
    data, truth, beam = scene((13, 17))
    path = tmp_path_factory.mktemp("scan") / "odd.npy"
    np.save(path, data)
    return path, truth, beam


@pytest.fixture(scope="module")
def odd_result(odd_scan, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "full"
    result = _run(odd_scan[0], "--out", out, *CAL, "--chunk", 40)
    assert result.exit_code == 0, result.output
    return out


def test_contract_vacuum_scan(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.poisson(0.5, size=(5, 7, 64, 64)).astype("float32")
    d[..., 32, 32] += 500
    np.save(tmp_path / "tiny.npy", d)
    result = _run(
        tmp_path / "tiny.npy",
        "--out",
        tmp_path / "out",
        "--denoise",
        "none",
        "--q-sampling-invA",
        "0.0125",
        "--energy-keV",
        "200",
        "--semiangle-mrad",
        "1.0",
    )
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).is_file()
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert f["labels"].shape == (5, 7) and f["labels"].dtype == np.uint8
        assert f["confidence"].shape == (5, 7) and f["confidence"].dtype == np.float32
        assert not f["labels"][...].any()  # vacuum: all none
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["phase_fractions"]["none"] == 1.0


def test_odd_scan_keeps_axes_and_labels(odd_scan, odd_result):
    _, truth, beam = odd_scan
    with h5py.File(odd_result / "results.h5") as f:
        labels = f["labels"][...]
        assert labels.shape == (13, 17)
        np.testing.assert_array_equal(labels, truth)
        assert f["confidence"].shape == (13, 17)
        assert np.all((f["confidence"][...] >= 0) & (f["confidence"][...] <= 1))
        overview = f["virtual/overview_bf"][...]
        assert overview.shape == (13, 17) and f["virtual/bf"].shape == (13, 17)
        assert np.corrcoef(overview.ravel(), beam.ravel())[0, 1] > 0.99
        hexes = f["hexagons"][...]
        assert len(hexes) >= np.count_nonzero(truth)
        # every hexagon sits at a pattern that holds a phase, with matching row/col/dp_index
        assert np.all(truth[hexes["row"], hexes["col"]] > 0)
        np.testing.assert_array_equal(hexes["dp_index"], hexes["row"] * 17 + hexes["col"])
        prov = f["provenance"].attrs
        assert prov["stemtf_version"] and len(prov["input_sha256"]) == 64
        assert json.loads(prov["config"])["chunk_dps"] == 40
        assert f["calibration"].attrs["q_sampling_invA"] == pytest.approx(Q_SAMPLING_INVA)
    summary = json.loads((odd_result / "summary.json").read_text())
    expected = {k: int(np.count_nonzero(truth == i)) for i, k in enumerate(("none", "O3", "O1"))}
    assert summary["phase_counts"] == {**expected, "both": 0, "unassigned": 0}
    with h5py.File(odd_result / "results.h5") as f:
        assert json.loads(f["labels"].attrs["label_names"]) == [
            "none",
            "O3",
            "O1",
            "both",
            "unassigned",
        ]
    assert summary["dps_per_s"] > 0
    html = (odd_result / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "http" not in html.split("<body>")[1]


def test_roi_window(odd_scan, tmp_path):
    path, truth, _ = odd_scan
    result = _run(path, "--out", tmp_path, *CAL, "--roi", 2, 9, 3, 11, "--chunk", 16)
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "results.h5") as f:
        np.testing.assert_array_equal(f["labels"][...], truth[2:9, 3:11])
        assert f["virtual/overview_bf"].shape == (13, 17)
        assert list(f.attrs["roi_y0_y1_x0_x1"]) == [2, 9, 3, 11]
    bad = _run(path, "--out", tmp_path / "bad", *CAL, "--roi", 0, 14, 0, 5)
    assert bad.exit_code == 2
    assert "--roi 0 14 0 5 is out of range: the scan is 13 x 17" in bad.output


def test_resume_skips_done_chunks(odd_scan, odd_result, tmp_path):
    import shutil

    out = tmp_path / "resume"
    shutil.copytree(odd_result, out)
    chunks = sorted((out / ".stemtf-work" / "chunks").glob("*.npz"))
    assert len(chunks) == 7  # 13 rows, 2 rows (34 patterns) per chunk with --chunk 40
    for name in OUTPUTS:  # as after a kill: no final files, some chunks missing
        (out / name).unlink()
    for c in chunks[3:]:
        c.unlink()
    kept = {c: c.stat().st_mtime_ns for c in chunks[:3]}
    result = _run(odd_scan[0], "--out", out, *CAL, "--chunk", 40)
    assert result.exit_code == 0, result.output
    assert all(c.stat().st_mtime_ns == t for c, t in kept.items())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True
    with h5py.File(out / "results.h5") as a, h5py.File(odd_result / "results.h5") as b:
        np.testing.assert_array_equal(a["labels"][...], b["labels"][...])
        np.testing.assert_array_equal(a["confidence"][...], b["confidence"][...])
        assert len(a["hexagons"]) == len(b["hexagons"])
    # another seed is another run: the old work is discarded, not mixed in
    result = _run(odd_scan[0], "--out", out, *CAL, "--chunk", 40, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["resumed"] is False


def test_chunks_of_a_version_with_other_steps_are_not_resumed(odd_scan, odd_result, tmp_path):
    """Chunks written by a stemtf with other scan-context steps hold other labels (and per-step
    counts of another length): the run starts over instead of mixing them in."""
    import shutil

    out = tmp_path / "old"
    shutil.copytree(odd_result, out)
    state_path = out / ".stemtf-work" / "state.json"
    state = json.loads(state_path.read_text())
    assert state["key"]["relabel_steps"][-1] == "vacuum_calls"
    state["key"]["relabel_steps"] = state["key"]["relabel_steps"][:-1]  # an older version
    state_path.write_text(json.dumps(state))
    for name in OUTPUTS:
        (out / name).unlink()
    result = _run(odd_scan[0], "--out", out, *CAL, "--chunk", 40)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["resumed"] is False


def test_chunks_of_other_sources_under_the_same_version_are_not_resumed(
    odd_scan, odd_result, tmp_path
):
    """A threshold changed in a commit leaves ``__version__`` as it was: the sources' digest in
    the resume key still starts the run over, and the run records the digest it ran with."""
    import shutil

    from stemtf.provenance import source_sha256

    out = tmp_path / "edited"
    shutil.copytree(odd_result, out)
    state_path = out / ".stemtf-work" / "state.json"
    state = json.loads(state_path.read_text())
    assert state["key"]["stemtf_source_sha256"] == source_sha256()
    state["key"]["stemtf_source_sha256"] = "0" * 64  # chunks written by other sources
    state_path.write_text(json.dumps(state))
    for name in OUTPUTS:
        (out / name).unlink()
    result = _run(odd_scan[0], "--out", out, *CAL, "--chunk", 40)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is False
    assert summary["stemtf_source_sha256"] == source_sha256()
    with h5py.File(out / "results.h5") as f:
        assert f["provenance"].attrs["stemtf_source_sha256"] == source_sha256()


def test_failure_mid_run_leaves_no_final_files(odd_scan, tmp_path):
    data = np.load(odd_scan[0]).astype(np.float32)
    data[7, 4, 10, 11] = np.nan
    np.save(tmp_path / "nan.npy", data)
    result = _run(
        tmp_path / "nan.npy",
        "--out",
        tmp_path / "out",
        *CAL,
        "--chunk",
        17,
        "--sample",
        60,
        "--seed",
        3,
    )
    assert result.exit_code == 2
    assert "pattern at scan position (7, 4) holds nan" in result.output
    assert not any((tmp_path / "out" / n).exists() for n in OUTPUTS)
    # one-row chunks run in order; the first to see row 7 is row 5's (its context halo reaches
    # two rows on): rows 0-4 are kept
    assert len(list((tmp_path / "out" / ".stemtf-work" / "chunks").glob("*.npz"))) == 5


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: np.full((3, 4, 32, 32), -1.0, np.float32), "negative count -1"),
        (lambda: np.zeros((3, 4, 32, 32), np.float32), "sampled patterns are zero"),
        (lambda: np.ones((12, 32, 32), np.float32), "is not 4D"),
    ],
)
def test_bad_arrays_one_line(tmp_path, make, message):
    np.save(tmp_path / "x.npy", make())
    result = _run(tmp_path / "x.npy", "--out", tmp_path / "out", *CAL)
    assert result.exit_code == 2
    assert message in result.output and "x.npy" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "results.h5").exists()


def test_detector_too_small_for_the_rings_is_reported(tmp_path):
    # a clear beam on a 24 px detector: the {110} rings at ~35 px from the beam cannot be on it.
    # The outside analyze contract (a vacuum 5x7 scan on 64 px at 0.0125 1/A, rings at 56 px)
    # must still succeed, so this is a warning the user cannot miss, not a refusal: the last
    # stderr line, summary.json and the report say it.
    rng = np.random.default_rng(0)
    data = rng.poisson(0.5, (3, 4, 24, 24)).astype(np.float32)
    data[:, :, 11:13, 11:13] += 500.0
    np.save(tmp_path / "small_det.npy", data)
    result = _run(tmp_path / "small_det.npy", "--out", tmp_path / "out", *CAL, "--denoise", "none")
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("warning: detector 24x24 px is too small for the phase rings"), last
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("too small" in w for w in summary["warnings"])
    assert "too small for the phase rings" in (tmp_path / "out" / "report.html").read_text()
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert not f["labels"][...].any()


def test_corrupt_file(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not a 4D array")
    result = _run(tmp_path / "bad.npy", "--out", tmp_path / "out", "--denoise", "none")
    assert result.exit_code == 2 and "bad.npy: not a NumPy .npy file" in result.output
    assert "pickle" not in result.output


def test_bad_options(odd_scan, tmp_path):
    result = _run(odd_scan[0], "--out", tmp_path, *CAL, "--phases", "nmc811-o3,nmc811-o3")
    assert (
        result.exit_code == 2 and "--phases='nmc811-o3,nmc811-o3' is not allowed" in result.output
    )
    result = _run(odd_scan[0], "--out", tmp_path, *CAL, "--denoise", tmp_path / "no-model")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_real_blockfile_labelled_none(realdata, tmp_path):
    f = realdata / "astar_precession_3x2.blo"
    result = _run(f, "--out", tmp_path / "a")
    assert result.exit_code == 2
    assert "calibration cannot be inferred" in result.output and "--semiangle-mrad" in result.output
    result = _run(f, "--out", tmp_path / "b", "--semiangle-mrad", "1.0")
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "b" / "results.h5") as h:
        assert h["labels"].shape == (3, 2) and not h["labels"][...].any()
        assert h["provenance"].attrs["input_format"] == "rsciio:Blockfile"
    # with a 1.5 mrad probe this crystal's ring lies 6 % inside O3 {110} at 12 sigma in the
    # mean radial profile: no hexagon of the phases confirms it, so the pixel size stands
    result = _run(f, "--out", tmp_path / "c", "--semiangle-mrad", "1.5")
    assert result.exit_code == 0, result.output
    assert "off the radii" not in result.output and "no hexagon" in result.output
    history = json.loads((tmp_path / "c" / "summary.json").read_text())["phase_model_history"]
    assert any("another crystal's ring" in h for h in history)


def test_real_merlin(realdata, tmp_path):
    f = realdata / "001_4x2_6bit.mib"
    result = _run(f, "--out", tmp_path / "a")
    assert result.exit_code == 2
    assert "001_4x2_6bit.mib: calibration cannot be inferred" in result.output
    result = _run(
        f,
        "--out",
        tmp_path / "b",
        "--energy-keV",
        "300",
        "--semiangle-mrad",
        "1",
        "--q-sampling-invA",
        "0.01",
    )
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "b" / "results.h5") as h:
        assert h["labels"].shape == (2, 4) and not h["labels"][...].any()


def test_hdf5_calibration_from_file(odd_scan, tmp_path):
    from stemtf.io import ScanMetadata, write_scan_hdf5

    path, truth, _ = odd_scan
    md = ScanMetadata(q_sampling_invA=Q_SAMPLING_INVA, energy_eV=200e3, semiangle_mrad=1.0)
    write_scan_hdf5(tmp_path / "s.emd", np.load(path, mmap_mode="r")[:5], md)
    with h5py.File(tmp_path / "s.emd", "a") as f:  # a second 4D dataset: the path must be named
        f.create_dataset("extra/cube", data=np.zeros((2, 2, 4, 4), np.uint8))
    result = _run(tmp_path / "s.emd", "--out", tmp_path / "a")
    assert result.exit_code == 2 and "--dataset-path" in result.output
    result = _run(tmp_path / "s.emd", "--out", tmp_path / "b", "--dataset-path", "/data/scan/data")
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "b" / "results.h5") as f:
        np.testing.assert_array_equal(f["labels"][...], truth[:5])
        origin = json.loads(f["provenance"].attrs["file_metadata"])["origin"]
        assert origin["q_sampling_invA"].startswith("file:")


def test_counts_per_electron_divides_the_values_out(odd_scan, tmp_path):
    # the same electrons recorded at 8 detector values each: with the gain given, the map is
    # the electron map to the last label (8 divides exactly in float32)
    path, truth, _ = odd_scan
    scaled = tmp_path / "adu.npy"
    np.save(scaled, np.load(path) * np.float32(8.0))
    base = _run(path, "--out", tmp_path / "e", *CAL, "--denoise", "none")
    assert base.exit_code == 0, base.output
    result = _run(
        scaled, "--out", tmp_path / "g", *CAL, "--denoise", "none", "--counts-per-electron", 8
    )
    assert result.exit_code == 0, result.output
    with (
        h5py.File(tmp_path / "e" / "results.h5") as e,
        h5py.File(tmp_path / "g" / "results.h5") as g,
    ):
        assert np.array_equal(e["labels"][...], g["labels"][...])
        assert np.array_equal(e["confidence"][...], g["confidence"][...])
        assert (e["labels"][...] == truth).mean() > 0.9  # a map worth comparing
    summary = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert summary["counts_per_electron"] == 8.0
    assert "detector values per electron" in (tmp_path / "g" / "report.html").read_text()
    bad = _run(path, "--out", tmp_path / "b", *CAL, "--counts-per-electron", 0)
    assert bad.exit_code == 2 and "--counts-per-electron=0.0 is out of range" in bad.output


def test_normalised_patterns_are_named_as_not_electron_counts(odd_scan, tmp_path):
    path, _, _ = odd_scan
    data = np.load(path)
    norm = tmp_path / "norm.npy"  # each pattern divided by its sum, as some toolkits store them
    np.save(norm, (data / data.sum(axis=(2, 3), keepdims=True)).astype(np.float32))
    result = _run(norm, "--out", tmp_path / "n", *CAL, "--denoise", "none")
    assert result.exit_code == 0, result.output
    assert "median of 1 counts each" in result.output
    assert "give --counts-per-electron" in result.output
    warnings = json.loads((tmp_path / "n" / "summary.json").read_text())["warnings"]
    assert sum("--counts-per-electron" in w for w in warnings) == 1
    # electron counts: no such line
    plain = _run(path, "--out", tmp_path / "p", *CAL, "--denoise", "none")
    assert plain.exit_code == 0 and "--counts-per-electron" not in plain.output
