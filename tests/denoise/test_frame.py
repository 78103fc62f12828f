"""The model's frame: count-preserving crop + resampling, and the real bundled SavedModel run
through it on known disk patterns for detectors of 64-512 px and disk radii of 2-12 px."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from stemtf.denoise import IdentityDenoiser, SavedModelDenoiser
from stemtf.denoise.domain import DataGeometry, ModelDomain, mismatch_line
from stemtf.denoise.frame import Frame, FramedDenoiser, resample_matrix
from stemtf.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "saved_models" / "rdunet" / "1"


@pytest.mark.parametrize("n_src,n_dst", [(256, 112), (64, 104), (37, 37), (512, 144), (5, 1)])
@pytest.mark.parametrize("kind", ["area", "tent"])
def test_resample_matrix_keeps_counts(n_src, n_dst, kind):
    m = resample_matrix(n_src, n_dst, kind)
    assert m.shape == (n_dst, n_src)
    np.testing.assert_allclose(m.sum(axis=0), 1.0, atol=1e-6)
    assert (m >= 0).all()


def test_resample_matrix_bad_kind():
    with pytest.raises(InputError, match="area or tent"):
        resample_matrix(4, 2, "cubic")


def test_frame_identity_at_model_geometry_and_crop_when_detector_reaches_far():
    f = Frame.for_geometry((128, 128), 3.19, 3.19, 0.0125)
    assert f.identity
    # a 512 px detector at fine sampling reaches far beyond the phase rings: cropped
    f = Frame.for_geometry((512, 512), 3.19, 3.19, 0.004)
    y0, y1, x0, x1 = f.crop
    assert 0 < y0 < 256 < y1 < 512 and (y1 - y0) == (x1 - x0)
    assert not f.identity and f.zoom == (1.0, 1.0)
    # 256 px, 0.0078 1/A/px, 1.5 mrad: disks of 7.7 px shrunk to the model's 3.19 px
    g = DataGeometry((256, 256), 0.0078, 200e3, 1.5)
    f = Frame.for_geometry(g.detector_px, g.disk_radius_px, 3.19, g.q_sampling_invA)
    assert f.model_px[0] % 8 == 0 and abs(f.zoom[0] - 3.19 / g.disk_radius_px) < 0.03
    # unknown domain: never resampled
    assert Frame.for_geometry((256, 256), 7.7, None, None).identity


def test_frame_round_trip_keeps_counts_and_raw_outside_crop():
    rng = np.random.default_rng(1)
    x = rng.poisson(3.0, size=(3, 200, 180)).astype(np.float32)
    f = Frame.for_geometry((200, 180), 9.0, 3.19, 0.01)
    m = f.to_model(x)
    assert m.shape == (3, *f.model_px)
    y0, y1, x0, x1 = f.crop
    np.testing.assert_allclose(m.sum(axis=(1, 2)), x[:, y0:y1, x0:x1].sum(axis=(1, 2)), rtol=1e-5)
    back = f.from_model(m, x)
    np.testing.assert_allclose(back.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=1e-5)
    outside = np.ones(x.shape[1:], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(back[:, outside], x[:, outside])
    assert pickle.loads(pickle.dumps(f)).to_dict() == f.to_dict()


def test_framed_identity_keeps_every_count_and_checks_shape():
    x = np.random.default_rng(2).poisson(2.0, size=(2, 96, 96)).astype(np.float32)
    d = FramedDenoiser(IdentityDenoiser(), Frame.for_geometry((96, 96), 6.0, 3.0, 0.02))
    y = d(x)
    np.testing.assert_allclose(y.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(InputError, match="96, 96"):
        d(x[:, :64, :64])


def _disk_pattern(n: int, r: float, dose: float):
    """Central disk + a hexagon of 6 disks (radius r) + 10 % flat background; truth and centres."""
    yy, xx = np.mgrid[:n, :n] + 0.5
    c = n / 2.0
    ring = min(0.32 * n, 6.0 * r + 8.0)
    centres = [(c, c)] + [
        (c + ring * np.sin(t), c + ring * np.cos(t)) for t in np.arange(6) * np.pi / 3 + 0.2
    ]
    img = np.zeros((n, n))
    for i, (y, x) in enumerate(centres):
        img += (3.0 if i == 0 else 1.0) * (np.hypot(yy - y, xx - x) <= r)
    img = 0.9 * dose * img / img.sum() + 0.1 * dose / n**2
    return img, centres


@pytest.mark.parametrize(
    "n,r", [(64, 2.0), (128, 3.19), (256, 7.7), (256, 2.0), (512, 12.0), (96, 5.0)]
)
def test_bundled_model_in_frame_keeps_disks_and_counts(n, r):
    """The real SavedModel: every disk comes back where it was, with its counts (+-25 %) and
    most of its signal inside it; total counts within 5 % of the raw pattern."""
    if not (BUNDLED / "saved_model.pb").is_file():
        pytest.skip("bundled model not exported")
    truth, centres = _disk_pattern(n, r, 1e4)
    raw = np.random.default_rng(3).poisson(np.broadcast_to(truth, (2, n, n))).astype(np.float32)
    inner = SavedModelDenoiser(BUNDLED, batch_size=8)
    domain = ModelDomain.from_card(inner.info["card"])
    assert domain is not None and abs(domain.disk_radius_px - 3.19) < 0.01
    frame = Frame.for_geometry((n, n), r, domain.disk_radius_px, None)
    out = FramedDenoiser(inner, frame, disk_radius_px=r)(raw)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), raw.sum(axis=(1, 2)), rtol=0.05)
    yy, xx = np.mgrid[:n, :n] + 0.5
    for y, x in centres:
        inside = np.hypot(yy - y, xx - x) <= r + 1.0
        want = truth[inside].sum()
        for k in range(len(out)):
            got = out[k][inside].sum()
            assert abs(got / want - 1.0) < 0.25, (y, x, got, want)
            w = out[k] * (np.hypot(yy - y, xx - x) <= r + 2.0)
            cy, cx = (w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()
            assert np.hypot(cy - y, cx - x) < max(0.5, 0.1 * r), (cy, cx, y, x)
            # a disk, not a fragment: the inner half of the disk is as bright as the truth's
            core = np.hypot(yy - y, xx - x) <= 0.5 * r
            assert out[k][core].mean() > 0.7 * truth[core].mean()


def test_domain_from_card_and_mismatch_line():
    assert ModelDomain.from_card({"name": "x"}) is None
    with pytest.raises(InputError, match="malformed"):
        ModelDomain.from_card({"domain": {"q_sampling_invA": 0.01}})
    dom = ModelDomain.from_spec(128, 0.0125, 200e3, 1.0, (1e3, 1e5))
    assert abs(dom.disk_radius_px - 3.19) < 0.01
    same = DataGeometry((128, 128), 0.0125, 200e3, 1.0)
    assert mismatch_line("m/1", same, dom, 5e3) is None
    assert "dose" in mismatch_line("m/1", same, dom, 50.0)
    big = DataGeometry((256, 256), 0.0078, 200e3, 1.5)
    line = mismatch_line("m/1", big, dom, 5e3)
    assert (
        "\n" not in line
        and "0.0078" in line
        and "0.0125" in line
        and "7.7 px" in line
        and "3.2 px" in line
    )
    unknown = mismatch_line("m/1", big, None)
    assert "unknown domain" in unknown and "0.0078" in unknown


def test_a_probe_the_model_was_trained_on_is_in_its_domain_on_any_detector():
    """rdunet/2's card: trained on 128 px at 1 mrad and 256 px at 1.5 mrad through the frame.

    Its 256 px scans are in domain (no warning line); a 2 mrad probe, whose rings sit at a
    distance in disk radii the model never saw, is not, and the line names the probes.
    """
    card = json.loads((ROOT / "saved_models" / "rdunet" / "2" / "model_card.json").read_text())
    dom = ModelDomain.from_card(card)
    for px, q, mrad in ((128, 0.0125, 1.0), (256, 0.0078, 1.5), (256, 0.0125, 1.0)):
        data = DataGeometry((px, px), q, 200e3, mrad)
        f = Frame.for_geometry((px, px), data.disk_radius_px, dom.disk_radius_px, q)
        assert mismatch_line("rdunet/2", data, dom, 2e3, zoom=f.zoom[0]) is None, (px, q, mrad)
    wide = DataGeometry((256, 256), 0.0078, 200e3, 2.0)
    f = Frame.for_geometry((256, 256), wide.disk_radius_px, dom.disk_radius_px, 0.0078)
    line = mismatch_line("rdunet/2", wide, dom, 2e3, zoom=f.zoom[0])
    assert "q-sampling" in line and "probes 0.0359-0.0658 1/Å" in line
    # without the probe record, the frame's q-sampling alone decides (as before)
    bare = ModelDomain(**{**dom.__dict__, "auto_disk_radius_invA": None})
    data = DataGeometry((256, 256), 0.0078, 200e3, 1.5)
    f = Frame.for_geometry((256, 256), data.disk_radius_px, dom.disk_radius_px, 0.0078)
    assert "q-sampling" in mismatch_line("rdunet/2", data, bare, 2e3, zoom=f.zoom[0])


@pytest.mark.parametrize("n,r", [(8, 2.0), (16, 12.0), (12, 2.5)])
def test_tiny_detectors_and_batches(n, r):
    """Tiny detectors, one pattern and no pattern: shapes and counts survive the frame."""
    f = Frame.for_geometry((n, n), r, 3.19, 0.05)
    d = FramedDenoiser(IdentityDenoiser(), f, disk_radius_px=r)
    x = np.random.default_rng(4).poisson(5.0, size=(1, n, n)).astype(np.float32)
    y = d(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(), x.sum(), rtol=1e-5)
    assert d(x[:0]).shape == (0, n, n)
