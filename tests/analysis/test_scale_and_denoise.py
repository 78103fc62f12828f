"""analyze on a dask LocalCluster and with a real SavedModel denoiser."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from stemtf.analysis import AnalyzeConfig, analyze

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "denoise"))
from scene import Q_SAMPLING_INVA, scene  # noqa: E402
from tiny_models import save_mean_filter  # noqa: E402


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    data, truth, _ = scene((7, 11), seed=5)
    path = tmp_path_factory.mktemp("scan") / "s.npy"
    np.save(path, data)
    return path, truth


def _config(path, out, **kw):
    return AnalyzeConfig(
        path, out, q_sampling_invA=Q_SAMPLING_INVA, energy_eV=200e3, semiangle_mrad=1.0, **kw
    )


def test_local_cluster_matches_in_process(scan, tmp_path):
    path, truth = scan
    a = analyze(
        _config(path, tmp_path / "a", chunk_dps=22, scheduler="synchronous"), progress=False
    )
    b = analyze(_config(path, tmp_path / "b", chunk_dps=22, scheduler="local"), progress=False)
    assert b.summary["scheduler"] == "local"
    with h5py.File(a.files["results.h5"]) as fa, h5py.File(b.files["results.h5"]) as fb:
        np.testing.assert_array_equal(fa["labels"][...], truth)
        np.testing.assert_array_equal(fb["labels"][...], fa["labels"][...])
        np.testing.assert_array_equal(fb["confidence"][...], fa["confidence"][...])
        ha, hb = fa["hexagons"][...], fb["hexagons"][...]
        for name in ha.dtype.names:  # field by field: NaN (no precise radius) compares equal
            np.testing.assert_array_equal(hb[name], ha[name])


def test_savedmodel_denoiser_in_pipeline(scan, tmp_path):
    path, truth = scan
    model = save_mean_filter(tmp_path / "mean3" / "7")
    result = analyze(_config(path, tmp_path / "out", denoise=str(model)), progress=False)
    assert result.summary["denoiser"]["kind"] == "savedmodel"
    with h5py.File(result.files["results.h5"]) as f:
        np.testing.assert_array_equal(f["labels"][...], truth)
        assert f["provenance"].attrs["model_version"] == "7"
        # the ADF image is of the denoised patterns: a 3x3 mean keeps the total counts inside
        assert f["virtual/adf"][...].min() > 0


def test_scheduler_address(scan, tmp_path):
    from dask.distributed import LocalCluster

    path, truth = scan
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        result = analyze(
            _config(path, tmp_path / "out", chunk_dps=33, scheduler=cluster.scheduler_address),
            progress=False,
        )
    assert (
        result.summary["scheduler"].startswith("tcp://") or "inproc" in result.summary["scheduler"]
    )
    with h5py.File(result.files["results.h5"]) as f:
        np.testing.assert_array_equal(f["labels"][...], truth)
