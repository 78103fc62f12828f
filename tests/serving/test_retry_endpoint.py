"""Back-off schedule, retry loop and address parsing (no server needed)."""

from __future__ import annotations

import pytest

from stemtf.errors import InputError
from stemtf.serving.endpoint import parse_grpc_url, parse_rest_url
from stemtf.serving.errors import ServingError
from stemtf.serving.retry import MAX_DELAY_S, TransientError, backoff_delays_s, with_retries


def test_backoff_doubles_and_is_capped():
    assert backoff_delays_s(4, 0.5) == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delays_s(12, 1.0)[-1] == MAX_DELAY_S
    assert backoff_delays_s(0, 1.0) == []


def test_with_retries_counts_attempts():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("connection refused")
        return "ok"

    assert with_retries(flaky, retries=2, backoff_s=0.0, what="server") == "ok"
    calls.clear()
    with pytest.raises(
        ServingError, match=r"^server: connection refused \(gave up after 2 attempts\)$"
    ):
        with_retries(flaky, retries=1, backoff_s=0.0, what="server")
    assert len(calls) == 2

    def final():
        calls.append(1)
        raise InputError("bad request")

    calls.clear()
    with pytest.raises(InputError):
        with_retries(final, retries=5, backoff_s=0.0, what="server")
    assert len(calls) == 1  # final errors are not retried


def test_rest_urls():
    ep = parse_rest_url("http://gpu-box:8501/v1/models/rdunet/versions/3:predict")
    assert (ep.host, ep.port, ep.name, ep.version, ep.label) == ("gpu-box", 8501, "rdunet", 3, None)
    assert ep.predict_url == "http://gpu-box:8501/v1/models/rdunet/versions/3:predict"
    assert ep.metadata_url == "http://gpu-box:8501/v1/models/rdunet/versions/3/metadata"
    ep = parse_rest_url("https://serving.example.org/v1/models/rdunet/labels/stable/")
    assert (ep.port, ep.label, ep.model_url) == (
        443,
        "stable",
        "https://serving.example.org/v1/models/rdunet/labels/stable",
    )
    for bad in (
        "rdunet",
        "http:///v1/models/x",
        "http://h:8501/v1/models/",
        "http://h:8501/v1/models/x?y=1",
    ):
        with pytest.raises(InputError, match="TF Serving URL"):
            parse_rest_url(bad)


def test_grpc_urls():
    ep = parse_grpc_url("grpc://10.0.0.5:8500/rdunet/versions/2")
    assert (ep.target, ep.name, ep.version) == ("10.0.0.5:8500", "rdunet", 2)
    assert parse_grpc_url("grpc://[::1]/rdunet").target == "[::1]:8500"
    for bad in ("grpc://h:8500", "grpc://h:8500/a/b", "http://h:8500/rdunet", "grpc://h:99999/x"):
        with pytest.raises(InputError, match="TF Serving"):
            parse_grpc_url(bad)


def test_bench_runs_on_a_tiny_case(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_serving.py"
    spec = importlib.util.spec_from_file_location("bench_serving", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rates = bench.main(["--px", "16", "--n", "8", "--batch", "4"])
    assert {"in-process", "rest columnar (local server)", "rest row (local server)"} <= set(rates)
    assert all(r > 0 for r in rates.values())
    assert "DP/s" in capsys.readouterr().out
