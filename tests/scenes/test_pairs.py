"""Denoiser training pairs from field scenes: the same scan as simulate_scan, targets, the frame."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemtf.denoise.frame import hot_pixel_mask
from stemtf.errors import InputError
from stemtf.noise.optics import disk_radius_px
from stemtf.scenes import FieldConditions, build_scene, simulate_scan
from stemtf.scenes.pairs import PairSource, field_pairs

FIELD = FieldConditions(
    descan_px=4.0,
    carbon_fraction=0.1,
    gain_sigma=0.05,
    hot_fraction=2e-3,
    dead_cols=1,
    integer_counts=True,
    both_o1_fraction=(0.2, 0.8),
)


def test_build_scene_renders_the_scan_simulate_scan_writes(kinematic_library, tmp_path):
    kw = dict(dose_e=800.0, seed=7, library=kinematic_library, field=FIELD, n_grains=3)
    path, _ = simulate_scan(tmp_path / "s.npy", shape=(5, 6), **kw)
    written = np.load(path)
    scene = build_scene((5, 6), kw.pop("library"), **kw)
    for row in range(5):
        noisy, target = scene.render_row(row, targets=True)
        np.testing.assert_array_equal(noisy, written[row])
        np.testing.assert_array_equal(scene[row], written[row])
        assert target.dtype == np.float32 and target.shape == noisy.shape


def test_targets_hold_the_specimen_counts_without_background_or_defects(kinematic_library):
    dose = 5000.0
    scene = build_scene((4, 4), kinematic_library, dose_e=dose, seed=3, field=FIELD, n_grains=3)
    noisy, target = scene.render_row(2, targets=True)
    h, w = target.shape[1:]
    for ix in range(4):
        # at most the specimen's share of the dose (the noise model may dim reflections); the
        # noisy counts (hot pixels out) hold the target and the diffuse background
        f = scene.background_fraction(2, ix)
        assert 0.4 * dose * (1 - f) <= target[ix].sum() <= 1.01 * dose * (1 - f)
        kept = np.where(hot_pixel_mask(noisy[ix : ix + 1])[0], 0, noisy[ix])
        assert kept.sum() == pytest.approx(target[ix].sum() + dose * f, rel=0.08)
        # the beam (brightest disk of the target) sits at the scan's beam centre
        dy, dx = scene.centre_shift(2, ix)
        y, x = np.unravel_index(np.argmax(target[ix]), (h, w))
        assert abs(y - (h // 2 + dy)) <= 2.5 and abs(x - (w // 2 + dx)) <= 2.5
    # hot pixels and the dead column are in the noisy counts only
    hot, dead = scene._hot, scene._dead
    assert hot.any() and noisy[:, hot].min() > 5 * target.max()
    assert dead.any() and np.all(noisy[:, dead] == 0) and target[:, dead].sum() > 0


def test_field_pairs_are_deterministic_count_preserving_and_in_the_model_frame(kinematic_library):
    lib = kinematic_library
    r_data = disk_radius_px(lib.semiangle_mrad, lib.energy_eV, lib.q_sampling_invA)
    src = [PairSource("kin", lib, FieldConditions(both_o1_fraction=(0.2, 0.8)), 3)]
    kw = dict(n_scenes=3, model_disk_radius_px=0.5 * r_data, frame_px=48, dose_range_e=(1e3, 1e4))
    noisy, target, recs = field_pairs(src, seed=1, **kw)
    assert noisy.shape == target.shape == (3 * 2 * 6, 48, 48)
    assert [r["pairs"] for r in recs] == [12, 12, 12]
    assert all(r["zoom"] == pytest.approx(0.5, abs=0.05) for r in recs)
    again = field_pairs(src, seed=1, **kw)
    np.testing.assert_array_equal(noisy, again[0])
    assert not np.array_equal(noisy, field_pairs(src, seed=2, **kw)[0])
    # each record rebuilds its scene; shrinking by area keeps every pattern's counts
    rec = recs[1]
    scene = build_scene(
        (12, 12), lib, dose_e=rec["dose_e"], seed=rec["scene_seed"], field=src[0].field, n_grains=3
    )
    data = [scene.render_row(int(r), targets=True) for r in rec["positions"]]
    want_n = np.concatenate(
        [n[c] for (n, _), c in zip(data, rec["positions"].values(), strict=True)]
    )
    want_t = np.concatenate(
        [t[c] for (_, t), c in zip(data, rec["positions"].values(), strict=True)]
    )
    got_n, got_t = noisy[12:24], target[12:24]
    np.testing.assert_allclose(got_t.sum(axis=(1, 2)), want_t.sum(axis=(1, 2)), rtol=1e-3)
    np.testing.assert_allclose(got_n.sum(axis=(1, 2)), want_n.sum(axis=(1, 2)), rtol=1e-3)
    # the beam lands at the frame's centre, a disk of about half the data's radius
    c = 24
    tgt = target.mean(axis=0)
    y, x = np.unravel_index(np.argmax(tgt), tgt.shape)
    assert abs(y - c) <= 2 and abs(x - c) <= 2


def test_context_pairs_carry_the_neighbours_mean_in_the_same_frame(kinematic_library):
    from stemtf.denoise.context import neighbour_mean
    from stemtf.denoise.frame import Frame

    lib = kinematic_library
    r_data = disk_radius_px(lib.semiangle_mrad, lib.energy_eV, lib.q_sampling_invA)
    src = [PairSource("kin", lib, FIELD, 3)]
    kw = dict(n_scenes=2, model_disk_radius_px=0.5 * r_data, frame_px=48, dose_range_e=(300, 900))
    noisy, target, recs = field_pairs(src, seed=4, context=True, **kw)
    assert noisy.shape == (24, 48, 48, 2) and target.shape == (24, 48, 48)
    rec = recs[0]
    positions = {int(r): c for r, c in rec["positions"].items()}
    assert all(0 < r < 11 for r in positions) and all(
        0 < c < 11 for v in positions.values() for c in v
    )
    scene = build_scene(
        (12, 12), lib, dose_e=rec["dose_e"], seed=rec["scene_seed"], field=FIELD, n_grains=3
    )
    h, w = scene.shape[2:]
    frame = Frame.for_geometry(
        (h, w),
        r_data,
        0.5 * r_data,
        lib.q_sampling_invA,
        center_yx=(
            h / 2 + scene.params["centre_shift_y_px"],
            w / 2 + scene.params["centre_shift_x_px"],
        ),
    )
    row, cols = next(iter(positions.items()))
    block = np.stack([scene.render_row(r) for r in (row - 1, row, row + 1)]).astype(np.float32)
    want = frame.to_model(neighbour_mean(block)[1, cols])
    got = noisy[: len(cols), ..., 1]
    k0 = (want.shape[1] - 48) // 2
    np.testing.assert_allclose(got, want[:, k0 : k0 + 48, k0 : k0 + 48], rtol=2e-3, atol=2e-3)
    # the centre channel is the pattern itself, as without context
    np.testing.assert_allclose(
        noisy[: len(cols), ..., 0].sum(axis=(1, 2)),
        scene.render_row(row)[cols].astype(np.float32).sum(axis=(1, 2)),
        rtol=1e-3,
    )


def test_field_pairs_refuses_bad_settings(kinematic_library):
    src = [PairSource("kin", kinematic_library, FieldConditions(), 3)]
    with pytest.raises(InputError, match="dose_range_e"):
        field_pairs(src, n_scenes=1, model_disk_radius_px=3.0, dose_range_e=(0.0, 10.0))
    with pytest.raises(InputError, match="per_row"):
        field_pairs(src, n_scenes=1, model_disk_radius_px=3.0, per_row=99)
    with pytest.raises(InputError, match="PairSource"):
        field_pairs([], n_scenes=1, model_disk_radius_px=3.0)


# --- scripts/train_field_denoiser.py: train, resume, export with the recorded domain ----------


def _save_pairs(path, pairs, **meta):
    """``field_pairs`` output as the train script's ``.npz`` (float16, meta JSON)."""
    noisy, target, recs = pairs
    meta = {"model_disk_radius_px": 2.0, "conditions": ["kinematic"], "scenes": recs, **meta}
    np.savez_compressed(
        path,
        noisy=noisy.astype(np.float16),
        target=target.astype(np.float16),
        meta=np.array(json.dumps(meta)),
    )
    return path


@pytest.fixture(scope="module")
def trainer(load_script):
    return load_script("train_field_denoiser")


def test_train_script_trains_resumes_and_exports_its_domain(kinematic_library, trainer, tmp_path):
    from stemtf.training.export import export_saved_model

    src = [PairSource("kin", kinematic_library, FieldConditions(), 3)]
    pairs = field_pairs(src, n_scenes=2, model_disk_radius_px=2.0, frame_px=32)
    data = _save_pairs(tmp_path / "pairs.npz", pairs, dose_range_e=[50.0, 1e5])
    run = tmp_path / "run"
    common = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--init",
        "",
        "--width",
        "4",
        "--levels",
        "2",
        "--batch",
        "4",
        "--patch",
        "16",
        "--chunk",
        "2",
        "--eval-every",
        "2",
        "--no-jit",
    ]
    trainer.main([*common, "--steps", "4"])
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 4 and len(state["history"]) == 2
    trainer.main([*common, "--steps", "6", "--auto-dose-range", "200", "1e5"])  # resumes at 4
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 6 and [h["step"] for h in state["history"]] == [2, 4, 6]
    assert all(np.isfinite(h["val_l1"]) for h in state["history"])
    cfg = json.loads((run / "config.json").read_text())["train"]
    assert cfg["steps_done"] == 6 and cfg["domain"]["disk_radius_px"] == 2.0
    out = export_saved_model(
        run / "model.keras", tmp_path / "sm", "field", 1, run_dir=run, warmup=False
    )
    card = json.loads((out / "model_card.json").read_text())
    assert card["domain"]["dose_range_e"] == [50.0, 1e5]
    assert card["domain"]["auto_dose_range_e"] == [200.0, 1e5]
    assert card["domain"]["conditions"] == ["kinematic"]


def test_train_script_adds_scan_context_to_a_starting_model(kinematic_library, trainer, tmp_path):
    import keras

    from stemtf.models import RDUNet

    src = [PairSource("kin", kinematic_library, FieldConditions(), 3)]
    pairs = field_pairs(src, n_scenes=2, model_disk_radius_px=2.0, frame_px=32, context=True)
    data = _save_pairs(
        tmp_path / "pairs.npz", pairs, dose_range_e=[50.0, 2000.0], scan_context="neighbour_mean_8"
    )
    init = tmp_path / "init.keras"
    RDUNet(width=4, levels=2, blocks=1).save(str(init))
    args = ["--data", str(data), "--init", str(init), "--batch", "4", "--patch", "16"]
    args += ["--chunk", "2", "--eval-every", "2", "--no-jit", "--steps", "2"]
    trainer.main(["train", *args, "--out", str(tmp_path / "ctx")])
    model = keras.saving.load_model(str(tmp_path / "ctx" / "model.keras"), compile=False)
    assert model.context == 1
    cfg = json.loads((tmp_path / "ctx" / "config.json").read_text())["train"]
    assert cfg["domain"]["scan_context"] == "neighbour_mean_8"
    metrics = json.loads((tmp_path / "ctx" / "metrics.json").read_text())
    assert np.isfinite(metrics["val_l1_init_model"])
    # the per-pattern control on the same pairs: the pattern channel alone
    trainer.main(["train", *args, "--out", str(tmp_path / "pp"), "--no-context"])
    control = keras.saving.load_model(str(tmp_path / "pp" / "model.keras"), compile=False)
    assert control.context == 0
    cfg = json.loads((tmp_path / "pp" / "config.json").read_text())["train"]
    assert "scan_context" not in cfg["domain"]
