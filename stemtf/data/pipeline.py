"""``build_dataset``: simulate clean shards (resuming), write the records, the card and a preview.

Layout under ``data_dir``::

    shards/<config>/<material_id>__<u>_<v>_<w>.h5     clean shards (one per material, zone axis)
    stem_diffraction/<config>[_seed<S>]/<version>/    tfds records, dataset_info.json,
                                                       dataset_card.json, DATASET_CARD.md

Both stages resume: shards are written atomically and existing ones are skipped; tfds writes
records into an ``incomplete.*`` folder renamed only when complete, and every example is a
pure function of (shards, seed, split, index), so a killed run rerun gives the same examples.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemtf.data.specs import DatasetSpec
from stemtf.errors import InputError
from stemtf.fileio import ensure_writable_dir

__all__ = ["BuildResult", "build_dataset", "simulate_shards", "write_records"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """Where things were written and how many examples each split holds."""

    dataset_dir: Path
    shard_dir: Path
    split_examples: dict[str, int]
    card_json: Path
    card_md: Path
    preview_png: Path | None


def simulate_shards(
    spec: DatasetSpec, shard_dir: Path, *, scheduler: str | None, progress: bool
) -> list[Path]:
    """Simulate the config's materials x zone axes x thicknesses into ``shard_dir`` (skips existing)."""
    from stemtf.data.materials_plan import select_materials
    from stemtf.materials import list_materials
    from stemtf.simulate import SimulationConfig, simulate_batch

    ids = select_materials(spec, [m.id for m in list_materials(include_mp_cache=False)])
    config = SimulationConfig(
        energy_eV=spec.energy_eV,
        semiangle_mrad=spec.semiangle_mrad,
        detector_px=spec.detector_px,
        q_sampling_invA=spec.q_sampling_invA,
        thicknesses_A=tuple(spec.thicknesses_A),
    )
    log.info(
        "simulating %d materials x up to %d zone axes into %s",
        len(ids),
        spec.zone_axes_per_material,
        shard_dir,
    )
    return simulate_batch(
        ids,
        zone_axes=spec.zone_axes_per_material,
        config=config,
        out_dir=shard_dir,
        seed=0,
        scheduler=scheduler,
        progress=progress,
    )


def _remove_stale_incomplete(config_dir: Path) -> None:
    for stale in config_dir.glob("incomplete.*"):
        log.info("removing the unfinished records of an interrupted run: %s", stale)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stale)


def write_records(
    spec: DatasetSpec, data_dir: Path, shard_dir: Path, *, progress: bool = True
) -> Any:
    """Run the tfds builder on ``shard_dir``; return the prepared builder (reused if complete)."""
    import tensorflow_datasets as tfds

    if progress:
        tfds.enable_progress_bar()
    else:
        tfds.disable_progress_bar()

    from stemtf.data.builder import StemDiffraction, StemDiffractionConfig

    registered = {c.name: c.spec for c in StemDiffraction.BUILDER_CONFIGS}
    if spec.name in registered and registered[spec.name] != spec:
        raise InputError(
            f"dataset config name {spec.name!r} is taken by a built-in config: rename the changed spec"
        )
    config = spec.name if spec.name in registered else StemDiffractionConfig.from_spec(spec)
    builder = StemDiffraction(config=config, data_dir=str(data_dir))
    _remove_stale_incomplete(Path(builder.data_dir).parent)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(shard_dir))
    )
    return builder


def build_dataset(
    spec: DatasetSpec,
    data_dir: str | os.PathLike,
    *,
    shard_dir: str | os.PathLike | None = None,
    scheduler: str | None = None,
    preview: str | os.PathLike | None = None,
    progress: bool = True,
) -> BuildResult:
    """Both stages plus the card (and a preview PNG when ``preview`` is given).

    With ``shard_dir`` pointing at existing shards the simulation stage is skipped.
    """
    from stemtf.data.card import write_card
    from stemtf.data.preview import write_preview

    data_dir = ensure_writable_dir(data_dir, "data dir")
    if shard_dir is None:
        shard_dir = ensure_writable_dir(
            data_dir / "shards" / spec.name.split("_seed")[0], "shard folder"
        )
        simulate_shards(spec, shard_dir, scheduler=scheduler, progress=progress)
    else:
        shard_dir = Path(shard_dir)
        if not shard_dir.is_dir():
            raise InputError(f"shard folder {str(shard_dir)!r} does not exist")
    builder = write_records(spec, data_dir, shard_dir, progress=progress)
    card_json, card_md = write_card(builder)
    png = write_preview(builder, preview) if preview is not None else None
    splits = {name: int(s.num_examples) for name, s in builder.info.splits.items()}
    log.info("dataset %s: %s examples in %s", spec.name, splits, builder.data_dir)
    return BuildResult(Path(builder.data_dir), Path(shard_dir), splits, card_json, card_md, png)
