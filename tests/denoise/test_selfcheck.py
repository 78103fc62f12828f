"""Self-check on the scan's own patterns: binomial thinning, Poisson deviance, auto's decision.

Known truth: patterns are Poisson draws of a known expectation, so an oracle that returns the
expectation must win, raw must lose to a disk-matched filter, and a denoiser that destroys
counts or fragments disks must lose.
"""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.denoise import IdentityDenoiser
from stemtf.denoise.domain import DataGeometry, ModelDomain
from stemtf.denoise.frame import FramedDenoiser, hot_pixel_mask
from stemtf.denoise.selfcheck import (
    choose_denoiser,
    denoiser_for_scan,
    poisson_deviance,
    resume_key,
    self_check,
    thin,
)
from stemtf.errors import InputError

N, R = 64, 3.0
CARD = {"domain": ModelDomain.from_spec(N, 0.025, 200e3, 1.9, (1e2, 1e5)).to_dict()}


def _truth(dose: float) -> np.ndarray:
    yy, xx = np.mgrid[:N, :N] + 0.5
    img = np.zeros((N, N))
    for y, x in [(32, 32)] + [
        (32 + 18 * np.sin(t), 32 + 18 * np.cos(t)) for t in np.arange(6) * np.pi / 3
    ]:
        img += np.hypot(yy - y, xx - x) <= R
    return 0.85 * dose * img / img.sum() + 0.15 * dose / N**2


def _sample(dose: float, k: int = 24, seed: int = 0) -> np.ndarray:
    lam = np.broadcast_to(_truth(dose), (k, N, N))
    return np.random.default_rng(seed).poisson(lam).astype(np.float32)


class Oracle:
    """Knows the expectation: returns it scaled to each input pattern's total counts."""

    info = {"kind": "test", "model": "oracle", "version": "1", "card": CARD}

    def __call__(self, batch):
        t = _truth(1.0)
        return (t[None] * batch.sum(axis=(1, 2))[:, None, None] / t.sum()).astype(np.float32)


class Destroyer:
    """Keeps only the brightest pixel of each pattern (disks destroyed)."""

    info = {"kind": "test", "model": "destroyer", "version": "1", "card": CARD}

    def __call__(self, batch):
        out = np.zeros_like(batch)
        flat = batch.reshape(len(batch), -1)
        idx = flat.argmax(axis=1)
        out.reshape(len(batch), -1)[np.arange(len(batch)), idx] = flat.max(axis=1)
        return out


class Scaler:
    """Removes 80 % of the counts (what the bundled model did at 256 px)."""

    info = {"kind": "test", "model": "scaler", "version": "1", "card": CARD}

    def __call__(self, batch):
        return 0.2 * batch


def test_thin_splits_counts_into_independent_poisson_halves():
    n = np.random.default_rng(0).poisson(6.0, size=200_000).astype(np.float32)
    a, b = thin(n, 0.5, seed=1)
    np.testing.assert_array_equal(a + b, n)
    assert abs(a.mean() - 3.0) < 0.03 and abs(b.mean() - 3.0) < 0.03
    assert abs(a.var() / a.mean() - 1.0) < 0.03  # Poisson: variance = mean
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01  # independent halves
    a2, _ = thin(n, 0.5, seed=1)
    np.testing.assert_array_equal(a, a2)  # seeded


def test_deviance_zero_for_perfect_prediction_and_hot_pixels_masked():
    y = np.random.default_rng(0).poisson(4.0, size=(3, 8, 8)).astype(np.float32)
    assert poisson_deviance(y, y) == pytest.approx(0.0, abs=0.01)  # only the mu floor
    assert poisson_deviance(y, y + 1) > 0
    s = _sample(1e3)
    s[:, 5, 7] = 4000.0
    s[3, 40, 9] = 60.0
    hot = hot_pixel_mask(s)
    assert hot[:, 5, 7].all() and hot[3, 40, 9] and hot.sum() == len(s) + 1


@pytest.mark.parametrize("dose", [3e2, 2e3])
def test_ordering_oracle_beats_classical_beats_raw(dose):
    s = _sample(dose)
    oracle = self_check(Oracle(), s, R, seed=0)
    d = oracle.deviance
    assert d["model"] < d["classical"] < d["raw"]
    assert oracle.model_wins and oracle.winner == "model"
    ident = self_check(IdentityDenoiser(), s, R, seed=0)
    assert not ident.model_wins and ident.winner == "classical"
    assert ident.deviance["model"] == pytest.approx(ident.deviance["raw"])


def test_counts_kept_leaves_hot_pixels_out():
    s = _sample(3e2)
    s[:, 5, 7] = 60000.0  # a saturated pixel in every pattern: ~200x a pattern's electrons
    oracle = self_check(Oracle(), np.where(s > 1e4, 0.0, s), R, seed=0)
    assert oracle.model_counts_kept == pytest.approx(1.0, abs=0.02)
    # the oracle is told the counts without the hot pixel; the check must score it the same
    hot_in = self_check(Cleaner(), s, R, seed=0)
    assert hot_in.model_counts_kept == pytest.approx(1.0, abs=0.02)
    assert hot_in.masked_pixels == len(s)
    assert self_check(Scaler(), s, R, seed=0).model_counts_kept == pytest.approx(0.2, abs=0.01)


class Cleaner:
    """Zeroes isolated hot pixels and keeps the rest (a count-keeping model)."""

    info = {"kind": "test", "model": "cleaner", "version": "1", "card": CARD}

    def __call__(self, batch):
        return np.where(hot_pixel_mask(batch), 0.0, batch).astype(np.float32)


@pytest.mark.parametrize("bad", [Destroyer, Scaler])
def test_count_destroying_models_lose(bad):
    s = _sample(2e3)
    raw_check = self_check(bad(), s, R, seed=0)
    assert not raw_check.model_wins
    geometry = DataGeometry((N, N), 0.025, 200e3, 1.9)
    chosen, warnings = choose_denoiser("auto", bad(), s, geometry, seed=0)
    assert isinstance(chosen, IdentityDenoiser)
    assert chosen.info["decision"] == "none"
    assert "does not win" in chosen.info["note"] and "note" not in resume_key(chosen.info)
    assert chosen.info["self_check"]["model_wins"] is False
    assert any("WITHOUT denoising" in w for w in warnings)
    # named explicitly: forced, with the verdict recorded and a warning
    forced, warnings = choose_denoiser("/models/bad", bad(), s, geometry, seed=0)
    assert isinstance(forced, FramedDenoiser) and forced.info["decision"].startswith("model")
    assert any("named explicitly" in w for w in warnings)


def test_auto_uses_a_winning_model_and_records_why():
    s = _sample(5e2)
    geometry = DataGeometry((N, N), 0.025, 200e3, 1.9)
    chosen, warnings = choose_denoiser("auto", Oracle(), s, geometry, seed=3)
    assert isinstance(chosen, FramedDenoiser) and chosen.info["decision"] == "model"
    assert warnings == []  # in domain (disk radius 3 px, q, dose)
    sc = chosen.info["self_check"]
    assert sc["model_wins"] and sc["deviance_per_dp"]["model"] < sc["deviance_per_dp"]["raw"]
    key = resume_key(chosen.info)
    assert "self_check" not in key and key["decision"] == "model"


def test_auto_uses_a_model_only_in_the_dose_range_its_card_validated():
    domain = ModelDomain.from_spec(N, 0.025, 200e3, 1.9, (50.0, 1e5))
    card = {"domain": {**domain.to_dict(), "auto_dose_range_e": [2e2, 1e5]}}
    assert ModelDomain.from_card(card).auto_range_e() == (2e2, 1e5)
    assert ModelDomain.from_card({"domain": domain.to_dict()}).auto_range_e() == (25.0, 2e5)

    class Validated(Oracle):
        info = {"kind": "test", "model": "field", "version": "1", "card": card}

    geometry = DataGeometry((N, N), 0.025, 200e3, 1.9)
    low, warnings = choose_denoiser("auto", Validated(), _sample(1e2), geometry, seed=0)
    assert isinstance(low, IdentityDenoiser) and low.info["self_check"]["model_wins"] is True
    assert any("200-1e+05 e-/DP: where the model improved the phase map" in w for w in warnings)
    used, _ = choose_denoiser("auto", Validated(), _sample(3e2), geometry, seed=0)
    assert isinstance(used, FramedDenoiser) and used.info["decision"] == "model"
    with pytest.raises(InputError, match="auto_dose_range_e"):
        ModelDomain.from_card({"domain": {**domain.to_dict(), "auto_dose_range_e": [3, 1]}})


def test_auto_uses_a_model_only_for_the_probes_its_card_names():
    """A probe whose disk (1/A) the model never saw: the deviance may favour the model while
    the map loses (bench_geometry, 2 mrad); auto keeps the raw counts, naming forces it."""
    domain = ModelDomain.from_spec(N, 0.025, 200e3, 1.9, (50.0, 1e5))
    disk = 1.9e-3 / 0.025079  # the training probe's disk [1/A]
    card = {"domain": {**domain.to_dict(), "auto_disk_radius_invA": [0.9 * disk, 1.1 * disk]}}
    assert ModelDomain.from_card(card).auto_disk_radius_invA == pytest.approx(
        (0.9 * disk, 1.1 * disk)
    )

    class Probe(Oracle):
        info = {"kind": "test", "model": "probe", "version": "1", "card": card}

    s = _sample(3e2)
    same = DataGeometry((N, N), 0.025, 200e3, 1.9)
    used, warnings = choose_denoiser("auto", Probe(), s, same, seed=0)
    assert isinstance(used, FramedDenoiser) and used.info["decision"] == "model"
    # a 1.5x wider probe on a 1.5x coarser pixel: the same disk in px, but another disk in 1/A
    wide = DataGeometry((N, N), 0.0375, 200e3, 2.85)
    assert wide.disk_radius_px == pytest.approx(same.disk_radius_px)
    kept, warnings = choose_denoiser("auto", Probe(), s, wide, seed=0)
    assert isinstance(kept, IdentityDenoiser) and kept.info["self_check"]["model_wins"] is True
    assert any(
        "disk radius (0.1136 1/Å: 2.85 mrad at 200 kV) is outside the probes" in w
        and "WITHOUT" in w
        for w in warnings
    ), warnings
    forced, warnings = choose_denoiser("/models/probe", Probe(), s, wide, seed=0)
    assert forced.info["decision"] == "model (forced: named explicitly)"
    assert any("although the scan's disk radius" in w for w in warnings)
    # no such record (older cards): no restriction
    bare = {"domain": domain.to_dict()}
    assert "auto_disk_radius_invA" not in bare["domain"]

    class Bare(Oracle):
        info = {"kind": "test", "model": "bare", "version": "1", "card": bare}

    assert choose_denoiser("auto", Bare(), s, wide, seed=0)[0].info["decision"] == "model"
    with pytest.raises(InputError, match="auto_disk_radius_invA"):
        ModelDomain.from_card({"domain": {**domain.to_dict(), "auto_disk_radius_invA": [0.1, 0]}})


def test_auto_keeps_raw_counts_below_the_trained_dose_range():
    class HighDose(Oracle):
        info = {
            "kind": "test",
            "model": "highdose",
            "version": "1",
            "card": {"domain": ModelDomain.from_spec(N, 0.025, 200e3, 1.9, (1e3, 1e5)).to_dict()},
        }

    s = _sample(3e2)  # wins the self-check, but 3e2 < 1e3 / 2
    geometry = DataGeometry((N, N), 0.025, 200e3, 1.9)
    chosen, warnings = choose_denoiser("auto", HighDose(), s, geometry, seed=0)
    assert isinstance(chosen, IdentityDenoiser) and chosen.info["decision"] == "none"
    assert chosen.info["self_check"]["model_wins"] is True
    assert any(
        "outside its training domain (dose)" in w and "auto keeps the raw counts" in w
        for w in warnings
    )
    assert any(
        "auto uses it (500-2e+05 e-/DP: the trained range, x2" in w and "WITHOUT" in w
        for w in warnings
    )
    forced, warnings = choose_denoiser("/models/highdose", HighDose(), s, geometry, seed=0)
    assert isinstance(forced, FramedDenoiser)
    assert forced.info["decision"] == "model (forced: named explicitly)"
    assert any("named explicitly" in w for w in warnings)
    # at 6e2 (within the factor-2 tolerance of 1e3) the self-check decides alone
    inside, warnings = choose_denoiser("auto", HighDose(), _sample(6e2), geometry, seed=0)
    assert inside.info["decision"] == "model" and warnings == []


def test_unknown_domain_warns_and_is_not_resampled():
    class NoCard(Oracle):
        info = {"kind": "test", "model": "nocard", "version": "1", "card": None}

    s = _sample(5e2)
    geometry = DataGeometry((N, N), 0.0125, 200e3, 1.9)  # disks would be ~6 px
    chosen, warnings = choose_denoiser("auto", NoCard(), s, geometry, seed=0)
    assert any("unknown domain" in w for w in warnings)
    assert chosen.info["domain"] is None
    assert chosen.frame.identity


def test_denoiser_for_scan_geometry_from_metadata_and_none_passthrough():
    class Md:
        q_sampling_invA, energy_eV, semiangle_mrad = 0.025, 200e3, 1.9

    s = _sample(5e2)
    chosen, _ = denoiser_for_scan("auto", Oracle(), s, (N, N), Md(), seed=0)
    assert chosen.info["data_geometry"]["disk_radius_px"] == pytest.approx(3.03, abs=0.02)
    assert chosen.info["self_check"]["seconds"] >= 0
    ident = IdentityDenoiser()
    same, warnings = denoiser_for_scan("none", ident, s, (N, N), Md())
    assert same is ident and warnings == []


def test_touching_hot_pixels_found_small_disk_corners_not():
    x = np.random.default_rng(5).poisson(2.0, size=(2, 32, 32)).astype(np.float32)
    x[:, 10, 10] = x[:, 11, 11] = x[:, 11, 10] = 4095.0  # three touching hot pixels
    yy, xx = np.mgrid[:32, :32]
    x[1] += 300.0 * (np.hypot(yy - 24, xx - 24) <= 2.0)  # a bright disk of radius 2 px
    hot = hot_pixel_mask(x)
    assert hot[:, 10, 10].all() and hot[:, 11, 11].all() and hot[:, 11, 10].all()
    assert not hot[1, 20:29, 20:29].any()
    assert hot.sum() == 6


def test_ring_annulus_holds_the_phase_rings_not_the_beam():
    from stemtf.denoise.selfcheck import ring_annulus

    g = DataGeometry((128, 128), 0.0125, 200e3, 1.0)
    ann = ring_annulus(g)
    r = lambda q: int(round(64 + q / 0.0125))  # noqa: E731 - pixel on the x axis at |q|
    assert ann[64, r(0.409)] and ann[64, r(0.697)] and ann[64, r(0.71)]  # O1 {100}, {110}, H3
    assert not ann[64, 64]  # the transmitted beam is not scored
    z = self_check(Oracle(), _sample(5e2), R, seed=0).to_dict()["model_better_by_std_errors"]
    assert min(z.values()) >= 2.0
