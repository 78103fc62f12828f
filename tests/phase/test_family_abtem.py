"""The five NMC811 family phases told apart on clean abTEM patterns (dynamical intensities).

O3, O1, H3 along [001], spinel and rock salt along [111] in their topotactic orientation, from
the scene library (multislice, 128 px at 0.0125 1/Å/px), at 80-150 Å, Poisson counts at
1e4 e-/DP; O3+O1 as the 60/40 blend of the two patterns. The camera length is learned from the
patterns themselves (refine), as ``analyze`` does.
"""

from __future__ import annotations

import numpy as np
import pytest

from stemtf.phase import Calibration, PhaseModel, identify_phases

THICKNESSES_A = (80.0, 100.0, 125.0, 150.0)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from stemtf.scenes import build_library
    from stemtf.scenes.family import family_library_args

    return build_library(
        **family_library_args(),
        detector_px=128,
        q_sampling_invA=0.0125,
        rotations_deg=(7.0, 37.0),
        thicknesses_A=THICKNESSES_A,
        cache_dir=tmp_path_factory.mktemp("famlib"),
    )


def test_family_phases_on_abtem_patterns(library):
    from stemtf.materials.rings import display_name

    rng = np.random.default_rng(0)
    ids = list(library.material_ids)
    names = [display_name(m) for m in ids]
    clean = {n: library.patterns[i] for i, n in enumerate(names)}  # (R, T, H, W)
    clean["O3+O1"] = 0.6 * clean["O3"] + 0.4 * clean["O1"]
    dps, truth = [], []
    for name, pats in clean.items():
        draws = 4 if name == "O3" else 2  # O3 the majority, as in a cathode particle
        for pat in pats.reshape(-1, *pats.shape[-2:]):
            for _ in range(draws):
                dps.append(rng.poisson(pat * 1e4).astype(np.float32))
                truth.append(name)
    dps = np.stack(dps)
    truth = np.array(truth)
    cal = Calibration(
        q_sampling_invA=library.q_sampling_invA,
        energy_eV=library.energy_eV,
        semiangle_mrad=library.semiangle_mrad,
        center_yx=(64.0, 64.0),
    )
    model = PhaseModel.from_materials(ids, cal)
    model = model.refine(identify_phases(dps, cal, model).hexagons)
    assert model.radii_learned, model.history
    pred = np.array(model.label_names)[identify_phases(dps, cal, model).labels]
    for name in clean:
        acc = np.mean(pred[truth == name] == name)
        assert acc >= 0.85, (name, acc, sorted(set(pred[truth == name])))
