"""How ``analyze`` runs its chunk tasks: the scheduler choice, on the one dask driver.

Tasks run through :func:`stemtf.cluster.run_tasks` (shared with ``simulate``): in-process, on a
new LocalCluster, or on a dask.distributed scheduler address.
"""

from __future__ import annotations

from stemtf.cluster import LOCAL, SYNCHRONOUS, run_tasks

__all__ = ["run_tasks", "choose_scheduler", "SMALL_JOB_DPS"]

#: Below this many patterns the default scheduler runs in-process (a cluster costs seconds).
SMALL_JOB_DPS = 50_000


def choose_scheduler(scheduler: str | None, n_dps: int, n_chunks: int) -> str:
    """Resolve the default: ``synchronous`` for small jobs, ``local`` (LocalCluster) otherwise."""
    if scheduler is None:
        return SYNCHRONOUS if n_dps < SMALL_JOB_DPS or n_chunks < 2 else LOCAL
    return scheduler
