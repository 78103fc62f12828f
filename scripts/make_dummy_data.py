"""Write the tfds builder's dummy data: six tiny synthetic clean shards (hexagonal spot lattices).

Usage: python scripts/make_dummy_data.py [OUT_DIR]   (default datasets/stem_diffraction/dummy_data)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from stemtf.data.synthetic import write_synthetic_shards

DUMMY_MATERIALS = ["nmc811-o3", "nmc811-o1", "synth-a", "synth-b", "synth-c", "synth-d"]


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = (
        Path(argv[0])
        if argv
        else Path(__file__).resolve().parents[1] / "datasets/stem_diffraction/dummy_data"
    )
    for old in out.glob("*.h5"):
        old.unlink()
    paths = write_synthetic_shards(
        out, DUMMY_MATERIALS, detector_px=128, zone_axes=1, thicknesses_A=(100.0, 200.0), seed=0
    )
    logging.getLogger(__name__).info("wrote %d shards to %s", len(paths), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
