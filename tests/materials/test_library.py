"""The offline materials library: size, ids, NMC811 phases, deduplication, speed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.materials import get, list_materials
from stemtf.materials.build import build_records
from stemtf.materials.sources import all_sources


def test_offline_library_has_at_least_350_distinct_structures():
    mats = list_materials(include_mp_cache=False)
    ids = [m.id for m in mats]
    assert len(ids) >= 350
    assert len(set(i.lower() for i in ids)) == len(ids)
    assert {m.source for m in mats} >= {
        "stemtf-nmc811",
        "pymatgen-aflow",
        "ase-bulk",
        "pymatgen-test-structures",
    }


@pytest.mark.parametrize(
    ("mid", "number", "abc"),
    [
        ("nmc811-o3", 166, (2.87, 2.87, 14.20)),
        ("nmc811-o1", 164, (2.82, 2.82, 4.40)),
        ("nmc811-h3", 166, (2.817, 2.817, 13.4)),
        ("nmc811-spinel", 227, (8.17, 8.17, 8.17)),
        ("nmc811-rocksalt", 225, (4.17, 4.17, 4.17)),
    ],
)
def test_nmc811_phases_have_the_physics_card_cells(mid, number, abc):
    m = get(mid)
    assert m.spacegroup_number == number
    np.testing.assert_allclose(m.structure.lattice.abc, abc, rtol=1e-6)


def test_o3_transition_metal_site_is_ni08_mn01_co01():
    s = get("nmc811-o3").structure
    assert get("nmc811-o3").formula == "LiMn0.1Co0.1Ni0.8O2"
    mixed = [site for site in s if not site.is_ordered]
    assert len(mixed) == 3  # the 3b site of R-3m in the hexagonal cell
    occ = {el.symbol: occ for el, occ in mixed[0].species.items()}
    assert occ == pytest.approx({"Ni": 0.8, "Mn": 0.1, "Co": 0.1})
    o = [site for site in s if site.species_string == "O"]
    assert len(o) == 6
    assert min(abs(site.frac_coords[2] - 0.241) for site in o) < 1e-6


def test_spinel_has_the_site_multiplicities_of_fd3m():
    assert get("nmc811-spinel").structure.composition.as_dict() == {
        "Li": 8.0,
        "Ni": 16.0,
        "O": 32.0,
    }


def test_duplicates_across_sources_resolve_to_one_material():
    cu = get("ase-dcdft-Cu")  # merged into the ase-bulk fcc Cu entry
    assert cu.formula == "Cu" and cu.spacegroup_number == 225
    assert "ase-dcdft-Cu" in cu.aliases
    assert get("ASE-DCDFT-CU") is cu  # case-insensitive


def test_unknown_id_names_it_and_how_to_list():
    with pytest.raises(InputError, match=r"'no-such'.*stemtf materials list"):
        get("no-such")


def test_listing_does_not_import_pymatgen():
    code = (
        "import sys; from stemtf.materials import list_materials; "
        "n = len(list_materials(include_mp_cache=False)); "
        "print(n, 'pymatgen' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) >= 350 and out[1] == "False"


@pytest.mark.filterwarnings("ignore:No Pauling electronegativity:UserWarning")
def test_packaged_library_matches_a_rebuild_from_the_sources():
    """The shipped json.gz is not stale: rebuilding gives the same ids (about 6 s).

    Only meaningful with the pymatgen and ASE versions the library was built with.
    """
    import gzip
    import json

    import ase
    import pymatgen.core

    from stemtf.materials.library import LIBRARY_PATH

    with gzip.open(LIBRARY_PATH, "rt") as f:
        prov = json.load(f)["provenance"]
    if (prov["pymatgen_version"], prov["ase_version"]) != (
        pymatgen.core.__version__,
        ase.__version__,
    ):
        pytest.skip(
            f"library built with pymatgen {prov['pymatgen_version']}, ase {prov['ase_version']}"
        )
    rebuilt = build_records(all_sources())
    assert [r["id"] for r in rebuilt] == [m.id for m in list_materials(include_mp_cache=False)]
