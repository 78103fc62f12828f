"""Field conditions of synthetic scans, each against known truth on tiny scenes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.scenes import CleanLibrary, FieldConditions, SceneRenderer, make_layout, simulate_scan
from stemtf.scenes.layout import LABEL_NAMES
from stemtf.scenes.render import scan_noise_params


def _vacuum_library(detector_px: int = 64, q: float = 0.03) -> CleanLibrary:
    """A library whose every pattern is the transmitted disk alone (1 mrad at 200 kV)."""
    h = detector_px
    r = 1e-3 / 0.025079 / q
    yy, xx = np.mgrid[:h, :h]
    disk = np.clip(r + 0.5 - np.hypot(yy - h // 2, xx - h // 2), 0, 1)
    disk = (disk / disk.sum()).astype(np.float32)
    pats = np.broadcast_to(disk, (2, 1, 2, h, h)).copy()
    return CleanLibrary(
        patterns=pats,
        vacuum=disk,
        material_ids=("nmc811-o3", "nmc811-o1"),
        rotations_deg=(0.0,),
        thicknesses_A=(30.0, 200.0),
        q_sampling_invA=q,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )


def _scene(library, field, *, shape=(8, 8), dose_e=1e5, seed=0, noise=False, **layout_kw):
    rng = np.random.default_rng([seed, 0])
    layout = make_layout(
        shape,
        rng,
        n_rotations=len(library.rotations_deg),
        n_thicknesses=len(library.thicknesses_A),
        **layout_kw,
    )
    params = scan_noise_params(dose_e, rng, noise=noise)
    return SceneRenderer(layout, library, dose_e=dose_e, seed=seed, params=params, field=field)


def _beam_centre(dp: np.ndarray, half: int = 6) -> np.ndarray:
    """Centroid (y, x) [px] of the brightest disk (window about the maximum)."""
    y, x = np.unravel_index(np.argmax(dp), dp.shape)
    win = dp[y - half : y + half + 1, x - half : x + half + 1].astype(float)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    return np.array([y + (win * yy).sum() / win.sum(), x + (win * xx).sum() / win.sum()])


def test_field_conditions_refuse_bad_values():
    for kw in (
        {"descan_px": -1},
        {"ellipticity": 0.5},
        {"calibration_error": 0.3},
        {"carbon_fraction": 0.9},
        {"dead_cols": 1.5},
        {"both_o1_fraction": (0.0, 0.5)},
        {"both_o1_fraction": (0.7, 0.3)},
        {"max_tilt_mrad": 80},
        {"hot_fraction": 0.5},
    ):
        with pytest.raises(InputError) as e:
            FieldConditions(**kw)
        assert "\n" not in str(e.value) and next(iter(kw)) in str(e.value)


def test_default_field_is_the_original_scene(tmp_path, kinematic_library):
    a, _ = simulate_scan(tmp_path / "a.npy", shape=(4, 5), seed=2, library=kinematic_library)
    b, _ = simulate_scan(
        tmp_path / "b.npy", shape=(4, 5), seed=2, library=kinematic_library, field=FieldConditions()
    )
    assert np.array_equal(np.load(a), np.load(b))


def test_descan_drift_moves_the_measured_beam_centre(tmp_path):
    lib = _vacuum_library()
    path, truth = simulate_scan(
        tmp_path / "d.npy",
        shape=(6, 6),
        library=lib,
        noise=False,
        field=FieldConditions(descan_px=12.0, descan_jitter_px=0.3),
    )
    scan = np.load(path)
    with h5py.File(truth) as f:
        shift = np.asarray(f["centre_shift_px"])
    centres = np.array([[_beam_centre(scan[iy, ix]) for ix in range(6)] for iy in range(6)])
    measured = centres - 32
    np.testing.assert_allclose(measured, shift, atol=0.15)
    # the linear part spans the set 12 px from the first to the last position; jitter ~0.3 px
    drift = np.hypot(*(shift[-1, -1] - shift[0, 0]))
    assert 10.5 < drift < 13.5
    iy, ix = np.mgrid[:6, :6]
    design = np.column_stack([np.ones(36), iy.ravel(), ix.ravel()])
    resid = (
        shift.reshape(36, 2) - design @ np.linalg.lstsq(design, shift.reshape(36, 2), rcond=None)[0]
    )
    assert 0.15 < resid.std() < 0.5


def test_carbon_rings_at_their_radius_in_vacuum():
    lib = _vacuum_library(detector_px=96, q=0.025)  # reaches 1.2 1/Å
    scene = _scene(lib, FieldConditions(carbon_fraction=0.3, descan_px=0.0), shape=(4, 4))
    vac = np.argwhere(scene.layout.labels == 0)[0]
    dp = scene[int(vac[0])][int(vac[1])]
    assert abs(dp.sum() - 1e5) < 50  # the support scatters, it does not add electrons
    yy, xx = np.mgrid[:96, :96]
    k = np.hypot(yy - 48, xx - 48) * 0.025
    bins = np.arange(0.15, 1.15, 0.025)
    idx = np.digitize(k.ravel(), bins)
    prof = np.array([dp.ravel()[idx == i].mean() for i in range(1, len(bins))])
    centres = (bins[:-1] + bins[1:]) / 2
    inner = centres[np.argmax(np.where(centres < 0.65, prof, 0))]
    outer = centres[np.argmax(np.where(centres > 0.65, prof, 0))]
    assert abs(inner - 0.47) < 0.03 and abs(outer - 0.85) < 0.04


def test_detector_defects_fixed_for_the_scan_and_uint16(tmp_path):
    lib = _vacuum_library()
    field = FieldConditions(
        gain_sigma=0.05, dead_cols=1, dead_rows=1, hot_fraction=2e-3, integer_counts=True
    )
    path, _ = simulate_scan(
        tmp_path / "g.npy", shape=(3, 4), library=lib, field=field, dose_e=2e4
    )  # the direct beam stays below the 4095 saturation
    scan = np.load(path)
    assert scan.dtype == np.uint16
    dps = scan.reshape(12, 64, 64)
    assert len(np.flatnonzero(np.all(dps == 0, axis=(0, 1)))) == 1  # the dead column
    assert len(np.flatnonzero(np.all(dps == 0, axis=(0, 2)))) == 1  # the dead row
    hot = np.all(dps == 4095, axis=0)  # the same pixels in every pattern
    assert hot.sum() == round(2e-3 * 64 * 64)


def test_gain_map_is_fixed_for_the_scan(tmp_path):
    lib = _vacuum_library()
    kw = dict(shape=(3, 4), library=lib, noise=False, dose_e=1e6)
    gained = np.load(
        simulate_scan(
            tmp_path / "g.npy",
            **kw,
            field=FieldConditions(gain_sigma=0.05, carbon_fraction=0.3, descan_px=0.0),
        )[0]
    ).reshape(12, 64, 64)
    plain = np.load(
        simulate_scan(
            tmp_path / "c.npy", **kw, field=FieldConditions(carbon_fraction=0.3, descan_px=0.0)
        )[0]
    ).reshape(12, 64, 64)
    lit = plain[0] > 100
    ratios = [g[lit] / p[lit] for g, p in zip(gained, plain, strict=True)]
    np.testing.assert_allclose(ratios[0], ratios[-1], rtol=1e-5)  # one map for the scan
    assert 0.035 < ratios[0].std() < 0.065 and abs(ratios[0].mean() - 1) < 0.01


def test_halo_grows_with_thickness():
    lib = _vacuum_library()
    scene = _scene(lib, FieldConditions(halo_per_100A=0.2, descan_px=0.0), shape=(16, 16))
    lay = scene.layout
    thin = np.argwhere((lay.labels != 0) & (lay.thickness_index == 0))[0]
    thick = np.argwhere((lay.labels != 0) & (lay.thickness_index == 1))[0]
    vac = np.argwhere(lay.labels == 0)[0]
    f = [scene.background_fraction(*p) for p in (vac, thin, thick)]
    assert f == pytest.approx([0.0, 0.2 * 0.3, 0.2 * 2.0])
    far = np.hypot(*np.mgrid[-32:32, -32:32]) > 6  # outside the transmitted disk
    share = [scene[int(p[0])][int(p[1])][far].sum() / 1e5 for p in (vac, thin, thick)]
    assert share[0] < 1e-6 < share[1] < share[2]


def test_ellipticity_and_wrong_calibration(tmp_path, kinematic_library):
    path, truth = simulate_scan(
        tmp_path / "e.h5",
        shape=(6, 6),
        library=kinematic_library,
        noise=False,
        field=FieldConditions(ellipticity=0.03, calibration_error=-0.05, descan_px=0.0),
    )
    from stemtf.io import open_scan

    q = kinematic_library.q_sampling_invA
    with h5py.File(truth) as f:
        assert f.attrs["q_sampling_true_invA"] == pytest.approx(q)
        assert f.attrs["q_sampling_invA"] == pytest.approx(q * 0.95)
        labels = np.asarray(f["labels"])
        meta = json.loads(f.attrs["scene"])
    assert meta["q_sampling_given_invA"] == pytest.approx(q * 0.95)
    scan = open_scan(path)
    assert scan.metadata.q_sampling_invA == pytest.approx(q * 0.95)
    # an O3 pattern: its six {110} disks lie on an ellipse with axis ratio 1.03
    iy, ix = np.argwhere(labels == 1)[0]
    dp = np.asarray(scan.read(slice(int(iy), int(iy) + 1)))[0, ix]
    from scipy import ndimage

    lab, n = ndimage.label(dp > dp.max() * 0.02)
    com = np.array(ndimage.center_of_mass(dp, lab, np.arange(1, n + 1)))
    r = np.hypot(com[:, 0] - 48, com[:, 1] - 48)
    spots = r[r > 10]
    assert len(spots) == 6
    assert 1.01 < spots.max() / spots.min() < 1.032


def test_o1_share_of_mixed_columns_honours_the_range():
    lay = make_layout(
        (64, 64),
        np.random.default_rng(1),
        n_rotations=2,
        n_thicknesses=2,
        both_fraction=(0.2, 0.8),
        both_band=0.08,
    )
    f = lay.o1_fraction[lay.labels == 3]
    assert f.size > 50 and f.min() >= 0.2 and f.max() <= 0.8
    assert f.min() < 0.3 and f.max() > 0.7


def test_label_names_match_the_phase_model(tmp_path, kinematic_library):
    from stemtf.phase.model import LABEL_NAMES as PHASE_NAMES

    assert tuple(LABEL_NAMES) == tuple(PHASE_NAMES)
    _, truth = simulate_scan(tmp_path / "n.npy", shape=(3, 3), library=kinematic_library)
    with h5py.File(truth) as f:
        assert json.loads(f["labels"].attrs["label_names"]) == list(LABEL_NAMES)
        for name in ("o1_fraction", "rotation_deg", "thickness_A", "tilt_mrad", "off_zone"):
            assert f[name].shape == (3, 3)


# --- abTEM libraries (tiny: 64 px, one rotation, one thickness) ----------------------------


@pytest.fixture(scope="module")
def abtem_library(tmp_path_factory):
    from stemtf.scenes import build_library

    return build_library(
        detector_px=64,
        q_sampling_invA=0.025,
        rotations_deg=(0.0,),
        thicknesses_A=(80.0,),
        tilts_mrad=((0.0, 0.0), (20.0, 0.0)),
        offzone_axes=((1, 0, 0),),
        cache_dir=tmp_path_factory.mktemp("lib"),
    )


def _spots(dp, q, rel=0.01):
    from scipy import ndimage

    h = dp.shape[0]
    lab, n = ndimage.label(dp > dp.max() * rel)
    idx = np.arange(1, n + 1)
    com = np.array(ndimage.center_of_mass(dp, lab, idx)).reshape(-1, 2)
    tot = np.asarray(ndimage.sum(dp, lab, idx))
    return np.hypot(com[:, 0] - h // 2, com[:, 1] - h // 2) * q, tot


def test_tilt_breaks_the_hexagon_symmetry(abtem_library):
    lib = abtem_library
    assert lib.tilts_mrad == ((0.0, 0.0), (20.0, 0.0))
    for tilt, lo, hi in ((0, 0.0, 0.05), (1, 0.3, 10.0)):
        r, tot = _spots(lib.pattern(0, 0, 0, tilt), lib.q_sampling_invA, rel=1e-4)
        ring = tot[np.abs(r - 0.696) < 0.03]
        ring = np.pad(ring, (0, 6 - len(ring)))  # a spot may vanish altogether
        assert lo <= ring.std() / ring.mean() <= hi, (tilt, ring)
    # the same intensity off the ring: it moves to other reflections, not off the detector
    assert lib.pattern(0, 0, 0, 1).sum() == pytest.approx(1.0, rel=1e-4)


def test_offzone_o3_spots_where_the_structure_puts_them(abtem_library):
    from stemtf.materials import get

    lib = abtem_library
    recip = get("nmc811-o3").structure.lattice.reciprocal_lattice_crystallographic.matrix
    hkl = np.array(
        [
            (0, k, m)
            for k in range(-4, 5)
            for m in range(-20, 21)
            if (k + m) % 3 == 0 and (k, m) != (0, 0)
        ]
    )
    predicted = np.linalg.norm(hkl @ recip, axis=1)
    r, tot = _spots(lib.offzone[0, 0, 0], lib.q_sampling_invA)
    strong = r[(r > 0.05) & (r < 0.75)]
    assert len(strong) >= 6
    err = np.min(np.abs(strong[:, None] - predicted[None, :]), axis=1)
    assert np.all(err < 0.6 * lib.q_sampling_invA), (strong, err)
    # pseudo-hexagonal spots near O1's {100} ring (0.41): [100] puts (0 1 -1), (0 0 6), (0 1 2) there
    assert np.any(np.abs(strong - 0.41) < 0.02) and np.any(np.abs(strong - 0.425) < 0.02)


def test_offzone_grains_and_tilts_in_the_truth(tmp_path, abtem_library):
    lib = abtem_library
    field = FieldConditions(offzone_grains=2, max_tilt_mrad=20.0, descan_px=0.0)
    path, truth = simulate_scan(
        tmp_path / "o.npy",
        shape=(24, 24),
        library=lib,
        noise=False,
        field=field,
        seed=4,
        n_grains=5,
        dose_e=1e4,
    )
    with h5py.File(truth) as f:
        labels, off = np.asarray(f["labels"]), np.asarray(f["off_zone"])
        tilt, axes = np.asarray(f["tilt_mrad"]), np.asarray(f["zone_axis"])
        frac = np.asarray(f["o1_fraction"])
    assert off.any() and np.array_equal(off == 1, labels == 4)
    assert np.all(frac[off == 1] == 0)
    assert np.all(axes[off == 1] == [1, 0, 0]) and np.all(axes[labels == 1] == [0, 0, 1])
    assert set(np.unique(tilt[labels == 1])) <= {0.0, 20.0}
    assert np.all(tilt[off == 1] == 0)
    scan = np.load(path)
    iy, ix = np.argwhere(off == 1)[0]
    np.testing.assert_allclose(scan[iy, ix], 1e4 * lib.offzone[0, 0, 0], rtol=1e-4, atol=1e-3)


def test_library_cache_key_holds_tilts_and_axes(tmp_path, abtem_library):
    from stemtf.scenes import build_library

    kw = dict(
        detector_px=32,
        q_sampling_invA=0.05,
        rotations_deg=(0.0,),
        thicknesses_A=(40.0,),
        cache_dir=tmp_path,
    )
    a = build_library(**kw)
    b = build_library(**kw, tilts_mrad=((0.0, 0.0), (10.0, 0.0)))
    c = build_library(**kw, offzone_axes=((1, 0, 0),))
    assert len(list(tmp_path.glob("library-*.npz"))) == 3
    assert b.tilted.shape == (2, 1, 1, 1, 32, 32) and a.tilted is None
    again = build_library(**kw, tilts_mrad=((0.0, 0.0), (10.0, 0.0)))
    assert np.array_equal(again.tilted, b.tilted) and c.offzone.shape == (1, 1, 1, 32, 32)
    with pytest.raises(InputError, match="tilt"):
        build_library(**kw, tilts_mrad=((5.0, 0.0),))


@pytest.mark.parametrize(
    "detector_px, q, alpha", [(128, 0.0125, 1.0), (512, 0.005, 0.5), (256, 0.0078, 2.0)]
)
def test_detector_sampling_and_semiangle_reach_the_patterns(tmp_path, detector_px, q, alpha):
    from stemtf.noise import disk_radius_px
    from stemtf.scenes import build_library

    lib = build_library(
        detector_px=detector_px,
        q_sampling_invA=q,
        semiangle_mrad=alpha,
        rotations_deg=(0.0,),
        thicknesses_A=(60.0,),
        cache_dir=tmp_path,
        material_ids=("nmc811-o3",),
    )
    assert lib.detector_shape == (detector_px, detector_px)
    assert lib.info()["semiangle_mrad"] == alpha
    dp = lib.patterns[0, 0, 0]
    r, _ = _spots(dp, q, rel=1e-3)
    assert np.any(np.abs(r - 0.696) < 0.5 * q)  # O3 {110} where 1/d puts it, in this sampling
    # the transmitted disk has radius alpha / lambda: its area in pixels
    h = detector_px // 2
    core = dp[h - 30 : h + 31, h - 30 : h + 31]
    area = (core > core.max() * 0.5).sum()
    rad = disk_radius_px(alpha, 200e3, q)
    assert abs(area - np.pi * rad**2) < 2 * np.pi * rad + 4


def test_thickness_map_grows_into_the_particle():
    lay = make_layout((48, 48), np.random.default_rng(3), n_rotations=2, n_thicknesses=9)
    inside = lay.labels > 0
    yy, xx = np.mgrid[:48, :48]
    cy, cx = yy[inside].mean(), xx[inside].mean()
    d = np.hypot(yy - cy, xx - cx)[inside]
    t = lay.thickness_index[inside]
    assert t.min() == 0 and t.max() >= 7
    assert t[d < np.percentile(d, 20)].mean() > t[d > np.percentile(d, 80)].mean() + 3
