"""The composite noise model: clean sum-1 pattern -> (noisy counts, target counts, parameters).

What sums to what (``D`` = drawn dose [e-/DP], ``f`` = background fraction):

1. ``p = dim_spots(clean)`` (spot dimming, reflections only), then ``s = warp(p)`` (geometry;
   ``sum(s) == sum(p)``; ``sum(p) == 1`` unless reflections were dimmed).
2. ``T`` = beam-stop transmission (1 everywhere when there is none), centred on the shifted
   beam centre.
3. ``target = D * (1 - f) * s * T``: the expected elastic counts in the noisy pattern's
   geometry, without background, blur, gain or noise. ``sum(target) == D * (1 - f)`` when nothing
   is dimmed or stopped.
4. ``expected = target + D * f * b * T`` with ``b`` the halo/ring shape (sum 1):
   ``sum(expected) == D`` when nothing is dimmed or stopped.
5. ``noisy = saturate(hot_dead(poisson(gain * blur(expected))))``.

Geometry, spot dimming and the beam stop are applied to both outputs (the denoiser must not
learn to undo them); background, blur, gain, shot noise, hot/dead pixels and saturation only
to ``noisy``. Every drawn value is returned in ``params`` (floats; switches as 0/1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError, check_positive
from stemtf.noise import artefacts, background, detector, geometry
from stemtf.noise.config import NoiseConfig
from stemtf.noise.optics import disk_radius_px

__all__ = ["NoisyResult", "PARAM_NAMES", "draw_params", "apply_with_params", "apply"]

# every key of ``NoisyResult.params``, in a fixed order (the dataset stores them all)
PARAM_NAMES: tuple[str, ...] = (
    "dose_e",
    "shot_noise",
    "background_fraction",
    "halo_k0_invA",
    "halo_k1_invA",
    "halo_exp_weight",
    "ring_fraction",
    "ring_k_invA",
    "ring_width_invA",
    "ellipticity",
    "ellipse_angle_deg",
    "centre_shift_y_px",
    "centre_shift_x_px",
    "scale",
    "rotation_deg",
    "blur_sigma_px",
    "gain_sigma",
    "hot_fraction",
    "dead_fraction",
    "saturation_counts",
    "spot_dim_probability",
    "spot_dim_factor_lo",
    "spot_dim_factor_hi",
    "beam_stop",
    "beam_stop_radius_disks",
    "beam_stop_rod_width_px",
    "beam_stop_rod_angle_deg",
    "beam_stop_transmission",
    # outcomes measured while applying
    "spot_dim_count",
    "spot_dim_mean_factor",
    "hot_count",
    "dead_count",
    "saturated_count",
)
_DRAWN = PARAM_NAMES[: PARAM_NAMES.index("spot_dim_count")]


@dataclass(frozen=True)
class NoisyResult:
    """``noisy`` and ``target`` float32 (H, W) detector counts and the ``params`` that made them."""

    noisy: np.ndarray
    target: np.ndarray
    params: dict[str, float]


def _uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _log_uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(math.exp(_uniform(rng, (math.log(r[0]), math.log(r[1])))))


def draw_params(config: NoiseConfig, rng: np.random.Generator) -> dict[str, float]:
    """Draw one set of noise parameters from ``config`` (components that are off get neutral values).

    The same number of random values is consumed whatever the switches, so switching one
    component off does not change the others' draws.
    """
    c = config
    u = _uniform
    p: dict[str, float] = {}
    p["dose_e"] = _log_uniform(rng, c.dose_range_e)
    p["shot_noise"] = float(c.shot_noise)
    bg = (
        u(rng, c.background_fraction_range),
        u(rng, c.halo_k0_range_invA),
        u(rng, c.halo_k1_range_invA),
        u(rng, c.halo_exp_weight_range),
    )
    p["background_fraction"] = bg[0] if c.background else 0.0
    p["halo_k0_invA"], p["halo_k1_invA"], p["halo_exp_weight"] = bg[1:]
    has_ring = bool(rng.random() < c.ring_probability)
    ring = (
        u(rng, c.ring_fraction_range),
        u(rng, c.ring_k_range_invA),
        u(rng, c.ring_width_range_invA),
    )
    p["ring_fraction"] = ring[0] if (c.ring and c.background and has_ring) else 0.0
    p["ring_k_invA"], p["ring_width_invA"] = ring[1:]
    geo = (
        u(rng, c.ellipticity_range),
        float(rng.uniform(0.0, 180.0)),
        float(rng.uniform(-c.centre_shift_px_max, c.centre_shift_px_max)),
        float(rng.uniform(-c.centre_shift_px_max, c.centre_shift_px_max)),
        1.0 + float(rng.uniform(-c.scale_jitter, c.scale_jitter)),
        u(rng, c.rotation_range_deg),
    )
    if not c.geometry:
        geo = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    (
        p["ellipticity"],
        p["ellipse_angle_deg"],
        p["centre_shift_y_px"],
        p["centre_shift_x_px"],
        p["scale"],
        p["rotation_deg"],
    ) = geo
    sigma = u(rng, c.blur_sigma_range_px)
    p["blur_sigma_px"] = sigma if c.blur else 0.0
    gain = u(rng, c.gain_sigma_range)
    p["gain_sigma"] = gain if c.gain else 0.0
    hot, dead = _log_uniform(rng, c.hot_fraction_range), _log_uniform(rng, c.dead_fraction_range)
    p["hot_fraction"], p["dead_fraction"] = (hot, dead) if c.hot_dead else (0.0, 0.0)
    p["saturation_counts"] = float(c.saturation_counts) if c.saturation else 0.0
    dim = u(rng, c.spot_dim_probability_range)
    p["spot_dim_probability"] = dim if c.spot_dimming else 0.0
    p["spot_dim_factor_lo"], p["spot_dim_factor_hi"] = c.spot_dim_factor_range
    has_stop = bool(rng.random() < c.beam_stop_probability)
    stop = (
        u(rng, c.beam_stop_radius_range),
        u(rng, c.beam_stop_rod_width_px_range),
        float(rng.uniform(0.0, 360.0)),
        u(rng, c.beam_stop_transmission_range),
    )
    p["beam_stop"] = float(c.beam_stop and has_stop)
    (
        p["beam_stop_radius_disks"],
        p["beam_stop_rod_width_px"],
        p["beam_stop_rod_angle_deg"],
        p["beam_stop_transmission"],
    ) = stop
    return p


def _check_clean(clean: np.ndarray) -> np.ndarray:
    a = np.asarray(clean, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 2:
        raise InputError(f"clean pattern must be 2-D (H, W), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() < 0:
        raise InputError("clean pattern must be finite and non-negative")
    s = a.sum()
    if not math.isclose(s, 1.0, rel_tol=1e-3):
        raise InputError(f"clean pattern must sum to 1 (a normalised simulation), got sum {s:.6g}")
    return a


def apply_with_params(
    clean: np.ndarray,
    params: dict[str, float],
    rng: np.random.Generator,
    *,
    q_sampling_invA: float,
    semiangle_mrad: float = 1.0,
    energy_eV: float = 200e3,
    gain: np.ndarray | None = None,
) -> NoisyResult:
    """Apply the noise model with given ``params`` (from :func:`draw_params`).

    ``rng`` drives the per-pixel randomness (which reflections are dimmed, gain map, shot noise, hot/dead pixels).

    ``gain`` (H, W), when given, is a fixed detector gain map (one per scan, e.g. a flat-field
    error) used instead of drawing one per pattern from ``params["gain_sigma"]``.
    See the module docstring for what sums to what.
    """
    missing = [k for k in _DRAWN if k not in params]
    if missing:
        raise InputError(f"noise params lack {missing}")
    check_positive("q_sampling_invA", q_sampling_invA, "1/Å")
    a = _check_clean(clean)
    p = {k: float(params[k]) for k in _DRAWN}
    check_positive("dose_e", p["dose_e"], "e-/DP")
    h, w = a.shape

    n_dim, mean_factor = 0, 1.0
    if p["spot_dim_probability"] > 0:
        a, n_dim, mean_factor = artefacts.dim_spots(
            a,
            rng,
            probability=p["spot_dim_probability"],
            factor_range=(p["spot_dim_factor_lo"], p["spot_dim_factor_hi"]),
        )
    shift = (p["centre_shift_y_px"], p["centre_shift_x_px"])
    matrix = geometry.distortion_matrix(
        ellipticity=p["ellipticity"],
        ellipse_angle_deg=p["ellipse_angle_deg"],
        scale=p["scale"],
        rotation_deg=p["rotation_deg"],
    )
    s = (
        a
        if np.allclose(matrix, np.eye(2)) and shift == (0.0, 0.0)
        else geometry.warp(a, matrix, shift)
    )
    centre = (h // 2 + shift[0], w // 2 + shift[1])
    stop = 1.0
    if p["beam_stop"]:
        r = p["beam_stop_radius_disks"] * disk_radius_px(semiangle_mrad, energy_eV, q_sampling_invA)
        stop = artefacts.beam_stop_transmission(
            (h, w),
            centre,
            radius_px=r,
            rod_width_px=p["beam_stop_rod_width_px"],
            rod_angle_deg=p["beam_stop_rod_angle_deg"],
            transmission=p["beam_stop_transmission"],
        )
    dose, f = p["dose_e"], p["background_fraction"]
    target = dose * (1.0 - f) * s * stop
    expected = target
    if f > 0:
        b = background.background_shape(
            background.radial_k_invA((h, w), centre, q_sampling_invA),
            k0_invA=p["halo_k0_invA"],
            k1_invA=p["halo_k1_invA"],
            exp_weight=p["halo_exp_weight"],
            ring_fraction=p["ring_fraction"],
            ring_k_invA=p["ring_k_invA"],
            ring_width_invA=p["ring_width_invA"],
        )
        expected = target + dose * f * b * stop
    counts = detector.blur(expected, p["blur_sigma_px"])
    if gain is not None:
        if np.shape(gain) != (h, w):
            raise InputError(
                f"gain map of shape {np.shape(gain)} does not match the pattern's {(h, w)}"
            )
        counts = counts * gain
    elif p["gain_sigma"] > 0:
        counts = counts * detector.gain_map((h, w), p["gain_sigma"], rng)
    if p["shot_noise"]:
        counts = detector.shot_noise(counts, rng)
    n_hot = n_dead = 0
    sat = p["saturation_counts"]
    if p["hot_fraction"] > 0 or p["dead_fraction"] > 0:
        hot_value = sat if sat > 0 else float(counts.max()) * 2 + 1
        counts, n_hot, n_dead = detector.hot_dead_pixels(
            counts,
            rng,
            hot_fraction=p["hot_fraction"],
            dead_fraction=p["dead_fraction"],
            hot_value=hot_value,
        )
    n_sat = 0
    if sat > 0:
        n_sat = int((counts >= sat).sum())
        counts = np.minimum(counts, sat)
    params_out = dict(p)
    params_out.update(
        spot_dim_count=float(n_dim),
        spot_dim_mean_factor=mean_factor,
        hot_count=float(n_hot),
        dead_count=float(n_dead),
        saturated_count=float(n_sat),
    )
    return NoisyResult(
        noisy=counts.astype(np.float32), target=target.astype(np.float32), params=params_out
    )


def apply(
    clean: np.ndarray,
    config: NoiseConfig,
    rng: np.random.Generator,
    *,
    q_sampling_invA: float,
    semiangle_mrad: float = 1.0,
    energy_eV: float = 200e3,
) -> NoisyResult:
    """Draw parameters from ``config`` and apply them to ``clean`` (H, W), which sums to 1.

    Parameters
    ----------
    clean : ndarray (H, W)
        Simulated pattern (Bragg disks rendered), normalised to total intensity 1; the direct
        beam at pixel (H//2, W//2).
    config : NoiseConfig
        Switches and parameter ranges.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same result.
    q_sampling_invA : float
        Reciprocal pixel size [1/Å] (halo and ring radii are in 1/Å).
    semiangle_mrad, energy_eV : float
        Convergence semi-angle [mrad] and beam energy [eV]; they set the disk radius that the
        beam stop is sized by.

    Returns
    -------
    NoisyResult
        ``noisy`` (detector counts), ``target`` (the clean pattern in the same geometry, in
        expected elastic counts) and every drawn parameter; see the module docstring.
    """
    params = draw_params(config, rng)
    return apply_with_params(
        clean,
        params,
        rng,
        q_sampling_invA=q_sampling_invA,
        semiangle_mrad=semiangle_mrad,
        energy_eV=energy_eV,
    )
