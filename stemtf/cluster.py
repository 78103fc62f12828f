"""The one dask driver of stemtf: a cluster (new or existing) and a bounded task loop.

``simulate`` (materials x zone axes into shards) and ``analyze`` (chunks of scan rows) both run
independent, picklable tasks on dask.distributed: :func:`dask_client` starts a
``LocalCluster`` of single-threaded worker processes or connects to a scheduler address, and
:func:`run_tasks` keeps at most ``2 x workers`` tasks in flight, so the driver's memory does
not grow with the number of tasks. dask is imported only when a cluster is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stemtf.errors import InputError

__all__ = ["dask_client", "run_tasks", "LOCAL", "SYNCHRONOUS", "CONNECT_TIMEOUT_S"]

log = logging.getLogger(__name__)

#: Scheduler names: run in this process, or on a new LocalCluster.
SYNCHRONOUS = "synchronous"
LOCAL = "local"
#: Connecting to a scheduler address gives up after this [s].
CONNECT_TIMEOUT_S = 5


def _quiet_dask() -> None:
    """dask.distributed logs every worker start at INFO; keep that for ``-vv`` only."""
    if not logging.getLogger("stemtf").isEnabledFor(logging.DEBUG):
        for name in (
            "distributed",
            "distributed.scheduler",
            "distributed.nanny",
            "distributed.core",
            "distributed.worker",
            "distributed.http.proxy",
        ):
            logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def dask_client(
    scheduler: str, *, n_workers: int | None = None, flag: str = "--scheduler"
) -> Iterator[Any]:
    """A ``dask.distributed.Client``, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler : str
        ``"local"``: a new ``LocalCluster`` of single-threaded worker processes; otherwise a
        scheduler address such as ``tcp://HOST:8786``.
    n_workers : int, optional
        Workers of the local cluster; default one per CPU core.
    flag : str
        Names the setting in the error message (``--scheduler`` or ``scheduler``).

    Raises
    ------
    InputError
        No scheduler answers at the address within :data:`CONNECT_TIMEOUT_S`.
    """
    from dask.distributed import Client, LocalCluster

    _quiet_dask()
    if scheduler == LOCAL:
        cluster = LocalCluster(
            n_workers=max(1, n_workers or os.cpu_count() or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,  # no dashboard port to clash with another cluster
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(
            f"{flag}={scheduler!r} cannot be reached: no dask scheduler answered "
            f"({' '.join(str(e).split())}); allowed: {SYNCHRONOUS}, {LOCAL}, or an address like "
            "tcp://HOST:8786"
        ) from None
    try:
        yield client
    finally:
        client.close()


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    scheduler: str,
    *,
    n_workers: int | None = None,
    flag: str = "--scheduler",
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(task, fn(task))`` for every task, in completion order.

    Parameters
    ----------
    fn : callable
        Picklable function of one task.
    tasks : iterable
        Picklable tasks (consumed lazily).
    scheduler : str
        ``"synchronous"`` (a plain loop here), ``"local"`` (a new LocalCluster) or a
        dask.distributed scheduler address.
    n_workers : int, optional
        Workers of a local cluster.
    flag : str
        Names the setting in error messages.
    """
    if scheduler == SYNCHRONOUS:
        for task in tasks:
            yield task, fn(task)
        return
    from dask.distributed import as_completed

    with dask_client(scheduler, n_workers=n_workers, flag=flag) as client:
        limit = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        it = iter(tasks)
        pending: dict[Any, Any] = {}
        done = as_completed()
        for task in it:
            future = client.submit(fn, task, pure=False)
            pending[future] = task
            done.add(future)
            if len(pending) >= limit:
                break
        for future in done:
            task = pending.pop(future)
            result = future.result()  # re-raises the worker's exception (e.g. InputError)
            future.release()
            nxt = next(it, None)
            if nxt is not None:
                following = client.submit(fn, nxt, pure=False)
                pending[following] = nxt
                done.add(following)
            yield task, result
