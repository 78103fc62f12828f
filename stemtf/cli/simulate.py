"""``stemtf simulate``: clean diffraction patterns (HDF5 shards) with abTEM multislice."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    out: Annotated[
        Path,
        typer.Option("--out", help="Output FILE.h5 (single) or folder (batch with --materials)."),
    ],
    material: Annotated[
        str | None, typer.Option("--material", help="One material id, e.g. nmc811-o3.")
    ] = None,
    zone_axis: Annotated[
        tuple[int, int, int] | None,
        typer.Option("--zone-axis", help="Zone axis U V W (with --material)."),
    ] = None,
    materials: Annotated[
        str | None,
        typer.Option("--materials", help="Batch: 'all' or comma-separated ids; --out is a folder."),
    ] = None,
    zone_axes: Annotated[
        int, typer.Option("--zone-axes", help="Batch: symmetry-unique zone axes per material.")
    ] = 60,
    thickness_A: Annotated[
        list[float] | None,
        typer.Option(
            "--thickness-A", help="Thickness [A]; repeat for a series (default 20, 40, ..., 160)."
        ),
    ] = None,
    detector_px: Annotated[
        int, typer.Option("--detector-px", help="Detector size H = W [px].")
    ] = 128,
    q_sampling_invA: Annotated[
        float, typer.Option("--q-sampling-invA", help="Detector pixel size [1/A].")
    ] = 0.0125,
    energy_keV: Annotated[
        float, typer.Option("--energy-keV", help="Beam energy [keV], 20-1000.")
    ] = 200.0,
    semiangle_mrad: Annotated[
        float, typer.Option("--semiangle-mrad", help="Convergence semi-angle [mrad].")
    ] = 1.0,
    rotation_deg: Annotated[
        float, typer.Option("--rotation-deg", help="In-plane rotation [deg] (single).")
    ] = 0.0,
    tilt_mrad: Annotated[
        tuple[float, float], typer.Option("--tilt-mrad", help="Beam tilt X Y [mrad].")
    ] = (0.0, 0.0),
    frozen_phonons: Annotated[
        int, typer.Option("--frozen-phonons", help="Frozen-phonon configurations (0 = off).")
    ] = 0,
    sampling_A: Annotated[
        float, typer.Option("--sampling-A", help="Multislice real-space sampling [A].")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of site ordering and phonons.")] = 0,
    cif_dir: Annotated[
        Path | None,
        typer.Option(
            "--cif-dir", exists=True, file_okay=False, help="Folder of CIFs (ids cif-<stem>)."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Batch: dask.distributed scheduler ADDRESS (default local)."
        ),
    ] = None,
    preview: Annotated[
        Path | None, typer.Option("--preview", help="Also write a montage PNG.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar (batch).")
    ] = True,
) -> None:
    """Simulate clean diffraction patterns (thickness series) into HDF5 shards.

    Single: --material ID --zone-axis U V W --out FILE.h5. Batch: --materials all|ID,ID
    --zone-axes N --out DIR (one shard per material and zone axis; a rerun skips finished shards).
    """
    import logging

    from stemtf.errors import InputError, check_positive, check_range

    log = logging.getLogger("stemtf.simulate")
    check_range("--energy-keV", energy_keV, 20.0, 1000.0, "keV")
    if detector_px <= 0:
        raise InputError(f"--detector-px={detector_px} is not allowed: it must be > 0")
    for t in thickness_A or ():
        check_positive("--thickness-A", t, "A")
    check_positive("--q-sampling-invA", q_sampling_invA, "1/A")
    check_positive("--semiangle-mrad", semiangle_mrad, "mrad")
    if (material is None) == (materials is None):
        raise InputError(
            "give either --material ID --zone-axis U V W (one shard) or --materials all|ID,ID (batch)"
        )

    from stemtf.fileio import ensure_writable_dir
    from stemtf.simulate import DEFAULT_THICKNESSES_A, SimulationConfig

    config = SimulationConfig(
        energy_eV=energy_keV * 1e3,
        semiangle_mrad=semiangle_mrad,
        detector_px=detector_px,
        q_sampling_invA=q_sampling_invA,
        thicknesses_A=tuple(thickness_A or DEFAULT_THICKNESSES_A),
        sampling_A=sampling_A,
        frozen_phonons=frozen_phonons,
        tilt_mrad=tilt_mrad,
    )
    if material is not None:
        if zone_axis is None:
            raise InputError("--zone-axis U V W is required with --material")
        from stemtf.materials import check_zone_axis, get
        from stemtf.shards import read_shard
        from stemtf.simulate import simulate_shard

        uvw = check_zone_axis(zone_axis)
        if out.is_dir():
            raise InputError(f"--out={str(out)!r} is a folder: give a FILE.h5 with --material")
        ensure_writable_dir(out.parent if str(out.parent) else ".", "folder of --out")
        mat = get(material, cif_dir=cif_dir)
        path = simulate_shard(mat, uvw, config, out, seed=seed, rotation_deg=rotation_deg)
        shard = read_shard(path)
        log.info(
            "wrote %s: %d patterns %s of %s [%d %d %d]",
            path,
            len(shard),
            shard.patterns.shape[1:],
            mat.id,
            *uvw,
        )
        if preview is not None:
            _preview(
                preview,
                shard.patterns,
                [f"{t:.0f} A" for t in shard.table["thickness_A"]],
                q_sampling_invA,
            )
        return

    from stemtf.simulate import simulate_batch

    if zone_axes < 1:
        raise InputError(f"--zone-axes={zone_axes} is not allowed: it must be >= 1")
    paths = simulate_batch(
        materials,
        zone_axes=zone_axes,
        config=config,
        out_dir=out,
        seed=seed,
        scheduler=scheduler,
        progress=progress,
        cif_dir=cif_dir,
    )
    log.info("%d shards in %s", len(paths), out)
    if preview is not None and paths:
        import numpy as np

        from stemtf.shards import read_shard

        shards = [read_shard(p) for p in paths[:36]]
        _preview(
            preview,
            np.stack([s.patterns[-1] for s in shards]),
            [p.stem.replace("__", " ") for p in paths[:36]],
            q_sampling_invA,
        )


def _preview(path: Path, patterns, titles, q_sampling_invA: float) -> None:
    import logging

    from stemtf.simulate.preview import write_montage

    write_montage(path, patterns, titles, q_sampling_invA=q_sampling_invA)
    logging.getLogger("stemtf.simulate").info("preview %s", path)
