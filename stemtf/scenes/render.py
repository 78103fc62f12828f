"""Render a synthetic scan from a layout and a clean-pattern library, with detector noise.

The geometry of a scan is fixed for the whole scan, as on a microscope: one draw of the noise
model's ellipticity, pixel-scale (camera-length) error, background and detector artefacts, and
a descan shift of the transmitted beam that varies linearly across the scan. Each probe position
gets its own Poisson noise at the chosen dose. A pattern holding both phases is the mixture
``(1 - f) O3 + f O1`` of the two clean patterns at the same rotation and thickness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError, check_positive
from stemtf.scenes.layout import SceneLayout
from stemtf.scenes.library import CleanLibrary

__all__ = ["SceneRenderer", "scan_noise_params"]


def scan_noise_params(dose_e: float, rng: np.random.Generator, *, noise: bool = True) -> dict:
    """Noise-model parameters shared by every pattern of a scan (dose fixed, no beam stop)."""
    from stemtf.noise import NoiseConfig, draw_params

    check_positive("dose_e", dose_e, "e-/DP")
    cfg = NoiseConfig(dose_range_e=(dose_e, dose_e), beam_stop=False,
                      rotation_range_deg=(0.0, 0.0))
    if not noise:
        cfg = NoiseConfig(dose_range_e=(dose_e, dose_e), beam_stop=False, shot_noise=False,
                          background=False, ring=False, geometry=False, blur=False, gain=False,
                          hot_dead=False, saturation=False, spot_dimming=False,
                          rotation_range_deg=(0.0, 0.0))
    return draw_params(cfg, rng)


@dataclass
class SceneRenderer:
    """Produces the scan row by row (array-like: ``shape``, ``dtype``, ``scan[r]``).

    Rows are rendered on demand with a generator seeded by ``(seed, row)``, so any row can be
    regenerated alone and the whole scan never has to sit in memory.
    """

    layout: SceneLayout
    library: CleanLibrary
    dose_e: float
    seed: int
    params: dict
    descan_px: float = 2.0

    def __post_init__(self) -> None:
        check_positive("dose_e", self.dose_e, "e-/DP")
        lib = self.library
        if self.layout.rotation_index.max() >= len(lib.rotations_deg) or \
                self.layout.thickness_index.max() >= len(lib.thicknesses_A):
            raise InputError("scene layout indexes past the clean-pattern library")
        ry, rx = self.layout.shape
        h, w = lib.detector_shape
        self.shape = (ry, rx, h, w)
        self.dtype = np.dtype(np.float32)
        g = np.random.default_rng([self.seed, 1])
        ang = g.uniform(0, 2 * np.pi)
        self._ramp = self.descan_px * np.array([np.sin(ang), np.cos(ang)])

    def clean(self, iy: int, ix: int) -> np.ndarray:
        """Clean pattern (sum 1) at probe position (iy, ix)."""
        lay, lib = self.layout, self.library
        if lay.labels[iy, ix] == 0:
            return lib.vacuum
        r, t = lay.rotation_index[iy, ix], lay.thickness_index[iy, ix]
        f = float(lay.o1_fraction[iy, ix])
        if f <= 0:
            return lib.patterns[0, r, t]
        if f >= 1:
            return lib.patterns[1, r, t]
        return ((1 - f) * lib.patterns[0, r, t] + f * lib.patterns[1, r, t]).astype(np.float32)

    def centre_shift(self, iy: int, ix: int) -> tuple[float, float]:
        """Beam-centre shift [px] (scan-wide shift plus the linear descan) at (iy, ix)."""
        ry, rx = self.layout.shape
        s = (iy / max(ry - 1, 1) + ix / max(rx - 1, 1)) / 2 - 0.5
        return (self.params["centre_shift_y_px"] + s * self._ramp[0],
                self.params["centre_shift_x_px"] + s * self._ramp[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, row: int) -> np.ndarray:
        from stemtf.noise import apply_with_params

        if not isinstance(row, (int, np.integer)) or not 0 <= row < self.shape[0]:
            raise IndexError(f"row {row!r} out of range 0..{self.shape[0] - 1}")
        rng = np.random.default_rng([self.seed, 2, int(row)])
        lib = self.library
        out = np.empty(self.shape[1:], np.float32)
        p = dict(self.params)
        for ix in range(self.shape[1]):
            p["centre_shift_y_px"], p["centre_shift_x_px"] = self.centre_shift(row, ix)
            res = apply_with_params(self.clean(row, ix), p, rng,
                                    q_sampling_invA=lib.q_sampling_invA,
                                    semiangle_mrad=lib.semiangle_mrad, energy_eV=lib.energy_eV)
            out[ix] = res.noisy
        return out
