"""Scan-context denoisers: the neighbours' mean, the model, its SavedModel and ``analyze``.

Known truth: constant patterns whose value encodes the scan position give every neighbour
mean in closed form; a zero-weight context channel leaves the starting model's output exactly;
a real exported context RDUNet matches its Keras model; and ``analyze`` hands a context model
the same neighbours whatever the chunking (the halo rows), so its outputs do not depend on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from stemtf.analysis import AnalyzeConfig, analyze
from stemtf.denoise.context import neighbour_mean
from stemtf.errors import InputError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "analysis"))
from scene import DETECTOR_PX, Q_SAMPLING_INVA, scene  # noqa: E402


def _position_grid(rows: int, cols: int, px: int = 4) -> np.ndarray:
    """Pattern (r, c) is constant 10 r + c: every neighbour mean is known."""
    val = 10.0 * np.arange(rows)[:, None] + np.arange(cols)[None, :]
    return np.broadcast_to(val[:, :, None, None], (rows, cols, px, px)).astype(np.float32)


def _expected_mean(rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            vals = [
                10.0 * (r + dy) + (c + dx)
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
                if (dy, dx) != (0, 0) and 0 <= r + dy < rows and 0 <= c + dx < cols
            ]
            out[r, c] = np.mean(vals) if vals else 0.0
    return out


@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (3, 1), (1, 1)])
def test_neighbour_mean_is_the_mean_of_the_neighbours_inside_the_scan(shape):
    got = neighbour_mean(_position_grid(*shape))
    assert got.shape == shape + (4, 4)
    np.testing.assert_allclose(got[:, :, 0, 0], _expected_mean(*shape), rtol=1e-6)
    assert np.all(got == got[:, :, :1, :1])  # constant patterns stay constant


def test_neighbour_mean_leaves_out_masked_patterns():
    grid = _position_grid(3, 3)
    grid[0, 0, 1, 2] = np.nan  # pattern (0, 0) is masked
    got = neighbour_mean(grid)[1, 1, 0, 0]
    assert got == pytest.approx(np.mean([1, 2, 10, 12, 20, 21, 22]))
    assert np.isfinite(neighbour_mean(grid)).all()


def test_neighbour_mean_rejects_a_batch():
    with pytest.raises(InputError, match=r"expected \(R, C, H, W\)"):
        neighbour_mean(np.zeros((5, 8, 8), np.float32))


def test_zero_weight_context_keeps_the_starting_model():
    import keras

    from stemtf.models import RDUNet, with_scan_context

    base = RDUNet(width=4, levels=2, blocks=1)
    ctx = with_scan_context(base, 1)
    assert ctx.context == 1 and ctx.count_params() == base.count_params() + 9 * 4
    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, size=(2, 24, 24, 2)).astype(np.float32)
    y0 = keras.ops.convert_to_numpy(base(x[..., :1]))
    y1 = keras.ops.convert_to_numpy(ctx(x))
    assert y1.shape == (2, 24, 24, 1)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="already takes"):
        with_scan_context(ctx, 1)


@pytest.fixture(scope="module")
def context_export(tmp_path_factory):
    """A tiny RDUNet(context=1) with non-zero context weights, exported as a SavedModel."""
    pytest.importorskip("tensorflow")
    import keras

    from stemtf.models import RDUNet
    from stemtf.training.export import export_saved_model

    keras.utils.set_random_seed(3)
    model = RDUNet(width=4, levels=2, blocks=1, context=1)
    folder = tmp_path_factory.mktemp("ctx")
    path = folder / "m.keras"
    model.save(str(path))
    out = export_saved_model(path, folder / "saved", "ctx", 1, warmup=True)
    return model, out


def test_exported_context_model_matches_keras_and_needs_its_context(context_export):
    import keras

    from stemtf.denoise import load

    model, version_dir = context_export
    card = json.loads((version_dir / "model_card.json").read_text())
    assert card["scan_context"] == "neighbour_mean_8"
    assert "neighbouring probe positions" in card["signature"]["input"]
    assert (version_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
    den = load(str(version_dir))
    assert den.scan_context == "neighbour_mean_8"
    rng = np.random.default_rng(1)
    # a multiple of the loader's padding (16): the Keras model sees the same pixels
    x = rng.poisson(4.0, size=(3, 32, 48)).astype(np.float32)
    c = rng.poisson(4.0, size=(3, 32, 48)).astype(np.float32)
    got = den(x, context=c)
    ref = keras.ops.convert_to_numpy(model(np.stack([x, c], axis=-1)))[..., 0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert not np.allclose(den(x, context=np.zeros_like(c)), got, atol=1e-3)  # context used
    with pytest.raises(InputError, match="scan-context model"):
        den(x)
    with pytest.raises(InputError, match="does not match"):
        den(x, context=c[:, :10])


def _context_card(version_dir: Path) -> None:
    """Give the exported model the scene's geometry (no resampling) in its card's domain."""
    from stemtf.noise.optics import disk_radius_px

    path = version_dir / "model_card.json"
    card = json.loads(path.read_text())
    card["domain"] = {
        "q_sampling_invA": Q_SAMPLING_INVA,
        "disk_radius_px": round(disk_radius_px(1.0, 200e3, Q_SAMPLING_INVA), 3),
        "detector_px": DETECTOR_PX,
        "energy_eV": 200e3,
        "semiangle_mrad": 1.0,
        "dose_range_e": [50.0, 2000.0],
        "scan_context": "neighbour_mean_8",
    }
    path.write_text(json.dumps(card))


def _analyze(scan, out, denoise, chunk_dps):
    cfg = AnalyzeConfig(
        input_path=scan,
        out_dir=out,
        denoise=denoise,
        q_sampling_invA=Q_SAMPLING_INVA,
        energy_eV=200e3,
        semiangle_mrad=1.0,
        scheduler="synchronous",
        sample_dps=20,
        chunk_dps=chunk_dps,
    )
    analyze(cfg, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    with h5py.File(out / "results.h5") as f:
        return summary, {
            k: f[p][()]
            for k, p in (("bf", "virtual/bf"), ("adf", "virtual/adf"), ("labels", "labels"))
        }


def test_analyze_gives_a_context_model_the_same_neighbours_in_any_chunking(
    context_export, tmp_path, monkeypatch
):
    _, version_dir = context_export
    _context_card(version_dir)
    data, _, _ = scene((5, 6), seed=2)
    scan = tmp_path / "scan.npy"
    np.save(scan, data)
    s1, one_row = _analyze(scan, tmp_path / "rows", str(version_dir), chunk_dps=6)
    s2, whole = _analyze(scan, tmp_path / "whole", str(version_dir), chunk_dps=30)
    for key in ("bf", "adf", "labels"):
        np.testing.assert_allclose(one_row[key], whole[key], rtol=1e-5, atol=1e-3, err_msg=key)
    d = s1["denoiser"]
    assert d["decision"].startswith("model (forced")
    assert "self_check" in d and "skipped" in d["self_check"]
    assert any("scan-context model" in w for w in s1["warnings"])
    # the denoised virtual images differ from the raw ones: the model did run, with context
    _, raw = _analyze(scan, tmp_path / "raw", "none", chunk_dps=30)
    assert not np.allclose(raw["adf"], whole["adf"], rtol=1e-3)
    # auto never uses a scan-context model (the self-check does not cover it), and says so
    monkeypatch.setenv("STEMTF_MODEL_DIR", str(version_dir))
    s3, auto = _analyze(scan, tmp_path / "auto", "auto", chunk_dps=30)
    assert s3["denoiser"]["decision"] == "none"
    np.testing.assert_array_equal(auto["labels"], raw["labels"])
