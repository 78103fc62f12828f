"""Deploy the denoiser with TF Serving: warm-up assets, models.config, REST and gRPC clients.

- :func:`write_serving_assets` writes ``assets.extra/tf_serving_warmup_requests`` into an
  exported ``saved_models/<name>/<version>/`` folder (``stemtf export`` calls it).
- :func:`write_models_config` writes a ``models.config`` for ``--model_config_file``.
- :class:`RestDenoiser` and :class:`GrpcDenoiser` (``stemtf.serving.client``) denoise batches
  on a TF Serving instance.

Importing this package is cheap: TensorFlow is imported only by the functions that need it;
the REST client needs only urllib3 and NumPy.
"""

from __future__ import annotations

from stemtf.serving.client import GrpcDenoiser, RestDenoiser
from stemtf.serving.errors import ServingError
from stemtf.serving.models_config import write_models_config
from stemtf.serving.warmup import write_serving_assets

__all__ = [
    "write_serving_assets",
    "write_models_config",
    "RestDenoiser",
    "GrpcDenoiser",
    "ServingError",
]
