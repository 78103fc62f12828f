"""``stemtf materials``: list and inspect the crystal structures available for simulation."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="List and inspect the materials library (offline, CIF folders, Materials Project).",
    no_args_is_help=True,
    rich_markup_mode=None,  # units in brackets ([keV], [mrad]) are text, not markup
)


class Source(str, Enum):
    nmc811 = "stemtf-nmc811"
    pmg_test = "pymatgen-test-structures"
    ase_bulk = "ase-bulk"
    aflow = "pymatgen-aflow"
    dcdft = "ase-dcdft"
    cif = "cif"
    mp = "materials-project"


CifDir = Annotated[
    Path | None,
    typer.Option(
        "--cif-dir",
        exists=True,
        file_okay=False,
        help="Folder of *.cif files to include (ids cif-<stem>).",
    ),
]


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects.")] = False,
    source: Annotated[Source | None, typer.Option("--source", help="Only this source.")] = None,
    cif_dir: CifDir = None,
) -> None:
    """List the materials: id, formula, space group, source."""
    from stemtf.materials import list_materials

    mats = list_materials(source=source.value if source else None, cif_dir=cif_dir)
    if as_json:
        typer.echo(json.dumps([m.summary() for m in mats], indent=1))
        return
    for m in mats:
        typer.echo(
            f"{m.id:<44} {m.formula:<24} {m.spacegroup_symbol:<12} {m.spacegroup_number:>3}  {m.source}"
        )
    typer.echo(f"{len(mats)} materials", err=True)


@app.command("show")
def show(
    material: Annotated[str, typer.Argument(help="Material id, e.g. nmc811-o3.")],
    zone_axes: Annotated[
        int, typer.Option("--zone-axes", min=1, help="How many zone axes to list.")
    ] = 12,
    cif_dir: CifDir = None,
) -> None:
    """Show one material: metadata, lattice, sites and its first zone axes."""
    from stemtf.materials import get
    from stemtf.materials import zone_axes as enumerate_zone_axes

    m = get(material, cif_dir=cif_dir)
    s = m.structure
    info = m.summary()
    info["lattice_abc_A"] = [round(x, 4) for x in s.lattice.abc]
    info["lattice_angles_deg"] = [round(x, 3) for x in s.lattice.angles]
    info["num_sites"] = len(s)
    info["zone_axes"] = ["[{} {} {}]".format(*z) for z in enumerate_zone_axes(s, zone_axes)]
    typer.echo(json.dumps(info, indent=1))


@app.command("fetch-mp")
def fetch_mp(
    material_ids: Annotated[list[str], typer.Argument(help="Materials Project ids, e.g. mp-149.")],
) -> None:
    """Download Materials Project structures into the local cache (needs MP_API_KEY)."""
    from stemtf.materials.mp import cache_dir
    from stemtf.materials.mp import fetch_mp as fetch

    for m in fetch(material_ids):
        typer.echo(f"{m.id} {m.formula} {m.spacegroup_symbol} -> {cache_dir() / (m.id + '.json')}")
