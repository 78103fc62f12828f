"""stem_diffraction builder on its dummy data (scripts/make_dummy_data.py): six synthetic
materials, one zone axis, two thicknesses, two noisy realisations each; the NMC811 stand-ins
are test-only and one more material goes to each of validation and test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import tensorflow_datasets as tfds

_HERE = Path(__file__).resolve().parent
_MODULE = "stem_diffraction.stem_diffraction_dataset_builder"


def _builder_module():
    if _MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _MODULE, _HERE / "stem_diffraction_dataset_builder.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_MODULE]


class StemDiffractionTest(tfds.testing.DatasetBuilderTestCase):
    """Build ``small`` from dummy_data/ and check the split sizes."""

    DATASET_CLASS = _builder_module().Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["small"]
    SPLITS = {"train": 8, "validation": 4, "test": 12}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
