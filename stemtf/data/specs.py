"""What each dataset configuration contains: materials, zone axes, thicknesses, detector, noise.

A :class:`DatasetSpec` is the single source of truth for both stages of ``stemtf build-dataset``:
the simulation into clean shards and the tfds builder config (``stemtf.data.builder``) that
turns shards into clean/noisy pairs. Importing this module is cheap (no TensorFlow).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from stemtf.errors import InputError, check_positive, check_range
from stemtf.noise import NoiseConfig

__all__ = ["DatasetSpec", "SPECS", "get_spec", "NMC811_IDS"]

NMC811_IDS = ("nmc811-o3", "nmc811-o1", "nmc811-h3", "nmc811-spinel", "nmc811-rocksalt")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset configuration.

    Parameters
    ----------
    name : str
        Config name (``small``, ``default``, ``full``; a ``_seedS`` suffix for other seeds).
    description : str
        One line for the dataset card.
    n_materials : int or None
        Materials to simulate: ``include_materials`` plus a seeded sample of the rest of the
        offline library; None takes every material.
    include_materials : tuple of str
        Always simulated (the NMC811 phases).
    zone_axes_per_material : int
        Most zone axes simulated per material (the simulator picks the low-index ones).
    thicknesses_A : tuple of float
        Specimen thicknesses [Å]; one clean pattern per thickness per zone axis.
    detector_px : int
        Detector side [px]; shards of another size are skipped with a warning.
    q_sampling_invA, energy_eV, semiangle_mrad : float
        Reciprocal pixel size [1/Å], beam energy [eV], convergence semi-angle [mrad].
    realisations : int
        Noisy realisations drawn per clean pattern.
    validation_fraction, test_fraction : float
        Share of the (non-held-out) materials in each split, at least one material each.
    holdout_prefixes : tuple of str
        Materials whose id starts with one of these go to ``test`` only (never train).
    seed : int
        Dataset seed: split assignment and every example's noise derive from it.
    noise : NoiseConfig
        The noise model's switches and ranges.
    """

    name: str
    description: str = ""
    n_materials: int | None = 16
    include_materials: tuple[str, ...] = NMC811_IDS
    zone_axes_per_material: int = 3
    thicknesses_A: tuple[float, ...] = (60.0, 120.0, 200.0)
    detector_px: int = 128
    q_sampling_invA: float = 0.0125
    energy_eV: float = 200e3
    semiangle_mrad: float = 1.0
    realisations: int = 2
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    holdout_prefixes: tuple[str, ...] = ("nmc811-",)
    seed: int = 0
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise InputError(
                f"dataset config name={self.name!r} is not allowed: letters, digits and _ only"
            )
        if self.n_materials is not None:
            check_range("n_materials", self.n_materials, 1, 100_000)
        check_range("zone_axes_per_material", self.zone_axes_per_material, 1, 1000)
        if not self.thicknesses_A:
            raise InputError("thicknesses_A is empty: give at least one thickness [Å]")
        for t in self.thicknesses_A:
            check_positive("thicknesses_A", t, "Å")
        check_range("detector_px", self.detector_px, 8, 4096, "px")
        check_positive("q_sampling_invA", self.q_sampling_invA, "1/Å")
        check_positive("energy_eV", self.energy_eV, "eV")
        check_positive("semiangle_mrad", self.semiangle_mrad, "mrad")
        check_range("realisations", self.realisations, 1, 1000)
        check_range("validation_fraction", self.validation_fraction, 0.0, 0.5)
        check_range("test_fraction", self.test_fraction, 0.0, 0.5)
        check_range("seed", self.seed, 0, 2**32 - 1)
        if not isinstance(self.noise, NoiseConfig):
            raise InputError(f"noise={self.noise!r} is not allowed: it must be a NoiseConfig")

    def with_seed(self, seed: int) -> DatasetSpec:
        """Return the spec with another seed; the name gets a ``_seed<S>`` suffix unless S is 0."""
        base = self.name.split("_seed")[0]
        return dataclasses.replace(
            self, seed=int(seed), name=base if seed == 0 else f"{base}_seed{int(seed)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (provenance in the dataset metadata and card)."""
        d = dataclasses.asdict(self)
        d["noise"] = self.noise.to_dict()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


SPECS: dict[str, DatasetSpec] = {
    "small": DatasetSpec(
        name="small",
        description="16 materials x 3 zone axes x 3 thicknesses x 2 noisy realisations; minutes on 2 cores (tests, demo)",
    ),
    "default": DatasetSpec(
        name="default",
        description="100 materials x 5 zone axes x 4 thicknesses x 3 realisations; what the bundled model trains on",
        n_materials=100,
        zone_axes_per_material=5,
        thicknesses_A=(60.0, 120.0, 200.0, 300.0),
        realisations=3,
    ),
    "full": DatasetSpec(
        name="full",
        description="every library material (>= 350) x up to 60 zone axes x 3 thicknesses x 2 realisations (cluster)",
        n_materials=None,
        zone_axes_per_material=60,
        thicknesses_A=(50.0, 120.0, 250.0),
        realisations=2,
    ),
}


def get_spec(name: str, seed: int = 0) -> DatasetSpec:
    """The spec called ``name`` (``small``, ``default``, ``full``) with ``seed``."""
    if name not in SPECS:
        raise InputError(f"dataset config {name!r} is unknown: allowed {', '.join(SPECS)}")
    return SPECS[name].with_seed(seed)
