"""Many materials x zone axes into a folder of shards, in chunks on dask; reruns resume."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from stemtf.errors import InputError
from stemtf.fileio import ensure_writable_dir
from stemtf.materials import DEFAULT_ZONE_AXES, check_zone_axis, get, list_materials
from stemtf.materials import zone_axes as enumerate_zone_axes
from stemtf.simulate.config import SimulationConfig
from stemtf.simulate.patterns import prepare
from stemtf.simulate.shard import shard_name, shard_seed, simulate_shard

__all__ = ["simulate_batch", "feasible_zone_axes", "resolve_materials"]

log = logging.getLogger(__name__)
ZONE_AXIS_POOL_FACTOR = (
    3  # look this many times further down the index-ordered list for feasible axes
)


def resolve_materials(spec: str | Sequence[str], *, cif_dir=None) -> list[str]:
    """``"all"``, ``"ID,ID"`` or a list of ids -> validated list of ids."""
    if isinstance(spec, str):
        if spec.strip().lower() == "all":
            return [m.id for m in list_materials(cif_dir=cif_dir)]
        spec = [s for s in spec.split(",") if s.strip()]
    ids = [get(s.strip(), cif_dir=cif_dir).id for s in spec]
    if not ids:
        raise InputError("materials is empty: give 'all' or comma-separated ids")
    return list(dict.fromkeys(ids))


def feasible_zone_axes(structure, n: int, config: SimulationConfig) -> list[tuple[int, int, int]]:
    """The first ``n`` symmetry-unique zone axes whose orthogonal cell needs little strain."""
    out = []
    for uvw in enumerate_zone_axes(structure, n * ZONE_AXIS_POOL_FACTOR):
        try:
            prepare(structure, uvw, config)
        except InputError as e:
            log.debug("skip %s: %s", uvw, e)
            continue
        out.append(uvw)
        if len(out) >= n:
            break
    return out


def _material_chunk(
    material_id: str, zone_axes, config: SimulationConfig, out_dir: str, seed: int, cif_dir
) -> list[str]:
    """One chunk of work: every shard of one material (existing shards are skipped)."""
    mat = get(material_id, cif_dir=cif_dir)
    axes = (
        feasible_zone_axes(mat.structure, zone_axes, config)
        if isinstance(zone_axes, int)
        else zone_axes
    )
    paths = []
    for uvw in axes:
        path = Path(out_dir) / shard_name(mat.id, uvw)
        if not path.exists():
            simulate_shard(mat, uvw, config, path, seed=shard_seed(seed, mat.id, uvw))
        paths.append(str(path))
    return paths


def simulate_batch(
    material_ids: str | Sequence[str],
    *,
    zone_axes: int | Sequence[Sequence[int]] = DEFAULT_ZONE_AXES,
    config: SimulationConfig | None = None,
    out_dir: str | os.PathLike,
    seed: int = 0,
    scheduler: str | None = None,
    progress: bool = True,
    cif_dir: str | os.PathLike | None = None,
    n_workers: int | None = None,
) -> list[Path]:
    """Simulate shards ``<material_id>__<u>_<v>_<w>.h5`` into ``out_dir``.

    Parameters
    ----------
    material_ids : "all", "ID,ID" or list of ids
    zone_axes : int or list of [u, v, w]
        Up to this many symmetry-unique zone axes per material (index order), or explicit axes.
    config : SimulationConfig
    out_dir : path
        Output folder; shards already there are kept (a rerun resumes).
    seed : int
        Run seed; each shard's seed derives from it, the material id and the zone axis.
    scheduler : str, optional
        ``None``: a local dask cluster (or in-process for a single material); an address
        such as ``tcp://host:8786``: that ``dask.distributed`` scheduler.
    progress : bool
        Show a tqdm progress bar over the chunks.

    Returns
    -------
    list of Path, every shard of the batch (new and already present).
    """
    config = config or SimulationConfig()
    ids = resolve_materials(material_ids, cif_dir=cif_dir)
    if isinstance(zone_axes, int):
        if zone_axes < 1:
            raise InputError(f"zone_axes={zone_axes!r} must be >= 1")
        axes: int | list = zone_axes
    else:
        axes = [check_zone_axis(z) for z in zone_axes]
    out = ensure_writable_dir(out_dir, "output folder")
    args = [
        (mid, axes, config, str(out), int(seed), str(cif_dir) if cif_dir else None) for mid in ids
    ]
    results: list[str] = []
    if scheduler is None and (len(ids) == 1 or (n_workers or 2) == 1):
        from tqdm import tqdm

        for a in tqdm(args, disable=not progress, desc="materials", unit="material"):
            results.extend(_material_chunk(*a))
        return [Path(p) for p in results]
    results = _run_distributed(args, scheduler=scheduler, progress=progress, n_workers=n_workers)
    return [Path(p) for p in results]


def _chunk_task(args) -> list[str]:
    """One task for :func:`stemtf.cluster.run_tasks`: ``_material_chunk(*args)``."""
    return _material_chunk(*args)


def _run_distributed(
    args, *, scheduler: str | None, progress: bool, n_workers: int | None
) -> list[str]:
    from tqdm import tqdm

    from stemtf.cluster import LOCAL, run_tasks

    workers = n_workers or min(len(args), os.cpu_count() or 1)
    results: list[str] = []
    with tqdm(total=len(args), disable=not progress, desc="materials", unit="material") as bar:
        for _, paths in run_tasks(
            _chunk_task, args, scheduler or LOCAL, n_workers=workers, flag="scheduler"
        ):
            results.extend(paths)
            bar.update()
    return sorted(results)
