"""Denoiser interface: identity, a real tiny SavedModel (3x3 mean filter), spec parsing."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from stemtf.denoise import IdentityDenoiser, SavedModelDenoiser, load
from stemtf.errors import InputError

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import save_mean_filter  # noqa: E402


@pytest.fixture(scope="module")
def mean_model(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "mean3"
    save_mean_filter(base / "1")
    save_mean_filter(base / "2", rank=4)
    return base


def _batch(shape=(5, 19, 23), seed=0):
    return np.random.default_rng(seed).poisson(4.0, size=shape).astype(np.float32)


def test_identity():
    x = _batch()
    d = load("none")
    assert isinstance(d, IdentityDenoiser)
    np.testing.assert_array_equal(d(x), x)
    with pytest.raises(InputError, match=r"shape \(19, 23\)"):
        d(x[0])


def test_savedmodel_mean_filter_matches_reference(mean_model):
    x = _batch()
    d = load(str(mean_model / "1"), batch_size=2, pad_multiple=1)
    assert isinstance(d, SavedModelDenoiser)
    ref = np.stack([uniform_filter(p, size=3, mode="constant") for p in x])
    np.testing.assert_allclose(d(x), ref, rtol=1e-5, atol=1e-5)
    assert d.info["kind"] == "savedmodel" and d.info["version"] == "1"
    clone = pickle.loads(pickle.dumps(d))  # used by dask workers: reloads lazily
    np.testing.assert_allclose(clone(x[:1]), ref[:1], rtol=1e-5, atol=1e-5)


def test_savedmodel_rank4_signature_latest_version_and_padding(mean_model):
    x = _batch((3, 16, 32))
    d = load(mean_model, pad_multiple=1)  # parent folder -> highest version (2, rank 4)
    assert d.info["version"] == "2"
    ref = np.stack([uniform_filter(p, size=3, mode="constant") for p in x])
    np.testing.assert_allclose(d(x), ref, rtol=1e-5, atol=1e-5)
    padded = load(mean_model / "2", pad_multiple=16)(x[:, :13, :29])
    assert padded.shape == (3, 13, 29)
    inner = np.stack([uniform_filter(p, size=3, mode="constant") for p in x[:, :13, :29]])
    np.testing.assert_allclose(padded[:, 1:-1, 1:-1], inner[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-5)


def test_bad_specs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a SavedModel folder"):
        load(tmp_path / "empty")
    with pytest.raises(InputError, match="unknown URL scheme"):
        load("ftp://host/model")
