"""scripts/bench_geometry.py: geometry parsing, disk radii, one scan end to end, its table."""

from __future__ import annotations

import argparse

import pytest

from .conftest import kinematic_library_for


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench_geometry")


def test_geometries_parse_and_bad_ones_are_refused(bench):
    assert bench.parse_geometry("512:0.005:2.0") == (512, 0.005, 2.0, 200e3)
    assert bench.parse_geometry("256:0.0078:1.5:300") == (256, 0.0078, 1.5, 300e3)
    for bad in ("512:0.005", "x:0.005:2", "16:0.005:2", "256:0:1", "256:0.01:1:0", "1:2:3:4:5"):
        with pytest.raises(argparse.ArgumentTypeError, match="PX:Q:MRAD|not allowed"):
            bench.parse_geometry(bad)
    # 2 mrad at 200 kV is 0.0797 1/A: 15.9 px at 0.005 1/A per px
    assert bench.disk_radius_px(2.0, 200e3, 0.005) == pytest.approx(15.95, abs=0.02)


def test_one_wide_disk_scan_binned_and_compared(bench, tmp_path):
    lib = kinematic_library_for(256, 0.00625, 2.0)
    auto = bench.run_one(tmp_path, lib, 2e3, 5, (10, 10), "none", None)
    forced = bench.run_one(tmp_path, lib, 2e3, 5, (10, 10), "none", 1)
    assert auto["detector_binning"] == 3 and forced["detector_binning"] == 1
    assert auto["disk_radius_px"] == pytest.approx(12.76, abs=0.02)
    assert auto["macro_f1"] >= 0.9
    table = bench.markdown([auto, forced])
    assert table.count("\n") == 4 and "| 256 | 0.00625 | 2 | 200 | 12.8 | 2000 | 5 | 3 |" in table
