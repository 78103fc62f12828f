"""Rebuild the packaged offline materials library (stemtf/materials/data/library.json.gz).

Usage::

    python scripts/build_materials_library.py [--out PATH]

Reads pymatgen's AFLOW prototypes and test structures, ASE's bulk reference states and the
Delta-codes set, and the NMC811 phases; standardises and deduplicates them (about a minute).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from pathlib import Path

from stemtf.materials.build import build_records, write_library
from stemtf.materials.library import LIBRARY_PATH
from stemtf.materials.sources import all_sources

log = logging.getLogger("build_materials_library")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=LIBRARY_PATH)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import ase
    import pymatgen.core

    t0 = time.perf_counter()
    candidates = list(all_sources())
    records = build_records(candidates)
    provenance = {
        "pymatgen_version": pymatgen.core.__version__,
        "ase_version": ase.__version__,
        "candidates": len(candidates),
    }
    write_library(args.out, records, provenance)
    by_source = Counter(r["source"] for r in records)
    log.info(
        "%d candidates -> %d distinct structures %s in %.1f s -> %s",
        len(candidates),
        len(records),
        dict(by_source),
        time.perf_counter() - t0,
        args.out,
    )


if __name__ == "__main__":
    main()
