"""The noise-model configuration: one switch and one physical range per component.

Every range is a ``(lo, hi)`` pair from which :func:`stemtf.noise.draw_params` draws
uniformly (log-uniformly where the field name says so); ``lo == hi`` fixes the value. The
defaults follow PHYSICS.md ("Noise and artefact model") for a counting detector at 200 kV.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from stemtf.errors import InputError, check_range

__all__ = ["NoiseConfig"]

Range = tuple[float, float]


def _check_pair(name: str, pair: Any, lo: float, hi: float, unit: str = "") -> Range:
    try:
        a, b = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise InputError(
            f"{name}={pair!r} is not allowed: it must be a (lo, hi) pair of numbers"
        ) from None
    check_range(f"{name}[0]", a, lo, hi, unit)
    check_range(f"{name}[1]", b, lo, hi, unit)
    if a > b:
        raise InputError(f"{name}={pair!r} is not allowed: lo must be <= hi")
    return (a, b)


@dataclass(frozen=True)
class NoiseConfig:
    """Switches and parameter ranges of the composite detector noise model.

    Parameters
    ----------
    dose_range_e : (float, float)
        Total electron dose per pattern [e-/DP], drawn log-uniformly. Allowed 1 to 1e9.
    shot_noise : bool
        Poisson counting noise at the drawn dose.
    background : bool
        Diffuse halo about the transmitted beam, ``A exp(-k/k0) + B / (1 + (k/k1)^2)``.
    background_fraction_range : (float, float)
        Fraction of all expected counts that fall in the halo (and ring) [0, 0.9]; 0.05-0.30
        by default.
    halo_k0_range_invA : (float, float)
        Decay length ``k0`` of the exponential halo term [1/Å]; 0.3-1.0.
    halo_k1_range_invA : (float, float)
        Half width ``k1`` of the Lorentzian halo term [1/Å]; 0.05-0.3.
    halo_exp_weight_range : (float, float)
        Share of the exponential term in the halo (the Lorentzian has the rest) [0, 1].
    ring : bool
        Optional amorphous-carbon-like ring, drawn with probability ``ring_probability``.
    ring_probability : float
        Chance that a pattern has the ring [0, 1].
    ring_k_range_invA, ring_width_range_invA : (float, float)
        Ring radius (0.45-0.5 1/Å) and Gaussian width (0.02-0.05 1/Å) [1/Å].
    ring_fraction_range : (float, float)
        Share of the background counts in the ring [0, 1].
    geometry : bool
        Ellipticity, centre shift, pixel-scale jitter and in-plane rotation, applied to the
        noisy pattern AND the target (the network never has to undo geometry).
    ellipticity_range : (float, float)
        Relative axis difference ``a/b - 1`` [0, 0.2]; 0.005-0.02.
    centre_shift_px_max : float
        Largest centre shift along each axis [px], 0-20; 3 by default.
    scale_jitter : float
        Largest relative change of the reciprocal pixel size [0, 0.2]; 0.02.
    rotation_range_deg : (float, float)
        In-plane rotation [deg]; any rotation (0-360) by default.
    blur : bool
        Detector point spread / inelastic blur, a Gaussian of width ``sigma`` [px].
    blur_sigma_range_px : (float, float)
        0.5-1.5 px by default, allowed 0-10 px.
    gain : bool
        Per-pixel multiplicative gain ``1 + N(0, sigma)``.
    gain_sigma_range : (float, float)
        0.01-0.05 by default, allowed 0-0.5.
    hot_dead : bool
        Hot (salt, read as the saturation value) and dead (pepper, read 0) pixels.
    hot_fraction_range, dead_fraction_range : (float, float)
        Fraction of pixels, drawn log-uniformly, 1e-4 to 1e-3 by default, allowed 1e-7 to 0.2.
    saturation : bool
        Clip the counts at ``saturation_counts`` (12-bit counter: 4095).
    saturation_counts : float
        Largest count a pixel can read, 1 to 1e9.
    spot_dimming : bool
        Random attenuation of individual reflections (not the direct beam), applied to the
        noisy pattern AND the target (it is a property of the specimen, not of the detector).
    spot_dim_probability_range : (float, float)
        Chance that a given reflection is dimmed [0, 1]; 0-0.3.
    spot_dim_factor_range : (float, float)
        Intensity factor of a dimmed reflection [0, 1]; 0.3-0.9.
    beam_stop : bool
        Beam-stop-like attenuation (a disk on the direct beam plus a rod to the detector edge)
        drawn with probability ``beam_stop_probability``; applied to noisy AND target.
    beam_stop_probability : float
        Chance that a pattern has the beam stop [0, 1].
    beam_stop_radius_range : (float, float)
        Beam-stop radius in units of the disk radius ``alpha / lambda`` [1, 5]; 1.0-1.5.
    beam_stop_rod_width_px_range : (float, float)
        Width of the rod [px], 0-32; 2-4.
    beam_stop_transmission_range : (float, float)
        Fraction of the intensity the stop lets through [0, 1]; 0-0.05.
    """

    dose_range_e: Range = (1e3, 1e5)
    shot_noise: bool = True
    background: bool = True
    background_fraction_range: Range = (0.05, 0.30)
    halo_k0_range_invA: Range = (0.3, 1.0)
    halo_k1_range_invA: Range = (0.05, 0.3)
    halo_exp_weight_range: Range = (0.0, 1.0)
    ring: bool = True
    ring_probability: float = 0.3
    ring_k_range_invA: Range = (0.45, 0.5)
    ring_width_range_invA: Range = (0.02, 0.05)
    ring_fraction_range: Range = (0.1, 0.4)
    geometry: bool = True
    ellipticity_range: Range = (0.005, 0.02)
    centre_shift_px_max: float = 3.0
    scale_jitter: float = 0.02
    rotation_range_deg: Range = (0.0, 360.0)
    blur: bool = True
    blur_sigma_range_px: Range = (0.5, 1.5)
    gain: bool = True
    gain_sigma_range: Range = (0.01, 0.05)
    hot_dead: bool = True
    hot_fraction_range: Range = (1e-4, 1e-3)
    dead_fraction_range: Range = (1e-4, 1e-3)
    saturation: bool = True
    saturation_counts: float = 4095.0
    spot_dimming: bool = True
    spot_dim_probability_range: Range = (0.0, 0.3)
    spot_dim_factor_range: Range = (0.3, 0.9)
    beam_stop: bool = True
    beam_stop_probability: float = 0.2
    beam_stop_radius_range: Range = (1.0, 1.5)
    beam_stop_rod_width_px_range: Range = (2.0, 4.0)
    beam_stop_transmission_range: Range = (0.0, 0.05)

    def __post_init__(self) -> None:
        pairs = {
            "dose_range_e": (1.0, 1e9, "e-/DP"),
            "background_fraction_range": (0.0, 0.9, ""),
            "halo_k0_range_invA": (1e-3, 10.0, "1/Å"),
            "halo_k1_range_invA": (1e-3, 10.0, "1/Å"),
            "halo_exp_weight_range": (0.0, 1.0, ""),
            "ring_k_range_invA": (0.01, 10.0, "1/Å"),
            "ring_width_range_invA": (1e-3, 1.0, "1/Å"),
            "ring_fraction_range": (0.0, 1.0, ""),
            "ellipticity_range": (0.0, 0.2, ""),
            "rotation_range_deg": (-360.0, 360.0, "deg"),
            "blur_sigma_range_px": (0.0, 10.0, "px"),
            "gain_sigma_range": (0.0, 0.5, ""),
            "hot_fraction_range": (1e-7, 0.2, ""),
            "dead_fraction_range": (1e-7, 0.2, ""),
            "spot_dim_probability_range": (0.0, 1.0, ""),
            "spot_dim_factor_range": (0.0, 1.0, ""),
            "beam_stop_radius_range": (1.0, 5.0, "disk radii"),
            "beam_stop_rod_width_px_range": (0.0, 32.0, "px"),
            "beam_stop_transmission_range": (0.0, 1.0, ""),
        }
        for name, (lo, hi, unit) in pairs.items():
            object.__setattr__(self, name, _check_pair(name, getattr(self, name), lo, hi, unit))
        check_range("ring_probability", self.ring_probability, 0.0, 1.0)
        check_range("beam_stop_probability", self.beam_stop_probability, 0.0, 1.0)
        check_range("centre_shift_px_max", self.centre_shift_px_max, 0.0, 20.0, "px")
        check_range("scale_jitter", self.scale_jitter, 0.0, 0.2)
        check_range("saturation_counts", self.saturation_counts, 1.0, 1e9, "counts")
        for f in dataclasses.fields(self):
            if f.type in ("bool", bool) and not isinstance(getattr(self, f.name), bool):
                raise InputError(
                    f"{f.name}={getattr(self, f.name)!r} is not allowed: it must be True or False"
                )

    def replace(self, **changes: Any) -> NoiseConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of every field (provenance)."""
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"noise config keys {unknown} are unknown: allowed {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    @classmethod
    def clean_only(cls, **changes: Any) -> NoiseConfig:
        """Every component off (counts = dose x pattern, no noise); switch some on with ``changes``."""
        off = {f.name: False for f in dataclasses.fields(cls) if f.type in ("bool", bool)}
        off.update(changes)
        return cls(**off)
