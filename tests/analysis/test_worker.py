"""One chunk through the worker with a denoiser that erases lattices the raw counts show."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from scene import DETECTOR_PX, Q_SAMPLING_INVA  # noqa: E402

N = DETECTOR_PX
C = N // 2
YY, XX = np.mgrid[:N, :N].astype(float)


#: O1's {100} hexagon, the marker [1/Å]
MARKER_INVA = 0.409


def faint_o3(rng, amp: float, rot_deg: float = 10.0, marker: float = 0.0) -> np.ndarray:
    """Beam plus O3's {110} hexagon (0.697 1/Å) of ``amp`` peak counts per px (~14 per disk
    at 1.0): a lattice a pattern's own spot finder sees, that a network may erase. ``marker``
    > 0 adds O1's {100} hexagon 30 deg on, of that peak (an O3+O1 column)."""
    img = 300.0 * np.exp(-((YY - C) ** 2 + (XX - C) ** 2) / (2 * 1.5**2)) + 0.05
    for r_inva, rot, peak in ((0.697, rot_deg, amp), (MARKER_INVA, rot_deg + 30.0, marker)):
        r = r_inva / Q_SAMPLING_INVA
        for k in range(6 if peak > 0 else 0):
            t = np.deg2rad(rot + 60 * k)
            img += peak * np.exp(
                -((YY - C - r * np.sin(t)) ** 2 + (XX - C - r * np.cos(t)) ** 2) / 4.5
            )
    return rng.poisson(img)


class EraseAllButBeam:
    """A denoiser that keeps only the transmitted beam (a network that erased every lattice)."""

    keep = np.hypot(YY - C, XX - C) <= 8.0

    def __call__(self, batch):
        return np.where(self.keep, np.asarray(batch, np.float32), 0.0).astype(np.float32)


class EraseMarker:
    """A denoiser that erases the marker ring alone (a network that lost a faint O1 {100})."""

    keep = np.abs(np.hypot(YY - C, XX - C) - MARKER_INVA / Q_SAMPLING_INVA) > 4.0

    def __call__(self, batch):
        return np.where(self.keep, np.asarray(batch, np.float32), 0.0).astype(np.float32)


def _parts(tmp_path_factory, amp: float, marker: float):
    """Isolated patterns (``faint_o3(amp, marker=marker)``) in vacuum, and what the worker needs."""
    from stemtf.analysis.virtual import VirtualDetectors
    from stemtf.io import open_scan
    from stemtf.phase import Calibration, PhaseModel

    rng = np.random.default_rng(0)
    ry, rx = 6, 7
    truth = np.array([[int((i + 2 * j) % 5 == 0) for j in range(rx)] for i in range(ry)])
    data = np.stack(
        [np.stack([faint_o3(rng, amp * t, marker=marker * t) for t in row]) for row in truth]
    )
    path = tmp_path_factory.mktemp("worker") / "s.npy"
    np.save(path, data.astype(np.uint16))
    cal = Calibration(
        q_sampling_invA=Q_SAMPLING_INVA, energy_eV=200e3, semiangle_mrad=1.0, center_yx=(C, C)
    )
    model = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])
    virtual = VirtualDetectors.from_calibration((N, N), (C, C), cal.disk_radius_px)
    return open_scan(path), truth, cal, model, virtual


@pytest.fixture(scope="module")
def task_parts(tmp_path_factory):
    """Isolated faint O3 patterns in vacuum (too faint for the scan-context steps' sums)."""
    return _parts(tmp_path_factory, 0.8, 0.0)


@pytest.fixture(scope="module")
def mixed_parts(tmp_path_factory):
    """Isolated O3+O1 patterns in vacuum: O3's {110} and O1's {100} hexagon (~40 and ~20
    counts per disk), each pattern's own spot finder sees both."""
    return _parts(tmp_path_factory, 3.0, 1.5)


def _labels(task_parts, denoise):
    from stemtf.analysis.plan import Chunk
    from stemtf.analysis.worker import ChunkTask, run_chunk

    scan, truth, cal, model, virtual = task_parts
    ry, rx = truth.shape
    chunk = Chunk(0, 0, ry, True)
    task = ChunkTask(scan, chunk, (0, ry, 0, rx), cal, model, virtual, denoise, 32, 0)
    return run_chunk(task)["labels"]


def test_raw_lattice_kept_where_the_denoiser_erased_it(task_parts, monkeypatch):
    import stemtf.analysis.worker as worker
    from stemtf.denoise import IdentityDenoiser

    truth = task_parts[1]
    o3 = truth == 1
    raw = _labels(task_parts, IdentityDenoiser())
    assert np.all(raw[~o3] == 0) and np.mean(raw[o3] == 1) >= 0.8  # the raw counts show O3
    kept = _labels(task_parts, EraseAllButBeam())
    np.testing.assert_array_equal(kept[~o3], 0)
    assert np.sum(kept[o3] == 1) >= np.sum(raw[o3] == 1)  # O3's lattice from the raw counts
    monkeypatch.setattr(worker, "KEEP_RAW_LATTICES", False)
    lost = _labels(task_parts, EraseAllButBeam())
    assert np.mean(lost[o3] == 1) < 0.5  # without: erased, and too faint for the context steps


def test_raw_marker_kept_where_the_denoiser_erased_it(mixed_parts, monkeypatch):
    import stemtf.analysis.worker as worker
    from stemtf.denoise import IdentityDenoiser

    truth = mixed_parts[1]
    mixed = truth == 1
    raw = _labels(mixed_parts, IdentityDenoiser())
    assert np.all(raw[~mixed] == 0) and np.mean(raw[mixed] == 3) >= 0.8  # raw: O3+O1
    kept = _labels(mixed_parts, EraseMarker())
    np.testing.assert_array_equal(kept[~mixed], 0)
    assert np.sum(kept[mixed] == 3) >= np.sum(raw[mixed] == 3)  # the raw counts' marker
    monkeypatch.setattr(worker, "KEEP_RAW_MARKERS", False)
    lost = _labels(mixed_parts, EraseMarker())
    assert np.mean(lost[mixed] == 1) >= 0.8  # without: O3, its marker erased
