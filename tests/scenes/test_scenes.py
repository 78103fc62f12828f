"""Synthetic scans: layout truth, rendering through the noise model, files, phase recovery."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.phase import Calibration, PhaseModel, calibrate, identify_phases
from stemtf.phase.metrics import phase_metrics
from stemtf.scenes import make_layout, read_truth, simulate_scan


def test_layout_has_every_class_and_keeps_axes():
    lay = make_layout((37, 53), np.random.default_rng(0), n_rotations=3, n_thicknesses=2)
    assert lay.labels.shape == (37, 53) and lay.labels.dtype == np.uint8
    assert set(np.unique(lay.labels)) == {0, 1, 2, 3}
    assert lay.rotation_index.max() < 3 and lay.thickness_index.max() < 2
    assert np.all(lay.o1_fraction[lay.labels == 2] == 1)
    f = lay.o1_fraction[lay.labels == 3]
    assert np.all((f > 0) & (f < 1))
    again = make_layout((37, 53), np.random.default_rng(0), n_rotations=3, n_thicknesses=2)
    assert np.array_equal(again.labels, lay.labels)
    tiny = make_layout((1, 1), np.random.default_rng(0), n_rotations=1, n_thicknesses=1)
    assert tiny.labels.shape == (1, 1)


def test_scan_file_truth_and_phase_recovery(tmp_path, kinematic_library):
    from stemtf.io import open_scan

    out = tmp_path / "scene.h5"
    scan_path, truth_path = simulate_scan(
        out, shape=(13, 17), dose_e=1e4, seed=3, library=kinematic_library
    )
    assert truth_path == tmp_path / "scene_truth.h5"
    scan = open_scan(scan_path)
    assert scan.shape == (13, 17, 96, 96)
    assert abs(scan.metadata.q_sampling_invA - kinematic_library.q_sampling_invA) < 1e-9
    data = np.asarray(scan.read(slice(0, 13)))
    labels, meta = read_truth(truth_path)
    assert labels.shape == (13, 17) and meta["dose_e"] == 1e4
    with h5py.File(truth_path) as f:
        assert f["thickness_A"].shape == (13, 17)
    # counts near the dose, leaving out the hot pixels (read as the 4095 saturation value)
    flat = data.reshape(13 * 17, -1)
    assert 0.7e4 < np.median(np.where(flat < 4095, flat, 0).sum(axis=1)) < 1.3e4
    dps = data.reshape(-1, 96, 96)
    cal = calibrate(
        dps, q_sampling_invA=scan.metadata.q_sampling_invA, energy_eV=200e3, semiangle_mrad=1.0
    )
    model = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"], cal)
    res = identify_phases(dps, cal, model)
    m = phase_metrics(res.labels.reshape(13, 17), labels)
    assert m["accuracy"] >= 0.9, m


def test_same_seed_same_scan_and_npy_output(tmp_path, kinematic_library):
    a, _ = simulate_scan(tmp_path / "a.npy", shape=(3, 4), seed=5, library=kinematic_library)
    b, _ = simulate_scan(tmp_path / "b.npy", shape=(3, 4), seed=5, library=kinematic_library)
    c, _ = simulate_scan(tmp_path / "c.npy", shape=(3, 4), seed=6, library=kinematic_library)
    x, y, z = np.load(a), np.load(b), np.load(c)
    assert x.shape == (3, 4, 96, 96) and x.dtype == np.float32
    assert np.array_equal(x, y) and not np.array_equal(x, z)


def test_noise_off_gives_expected_counts(tmp_path, kinematic_library):
    p, _ = simulate_scan(
        tmp_path / "clean.npy", shape=(2, 3), dose_e=500.0, noise=False, library=kinematic_library
    )
    sums = np.load(p).reshape(6, -1).sum(axis=1)
    np.testing.assert_allclose(sums, 500.0, rtol=1e-3)


def test_bad_arguments(tmp_path, kinematic_library):
    with pytest.raises(InputError, match="unknown scan format"):
        simulate_scan(tmp_path / "x.txt", library=kinematic_library)
    with pytest.raises(InputError):
        simulate_scan(tmp_path / "x.h5", shape=(0, 4), library=kinematic_library)
    with pytest.raises(InputError):
        simulate_scan(tmp_path / "x.h5", dose_e=0.0, library=kinematic_library)
    with pytest.raises(InputError):
        read_truth(tmp_path / "missing.h5")


def test_library_from_the_simulator_is_cached(tmp_path):
    from stemtf.scenes import build_library

    kw = dict(
        detector_px=64,
        q_sampling_invA=0.025,
        rotations_deg=(10.0,),
        thicknesses_A=(100.0,),
        cache_dir=tmp_path,
    )
    lib = build_library(**kw)
    assert lib.patterns.shape == (2, 1, 1, 64, 64)
    np.testing.assert_allclose(lib.patterns.sum(axis=(-2, -1)), 1.0, rtol=1e-4)
    assert abs(lib.vacuum.sum() - 1) < 1e-5
    assert len(list(tmp_path.glob("library-*.npz"))) == 1
    again = build_library(**kw)
    assert np.array_equal(again.patterns, lib.patterns)
    # the O1 pattern shows the 0.577 ring the O3 one lacks
    cal = Calibration(q_sampling_invA=0.025, center_yx=(32.0, 32.0))
    model = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])
    res = identify_phases(lib.patterns.reshape(2, 64, 64) * 1e5, cal, model)
    assert list(res.labels) == [1, 2]
