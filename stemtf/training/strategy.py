"""tf.distribute strategy factory: default, mirrored (local devices), multiworker (TF_CONFIG)."""

from __future__ import annotations

import json
import logging
import os
from enum import Enum
from typing import Any

from stemtf.errors import InputError

__all__ = ["StrategyKind", "parse_tf_config", "make_strategy", "worker_role"]

log = logging.getLogger(__name__)


class StrategyKind(str, Enum):
    """Distribution strategies offered by ``stemtf train --strategy``."""

    default = "default"
    mirrored = "mirrored"
    multiworker = "multiworker"


def _bad(msg: str) -> InputError:
    return InputError(f"TF_CONFIG is malformed: {msg}")


def parse_tf_config(text: str | None) -> dict[str, Any]:
    """Validate a ``TF_CONFIG`` JSON string and return it as a dict.

    It must be an object with ``cluster`` (job name -> list of ``host:port``; a ``worker`` or
    ``chief`` job) and ``task`` (``type`` naming a job of the cluster, ``index`` within it).
    """
    if not text:
        raise InputError(
            "--strategy multiworker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(f"not JSON ({e.msg} at char {e.pos})") from None
    if not isinstance(cfg, dict):
        raise _bad("expected a JSON object with 'cluster' and 'task'")
    cluster, task = cfg.get("cluster"), cfg.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise _bad("'cluster' must be an object mapping job names to lists of 'host:port'")
    if "worker" not in cluster and "chief" not in cluster:
        raise _bad(
            f"'cluster' has jobs {sorted(cluster)}: it needs 'worker' (and optionally 'chief')"
        )
    for job, addrs in cluster.items():
        if not isinstance(addrs, list) or not addrs:
            raise _bad(f"cluster job {job!r} must be a non-empty list of 'host:port'")
        for a in addrs:
            host, _, port = str(a).rpartition(":")
            if not isinstance(a, str) or not host or not port.isdigit():
                raise _bad(f"cluster job {job!r} address {a!r} is not 'host:port'")
    if not isinstance(task, dict):
        raise _bad("'task' must be an object with 'type' and 'index'")
    ttype, index = task.get("type"), task.get("index")
    if ttype not in cluster:
        raise _bad(f"task type {ttype!r} is not a job of the cluster {sorted(cluster)}")
    if (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(cluster[ttype])
    ):
        raise _bad(f"task index {index!r} is not in 0..{len(cluster[ttype]) - 1} for job {ttype!r}")
    return cfg


def _split_cpu(n: int) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError:
        raise InputError(
            f"cpu_devices={n} cannot be applied: TensorFlow devices are already initialised "
            "in this process (set it before any TensorFlow work)"
        ) from None


def make_strategy(kind: StrategyKind | str, *, cpu_devices: int = 0):
    """Create the ``tf.distribute`` strategy.

    Parameters
    ----------
    kind : StrategyKind or str
        ``default`` (one device), ``mirrored`` (every local GPU, else every logical CPU) or
        ``multiworker`` (MultiWorkerMirroredStrategy; cluster from the ``TF_CONFIG`` variable).
    cpu_devices : int
        If > 1, first split the CPU into that many logical devices.
    """
    try:
        kind = StrategyKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in StrategyKind)
        raise InputError(f"strategy={kind!r} is not allowed: choose one of {allowed}") from None
    tf_config = (
        parse_tf_config(os.environ.get("TF_CONFIG")) if kind is StrategyKind.multiworker else None
    )
    import tensorflow as tf

    if cpu_devices > 1:
        _split_cpu(cpu_devices)
    if kind is StrategyKind.default:
        return tf.distribute.get_strategy()
    if kind is StrategyKind.mirrored:
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        names = [d.name for d in devices]
        log.info("MirroredStrategy over %d devices: %s", len(names), ", ".join(names))
        return tf.distribute.MirroredStrategy(devices=names)
    workers = sum(len(v) for v in tf_config["cluster"].values())
    log.info(
        "MultiWorkerMirroredStrategy: %s %d of %d workers",
        tf_config["task"]["type"],
        tf_config["task"]["index"],
        workers,
    )
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_role(strategy) -> tuple[bool, str]:
    """Return ``(is_chief, task_name)`` for a strategy (single-process strategies are chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, "chief"
    ttype, tid = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = ttype == "chief" or (not has_chief and ttype == "worker" and tid == 0)
    return is_chief, f"{ttype}-{tid}"
