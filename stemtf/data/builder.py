"""The tfds builder: clean simulation shards -> clean/noisy pairs in TFRecords.

The builder reads the shards in ``manual_dir`` (``stemtf build-dataset`` simulates them first;
with the tfds CLI: ``tfds build datasets/stem_diffraction --config small --manual_dir SHARDS``).
It never runs abTEM. Splits are by material (:func:`stemtf.data.splits.assign_splits`); every
example's noise comes from ``np.random.SeedSequence([seed, split code, index])``, where
``index`` counts the split's examples in (shard name, pattern, realisation) order, and its key
``<shard stem>/<pattern>/r<realisation>`` is stable.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from stemtf.data.shard_scan import ShardInfo, scan_shards
from stemtf.data.specs import SPECS, DatasetSpec
from stemtf.data.splits import SPLIT_CODES, SPLITS, assign_splits
from stemtf.errors import InputError
from stemtf.noise import PARAM_NAMES
from stemtf.noise import apply as apply_noise
from stemtf.shards import read_shard

__all__ = ["StemDiffraction", "StemDiffractionConfig", "example_seed"]

log = logging.getLogger(__name__)

_DESCRIPTION = """
Simulated 4D-STEM nanobeam electron diffraction patterns with a composite detector noise model
(halo background, optional amorphous ring, geometry jitter, detector blur, Poisson shot noise at
1e3-1e5 e-/DP, gain variation, hot/dead pixels, saturation, spot dimming, beam stop).
`clean` is the noise-free target in the noisy pattern's geometry and in expected elastic counts;
`noisy` is the detector frame in counts. Splits are by material; the NMC811 phases are test-only.
"""

_CITATION = """
@article{gurrola2021rdunet,
  title={A Residual Dense U-Net Neural Network for Image Denoising},
  author={Gurrola-Ramos, Javier and Dalmau, Oscar and Alarc{\\'o}n, Teresa E.},
  journal={IEEE Access}, volume={9}, pages={31742--31754}, year={2021}
}
"""


@dataclasses.dataclass(eq=False)
class StemDiffractionConfig(tfds.core.BuilderConfig):
    """A tfds builder config carrying a :class:`~stemtf.data.specs.DatasetSpec`."""

    spec: DatasetSpec | None = None

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> StemDiffractionConfig:
        """The builder config of a dataset spec (same name and description)."""
        return cls(name=spec.name, description=spec.description, spec=spec)


def example_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The seed sequence of example ``index`` of ``split`` in a dataset built with ``seed``."""
    return np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)])


class StemDiffraction(tfds.core.GeneratorBasedBuilder):
    """Clean/noisy 4D-STEM diffraction pattern pairs from simulated clean shards."""

    name = "stem_diffraction"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: composite noise model, material splits, small/default/full configs.",
    }
    BUILDER_CONFIGS = [StemDiffractionConfig.from_spec(s) for s in SPECS.values()]
    DEFAULT_CONFIG_NAME = "small"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    manual_dir must hold the clean shards (<material_id>__<u>_<v>_<w>.h5) of this config, as
    written by `stemtf build-dataset` (which simulates them with abTEM first) or by
    `stemtf.simulate.simulate_batch`.
    """

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        """The file defining the class (tfds' own lookup needs ``importlib_resources``)."""
        return epath.Path(inspect.getfile(cls))

    @property
    def spec(self) -> DatasetSpec:
        """The dataset spec of the selected builder config."""
        spec = getattr(self.builder_config, "spec", None)
        if spec is None:
            raise InputError(f"builder config {self.builder_config.name!r} carries no dataset spec")
        return spec

    def _info(self) -> tfds.core.DatasetInfo:
        px = self.spec.detector_px
        image = tfds.features.Tensor(
            shape=(px, px), dtype=np.float32, encoding=tfds.features.Encoding.ZLIB
        )
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "clean": image,
                    "noisy": image,
                    "dose_e": np.float32,
                    "noise": tfds.features.FeaturesDict({k: np.float32 for k in PARAM_NAMES}),
                    "material_id": tfds.features.Text(),
                    "formula": tfds.features.Text(),
                    "spacegroup": tfds.features.Text(),
                    "spacegroup_number": np.int32,
                    "zone_axis": tfds.features.Tensor(shape=(3,), dtype=np.int32),
                    "thickness_A": np.float32,
                    "q_sampling_invA": np.float32,
                    "realisation": np.int32,
                    "index": np.int64,
                }
            ),
            supervised_keys=("noisy", "clean"),
            homepage="https://github.com/stemtf/stemtf",
            citation=_CITATION,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        spec = self.spec
        shards, skipped = scan_shards(dl_manager.manual_dir, detector_px=spec.detector_px)
        if not shards:
            raise InputError(
                f"no usable clean shards in {dl_manager.manual_dir} ({len(skipped)} skipped)"
            )
        split_of = assign_splits(
            [s.material_id for s in shards],
            seed=spec.seed,
            validation_fraction=spec.validation_fraction,
            test_fraction=spec.test_fraction,
            holdout_prefixes=spec.holdout_prefixes,
        )
        by_split: dict[str, list[ShardInfo]] = {name: [] for name in SPLITS}
        for s in shards:
            by_split[split_of[s.material_id]].append(s)
        self.info.metadata.update(
            {
                "spec": spec.to_dict(),
                "materials": {
                    name: sorted({s.material_id for s in group}) for name, group in by_split.items()
                },
                "shards": [s.path.name for s in shards],
                "skipped_shards": skipped,
            }
        )
        return {
            name: self._generate_examples(group, name) for name, group in by_split.items() if group
        }

    def _generate_examples(
        self, shards: list[ShardInfo], split: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        spec = self.spec
        index = 0
        for info in shards:
            shard = read_shard(info.path)  # raises (never half-uses) if it changed since the scan
            if len(shard) != info.n_patterns:
                raise InputError(f"shard {info.path}: changed while the dataset was built")
            t = shard.table
            q = shard.q_sampling_invA
            for i in range(len(shard)):
                for r in range(spec.realisations):
                    rng = np.random.default_rng(example_seed(spec.seed, split, index))
                    res = apply_noise(
                        shard.patterns[i],
                        spec.noise,
                        rng,
                        q_sampling_invA=q,
                        semiangle_mrad=float(shard.attrs["semiangle_mrad"]),
                        energy_eV=float(shard.attrs["energy_eV"]),
                    )
                    yield (
                        f"{info.path.stem}/{i:04d}/r{r}",
                        {
                            "clean": res.target,
                            "noisy": res.noisy,
                            "dose_e": res.params["dose_e"],
                            "noise": {k: np.float32(res.params[k]) for k in PARAM_NAMES},
                            "material_id": str(t["material_id"][i]),
                            "formula": str(t["formula"][i]),
                            "spacegroup": str(t["spacegroup_symbol"][i]),
                            "spacegroup_number": int(t["spacegroup_number"][i]),
                            "zone_axis": np.asarray(t["zone_axis"][i], dtype=np.int32),
                            "thickness_A": float(t["thickness_A"][i]),
                            "q_sampling_invA": q,
                            "realisation": r,
                            "index": index,
                        },
                    )
                    index += 1
