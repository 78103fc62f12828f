"""``stemtf.denoise.load`` hands TF Serving URLs to these clients (the analyze --denoise path)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.serving.client import GrpcDenoiser, RestDenoiser
from stemtf.serving.errors import ServingError


def test_load_rest_url(rest_server, counts, reference):
    from stemtf.denoise import load

    denoiser = load(rest_server.url, batch_size=3)
    assert isinstance(denoiser, RestDenoiser) and denoiser.batch_size == 3
    assert denoiser.info["kind"] == "rest" and denoiser.info["version"] == "1"
    np.testing.assert_allclose(denoiser(counts), reference(counts), rtol=1e-6, atol=1e-6)


def test_load_grpc_url(grpc_server, counts, reference):
    from stemtf.denoise import load

    denoiser = load(grpc_server.url, batch_size=4)
    assert isinstance(denoiser, GrpcDenoiser)
    np.testing.assert_array_equal(denoiser(counts), reference(counts))


def test_load_unreachable_is_one_line(free_port):
    from stemtf.denoise import load

    with pytest.raises(ServingError, match="cannot connect") as err:
        load(f"http://127.0.0.1:{free_port}/v1/models/rdunet", retries=0)
    assert "\n" not in str(err.value)
