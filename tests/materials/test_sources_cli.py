"""CIF folders, the Materials Project path without a key, and the `stemtf materials` command."""

from __future__ import annotations

import json
import time

import pytest
from pymatgen.io.cif import CifWriter
from typer.testing import CliRunner

from stemtf.cli import app
from stemtf.errors import InputError
from stemtf.materials import get, list_materials
from stemtf.materials.cif import load_cif_dir
from stemtf.materials.material import structure_to_record

runner = CliRunner()


@pytest.fixture
def cif_dir(tmp_path):
    d = tmp_path / "cifs"
    d.mkdir()
    CifWriter(get("nmc811-rocksalt").structure).write_file(d / "my_nio.cif")
    return d


def test_cif_folder_materials(cif_dir):
    mats = load_cif_dir(cif_dir)
    assert [m.id for m in mats] == ["cif-my_nio"]
    assert mats[0].spacegroup_number == 225 and mats[0].formula == "NiO"
    assert get("cif-my_nio", cif_dir=cif_dir).source == "cif"
    assert (
        len(list_materials(cif_dir=cif_dir, include_mp_cache=False))
        == len(list_materials(include_mp_cache=False)) + 1
    )


@pytest.mark.parametrize("text", ["this is not a cif\n", "data_x\n_cell_length_a 3.0\n"])
def test_bad_cif_is_one_line_naming_the_file(cif_dir, text, invoke):
    (cif_dir / "broken.cif").write_text(text)
    with pytest.raises(InputError, match="broken.cif") as e:
        load_cif_dir(cif_dir)
    assert "\n" not in str(e.value)
    code, output = invoke(["materials", "list", "--cif-dir", str(cif_dir)])
    assert code == 2 and "broken.cif" in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_materials_project_without_key_fails_fast(monkeypatch, tmp_path):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.setenv("STEMTF_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="MP_API_KEY"):
        get("mp-149")
    assert time.perf_counter() - t0 < 2


def test_materials_project_cache_works_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.setenv("STEMTF_CACHE", str(tmp_path))
    si = get("ase-bulk-Si-diamond")
    rec = {
        **si.summary(),
        "id": "mp-149",
        "source": "materials-project",
        "structure": structure_to_record(si.structure),
    }
    (tmp_path / "materials-project").mkdir()
    (tmp_path / "materials-project" / "mp-149.json").write_text(json.dumps(rec))
    assert get("mp-149").formula == "Si"
    assert "mp-149" in {m.id for m in list_materials(source="materials-project")}


def test_cli_list_json():
    r = runner.invoke(app, ["materials", "list", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    ids = {d["id"] for d in data}
    assert len(ids) >= 350 and {"nmc811-o3", "nmc811-o1"} <= ids
    assert {"formula", "spacegroup_symbol", "spacegroup_number", "source"} <= set(data[0])


def test_cli_show_and_unknown(invoke):
    r = runner.invoke(app, ["materials", "show", "nmc811-o3", "--zone-axes", "3"])
    assert r.exit_code == 0 and json.loads(r.stdout)["zone_axes"] == [
        "[1 0 0]",
        "[0 0 1]",
        "[1 0 1]",
    ]
    code, output = invoke(["materials", "show", "bogus"])
    assert code == 2 and output.startswith("error: material='bogus'") and "Traceback" not in output
