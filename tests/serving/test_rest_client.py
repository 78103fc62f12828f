"""RestDenoiser against a local server running a real SavedModel with TF Serving's REST API."""

from __future__ import annotations

import json
import pickle
import time

import numpy as np
import pytest

from stemtf.errors import InputError, StemtfError
from stemtf.serving.client import RestDenoiser
from stemtf.serving.errors import ServingError

FAST = {"retries": 0, "backoff_s": 0.0, "timeout_s": 5.0}


def _is_one_line(err: pytest.ExceptionInfo) -> bool:
    text = str(err.value)
    return "\n" not in text and 0 < len(text) <= 400


def _on_post(change):
    """Answer hook applying ``change(status, body)`` to predict answers only."""

    def hook(method, path, status, body):
        return change(status, body) if method == "POST" else (status, body)

    return hook


@pytest.mark.parametrize("request_format", ["columnar", "row"])
def test_matches_in_process_denoising(rest_server, counts, reference, request_format):
    denoiser = RestDenoiser(rest_server.url, batch_size=2, request_format=request_format)
    assert denoiser.input.key == "counts" and denoiser.output_name == "output_0"
    out = denoiser(counts)  # 5 patterns: batches of 2, 2, 1
    assert out.shape == counts.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, reference(counts), rtol=1e-6, atol=1e-6)
    assert not np.allclose(out, counts)  # the model did something


def test_channel_axis_and_url_forms(rest_server, counts, reference):
    url = rest_server.url + "/versions/1:predict"
    denoiser = RestDenoiser(url, batch_size=8)
    assert denoiser.info == {"kind": "rest", "model": "tiny", "version": "1", "url": url[:-8]}
    out = pickle.loads(pickle.dumps(denoiser))(counts[..., np.newaxis])
    np.testing.assert_allclose(out, reference(counts), rtol=1e-6, atol=1e-6)
    fractional = counts * np.float32(0.37)  # sent as floats, not as whole-number ints
    np.testing.assert_allclose(denoiser(fractional), reference(fractional), rtol=1e-6, atol=1e-6)


def test_server_down_is_one_clear_line(free_port):
    url = f"http://127.0.0.1:{free_port}/v1/models/tiny"
    t0 = time.perf_counter()
    with pytest.raises(ServingError, match=r"cannot connect .*gave up after 3 attempts") as err:
        RestDenoiser(url, retries=2, backoff_s=0.05, timeout_s=2.0)
    assert time.perf_counter() - t0 >= 0.1  # urllib3's back-off: at once, then 2 x 0.05 s
    assert url in str(err.value) and _is_one_line(err)


def test_wrong_model_name_is_404(rest_server):
    url = rest_server.url.replace("/tiny", "/nope")
    with pytest.raises(
        InputError, match=r"HTTP 404: Servable not found for request: Latest\(nope\)"
    ):
        RestDenoiser(url, **FAST)
    with pytest.raises(InputError, match=r"Specific\(tiny, 7\)"):
        RestDenoiser(rest_server.url + "/versions/7", **FAST)


def test_wrong_signature_is_clear(rest_server):
    with pytest.raises(
        InputError, match=r"has no signature 'classify' \(it has: serving_default\)"
    ):
        RestDenoiser(rest_server.url, signature="classify", **FAST)
    with pytest.raises(InputError, match=r"has no input 'image'"):
        RestDenoiser(rest_server.url, input_name="image", **FAST)


def test_bad_batch_and_settings(rest_server):
    denoiser = RestDenoiser(rest_server.url, **FAST)
    with pytest.raises(InputError, match=r"give float32 \(B, H, W\)"):
        denoiser(np.zeros((4, 4), np.float32))
    for kwargs in ({"batch_size": 0}, {"retries": -1}, {"timeout_s": 0}, {"request_format": "csv"}):
        with pytest.raises(InputError):
            RestDenoiser(rest_server.url, check_metadata=False, **kwargs)
    for url in ("ftp://h:1/v1/models/x", "http://h:8501/models/x", "http://h:port/v1/models/x"):
        with pytest.raises(InputError, match="TF Serving"):
            RestDenoiser(url)


def test_wrong_input_shape_is_400_from_server(tmp_path, counts):
    """A model with a fixed detector size rejects other sizes: the server's 400 reaches the user."""
    import tensorflow as tf
    from tfs_double import LocalRestServer, SavedModelRunner

    class Fixed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="counts")])
        def serve(self, counts):
            return {"denoised": counts * 0.5}

    module = Fixed()
    tf.saved_model.save(
        module, str(tmp_path / "fixed" / "3"), signatures={"serving_default": module.serve}
    )
    with LocalRestServer(SavedModelRunner("fixed", tmp_path / "fixed")) as server:
        checked = RestDenoiser(server.url, **FAST)
        with pytest.raises(InputError, match=r"axis 1 must be 8"):
            checked(counts)  # caught before sending, from the metadata
        blind = RestDenoiser(server.url, check_metadata=False, **FAST)
        with pytest.raises(InputError, match=r"rejected the request \(HTTP 400: .*") as err:
            blind(counts)
        assert _is_one_line(err)
        np.testing.assert_array_equal(checked(np.ones((2, 8, 8), np.float32)), 0.5)


def test_server_error_is_not_retried(rest_server, counts):
    calls = []

    def fail(status, body):
        calls.append(status)
        return 500, json.dumps({"error": "Internal: out of\nmemory"}).encode()

    denoiser = RestDenoiser(rest_server.url, retries=3, backoff_s=0.01)
    rest_server.set_answer_hook(_on_post(fail))
    with pytest.raises(
        ServingError, match=r"server error \(HTTP 500: Internal: out of memory\)"
    ) as err:
        denoiser(counts)
    assert len(calls) == 1 and _is_one_line(err)


def test_unavailable_is_retried_then_succeeds(rest_server, counts, reference):
    calls = []

    def flaky(status, body):
        calls.append(status)
        if len(calls) <= 2:
            return 503, b'{ "error": "Servable not available" }'
        return status, body

    denoiser = RestDenoiser(rest_server.url, batch_size=8, retries=2, backoff_s=0.01)
    rest_server.set_answer_hook(_on_post(flaky))
    np.testing.assert_allclose(denoiser(counts), reference(counts), rtol=1e-6, atol=1e-6)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(
        ServingError, match=r"HTTP 503: Servable not available \(gave up after 1 attempt\)"
    ):
        RestDenoiser(rest_server.url, batch_size=8, **FAST)(counts)


def test_partial_answer_is_never_returned(rest_server, counts):
    def drop_last(status, body):
        obj = json.loads(body)
        obj["outputs"] = obj["outputs"][:-1]
        return status, json.dumps(obj).encode()

    denoiser = RestDenoiser(rest_server.url, batch_size=2, **FAST)
    rest_server.set_answer_hook(_on_post(drop_last))
    with pytest.raises(ServingError, match=r"incomplete answer: 1 patterns returned for 2 sent"):
        denoiser(counts)


def test_malformed_answers(rest_server, counts):
    denoiser = RestDenoiser(rest_server.url, batch_size=2, **FAST)
    cases = {
        r"answer is not JSON": lambda s, b: (200, b"<html>proxy error</html>"),
        r"answer has no 'outputs' key": lambda s, b: (200, b'{"predictions": []}'),
        r"not a regular numeric array": lambda s, b: (200, b'{"outputs": [[1, 2], [3]]}'),
        r"incomplete response .*gave up after 1 attempt": lambda s, b: (
            200,
            b[: len(b) // 2],
            len(b),
        ),
    }
    for pattern, change in cases.items():
        rest_server.set_answer_hook(_on_post(change))
        with pytest.raises(ServingError, match=pattern) as err:
            denoiser(counts)
        assert _is_one_line(err)


def test_timeout(rest_server, counts):
    def slow(status, body):
        time.sleep(1.0)
        return status, body

    denoiser = RestDenoiser(rest_server.url, timeout_s=0.2, retries=1, backoff_s=0.01)
    rest_server.set_answer_hook(_on_post(slow))
    with pytest.raises(ServingError, match=r"no answer within 0.2 s \(gave up after 2 attempts\)"):
        denoiser(counts)


def test_errors_are_stemtf_errors():
    assert issubclass(ServingError, StemtfError)


def test_model_with_two_outputs_needs_output_name(tmp_path, counts):
    import tensorflow as tf
    from tfs_double import LocalRestServer, SavedModelRunner

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="counts")])
        def serve(self, counts):
            return {"denoised": counts * 2.0, "sigma": tf.sqrt(counts)}

    module = Two()
    tf.saved_model.save(
        module, str(tmp_path / "two" / "1"), signatures={"serving_default": module.serve}
    )
    with LocalRestServer(SavedModelRunner("two", tmp_path / "two")) as server:
        with pytest.raises(InputError, match=r"has outputs \[denoised, sigma\]; pass output_name"):
            RestDenoiser(server.url, **FAST)
        for fmt in ("columnar", "row"):  # outputs as an object / predictions as objects
            denoiser = RestDenoiser(server.url, output_name="denoised", request_format=fmt, **FAST)
            np.testing.assert_array_equal(denoiser(counts), counts * 2)
