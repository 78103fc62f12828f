"""Family library from abTEM: cubic phases along [111] in their topotactic orientation on O3;
``stemtf simulate-scan --family`` end to end (tiny detectors)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.errors import InputError
from stemtf.scenes.family import (
    FAMILY_IDS,
    family_label_names,
    family_library_args,
    reflection_angle_deg,
    topotactic_offsets_deg,
)

ROTATION_DEG = 17.0


@pytest.fixture(scope="module")
def family_library(tmp_path_factory):
    from stemtf.scenes import build_library

    return build_library(
        **family_library_args(),
        detector_px=128,
        q_sampling_invA=0.0125,
        rotations_deg=(ROTATION_DEG,),
        thicknesses_A=(150.0,),
        cache_dir=tmp_path_factory.mktemp("famlib"),
    )


def _spots(dp, q, rel=1e-3):
    """Spot radii [1/Å], azimuths [deg] and integrated intensities of a pattern."""
    from scipy import ndimage

    h = dp.shape[0]
    lab, n = ndimage.label(dp > dp.max() * rel)
    idx = np.arange(1, n + 1)
    com = np.array(ndimage.center_of_mass(dp, lab, idx)).reshape(-1, 2) - h // 2
    tot = np.asarray(ndimage.sum(dp, lab, idx))
    return np.hypot(*com.T) * q, np.degrees(np.arctan2(com[:, 0], com[:, 1])), tot


def _g(material_id, hkl) -> float:
    """|g_hkl| [1/Å] from the structure."""
    from stemtf.materials import get

    recip = get(material_id).structure.lattice.reciprocal_lattice_crystallographic.matrix
    return float(np.linalg.norm(np.asarray(hkl, float) @ recip))


def _ring(lib, material_id, hkl, rel=1e-3):
    """Azimuths [deg] and mean radius [1/Å] of the spots of the ring of ``hkl``."""
    p = lib.material_ids.index(material_id)
    r, a, _ = _spots(lib.patterns[p, 0, 0], lib.q_sampling_invA, rel)
    on = np.abs(r - _g(material_id, hkl)) < 2 * lib.q_sampling_invA
    return a[on], float(r[on].mean()) if on.any() else np.nan


def _angle_gap(a, b) -> np.ndarray:
    """For each azimuth in ``a``, the distance [deg] to the nearest one in ``b``."""
    d = (np.asarray(a)[:, None] - np.asarray(b)[None, :] + 180.0) % 360.0 - 180.0
    return np.abs(d).min(axis=1)


def test_library_holds_each_phase_along_its_zone(family_library):
    lib = family_library
    assert lib.material_ids == FAMILY_IDS
    assert lib.phase_zone_axes == ((0, 0, 1),) * 3 + ((1, 1, 1),) * 2
    assert lib.info()["phase_zone_axes"][3] == [1, 1, 1]
    np.testing.assert_allclose(lib.patterns.sum(axis=(-2, -1)), 1.0, rtol=1e-4)


def test_cubic_220_along_o3_110_at_the_structures_radius_ratio(family_library):
    lib = family_library
    o3_az, o3_r = _ring(lib, "nmc811-o3", (1, 1, 0))
    assert len(o3_az) == 6
    # O3 {110} where the grain rotation puts it: 30 deg (mod 60) from O3's {100} direction
    assert np.all(_angle_gap(o3_az % 60, [(ROTATION_DEG + 30.0) % 60]) < 0.5)
    for mid, hkl in (
        ("nmc811-rocksalt", (2, -2, 0)),
        ("nmc811-spinel", (2, -2, 0)),
        ("nmc811-spinel", (4, -4, 0)),
    ):
        az, r = _ring(lib, mid, hkl)
        assert len(az) == 6, (mid, hkl, az)
        assert np.all(_angle_gap(az, o3_az) < 0.5), (mid, hkl, az, o3_az)
        ratio = _g(mid, hkl) / _g("nmc811-o3", (1, 1, 0))
        assert r / o3_r == pytest.approx(ratio, rel=0.004), (mid, hkl)
    # rock salt's {220} 2.7 % inside O3's {110}: the pair the calibration must tell apart
    assert _g("nmc811-rocksalt", (2, -2, 0)) / o3_r == pytest.approx(0.973, abs=0.003)
    # the check can fail: O1's {100} marker hexagon is 30 deg off the {110} one
    o1_az, _ = _ring(lib, "nmc811-o1", (1, 0, 0))
    assert len(o1_az) == 6 and np.all(_angle_gap(o1_az, o3_az) > 25)


def test_h3_along_001_is_o3_collapsed(family_library):
    h3_az, h3_r = _ring(family_library, "nmc811-h3", (1, 1, 0))
    o3_az, o3_r = _ring(family_library, "nmc811-o3", (1, 1, 0))
    assert np.all(_angle_gap(h3_az, o3_az) < 0.5)
    assert h3_r / o3_r == pytest.approx(2.87 / 2.817, rel=0.004)


def test_topotactic_offsets_from_the_structures():
    from stemtf.materials import get

    assert topotactic_offsets_deg() == (0.0,) * 5  # the simulation cells already agree
    s = get("nmc811-o3").structure
    d = reflection_angle_deg(s, (0, 0, 1), (1, 1, 0)) - reflection_angle_deg(
        s, (0, 0, 1), (1, 0, 0)
    )
    assert d % 60.0 == pytest.approx(30.0, abs=1e-6)  # {110} lies 30 deg from {100}
    with pytest.raises(InputError, match="zero-order zone"):
        reflection_angle_deg(s, (0, 0, 1), (1, 0, 1))
    with pytest.raises(InputError, match="topotactic"):
        topotactic_offsets_deg(("nmc811-o3", "mp-149"))


def test_simulate_scan_family_cli(tmp_path):
    out = tmp_path / "fam.h5"
    args = [
        "simulate-scan",
        "--out",
        str(out),
        "--family",
        "--shape",
        "20",
        "20",
        "--grains",
        "6",
        "--detector-px",
        "32",
        "--q-sampling-invA",
        "0.05",
        "--thickness-range-A",
        "60",
        "60",
        "--thickness-steps",
        "1",
        "--shell-px",
        "1",
        "2",
        "--calibration-error",
        "0.005",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "fam_truth.h5") as f:
        names = json.loads(f["labels"].attrs["label_names"])
        labels = np.asarray(f["labels"])
        meta = json.loads(f.attrs["scene"])
    assert names == list(family_label_names())
    assert {"rock salt", "spinel", "H3", "O3"} <= {names[c] for c in np.unique(labels)}
    assert meta["family"]["shell_px"] == [1, 2]
    assert meta["library"]["phase_zone_axes"][4] == [1, 1, 1]
    r = CliRunner().invoke(app, args[:-2] + ["--spinel-grains", "9"])
    assert r.exit_code != 0 and "spinel_grains=9" in str(r.exception or r.output)


def test_library_cache_keys_and_rotation_offsets(tmp_path):
    from stemtf.scenes import build_library

    kw = dict(
        material_ids=("nmc811-o3",),
        detector_px=32,
        q_sampling_invA=0.05,
        thicknesses_A=(40.0,),
        cache_dir=tmp_path,
    )
    plain = build_library(rotations_deg=(0.0,), **kw)
    # the cache name recorded with the code before per-phase zone axes existed
    assert [p.name for p in tmp_path.glob("*.npz")] == ["library-2e9f248e6262e5c8.npz"]
    axes = build_library(rotations_deg=(0.0,), phase_zone_axes=((0, 0, 1),), **kw)
    assert np.array_equal(axes.patterns, plain.patterns) and len(list(tmp_path.glob("*"))) == 2
    # an offset of 30 deg is the library at rotation 30
    offset = build_library(rotations_deg=(0.0,), rotation_offsets_deg=(30.0,), **kw)
    turned = build_library(rotations_deg=(30.0,), **kw)
    np.testing.assert_allclose(offset.patterns, turned.patterns, atol=1e-7)
    assert not np.allclose(offset.patterns, plain.patterns, atol=1e-4)
    assert offset.info()["rotation_offsets_deg"] == [30.0] and "rotation_offsets_deg" not in (
        plain.info()
    )
    with pytest.raises(InputError, match="one entry per phase"):
        build_library(rotations_deg=(0.0,), phase_zone_axes=((0, 0, 1), (1, 1, 1)), **kw)
