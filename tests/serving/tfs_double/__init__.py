"""Test doubles of TF Serving: a SavedModel runner and local REST / gRPC servers around it.

Not part of the stemtf package (nothing there starts a server): the serving tests and
``scripts/bench_serving.py`` import this folder with ``tests/serving`` on ``sys.path``.
"""

from tfs_double.grpc_server import LocalGrpcServer
from tfs_double.rest_server import LocalRestServer
from tfs_double.runner import SavedModelRunner, ServingStatus, latest_version

__all__ = [
    "LocalGrpcServer",
    "LocalRestServer",
    "SavedModelRunner",
    "ServingStatus",
    "latest_version",
]
