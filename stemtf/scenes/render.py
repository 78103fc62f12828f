"""Render a synthetic scan from a layout and a clean-pattern library, with detector noise.

The geometry of a scan is fixed for the whole scan, as on a microscope: one draw of the noise
model's ellipticity, pixel-scale (camera-length) error, background and detector artefacts, and
a descan shift of the transmitted beam that varies linearly across the scan. Each probe position
gets its own Poisson noise at the chosen dose. A pattern holding both phases is the mixture
``(1 - f) O3 + f O1`` of the two clean patterns at the same rotation, tilt and thickness; a
pure column shows the library phase ``layout.phase_index`` (O3 in the O3/O1 scenes; any phase
of the degradation family in :mod:`stemtf.scenes.family` scenes).
Field conditions (:class:`~stemtf.scenes.field.FieldConditions`) add per-position descan
jitter, a fixed ellipticity, a wrong handed calibration, an amorphous carbon support, a halo
growing with thickness, a fixed gain map with dead lines and hot pixels, and uint16 counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np

from stemtf.errors import InputError, check_positive
from stemtf.scenes.field import FieldConditions
from stemtf.scenes.layout import SceneLayout
from stemtf.scenes.library import CleanLibrary

__all__ = ["SceneRenderer", "scan_noise_params"]


def scan_noise_params(dose_e: float, rng: np.random.Generator, *, noise: bool = True) -> dict:
    """Noise-model parameters shared by every pattern of a scan (dose fixed, no beam stop)."""
    from stemtf.noise import NoiseConfig, draw_params

    check_positive("dose_e", dose_e, "e-/DP")
    cfg = NoiseConfig(dose_range_e=(dose_e, dose_e), beam_stop=False, rotation_range_deg=(0.0, 0.0))
    if not noise:
        cfg = NoiseConfig(
            dose_range_e=(dose_e, dose_e),
            beam_stop=False,
            shot_noise=False,
            background=False,
            ring=False,
            geometry=False,
            blur=False,
            gain=False,
            hot_dead=False,
            saturation=False,
            spot_dimming=False,
            rotation_range_deg=(0.0, 0.0),
        )
    return draw_params(cfg, rng)


@dataclass
class SceneRenderer:
    """Produces the scan row by row (array-like: ``shape``, ``dtype``, ``scan[r]``).

    Rows are rendered on demand with a generator seeded by ``(seed, row)``, so any row can be
    regenerated alone and the whole scan never has to sit in memory. ``field`` adds the field
    conditions (:class:`stemtf.scenes.field.FieldConditions`); its defaults change nothing.
    """

    layout: SceneLayout
    library: CleanLibrary
    dose_e: float
    seed: int
    params: dict
    field: FieldConditions = dataclass_field(default_factory=FieldConditions)

    def __post_init__(self) -> None:
        check_positive("dose_e", self.dose_e, "e-/DP")
        lib, lay, fc = self.library, self.layout, self.field
        if (
            lay.rotation_index.max() >= len(lib.rotations_deg)
            or lay.thickness_index.max() >= len(lib.thicknesses_A)
            or lay.tilt_index.max() >= len(lib.tilts_mrad)
            or lay.zone_index.max() > len(lib.offzone_axes)
            or lay.phase_index.max() >= len(lib.material_ids)
        ):
            raise InputError("scene layout indexes past the clean-pattern library")
        ry, rx = lay.shape
        h, w = lib.detector_shape
        self.shape = (ry, rx, h, w)
        self.dtype = np.dtype(np.uint16 if fc.integer_counts else np.float32)
        g = np.random.default_rng([self.seed, 1])
        ang = g.uniform(0, 2 * np.pi)
        self._ramp = fc.descan_px * np.array([np.sin(ang), np.cos(ang)])
        self._jitter = None
        if fc.descan_jitter_px > 0:
            self._jitter = np.random.default_rng([self.seed, 3]).normal(
                0.0, fc.descan_jitter_px, (ry, rx, 2)
            )
        p = dict(self.params)
        if fc.ellipticity is not None:
            p["ellipticity"] = float(fc.ellipticity)
        if fc.calibration_error is not None:
            p["scale"] = 1.0
        if fc.gain_sigma is not None:
            p["gain_sigma"] = 0.0
        if fc.hot_fraction is not None or fc.dead_rows or fc.dead_cols:
            p["hot_fraction"] = p["dead_fraction"] = 0.0
        self.params = p
        self._gain = self._dead = self._hot = None
        if fc.fixed_detector:
            from stemtf.noise.detector import fixed_defects, gain_map

            dg = np.random.default_rng([self.seed, 4])
            if fc.gain_sigma is not None:
                self._gain = gain_map((h, w), fc.gain_sigma, dg)
            self._dead, self._hot = fixed_defects(
                (h, w),
                dg,
                dead_rows=fc.dead_rows,
                dead_cols=fc.dead_cols,
                hot_fraction=fc.hot_fraction or 0.0,
            )
        self._carbon = None
        if fc.carbon_fraction > 0:
            from stemtf.noise.background import amorphous_carbon_shape, radial_k_invA

            self._carbon = amorphous_carbon_shape(
                radial_k_invA((h, w), (h // 2, w // 2), lib.q_sampling_invA)
            )
        self._thick = np.asarray(lib.thicknesses_A, float)[lay.thickness_index]

    @property
    def q_sampling_true_invA(self) -> float:
        """The scan's true reciprocal pixel size [1/Å] (library sampling / pixel-scale factor)."""
        return self.library.q_sampling_invA / self.params["scale"]

    @property
    def q_sampling_given_invA(self) -> float:
        """The reciprocal pixel size handed to the analysis (in the scan file) [1/Å]."""
        err = self.field.calibration_error
        if err is None:
            return self.library.q_sampling_invA
        return self.q_sampling_true_invA * (1.0 + err)

    def clean(self, iy: int, ix: int) -> np.ndarray:
        """Clean pattern (sum 1) at probe position (iy, ix), carbon support included."""
        pat = self._specimen(iy, ix)
        if self._carbon is None:
            return pat
        c = self.field.carbon_fraction
        return ((1 - c) * pat + c * self._carbon).astype(np.float32)

    def _specimen(self, iy: int, ix: int) -> np.ndarray:
        lay, lib = self.layout, self.library
        if lay.labels[iy, ix] == 0:
            return lib.vacuum
        r, t = lay.rotation_index[iy, ix], lay.thickness_index[iy, ix]
        z = lay.zone_index[iy, ix]
        if z > 0:
            return lib.offzone[z - 1, r, t]
        k = lay.tilt_index[iy, ix]
        f = float(lay.o1_fraction[iy, ix])
        if f <= 0:
            return lib.pattern(int(lay.phase_index[iy, ix]), r, t, k)
        if f >= 1:
            return lib.pattern(1, r, t, k)
        return ((1 - f) * lib.pattern(0, r, t, k) + f * lib.pattern(1, r, t, k)).astype(np.float32)

    def centre_shift(self, iy: int, ix: int) -> tuple[float, float]:
        """Beam-centre shift [px] (scan-wide shift, linear descan, jitter) at (iy, ix)."""
        ry, rx = self.layout.shape
        s = (iy / max(ry - 1, 1) + ix / max(rx - 1, 1)) / 2 - 0.5
        dy = self.params["centre_shift_y_px"] + s * self._ramp[0]
        dx = self.params["centre_shift_x_px"] + s * self._ramp[1]
        if self._jitter is not None:
            dy, dx = dy + self._jitter[iy, ix, 0], dx + self._jitter[iy, ix, 1]
        return float(dy), float(dx)

    def background_fraction(self, iy: int, ix: int) -> float:
        """Diffuse-background share of the counts at (iy, ix) (grows with thickness)."""
        f = self.params["background_fraction"]
        if self.field.halo_per_100A > 0 and self.layout.labels[iy, ix] != 0:
            f = min(0.9, f + self.field.halo_per_100A * self._thick[iy, ix] / 100.0)
        return f

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, row: int) -> np.ndarray:
        return self.render_row(row)

    def render_row(self, row: int, *, targets: bool = False):
        """Noisy counts of scan row ``row`` (Rx, H, W); with ``targets`` also the training targets.

        The target of a pattern is what a denoiser should return (the noise model's
        ``target``): the specimen's (and support film's) expected counts after the scan's
        geometry, without the diffuse background, blur, gain, defects or shot noise.
        Returns ``noisy`` or ``(noisy, target)`` (target float32).
        """
        from stemtf.noise import apply_with_params

        if not isinstance(row, (int, np.integer)) or not 0 <= row < self.shape[0]:
            raise IndexError(f"row {row!r} out of range 0..{self.shape[0] - 1}")
        rng = np.random.default_rng([self.seed, 2, int(row)])
        lib = self.library
        out = np.empty(self.shape[1:], self.dtype)
        tgt = np.empty(self.shape[1:], np.float32) if targets else None
        p = dict(self.params)
        hot_value = p["saturation_counts"] or 65535.0
        for ix in range(self.shape[1]):
            p["centre_shift_y_px"], p["centre_shift_x_px"] = self.centre_shift(row, ix)
            p["background_fraction"] = self.background_fraction(row, ix)
            res = apply_with_params(
                self.clean(row, ix),
                p,
                rng,
                q_sampling_invA=lib.q_sampling_invA,
                semiangle_mrad=lib.semiangle_mrad,
                energy_eV=lib.energy_eV,
                gain=self._gain,
            )
            noisy = res.noisy
            if self._dead is not None:
                noisy[self._dead] = 0.0
                noisy[self._hot] = hot_value
            if self.field.integer_counts:
                noisy = np.clip(np.rint(noisy), 0, 65535)
            out[ix] = noisy
            if tgt is not None:
                tgt[ix] = res.target
        return (out, tgt) if targets else out
