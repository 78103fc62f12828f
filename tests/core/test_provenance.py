"""The source digest that keys analyze's resume and goes into its provenance."""

from __future__ import annotations

from stemtf.provenance import PACKAGE_ROOT, source_sha256


def test_digest_follows_every_source_change_and_nothing_else(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "sub" / "b.py").write_text("Y = 2\n")
    first = source_sha256(pkg)
    assert len(first) == 64 and first == source_sha256(pkg)
    # bytecode caches and other files do not count
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-312.py").write_text("junk")
    (pkg / "notes.txt").write_text("not code")
    assert source_sha256(pkg) == first
    # a changed threshold, a new module, a rename: each a different digest
    (pkg / "a.py").write_text("X = 2\n")
    changed = source_sha256(pkg)
    assert changed != first
    (pkg / "c.py").write_text("")
    added = source_sha256(pkg)
    assert added not in (first, changed)
    (pkg / "c.py").rename(pkg / "d.py")
    assert source_sha256(pkg) not in (first, changed, added)
    # the same sources elsewhere: the same digest
    other = tmp_path / "elsewhere"
    (other / "sub").mkdir(parents=True)
    (other / "a.py").write_text("X = 2\n")
    (other / "sub" / "b.py").write_text("Y = 2\n")
    (other / "d.py").write_text("")
    assert source_sha256(other) == source_sha256(pkg)


def test_the_package_digest_is_its_own_sources():
    assert source_sha256() == source_sha256(PACKAGE_ROOT)
