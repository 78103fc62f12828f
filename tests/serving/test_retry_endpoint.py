"""Retry policies (urllib3 for REST, gRPC service config) and address parsing (no server)."""

from __future__ import annotations

import json

import pytest
from urllib3.util.retry import Retry

from stemtf.errors import InputError
from stemtf.serving.endpoint import parse_grpc_url, parse_rest_url
from stemtf.serving.grpc_client import grpc_service_config
from stemtf.serving.rest_transport import MAX_DELAY_S, retry_policy


def test_rest_retry_policy_is_urllib3s():
    policy = retry_policy(4, 0.5)
    assert isinstance(policy, Retry) and policy.total == 4 and policy.redirect == 0
    assert policy.allowed_methods is None  # POST (predict) is retried too
    assert set(policy.status_forcelist) == {408, 429, 502, 503, 504}
    assert policy.backoff_max == MAX_DELAY_S and policy.respect_retry_after_header
    # urllib3's schedule: first retry at once, then backoff * 2**(n-1), capped
    waits = []
    for _ in range(4):
        policy = policy.increment(method="POST", url="/x", error=ConnectionError("refused"))
        waits.append(policy.get_backoff_time())
    assert waits == [0.0, 1.0, 2.0, 4.0]


def test_grpc_retry_policy_is_a_service_config():
    config = grpc_service_config(2, 0.25)
    [method] = config["methodConfig"]
    assert method["name"] == [{"service": "tensorflow.serving.PredictionService"}]
    assert method["retryPolicy"] == {
        "maxAttempts": 3,
        "initialBackoff": "0.250s",
        "maxBackoff": "30s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED"],
    }
    assert grpc_service_config(0, 0.25) == {}
    json.dumps(config)  # what the channel option carries


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


def test_bench_runs_on_a_tiny_case(capsys, load_script):
    bench = load_script("bench_serving")
    rates = bench.main(["--px", "16", "--n", "8", "--batch", "4"])
    assert {"in-process", "rest columnar (local server)", "rest row (local server)"} <= set(rates)
    assert all(r > 0 for r in rates.values())
    assert "DP/s" in capsys.readouterr().out
