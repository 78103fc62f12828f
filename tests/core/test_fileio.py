import pytest

from stemtf.errors import InputError, check_positive, check_range
from stemtf.fileio import atomic_path, ensure_writable_dir


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.png"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"


def test_unwritable_dir_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot be created"):
        ensure_writable_dir(blocker / "inside")


def test_range_checks_name_parameter():
    assert check_range("energy_keV", 200, 20, 1000, "keV") == 200
    with pytest.raises(InputError, match=r"energy_keV=5 .*20 keV to 1000 keV"):
        check_range("energy_keV", 5, 20, 1000, "keV")
    with pytest.raises(InputError, match="thickness_A=-1"):
        check_positive("thickness_A", -1)


def test_atomic_file_gets_umask_permissions(tmp_path):
    import os

    target = tmp_path / "perm.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
