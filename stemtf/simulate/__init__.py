"""Clean 4D-STEM diffraction patterns from crystal structures with abTEM multislice.

A (structure, zone axis) becomes an orthogonal supercell with the zone axis along the beam
(:mod:`~stemtf.simulate.supercell`), filled with atoms (mixed sites ordered at random with the
seed, :mod:`~stemtf.simulate.slab`); one plane-wave multislice run with exit planes gives the
whole thickness series (:mod:`~stemtf.simulate.multislice`); the zero-order Laue zone Bragg
intensities are read at their exact reciprocal-lattice points and drawn as disks of radius
alpha/lambda on the detector grid (:mod:`~stemtf.simulate.render`). abTEM is imported only
inside the functions that run it.

Approximations, each recorded in the shard attributes:

- zone axes whose lattice has no short vectors perpendicular to [uvw] (e.g. [101] of a
  hexagonal crystal with irrational c/a) get a small homogeneous strain to make the box
  orthogonal (``cell_strain``, at most ``max_strain`` = 2 %); spot *positions* stay exact;
- only Bragg reflections of the zero-order Laue zone are drawn; diffuse scattering (alloy
  disorder, phonons) between them is dropped; at the Bragg positions thin crystals keep the
  weak tails of higher-order Laue-zone relrods (real 3D multislice physics);
- mixed sites (NMC811's Ni0.8Mn0.1Co0.1) are a seeded random substitution, with
  ``alloy_periods`` independently drawn zone-axis periods stacked along the beam.
"""

from __future__ import annotations

from stemtf.simulate.batch import feasible_zone_axes, simulate_batch
from stemtf.simulate.config import DEFAULT_THICKNESSES_A, SimulationConfig, electron_wavelength_A
from stemtf.simulate.patterns import simulate_patterns, simulate_rotations
from stemtf.simulate.shard import shard_name, simulate_shard

__all__ = [
    "SimulationConfig",
    "DEFAULT_THICKNESSES_A",
    "electron_wavelength_A",
    "simulate_patterns",
    "simulate_rotations",
    "simulate_shard",
    "simulate_batch",
    "feasible_zone_axes",
    "shard_name",
]
