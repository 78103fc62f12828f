"""`stemtf simulate` (single and batch), shards, resume, preview and bad input."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from stemtf.shards import read_shard
from stemtf.simulate import simulate_batch

FAST = ["--thickness-A", "20", "--thickness-A", "40", "--sampling-A", "0.15"]


def test_single_shard_contract(tmp_path, invoke):
    out = tmp_path / "o1.h5"
    png = tmp_path / "o1.png"
    code, output = invoke(
        [
            "-q",
            "simulate",
            "--material",
            "nmc811-o1",
            "--zone-axis",
            "0",
            "0",
            "1",
            "--out",
            str(out),
            "--detector-px",
            "64",
            "--preview",
            str(png),
            *FAST,
        ]
    )
    assert code == 0, output
    with h5py.File(out) as f:
        assert f["patterns"].shape == (2, 64, 64)
        assert f["patterns"].attrs["q_sampling_invA"] == pytest.approx(0.0125)
        for key in (
            "energy_eV",
            "semiangle_mrad",
            "abtem_version",
            "stemtf_version",
            "cell_strain",
            "simulation_config_json",
        ):
            assert key in f.attrs
    shard = read_shard(out)
    assert shard.table["material_id"].tolist() == ["nmc811-o1"] * 2
    assert shard.table["zone_axis"].tolist() == [[0, 0, 1]] * 2
    assert shard.attrs["energy_eV"] == 200e3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".stemtf-tmp")]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--material", "no-such-thing", "--zone-axis", "0", "0", "1"], "no-such-thing"),
        (["--material", "nmc811-o3", "--zone-axis", "0", "0", "0"], "zone_axis"),
        (
            ["--material", "nmc811-o3", "--zone-axis", "0", "0", "1", "--thickness-A", "-5"],
            "--thickness-A",
        ),
        (
            ["--material", "nmc811-o3", "--zone-axis", "0", "0", "1", "--thickness-A", "0"],
            "--thickness-A",
        ),
        (
            ["--material", "nmc811-o3", "--zone-axis", "0", "0", "1", "--detector-px", "0"],
            "--detector-px",
        ),
        (
            ["--material", "nmc811-o3", "--zone-axis", "0", "0", "1", "--energy-keV", "10"],
            "--energy-keV",
        ),
        (
            ["--material", "nmc811-o3", "--zone-axis", "0", "0", "1", "--energy-keV", "1500"],
            "--energy-keV",
        ),
        (["--zone-axis", "0", "0", "1"], "--material"),
    ],
)
def test_bad_input_is_one_line_no_file(tmp_path, args, needle, invoke):
    out = tmp_path / "x.h5"
    code, output = invoke(["simulate", "--out", str(out), *args])
    assert code == 2, output
    assert output.startswith("error: ") and needle in output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(tmp_path, invoke):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, output = invoke(
        [
            "simulate",
            "--material",
            "nmc811-o3",
            "--zone-axis",
            "0",
            "0",
            "1",
            "--out",
            str(blocker / "sub" / "x.h5"),
            *FAST,
        ]
    )
    assert code == 2 and "cannot be created" in output and len(output.strip().splitlines()) == 1
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("permission bits are not enforced for this user")
        code, output = invoke(
            [
                "simulate",
                "--material",
                "nmc811-o3",
                "--zone-axis",
                "0",
                "0",
                "1",
                "--out",
                str(ro / "x.h5"),
                *FAST,
            ]
        )
        assert code == 2 and "not writable" in output
    finally:
        ro.chmod(0o700)


def test_batch_writes_one_shard_per_zone_axis_and_resumes(tmp_path, tiny_config):
    paths = simulate_batch(
        ["nmc811-rocksalt"], zone_axes=2, config=tiny_config, out_dir=tmp_path, progress=False
    )
    names = sorted(p.name for p in paths)
    assert names == ["nmc811-rocksalt__1_0_0.h5", "nmc811-rocksalt__1_1_0.h5"]
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    first = read_shard(paths[0])
    again = simulate_batch(
        "nmc811-rocksalt", zone_axes=2, config=tiny_config, out_dir=tmp_path, progress=False
    )
    assert {p: p.stat().st_mtime_ns for p in again} == mtimes  # skipped, not redone
    paths[0].unlink()
    simulate_batch(
        "nmc811-rocksalt", zone_axes=2, config=tiny_config, out_dir=tmp_path, progress=False
    )
    np.testing.assert_array_equal(
        read_shard(paths[0]).patterns, first.patterns
    )  # same seed, same shard


def test_cli_batch_form(tmp_path, invoke):
    code, output = invoke(
        [
            "-q",
            "simulate",
            "--materials",
            "nmc811-rocksalt",
            "--zone-axes",
            "1",
            "--out",
            str(tmp_path / "shards"),
            "--no-progress",
            *FAST,
        ]
    )
    assert code == 0, output
    assert [p.name for p in (tmp_path / "shards").iterdir()] == ["nmc811-rocksalt__1_0_0.h5"]
    code, output = invoke(
        [
            "simulate",
            "--materials",
            "nmc811-o3,bogus",
            "--zone-axes",
            "1",
            "--out",
            str(tmp_path / "s2"),
            *FAST,
        ]
    )
    assert code == 2 and "bogus" in output


@pytest.mark.slow
def test_batch_on_a_local_dask_cluster_matches_in_process(tmp_path, tiny_config):
    """Two materials on a 2-worker LocalCluster give the same shards as the in-process run."""
    local = simulate_batch(
        ["nmc811-o1"], zone_axes=1, config=tiny_config, out_dir=tmp_path / "a", progress=False
    )
    dist = simulate_batch(
        ["nmc811-o1", "nmc811-rocksalt"],
        zone_axes=1,
        config=tiny_config,
        out_dir=tmp_path / "b",
        progress=False,
        n_workers=2,
    )
    assert len(dist) == 2
    other = next(p for p in dist if p.name == local[0].name)
    np.testing.assert_array_equal(read_shard(other).patterns, read_shard(local[0]).patterns)


def test_unreachable_scheduler_fails_fast_with_one_line(tmp_path, tiny_config):
    from stemtf.errors import InputError

    with pytest.raises(InputError, match="scheduler='tcp://127.0.0.1:1' cannot be reached"):
        simulate_batch(
            ["nmc811-o1", "nmc811-rocksalt"],
            zone_axes=1,
            config=tiny_config,
            out_dir=tmp_path,
            scheduler="tcp://127.0.0.1:1",
            progress=False,
        )


@pytest.mark.slow
def test_batch_on_a_scheduler_address(tmp_path, tiny_config):
    """--scheduler ADDRESS: work goes to an existing dask.distributed cluster."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        paths = simulate_batch(
            ["nmc811-o1", "nmc811-rocksalt"],
            zone_axes=1,
            config=tiny_config,
            out_dir=tmp_path,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert sorted(p.name for p in paths) == ["nmc811-o1__1_0_0.h5", "nmc811-rocksalt__1_0_0.h5"]
    assert all(len(read_shard(p)) == 2 for p in paths)
