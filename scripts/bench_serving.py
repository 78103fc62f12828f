"""Measure denoising throughput in-process, through the REST client and through the gRPC client.

``python scripts/bench_serving.py [--model saved_models/rdunet] [--px 128] [--n 128] [--batch 32]``

Serves the model with the local test doubles of TF Serving (``tests/serving/tfs_double``: a
REST and a gRPC server, run from a checkout) on 127.0.0.1 and prints patterns per second for each
path, plus the REST client's own JSON cost (encoding the request and decoding an answer of the
same size), which is what a real TF Serving would not take away. Without ``--model`` a
3 x 3 local-mean SavedModel is used, so the numbers measure transport, not the network.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]

DOUBLES = Path(__file__).resolve().parents[1] / "tests" / "serving"


def _local_mean_model(base: Path) -> None:
    import tensorflow as tf

    class LocalMean(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="counts")])
        def serve(self, counts):
            x = counts[..., tf.newaxis]
            return tf.nn.avg_pool2d(x, ksize=3, strides=1, padding="SAME")[..., 0]

    module = LocalMean()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.serve})


def _rate(fn, batch: np.ndarray) -> float:
    fn(batch[:2])  # warm up
    start = time.perf_counter()
    fn(batch)
    return batch.shape[0] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print one line per path; returns patterns/s by path."""
    import tensorflow as tf

    from stemtf.errors import StemtfError
    from stemtf.serving.client import RestDenoiser
    from stemtf.serving.rest_client import _json_tensor

    if str(DOUBLES) not in sys.path:
        sys.path.insert(0, str(DOUBLES))
    from tfs_double import LocalRestServer, SavedModelRunner, latest_version

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model base path (saved_models/<name>)")
    parser.add_argument("--px", type=int, default=128, help="detector size [px]")
    parser.add_argument("--n", type=int, default=128, help="patterns")
    parser.add_argument("--batch", type=int, default=32, help="patterns per request")
    args = parser.parse_args(argv)
    batch = np.random.default_rng(0).poisson(3.0, (args.n, args.px, args.px)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.model or Path(tmp) / "bench"
        if args.model is None:
            _local_mean_model(base)
        runner = SavedModelRunner(base.name, base)
        fn = tf.saved_model.load(str(latest_version(base)[1])).signatures["serving_default"]

        def in_process(x: np.ndarray) -> None:
            for i in range(0, x.shape[0], args.batch):
                fn(tf.constant(x[i : i + args.batch]))

        rates = {"in-process": _rate(in_process, batch)}
        part = batch[: args.batch]
        answer = json.dumps({"outputs": (part * np.float32(0.37)).tolist()})
        start = time.perf_counter()
        json.dumps({"inputs": _json_tensor(part)})
        np.asarray(json.loads(answer)["outputs"], dtype=np.float32)
        rates["rest client JSON only"] = part.shape[0] / (time.perf_counter() - start)
        with LocalRestServer(runner) as server:
            for fmt in ("columnar", "row"):
                rest = RestDenoiser(server.url, batch_size=args.batch, request_format=fmt)
                rates[f"rest {fmt} (local server)"] = _rate(rest, batch)
        try:
            from tfs_double import LocalGrpcServer

            from stemtf.serving.client import GrpcDenoiser

            with (
                LocalGrpcServer(runner) as server,
                GrpcDenoiser(server.url, batch_size=args.batch) as grpc_denoiser,
            ):
                rates["grpc (local server)"] = _rate(grpc_denoiser, batch)
        except StemtfError as err:  # tensorflow-serving-api missing
            print(f"grpc skipped: {err}")
    for name, rate in rates.items():
        print(f"{name:28s} {rate:10.1f} DP/s  ({args.n} x {args.px}^2, batch {args.batch})")
    return rates


if __name__ == "__main__":
    main()
