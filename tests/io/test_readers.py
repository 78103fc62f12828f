"""Readers: real detector files, round trips through files written here, bad input."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.io import ScanMetadata, check_counts, check_roi, open_scan, write_scan_hdf5


def _scan(shape=(13, 17, 19, 23), seed=0, dtype=np.uint16):
    rng = np.random.default_rng(seed)
    return rng.poisson(3.0, size=shape).astype(dtype)


def test_real_blockfile_shape_and_calibration(realdata):
    scan = open_scan(realdata / "astar_precession_3x2.blo")
    assert scan.shape == (3, 2, 144, 144)
    assert scan.dtype == np.uint8
    md = scan.metadata
    assert md.energy_eV == pytest.approx(200e3)
    assert md.scan_step_nm == pytest.approx(12.8)
    # 0.016062 cm pixel at 200 mm camera length, lambda(200 kV) = 0.025079 A
    assert md.q_sampling_invA == pytest.approx(0.16061677 / 200.0 / 0.0250793, rel=1e-4)
    block = scan.read(slice(1, 3))
    assert block.shape == (2, 2, 144, 144) and block.dtype == np.float32


def test_real_merlin_shape(realdata):
    scan = open_scan(realdata / "001_4x2_6bit.mib")
    assert scan.shape == (2, 4, 256, 256)
    assert scan.dtype == np.uint8
    assert scan.metadata.q_sampling_invA is None and scan.metadata.energy_eV is None
    again = open_scan(realdata / "001_4x2_6bit.mib", scan_shape=(2, 4))
    assert again.shape == (2, 4, 256, 256)
    frames = scan.read(slice(0, 2)).reshape(8, -1).sum(axis=1)
    assert np.all((frames > 4e5) & (frames < 5e5))  # ~450k counts per frame (README)
    # the source pickles (dask.distributed workers reopen the file)
    clone = pickle.loads(pickle.dumps(scan))
    np.testing.assert_array_equal(
        clone.read(slice(1, 2), slice(2, 4)), scan.read(slice(1, 2))[:, 2:4]
    )


def test_npy_round_trip_keeps_odd_axes(tmp_path):
    data = _scan()
    np.save(tmp_path / "s.npy", data)
    scan = open_scan(tmp_path / "s.npy")
    assert scan.shape == (13, 17, 19, 23)
    np.testing.assert_array_equal(
        scan.read(slice(2, 5), slice(3, 11)), data[2:5, 3:11].astype(np.float32)
    )
    np.testing.assert_array_equal(scan.to_dask(4).compute(), data)


def test_npy_frame_stack_with_scan_shape(tmp_path):
    data = _scan((5, 3, 8, 8))
    np.save(tmp_path / "stack.npy", data.reshape(15, 8, 8))
    with pytest.raises(InputError, match="scan-shape"):
        open_scan(tmp_path / "stack.npy")
    scan = open_scan(tmp_path / "stack.npy", scan_shape=(5, 3))
    np.testing.assert_array_equal(scan.read(slice(1, 4), slice(1, 3)), data[1:4, 1:3])
    with pytest.raises(InputError, match="Ry \\* Rx must equal 15"):
        open_scan(tmp_path / "stack.npy", scan_shape=(4, 4))


def test_emd_round_trip_with_calibration(tmp_path):
    data = _scan((3, 5, 16, 12))
    md = ScanMetadata(q_sampling_invA=0.0125, energy_eV=300e3, semiangle_mrad=1.5, scan_step_nm=2.0)
    write_scan_hdf5(tmp_path / "s.emd", data, md)
    scan = open_scan(tmp_path / "s.emd")
    assert scan.shape == (3, 5, 16, 12)
    np.testing.assert_array_equal(scan.read(slice(0, 3)), data)
    got = scan.metadata
    assert (got.q_sampling_invA, got.energy_eV, got.semiangle_mrad, got.scan_step_nm) == (
        0.0125,
        300e3,
        1.5,
        2.0,
    )
    assert scan.metadata.extra["dataset_path"] == "/data/scan/data"


def test_emd_dimension_vectors_give_q(tmp_path):
    data = _scan((2, 2, 8, 8))
    write_scan_hdf5(tmp_path / "s.h5", data, ScanMetadata(q_sampling_invA=0.02))
    with h5py.File(tmp_path / "s.h5", "a") as f:  # leave only the EMD dim vectors
        del f["data/scan"].attrs["q_sampling_invA"]
        f["data/scan/dim4"][...] = np.arange(8) * 0.2  # 0.2 1/nm = 0.02 1/A
        f["data/scan/dim4"].attrs["units"] = "1/nm"
        del f["data/scan/dim3"]
    assert open_scan(tmp_path / "s.h5").metadata.q_sampling_invA == pytest.approx(0.02)


def test_py4dstem_style_file_and_dataset_path(tmp_path):
    data = _scan((4, 3, 10, 10))
    with h5py.File(tmp_path / "p4.h5", "w") as f:
        root = f.create_group("experiment")
        root.attrs["emd_group_type"] = "root"
        cube = root.create_group("datacube")
        cube.create_dataset("data", data=data)
        cal = root.create_group("metadatabundle/calibration")
        cal.create_dataset("Q_pixel_size", data=0.25)
        cal.create_dataset("Q_pixel_units", data="mrad")
        cal.create_dataset("beam_energy_keV", data=200.0)
        cal.create_dataset("convergence_semiangle_mrad", data=0.8)
        f.create_dataset("other/cube", data=data[:2])
    with pytest.raises(InputError, match="several 4D datasets.*--dataset-path"):
        open_scan(tmp_path / "p4.h5")
    scan = open_scan(tmp_path / "p4.h5", dataset_path="/experiment/datacube/data")
    assert scan.shape == (4, 3, 10, 10)
    md = scan.metadata
    assert md.energy_eV == 200e3 and md.semiangle_mrad == 0.8
    assert md.q_sampling_invA == pytest.approx(0.25e-3 / 0.0250793, rel=1e-4)
    with pytest.raises(InputError, match="--dataset-path '/nope' is not a dataset"):
        open_scan(tmp_path / "p4.h5", dataset_path="/nope")


def test_rsciio_blockfile_round_trip(tmp_path):
    from rsciio.blockfile import file_writer

    data = _scan((3, 5, 32, 32), dtype=np.uint8)
    axes = [
        {
            "size": 3,
            "index_in_array": 0,
            "name": "y",
            "scale": 5.0,
            "offset": 0.0,
            "units": "nm",
            "navigate": True,
        },
        {
            "size": 5,
            "index_in_array": 1,
            "name": "x",
            "scale": 5.0,
            "offset": 0.0,
            "units": "nm",
            "navigate": True,
        },
        {
            "size": 32,
            "index_in_array": 2,
            "name": "dy",
            "scale": 0.01,
            "offset": 0.0,
            "units": "cm",
            "navigate": False,
        },
        {
            "size": 32,
            "index_in_array": 3,
            "name": "dx",
            "scale": 0.01,
            "offset": 0.0,
            "units": "cm",
            "navigate": False,
        },
    ]
    signal = {
        "data": data,
        "axes": axes,
        "metadata": {"General": {}, "Signal": {}},
        "original_metadata": {},
        "attributes": {"_lazy": False},
    }
    file_writer(str(tmp_path / "s.blo"), signal, show_progressbar=False)
    scan = open_scan(tmp_path / "s.blo")
    assert scan.shape == (3, 5, 32, 32)
    np.testing.assert_array_equal(scan.read(slice(0, 3)), data)


def test_rsciio_hspy_round_trip_moves_navigation_first(tmp_path):
    from rsciio.hspy import file_writer

    data = _scan((3, 5, 8, 6), dtype=np.float32)
    axes = [
        {"size": 3, "name": "y", "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": True},
        {"size": 5, "name": "x", "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": True},
        {"size": 8, "name": "qy", "scale": 0.1, "offset": 0.0, "units": "1/nm", "navigate": False},
        {"size": 6, "name": "qx", "scale": 0.1, "offset": 0.0, "units": "1/nm", "navigate": False},
    ]
    md = {
        "General": {"title": "t"},
        "Signal": {},
        "Acquisition_instrument": {"TEM": {"beam_energy": 300.0, "convergence_angle": 2.0}},
    }
    file_writer(
        str(tmp_path / "s.hspy"),
        {
            "data": data,
            "axes": axes,
            "metadata": md,
            "original_metadata": {},
            "attributes": {"_lazy": False},
            "tmp_parameters": {},
            "package_info": {"name": "stemtf", "version": "0"},
            "learning_results": {},
            "models": {},
        },
    )
    scan = open_scan(tmp_path / "s.hspy")
    assert scan.shape == (3, 5, 8, 6)
    np.testing.assert_array_equal(scan.read(slice(0, 3)), data)
    assert scan.metadata.q_sampling_invA == pytest.approx(0.01)
    assert scan.metadata.energy_eV == 300e3 and scan.metadata.semiangle_mrad == 2.0


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("text.npy", b"not a 4D array", "not a NumPy .npy file"),
        ("x.xyz", b"abc", "not supported"),
        ("broken.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 40, "not a readable HDF5"),
        ("broken.dm4", b"\0\0\0\4" + b"\1" * 60, "RosettaSciIO .* cannot read it"),
        (
            "broken.mib",
            b"MQ1,000001,00384,01,0256,0256,U08," + b"\0" * 100,
            "RosettaSciIO .* cannot read it",
        ),
        ("broken.blo", b"IMGBLO" + b"\0" * 100, "RosettaSciIO .* cannot read it"),
    ],
)
def test_corrupt_files_one_line(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=match) as info:
        open_scan(tmp_path / name)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_truncated_and_wrong_rank(tmp_path):
    np.save(tmp_path / "big.npy", _scan((4, 4, 16, 16)))
    raw = (tmp_path / "big.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="cut.npy"):
        open_scan(tmp_path / "cut.npy")
    np.save(tmp_path / "img.npy", np.ones((16, 16)))
    with pytest.raises(InputError, match=r"shape \(16, 16\) is not 4D"):
        open_scan(tmp_path / "img.npy")
    with pytest.raises(InputError, match="does not exist"):
        open_scan(tmp_path / "missing.npy")


def test_truncated_hdf5_data(tmp_path):
    write_scan_hdf5(tmp_path / "s.h5", _scan((8, 4, 32, 32)))
    raw = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(InputError, match="cut.h5"):
        scan = open_scan(tmp_path / "cut.h5")
        scan.read(slice(0, 8))


def test_count_checks_name_position():
    block = np.ones((2, 3, 4, 4), np.float32)
    check_counts(block, "f.npy")
    block[1, 2, 0, 3] = np.nan
    with pytest.raises(InputError, match=r"f.npy: pattern at scan position \(11, 2\) holds nan"):
        check_counts(block, "f.npy", row0=10)
    block[1, 2, 0, 3] = -2
    with pytest.raises(InputError, match="negative count -2"):
        check_counts(block, "f.npy")


def test_roi_check():
    assert check_roi(None, (13, 17), "f") == (0, 13, 0, 17)
    assert check_roi((1, 13, 0, 5), (13, 17), "f") == (1, 13, 0, 5)
    with pytest.raises(InputError, match=r"--roi 0 14 0 5 is out of range: the scan is 13 x 17"):
        check_roi((0, 14, 0, 5), (13, 17), "f")


def test_text_named_npy_is_not_a_numpy_file_and_never_suggests_unpickling(tmp_path):
    (tmp_path / "notes.npy").write_text("scan 7: beam 200 kV, 1 mrad\n" * 20)
    with pytest.raises(InputError) as info:
        open_scan(tmp_path / "notes.npy")
    text = str(info.value)
    assert "notes.npy: not a NumPy .npy file" in text
    assert "pickle" not in text.lower() and "\n" not in text


def test_bool_npy_is_refused_like_complex(tmp_path):
    np.save(tmp_path / "mask.npy", np.ones((2, 3, 8, 8), bool))
    with pytest.raises(
        InputError, match="dtype bool is not allowed: counts must be integer or float"
    ):
        open_scan(tmp_path / "mask.npy")


def test_missing_paths_say_why(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dangling.npy").symlink_to(tmp_path / "gone.npy")
    cases = {
        "a": "is a symbolic link loop",
        "dangling.npy": "is a broken symbolic link",
        "missing.npy": "does not exist",
        ".": "is a folder, not a file",
    }
    for name, why in cases.items():
        with pytest.raises(InputError, match=why):
            open_scan(tmp_path / name)


def test_random_blockfile_is_not_reported_as_out_of_memory(tmp_path):
    # random bytes after a Blockfile-like name: the header describes an absurd array; the user
    # must hear "not a readable blockfile", not "MemoryError ... TiB"
    rng = np.random.default_rng(3)
    (tmp_path / "random.blo").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as info:
        open_scan(tmp_path / "random.blo")
    text = str(info.value)
    assert "MemoryError" not in text and "iB" not in text, text
    assert "random.blo: not a blockfile file" in text and "\n" not in text
