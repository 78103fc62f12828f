import h5py
import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.shards import TABLE_COLUMNS, read_shard, write_shard

ATTRS = {"energy_eV": 200e3, "semiangle_mrad": 1.0, "q_sampling_invA": 0.0125}


def _table(n):
    return {
        "material_id": "nmc811-o3",
        "formula": "LiNiO2",
        "spacegroup_symbol": "R-3m",
        "spacegroup_number": 166,
        "zone_axis": [0, 0, 1],
        "thickness_A": np.linspace(50, 200, n),
        "tilt_mrad": [0.0, 0.0],
        "rotation_deg": 0.0,
        "seed": np.arange(n),
    }


def _patterns(n, h=13, w=17, seed=0):
    p = np.random.default_rng(seed).random((n, h, w)).astype(np.float32)
    return p / p.sum(axis=(1, 2), keepdims=True)


def test_round_trip(tmp_path):
    p = _patterns(3)
    path = write_shard(tmp_path / "s.h5", p, _table(3), ATTRS)
    s = read_shard(path)
    np.testing.assert_allclose(s.patterns, p)
    assert len(s) == 3 and s.q_sampling_invA == 0.0125
    assert set(s.table) == set(TABLE_COLUMNS)
    assert s.table["material_id"].tolist() == ["nmc811-o3"] * 3
    assert s.table["zone_axis"].shape == (3, 3)
    np.testing.assert_array_equal(s.table["seed"], [0, 1, 2])
    assert s.attrs["energy_eV"] == 200e3
    with h5py.File(path) as f:
        assert f["patterns"].attrs["q_sampling_invA"] == 0.0125


def test_refuses_unnormalised_and_leaves_no_file(tmp_path):
    with pytest.raises(InputError, match="sum to 1"):
        write_shard(tmp_path / "s.h5", _patterns(2) * 2, _table(2), ATTRS)
    assert list(tmp_path.iterdir()) == []


def test_truncated_shard_is_named(tmp_path):
    path = write_shard(tmp_path / "s.h5", _patterns(4, 64, 64), _table(4), ATTRS)
    data = path.read_bytes()
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="bad.h5"):
        read_shard(bad)


def test_wrong_column_shape_refused(tmp_path):
    path = write_shard(tmp_path / "s.h5", _patterns(2), _table(2), ATTRS)
    with h5py.File(path, "a") as f:
        del f["table/seed"]
        f["table/seed"] = np.arange(5)
    with pytest.raises(InputError, match="seed"):
        read_shard(path)
