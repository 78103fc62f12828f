"""Run chunk tasks in-process or on dask.distributed, yielding results as they finish.

At most ``2 x workers`` tasks are in flight, so driver memory does not grow with the scan.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stemtf.errors import InputError

__all__ = ["run_tasks", "choose_scheduler", "SMALL_JOB_DPS"]

log = logging.getLogger(__name__)

#: Below this many patterns the default scheduler runs in-process (a cluster costs seconds).
SMALL_JOB_DPS = 50_000


def choose_scheduler(scheduler: str | None, n_dps: int, n_chunks: int) -> str:
    """Resolve the default: ``synchronous`` for small jobs, ``local`` (LocalCluster) otherwise."""
    if scheduler is None:
        return "synchronous" if n_dps < SMALL_JOB_DPS or n_chunks < 2 else "local"
    return scheduler


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
def _client(scheduler: str) -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster

    _quiet_dask()
    if scheduler == "local":
        n = max(1, os.cpu_count() or 1)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never clash with another cluster
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(
            f"--scheduler {scheduler!r}: cannot connect to a dask scheduler ({' '.join(str(e).split())}); "
            "allowed: synchronous, local, or an address like tcp://HOST:8786"
        ) from None
    try:
        yield client
    finally:
        client.close()


def run_tasks(
    fn: Callable[[Any], Any], tasks: Iterable[Any], scheduler: str
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(task, fn(task))`` for every task, in completion order.

    Parameters
    ----------
    fn : callable
        Picklable function of one task.
    tasks : iterable
        Picklable tasks.
    scheduler : str
        ``synchronous`` (a plain loop here), ``local`` (a new LocalCluster) or a
        dask.distributed scheduler address.
    """
    if scheduler == "synchronous":
        for task in tasks:
            yield task, fn(task)
        return
    from dask.distributed import as_completed

    with _client(scheduler) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = 2 * n_workers
        it = iter(tasks)
        pending: dict[Any, Any] = {}
        ac = as_completed()
        for task in it:
            fut = client.submit(fn, task, pure=False)
            pending[fut] = task
            ac.add(fut)
            if len(pending) >= limit:
                break
        for fut in ac:
            task = pending.pop(fut)
            result = fut.result()  # re-raises the worker's exception (e.g. InputError)
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                f2 = client.submit(fn, nxt, pure=False)
                pending[f2] = nxt
                ac.add(f2)
            yield task, result
