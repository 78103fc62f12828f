"""Detector binning for the analysis: counts kept exactly, shapes, lazy reads, the factor chosen."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.io import open_scan
from stemtf.io.binning import (
    MAX_WORK_DISK_RADIUS_PX,
    BinnedSource,
    ScaledSource,
    analysis_binning,
    binned_scan,
    electron_scan,
)


def _counts(shape, seed=0):
    return np.random.default_rng(seed).poisson(3.0, size=shape).astype(np.uint16)


def test_binned_blocks_hold_the_sum_of_their_pixels():
    d = _counts((2, 3, 10, 12))
    b = BinnedSource(d, 2)
    assert b.shape == (2, 3, 5, 6) and b.unbinned_shape == d.shape
    out = b[:, :, :, :]
    assert out.dtype == np.float32
    for y in range(5):
        for x in range(6):
            np.testing.assert_array_equal(
                out[..., y, x], d[..., 2 * y : 2 * y + 2, 2 * x : 2 * x + 2].sum(axis=(-2, -1))
            )
    assert out.sum() == d.sum()  # nothing lost where the detector divides evenly


def test_odd_detector_drops_only_the_incomplete_last_row_and_column():
    d = _counts((1, 2, 11, 9), seed=1)
    b = BinnedSource(d, 3)
    assert b.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(b[0:1, 1:2].sum(), d[0:1, 1:2, :9, :9].sum())
    # a partial index (rows only, or an integer row) behaves as on the unbinned array
    assert b[0].shape == (2, 3, 3) and b[0:1, 1:2, 1:, :2].shape == (1, 1, 2, 2)


def test_binned_scan_scales_the_q_sampling_and_reads_lazily_from_the_file(tmp_path):
    d = _counts((3, 4, 16, 16), seed=2)
    np.save(tmp_path / "s.npy", d)
    scan = open_scan(tmp_path / "s.npy")
    scan = dataclasses.replace(scan, metadata=scan.metadata.with_overrides(q_sampling_invA=0.005))
    binned = binned_scan(scan, 4)
    assert binned.shape == (3, 4, 4, 4)
    assert binned.metadata.q_sampling_invA == pytest.approx(0.02)
    assert "binned 4x4" in binned.metadata.origin["q_sampling_invA"]
    block = binned.read(slice(1, 3), slice(0, 2))
    np.testing.assert_array_equal(
        block, d[1:3, 0:2].reshape(2, 2, 4, 4, 4, 4).sum(axis=(3, 5)).astype(np.float32)
    )
    # the dask workers receive the source pickled
    again = pickle.loads(pickle.dumps(binned.source))
    np.testing.assert_array_equal(again[0:1, 0:1], binned.read(slice(0, 1), slice(0, 1)))
    assert binned_scan(scan, 1) is scan


def test_binning_is_chosen_from_the_disk_radius():
    assert analysis_binning(3.2, (128, 128)) == 1
    assert analysis_binning(7.7, (256, 256)) == 1  # the field benchmark's 256 px camera
    assert analysis_binning(MAX_WORK_DISK_RADIUS_PX, (256, 256)) == 1
    # past the range: the radius brought nearest 5 px
    assert analysis_binning(10.2, (256, 256)) == 2  # 256 px, 0.0078 1/A/px, 2 mrad at 200 kV
    assert analysis_binning(15.9, (512, 512)) == 3  # 512 px, 0.005 1/A/px, 2 mrad
    assert analysis_binning(30.0, (512, 512)) == 6
    assert analysis_binning(30.0, (64, 64)) == 2  # never below 32 px a side
    with pytest.raises(InputError, match="disk radius"):
        analysis_binning(float("nan"), (64, 64))
    with pytest.raises(InputError, match="binning 20 is not allowed for a 16x16"):
        BinnedSource(np.zeros((1, 1, 16, 16)), 20)


def test_electron_scan_divides_the_values_and_reads_lazily_from_the_file(tmp_path):
    d = _counts((3, 4, 8, 8), seed=3) * np.uint16(5)  # 5 detector values per electron
    np.save(tmp_path / "s.npy", d)
    scan = open_scan(tmp_path / "s.npy")
    electrons = electron_scan(scan, 5.0)
    assert electrons.shape == scan.shape and electrons.metadata == scan.metadata
    block = electrons.read(slice(0, 2), slice(1, 3))
    assert block.dtype == np.float32
    np.testing.assert_array_equal(block, (d[0:2, 1:3] // 5).astype(np.float32))
    again = pickle.loads(pickle.dumps(electrons.source))  # as the dask workers receive it
    np.testing.assert_array_equal(again[2:3, 0:1], electrons.read(slice(2, 3), slice(0, 1)))
    assert electron_scan(scan, 1.0) is scan
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(InputError, match="counts_per_electron"):
            ScaledSource(d, bad)
