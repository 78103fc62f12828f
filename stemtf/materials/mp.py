"""Materials Project structures through the ``mp-api`` client, cached locally.

Needs ``MP_API_KEY`` in the environment. Fetched structures are cached as small JSON records
under ``$STEMTF_CACHE`` (default ``~/.cache/stemtf``)``/materials-project/``, so later runs work
offline. Without a key or without network the call fails at once with one clear line (a short
connection probe runs first, so nothing hangs).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from stemtf.errors import InputError
from stemtf.fileio import write_json_atomic
from stemtf.materials.material import Material, structure_to_record
from stemtf.materials.standardize import formula, standardize

__all__ = ["cache_dir", "cached_materials", "get_mp", "fetch_mp", "MP_HOST"]

log = logging.getLogger(__name__)
MP_HOST = "api.materialsproject.org"
CONNECT_TIMEOUT_S = 5.0


def cache_dir() -> Path:
    """Folder of cached Materials Project records."""
    root = os.environ.get("STEMTF_CACHE") or Path.home() / ".cache" / "stemtf"
    return Path(root) / "materials-project"


def _from_record(rec: dict) -> Material:
    from stemtf.materials.library import material_from_record

    return material_from_record(rec)


def cached_materials() -> list[Material]:
    """Materials Project entries already in the local cache (unreadable files skipped)."""
    d = cache_dir()
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("mp-*.json")):
        try:
            out.append(_from_record(json.loads(p.read_text())))
        except (OSError, ValueError, KeyError) as e:
            log.warning("skipped unreadable cache file %s (%s)", p, e)
    return out


def _api_key() -> str:
    key = os.environ.get("MP_API_KEY", "").strip()
    if not key:
        raise InputError(
            "Materials Project needs an API key: set MP_API_KEY (https://next-gen.materialsproject.org/api); "
            "offline materials: `stemtf materials list`"
        )
    return key


def _probe_network() -> None:
    try:
        with socket.create_connection((MP_HOST, 443), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise InputError(
            f"Materials Project at {MP_HOST} cannot be reached ({e}); no network?"
        ) from None


def fetch_mp(material_ids: list[str]) -> list[Material]:
    """Download structures by Materials Project id into the cache and return them."""
    ids = [str(i).strip().lower() for i in material_ids]
    key = _api_key()
    _probe_network()
    try:
        from mp_api.client import MPRester
    except ImportError:
        raise InputError(
            "Materials Project access needs the mp-api package: pip install 'stemtf[mp]'"
        ) from None
    out = []
    try:
        with MPRester(key, mute_progress_bars=True) as mpr:
            for mid in ids:
                structure = mpr.get_structure_by_material_id(mid)
                conv, symbol, number = standardize(structure, mid)
                rec = {
                    "id": mid,
                    "formula": formula(conv),
                    "spacegroup_symbol": symbol,
                    "spacegroup_number": number,
                    "source": "materials-project",
                    "aliases": [],
                    "note": "Materials Project",
                    "structure": structure_to_record(conv),
                }
                write_json_atomic(cache_dir() / f"{mid}.json", rec)
                out.append(_from_record(rec))
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - network/auth errors of the client
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"Materials Project request for {ids} failed: {msg}") from None
    return out


def get_mp(material_id: str) -> Material:
    """A Materials Project structure from the cache, fetched first if needed."""
    mid = material_id.strip().lower()
    for m in cached_materials():
        if m.id == mid:
            return m
    return fetch_mp([mid])[0]
