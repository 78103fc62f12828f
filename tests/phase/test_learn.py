"""Pass 1: the model refined on a sample keeps the precise-radius estimator that scatters less."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.ndimage import gaussian_filter

from stemtf.phase import Calibration, identify_phases
from stemtf.phase.learn import ML_MIN_GAIN, refine_on_sample


def _sample(kin, model, rng, *, disk_px, shape, center, q, dose, blur):
    dps = []
    for k in range(60):
        lab = 1 if k % 3 else 2
        img = kin.make_pattern(
            model,
            lab,
            rng,
            dose=None,
            rotation_deg=rng.uniform(0, 60),
            shape=shape,
            center_yx=center,
            q_sampling=q,
            disk_radius_px=disk_px,
        )
        dps.append(rng.poisson(gaussian_filter(img / img.sum(), blur) * dose + 0.01))
    return np.asarray(dps, np.float32)


def _spread(sample, cal, model, method):
    m = replace(model, fine_method=method)
    return m.refine(identify_phases(sample, cal, m).hexagons).share_sigma


def test_the_estimator_with_the_smaller_share_spread_is_kept(kin, model):
    """Large blurred disks (a 256 px camera): the disk fit scatters less than centroids and
    is chosen; the choice and both spreads are in the history."""
    rng = np.random.default_rng(31)
    q, shape, center = 0.0078, (256, 256), (127.6, 128.3)
    cal = Calibration(q_sampling_invA=q, energy_eV=200e3, semiangle_mrad=1.5, center_yx=center)
    sample = _sample(
        kin,
        model,
        rng,
        disk_px=cal.disk_radius_px,
        shape=shape,
        center=center,
        q=q,
        dose=2500.0,
        blur=1.0,
    )
    s_c, s_m = _spread(sample, cal, model, "centroid"), _spread(sample, cal, model, "ml")
    chosen = refine_on_sample(sample, cal, model)
    expect = "ml" if s_m < (1 - ML_MIN_GAIN) * s_c else "centroid"
    assert chosen.fine_method == expect
    assert chosen.history[-1].startswith(f"precise radius by {expect}")
    assert s_m < s_c  # the edge carries the position of a large disk
    assert chosen.shared_radius_invA > 0 and chosen.refined
    # deterministic
    assert refine_on_sample(sample, cal, model) == chosen
