"""The noise model's statistics against known truth (fixed seeds, 128x128 patterns)."""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.errors import InputError
from stemtf.noise import NoiseConfig, apply, disk_radius_px, draw_params, wavelength_A

Q = 0.0125  # 1/Å per pixel
N = 128


def uniform() -> np.ndarray:
    return np.full((N, N), 1.0 / (N * N))


def disk_pattern(spots=((0, 0, 1.0), (-30, 17, 0.2), (30, -17, 0.2), (0, 35, 0.1))) -> np.ndarray:
    """Central beam plus a few reflections rendered as disks of radius 3 px, sum 1."""
    yy, xx = np.mgrid[:N, :N]
    out = np.zeros((N, N))
    for dy, dx, w in spots:
        out += w * (np.hypot(yy - N // 2 - dy, xx - N // 2 - dx) <= 3)
    return out / out.sum()


def test_wavelength_at_200kV():
    assert wavelength_A(200e3) == pytest.approx(0.02508, abs=2e-5)
    assert wavelength_A(300e3) == pytest.approx(0.01969, abs=2e-5)
    assert disk_radius_px(1.0, 200e3, Q) == pytest.approx(1e-3 / 0.025079 / Q, rel=1e-3)


def test_poisson_mean_and_variance_at_known_dose():
    dose = 20.0 * N * N
    cfg = NoiseConfig.clean_only(shot_noise=True, dose_range_e=(dose, dose))
    r = apply(uniform(), cfg, np.random.default_rng(1), q_sampling_invA=Q)
    assert r.params["dose_e"] == pytest.approx(dose)
    np.testing.assert_allclose(r.target, 20.0, rtol=1e-6)
    assert r.noisy.mean() == pytest.approx(20.0, rel=0.01)
    assert r.noisy.var() == pytest.approx(20.0, rel=0.05)
    assert np.all(r.noisy == np.round(r.noisy))  # integer counts


def test_dose_is_log_uniform_over_default_range():
    rng = np.random.default_rng(2)
    log_d = np.log10([draw_params(NoiseConfig(), rng)["dose_e"] for _ in range(3000)])
    assert log_d.min() >= 3 and log_d.max() <= 5
    assert log_d.mean() == pytest.approx(4.0, abs=0.05)
    assert np.mean(log_d < 4) == pytest.approx(0.5, abs=0.04)


def test_salt_and_pepper_fractions():
    cfg = NoiseConfig.clean_only(
        hot_dead=True,
        saturation=True,
        dose_range_e=(100.0 * N * N,) * 2,
        hot_fraction_range=(1e-3, 1e-3),
        dead_fraction_range=(2e-3, 2e-3),
    )
    r = apply(uniform(), cfg, np.random.default_rng(3), q_sampling_invA=Q)
    assert int((r.noisy == 4095).sum()) == round(1e-3 * N * N) == r.params["hot_count"]
    assert int((r.noisy == 0).sum()) == round(2e-3 * N * N) == r.params["dead_count"]
    # with the default log-uniform ranges the realised fraction stays within 1e-4..1e-3
    rng = np.random.default_rng(4)
    for _ in range(5):
        r = apply(
            uniform(),
            NoiseConfig.clean_only(hot_dead=True, saturation=True, dose_range_e=(1e6, 1e6)),
            rng,
            q_sampling_invA=Q,
        )
        frac = (r.noisy == 4095).mean()
        assert 0.5e-4 <= frac <= 1.1e-3


def test_blur_width_from_second_moment():
    clean = np.zeros((N, N))
    clean[N // 2, N // 2] = 1.0
    sigma = 1.2
    cfg = NoiseConfig.clean_only(
        blur=True, blur_sigma_range_px=(sigma, sigma), dose_range_e=(1e6, 1e6)
    )
    r = apply(clean, cfg, np.random.default_rng(5), q_sampling_invA=Q)
    y = np.arange(N) - N // 2
    img = r.noisy / r.noisy.sum()
    var_y = (img.sum(axis=1) * y**2).sum()
    var_x = (img.sum(axis=0) * y**2).sum()
    assert np.sqrt(var_y) == pytest.approx(sigma, rel=0.02)
    assert np.sqrt(var_x) == pytest.approx(sigma, rel=0.02)
    assert r.target[N // 2, N // 2] == pytest.approx(1e6)  # the target is not blurred


def test_halo_fraction_and_shape():
    cfg = NoiseConfig.clean_only(
        background=True, background_fraction_range=(0.2, 0.2), dose_range_e=(1e5, 1e5)
    )
    r = apply(disk_pattern(), cfg, np.random.default_rng(6), q_sampling_invA=Q)
    bg = r.noisy.astype(np.float64) - r.target
    assert bg.sum() / r.noisy.sum() == pytest.approx(0.2, rel=1e-4)
    assert r.target.sum() == pytest.approx(0.8e5, rel=1e-5)
    assert bg.min() >= 0
    # halo decreases away from the transmitted beam
    yy, xx = np.mgrid[:N, :N]
    k = np.hypot(yy - N // 2, xx - N // 2) * Q
    means = [bg[(k >= a) & (k < a + 0.05)].mean() for a in (0.05, 0.2, 0.4, 0.7)]
    assert all(a > b for a, b in zip(means, means[1:], strict=False))


def test_amorphous_ring_peaks_at_its_radius():
    cfg = NoiseConfig.clean_only(
        background=True,
        ring=True,
        ring_probability=1.0,
        ring_fraction_range=(0.9, 0.9),
        ring_k_range_invA=(0.5, 0.5),
        ring_width_range_invA=(0.02, 0.02),
        background_fraction_range=(0.3, 0.3),
        dose_range_e=(1e5, 1e5),
    )
    r = apply(disk_pattern(), cfg, np.random.default_rng(7), q_sampling_invA=Q)
    bg = r.noisy.astype(np.float64) - r.target
    yy, xx = np.mgrid[:N, :N]
    k = np.hypot(yy - N // 2, xx - N // 2) * Q
    radial = [bg[np.abs(k - kc) < 0.01].mean() for kc in np.arange(0.3, 0.75, 0.02)]
    assert np.arange(0.3, 0.75, 0.02)[int(np.argmax(radial))] == pytest.approx(0.5, abs=0.021)


def test_gain_variation_relative_spread():
    cfg = NoiseConfig.clean_only(
        gain=True, gain_sigma_range=(0.03, 0.03), dose_range_e=(1e3 * N * N,) * 2
    )
    r = apply(uniform(), cfg, np.random.default_rng(8), q_sampling_invA=Q)
    assert r.noisy.std() / r.noisy.mean() == pytest.approx(0.03, rel=0.05)


def test_saturation_clips_counts():
    cfg = NoiseConfig.clean_only(saturation=True, saturation_counts=1000.0, dose_range_e=(1e6, 1e6))
    r = apply(disk_pattern(), cfg, np.random.default_rng(9), q_sampling_invA=Q)
    assert r.noisy.max() == 1000.0
    assert r.params["saturated_count"] == int((r.target >= 1000).sum()) > 0


def test_geometry_applies_to_noisy_and_target_alike():
    cfg = NoiseConfig.clean_only(geometry=True, centre_shift_px_max=3.0, dose_range_e=(1e5, 1e5))
    r = apply(disk_pattern(spots=((0, 0, 1.0),)), cfg, np.random.default_rng(10), q_sampling_invA=Q)
    np.testing.assert_allclose(r.noisy, r.target, rtol=1e-5)
    yy, xx = np.mgrid[:N, :N]
    w = r.target / r.target.sum()
    assert (w * yy).sum() - N // 2 == pytest.approx(r.params["centre_shift_y_px"], abs=0.05)
    assert (w * xx).sum() - N // 2 == pytest.approx(r.params["centre_shift_x_px"], abs=0.05)
    assert r.target.sum() == pytest.approx(1e5, rel=1e-5)


def test_spot_dimming_and_beam_stop_in_target():
    cfg = NoiseConfig.clean_only(
        spot_dimming=True,
        spot_dim_probability_range=(1.0, 1.0),
        spot_dim_factor_range=(0.5, 0.5),
        beam_stop=True,
        beam_stop_probability=1.0,
        beam_stop_transmission_range=(0.0, 0.0),
        dose_range_e=(1e4, 1e4),
    )
    clean = disk_pattern()
    r = apply(clean, cfg, np.random.default_rng(11), q_sampling_invA=Q)
    assert r.params["spot_dim_count"] == 3 and r.params["spot_dim_mean_factor"] == 0.5
    assert r.target[N // 2, N // 2] == 0.0  # the direct beam is behind the stop
    y, x = N // 2 - 30, N // 2 + 17
    if r.target[y, x] > 0:  # unless the rod happens to cover it
        assert r.target[y, x] == pytest.approx(0.5 * 1e4 * clean[y, x])


def test_same_seed_same_output_and_different_seed_differs():
    clean = disk_pattern()
    a = apply(clean, NoiseConfig(), np.random.default_rng(123), q_sampling_invA=Q)
    b = apply(clean, NoiseConfig(), np.random.default_rng(123), q_sampling_invA=Q)
    c = apply(clean, NoiseConfig(), np.random.default_rng(124), q_sampling_invA=Q)
    np.testing.assert_array_equal(a.noisy, b.noisy)
    np.testing.assert_array_equal(a.target, b.target)
    assert a.params == b.params
    assert not np.array_equal(a.noisy, c.noisy)
    assert a.noisy.dtype == a.target.dtype == np.float32


def test_switching_one_component_off_keeps_the_other_draws():
    p1 = draw_params(NoiseConfig(), np.random.default_rng(5))
    p2 = draw_params(NoiseConfig(blur=False), np.random.default_rng(5))
    assert p2["blur_sigma_px"] == 0.0
    assert {k: v for k, v in p1.items() if k != "blur_sigma_px"} == {
        k: v for k, v in p2.items() if k != "blur_sigma_px"
    }


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"dose_range_e": (1e5, 1e3)}, "dose_range_e"),
        ({"dose_range_e": (0.0, 1e3)}, "dose_range_e[0]"),
        ({"blur_sigma_range_px": (0.5, 50.0)}, "blur_sigma_range_px[1]"),
        ({"ring_probability": 1.5}, "ring_probability"),
        ({"shot_noise": "yes"}, "shot_noise"),
    ],
)
def test_config_validated_on_construction(changes, needle):
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        NoiseConfig(**changes)


def test_bad_clean_pattern_refused():
    with pytest.raises(InputError, match="sum to 1"):
        apply(np.ones((8, 8)), NoiseConfig(), np.random.default_rng(0), q_sampling_invA=Q)
    with pytest.raises(InputError, match="2-D"):
        apply(np.ones(8) / 8, NoiseConfig(), np.random.default_rng(0), q_sampling_invA=Q)


def test_config_dict_round_trip():
    cfg = NoiseConfig(dose_range_e=(500.0, 2000.0), ring=False)
    assert NoiseConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="unknown"):
        NoiseConfig.from_dict({"dose": 3})
