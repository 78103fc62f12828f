"""Degradation-family scenes (stemtf.scenes.family): layout, truth, topotaxy, defaults unchanged."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.scenes import CleanLibrary, FieldConditions, make_layout, read_truth, simulate_scan
from stemtf.scenes.family import (
    FAMILY_IDS,
    FAMILY_ZONES,
    FamilyScene,
    display_name,
    family_label_names,
    make_family_layout,
)

NAMES = family_label_names()
#: Detector position (y, x) of the one off-centre disk that tells each family phase apart.
_H = 40
_MARK = {p: (8 + 6 * p, 30 - 3 * p) for p in range(len(FAMILY_IDS))}


def _disks(points) -> np.ndarray:
    yy, xx = np.mgrid[:_H, :_H]
    img = np.zeros((_H, _H))
    for y, x, a in points:
        img += a * np.clip(2.5 - np.hypot(yy - y, xx - x), 0, 1)
    return (img / img.sum()).astype(np.float32)


def _marked_library(material_ids=FAMILY_IDS, n_rot=2, n_thick=2) -> CleanLibrary:
    """Phase p's patterns: the transmitted disk plus a disk at _MARK[p] (by rotation, thickness
    a little moved / dimmed), so a pattern says which phase it is."""
    pats = np.zeros((len(material_ids), n_rot, n_thick, _H, _H), np.float32)
    for p in range(len(material_ids)):
        for r in range(n_rot):
            for t in range(n_thick):
                y, x = _MARK[p]
                pats[p, r, t] = _disks([(20, 20, 1.0), (y + r, x, 0.5 - 0.1 * t)])
    return CleanLibrary(
        patterns=pats,
        vacuum=_disks([(20, 20, 1.0)]),
        material_ids=tuple(material_ids),
        rotations_deg=tuple(float(10 * r) for r in range(n_rot)),
        thicknesses_A=tuple(float(50 + 50 * t) for t in range(n_thick)),
        q_sampling_invA=0.03,
        energy_eV=200e3,
        semiangle_mrad=1.0,
        phase_zone_axes=tuple(FAMILY_ZONES[m][0] for m in material_ids),
    )


def _layout(seed=0, shape=(32, 32), family=None, **kw):
    return make_family_layout(
        shape,
        np.random.default_rng([seed, 0]),
        family=family or FamilyScene(),
        n_rotations=6,
        n_thicknesses=9,
        n_grains=kw.pop("n_grains", 6),
        **kw,
    )


def _depth(inside: np.ndarray) -> np.ndarray:
    """Brute force: Euclidean distance [px] of each position to the nearest vacuum position."""
    vac = np.argwhere(~inside)
    pos = np.argwhere(np.ones_like(inside))
    d = np.sqrt(((pos[:, None, :] - vac[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return d.reshape(inside.shape)


def test_label_names_follow_the_phase_model():
    from stemtf.phase import PhaseModel

    assert NAMES == ("none", "O3", "O1", "H3", "spinel", "rock salt", "O3+O1", "unassigned")
    two = PhaseModel.from_materials(["nmc811-o3", "nmc811-o1"])
    assert tuple(display_name(m) for m in two.material_ids) == two.phases
    # every truth label is a label the five-phase model can write (by name)
    five = PhaseModel.from_materials(list(FAMILY_IDS))
    assert set(NAMES) <= set(five.label_names)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_shell_at_the_surface_of_the_given_thickness(k):
    lay = _layout(seed=3, family=FamilyScene(shell_px=(k, k)))
    inside = lay.labels > 0
    depth = _depth(inside)
    rock = lay.labels == NAMES.index("rock salt")
    assert np.array_equal(rock, inside & (depth <= k))
    assert np.all(lay.phase_index[rock] == FAMILY_IDS.index("nmc811-rocksalt"))
    assert np.all(lay.o1_fraction[rock] == 0)


def test_shell_thickness_varies_between_its_bounds():
    lay = _layout(seed=5, family=FamilyScene(shell_px=(1, 3)))
    inside = lay.labels > 0
    depth = _depth(inside)
    rock = lay.labels == NAMES.index("rock salt")
    assert np.all(rock[inside & (depth <= 1)])  # the whole surface
    assert not rock[depth > 3].any()
    assert rock[(depth > 2) & (depth <= 3)].any()  # 3 px thick somewhere
    assert not rock[(depth > 1) & (depth <= 2)].all()  # ... and only 1 px elsewhere
    no_shell = _layout(seed=5, family=FamilyScene(shell_px=(0, 0)))
    assert not (no_shell.labels == NAMES.index("rock salt")).any()


def test_spinel_and_h3_fill_whole_grains_and_the_o1_stays():
    fam = FamilyScene(shell_px=(0, 0), spinel_grains=1, h3_grains=2)
    lay = _layout(seed=1, family=fam, both_fraction=(0.2, 0.8))
    base = make_layout(
        (32, 32),
        np.random.default_rng([1, 0]),
        n_rotations=6,
        n_thicknesses=9,
        n_grains=6,
        both_fraction=(0.2, 0.8),
    )
    # the O3/O1 scene below is the same draw
    assert np.array_equal(lay.rotation_index, base.rotation_index)
    assert np.array_equal(lay.thickness_index, base.thickness_index)
    inside = base.labels > 0
    for name, n, p in (("spinel", 1, 3), ("H3", 2, 2)):
        cells = lay.labels == NAMES.index(name)
        grains = np.unique(lay.grain_index[cells])
        assert len(grains) == n
        assert np.array_equal(cells, inside & np.isin(lay.grain_index, grains))
        assert np.all(lay.phase_index[cells] == p) and np.all(lay.o1_fraction[cells] == 0)
    o1 = lay.labels == NAMES.index("O1")
    mixed = lay.labels == NAMES.index("O3+O1")
    assert o1.sum() >= 0.5 * (base.labels == 2).sum() and mixed.any()
    assert np.all(lay.o1_fraction[o1] == 1) and np.all(lay.phase_index[o1 | mixed] == 0)
    f = lay.o1_fraction[mixed]
    assert f.min() >= 0.2 and f.max() <= 0.8
    with pytest.raises(InputError, match="grains"):
        _layout(seed=1, family=FamilyScene(spinel_grains=4, h3_grains=3), n_grains=6)


def test_family_scene_refuses_bad_values():
    for kw in ({"shell_px": (3, 1)}, {"shell_px": (0, 9)}, {"spinel_grains": -1}):
        with pytest.raises(InputError):
            FamilyScene(**kw)


def test_truth_label_names_round_trip_to_the_patterns(tmp_path):
    lib = _marked_library()
    scan, truth = simulate_scan(
        tmp_path / "f.npy",
        shape=(24, 24),
        library=lib,
        seed=2,
        noise=False,
        dose_e=1e4,
        n_grains=6,
        family=FamilyScene(),
        field=FieldConditions(descan_px=0.0),
    )
    labels, meta = read_truth(truth)
    with h5py.File(truth) as f:
        names = json.loads(f["labels"].attrs["label_names"])
        axes, frac = np.asarray(f["zone_axis"]), np.asarray(f["o1_fraction"])
    assert names == list(NAMES) == meta["label_names"]
    assert meta["family"]["shell_px"] == [1, 3]
    present = {names[c] for c in np.unique(labels)}
    assert {"none", "O3", "O1", "H3", "spinel", "rock salt", "O3+O1"} <= present
    data = np.load(scan)
    phase_of = {display_name(m): p for p, m in enumerate(FAMILY_IDS)}
    for iy, ix in np.ndindex(labels.shape):
        name, dp = names[labels[iy, ix]], data[iy, ix]
        marks = {p: dp[_MARK[p][0] - 1 : _MARK[p][0] + 3, _MARK[p][1]].max() for p in _MARK}
        lit = {p for p, v in marks.items() if v > 1.0}
        if name == "none":
            assert not lit
        elif name == "O3+O1":
            assert lit == {0, 1} and 0 < frac[iy, ix] < 1
        else:
            assert lit == {phase_of[name]}, (iy, ix, name, marks)
        cubic = name in ("spinel", "rock salt")
        want = [0, 0, 0] if name == "none" else [1, 1, 1] if cubic else [0, 0, 1]
        assert axes[iy, ix].tolist() == want


def test_same_seed_same_family_scene(tmp_path):
    lib = _marked_library()
    kw = dict(shape=(16, 16), library=lib, n_grains=6, family=FamilyScene(), dose_e=2e3)
    a = simulate_scan(tmp_path / "a.npy", seed=7, **kw)
    b = simulate_scan(tmp_path / "b.npy", seed=7, **kw)
    c = simulate_scan(tmp_path / "c.npy", seed=8, **kw)
    assert np.array_equal(np.load(a[0]), np.load(b[0]))
    assert np.array_equal(read_truth(a[1])[0], read_truth(b[1])[0])
    assert not np.array_equal(read_truth(a[1])[0], read_truth(c[1])[0])


def test_field_conditions_combine_with_the_family(tmp_path):
    lib = _marked_library()
    kw = dict(shape=(12, 12), library=lib, n_grains=6, family=FamilyScene(), seed=4)
    _, t0 = simulate_scan(tmp_path / "a.npy", **kw)
    field = FieldConditions(
        descan_px=8.0,
        calibration_error=0.03,
        carbon_fraction=0.1,
        halo_per_100A=0.1,
        dead_cols=1,
        integer_counts=True,
    )
    scan, t1 = simulate_scan(tmp_path / "b.npy", field=field, **kw)
    # detector-side conditions leave the truth alone and are recorded
    assert np.array_equal(read_truth(t0)[0], read_truth(t1)[0])
    assert np.load(scan).dtype == np.uint16
    with h5py.File(t1) as f:
        assert f.attrs["q_sampling_invA"] == pytest.approx(0.03 * 1.03)
        assert json.loads(f.attrs["scene"])["field"]["carbon_fraction"] == 0.1


def test_family_with_mistilt_and_off_zone_grains(tmp_path):
    lib = _marked_library()
    n_r, n_t = lib.patterns.shape[1:3]
    # tilted / off-zone patterns: the phase mark moved 1 px right per tilt, off-zone marks at x=4
    tilted = np.roll(lib.patterns, 1, axis=-1)[:, :, None]  # (P, R, 1 tilt, T, H, W)
    offzone = np.stack([_disks([(20, 20, 1.0), (30, 4, 0.5)])] * (n_r * n_t)).reshape(
        1, n_r, n_t, _H, _H
    )
    lib = CleanLibrary(
        **{k: getattr(lib, k) for k in ("patterns", "vacuum", "material_ids", "rotations_deg")},
        thicknesses_A=lib.thicknesses_A,
        q_sampling_invA=lib.q_sampling_invA,
        energy_eV=lib.energy_eV,
        semiangle_mrad=lib.semiangle_mrad,
        phase_zone_axes=lib.phase_zone_axes,
        tilts_mrad=((0.0, 0.0), (10.0, 0.0)),
        tilted=tilted,
        offzone_axes=((1, 0, 0),),
        offzone=offzone,
    )
    field = FieldConditions(max_tilt_mrad=10.0, offzone_grains=1, descan_px=0.0)
    scan, truth = simulate_scan(
        tmp_path / "t.npy",
        shape=(24, 24),
        library=lib,
        seed=6,
        n_grains=7,
        noise=False,
        field=field,
        family=FamilyScene(),
    )
    labels, _ = read_truth(truth)
    with h5py.File(truth) as f:
        off, tilt = np.asarray(f["off_zone"]) == 1, np.asarray(f["tilt_mrad"])
        axes = np.asarray(f["zone_axis"])
    una = labels == NAMES.index("unassigned")
    assert off.any() and np.array_equal(off, una)  # off-zone grains stay unassigned, no shell
    assert np.all(axes[off] == [1, 0, 0])
    data = np.load(scan)
    assert np.all(data[off][:, 30, 4] > 1.0)
    cubic = np.isin(labels, [NAMES.index("spinel"), NAMES.index("rock salt")])
    assert np.all(axes[cubic] == [1, 1, 1]) and set(np.unique(tilt[labels > 0])) == {0.0, 10.0}
    # a tilted rock-salt position shows the tilted rock-salt pattern
    rock = np.argwhere((labels == NAMES.index("rock salt")) & (tilt == 10.0))
    iy, ix = rock[0]
    y, x = _MARK[4]
    assert data[iy, ix, y - 1 : y + 3, x + 1].max() > 1.0


def test_family_needs_the_family_library(tmp_path):
    lib = _marked_library(material_ids=("nmc811-o3", "nmc811-o1"))
    with pytest.raises(InputError, match="family scene needs a library"):
        simulate_scan(tmp_path / "x.npy", shape=(8, 8), library=lib, family=FamilyScene())


# --- the O3/O1 scenes are unchanged: digests recorded before the family existed ------------


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _ring_library() -> CleanLibrary:
    h, q = 48, 0.03
    pats = np.zeros((2, 2, 2, h, h), np.float32)
    yy, xx = np.mgrid[:h, :h]

    def disks(pts):
        img = np.zeros((h, h))
        for y, x, a in pts:
            img += a * np.clip(2.5 - np.hypot(yy - y, xx - x), 0, 1)
        return (img / img.sum()).astype(np.float32)

    for p, r, t in np.ndindex(2, 2, 2):
        pts = [(24, 24, 1.0)]
        for k in range(6):
            a = np.radians(60 * k + 20 * r + 10 * p)
            rr = (0.697 + 0.013 * p) / q
            pts.append((24 + rr * np.sin(a), 24 + rr * np.cos(a), 0.2 + 0.1 * t))
        pats[p, r, t] = disks(pts)
    return CleanLibrary(
        patterns=pats,
        vacuum=disks([(24, 24, 1.0)]),
        material_ids=("nmc811-o3", "nmc811-o1"),
        rotations_deg=(0.0, 20.0),
        thicknesses_A=(50.0, 100.0),
        q_sampling_invA=q,
        energy_eV=200e3,
        semiangle_mrad=1.0,
    )


def test_default_scenes_are_unchanged(tmp_path):
    lay = make_layout(
        (20, 20), np.random.default_rng([7, 0]), n_rotations=3, n_thicknesses=4, n_grains=4
    )
    assert lay.label_names == ("none", "O3", "O1", "both", "unassigned")
    assert np.all(lay.phase_index == 0)
    assert (
        _digest(
            lay.labels,
            lay.rotation_index,
            lay.thickness_index,
            lay.o1_fraction,
            lay.tilt_index,
            lay.zone_index,
        )
        == "fb1270726e691eac"
    )
    want = {False: "6299a28fdc0da04f", True: "e8fbdf3eb61b7bb4"}
    for noise in (False, True):
        scan, truth = simulate_scan(
            tmp_path / f"s{noise}.npy",
            shape=(10, 12),
            library=_ring_library(),
            seed=3,
            noise=noise,
            dose_e=5e3,
        )
        x = np.load(scan)
        assert _digest(np.round(x.astype(np.float64), 2)) == want[noise]
        with h5py.File(truth) as f:
            assert _digest(np.asarray(f["labels"]), np.asarray(f["o1_fraction"])) == (
                "43028f2443e40e65"
            )
            assert json.loads(f["labels"].attrs["label_names"])[3] == "both"
            assert "family" not in json.loads(f.attrs["scene"])
