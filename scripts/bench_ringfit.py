"""Precision of the shared ring's radius under mistilt: Friedel pairs vs the beam-held circle fit.

The O1 share of a column is read from the precise radius of its {110} ring (1.8 % separates O3
from O1: ~1.6 px on the 256 px camera). This benchmark takes the clean multislice patterns of
the field benchmark's library (O3 along [001], every thickness and in-plane rotation, untilted
and tilted by 6.7-20 mrad), draws Poisson counts at a dose, locates the transmitted beam from its
own counts (as ``identify`` does) and measures the radius twice with
:func:`stemtf.phase.ringfit.hexagon_radius_fine`: from Friedel pairs alone (the estimator
before) and with the centre held to the beam (``beam_yx``/``beam_sd_px``, what ``classify`` uses
now). It prints the scatter and mean of the share (radius in units of the O3-O1 gap; the truth
is 0) per tilt.

    STEMTF_CACHE=... python scripts/bench_ringfit.py --split tune --doses 1e4 2e3 --repeats 3

The library is the split's (``scripts/bench_field.py``), simulated once and cached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_field as bf  # noqa: E402

#: O1 {110} radius / O3 {110} radius (lattice parameters of the bundled materials).
LATTICE_RATIO = 1.0168
#: The floor under the beam position's uncertainty [px] (``classify.BEAM_SD_FLOOR_PX``).
BEAM_SD_FLOOR_PX = 0.1


def _rotation_of_ring(dp: np.ndarray, center, radius_px: float) -> float:
    """The hexagon rotation [deg] whose six vertices hold the most counts (0.25 deg steps)."""
    from stemtf.phase.calibration import hexagon_on_detector

    h, w = dp.shape
    rots = np.arange(0.0, 60.0, 0.25)
    vy, vx = hexagon_on_detector(
        np.repeat(np.asarray(center, float)[None], rots.size, 0),
        np.full(rots.size, radius_px),
        rots,
        1.0,
        0.0,
    )
    iy = np.clip(np.rint(vy).astype(int), 0, h - 1)
    ix = np.clip(np.rint(vx).astype(int), 0, w - 1)
    return float(rots[np.argmax(dp[iy, ix].sum(axis=1))])


def main(argv=None) -> None:
    from stemtf.phase.ringfit import count_centroids, hexagon_radius_fine, radius_sigma_px
    from stemtf.physics import electron_wavelength_A

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["tune", "check", "report"], default="tune")
    ap.add_argument("--doses", type=float, nargs="+", default=[1e4, 2e3], help="e-/pattern")
    ap.add_argument("--repeats", type=int, default=3, help="noise draws per clean pattern")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.repeats < 1 or any(not d > 0 for d in args.doses):
        ap.error("--repeats must be >= 1 and every --doses value > 0")
    lib = bf.libraries(bf.SPLITS[args.split], None)["256"]
    q = lib.q_sampling_invA
    disk = lib.semiangle_mrad * 1e-3 / electron_wavelength_A(lib.energy_eV) / q
    h, w = lib.patterns.shape[-2:]
    r3_invA = 0.6967  # O3 {110} of the bundled material [1/A]
    gap_px = r3_invA * (LATTICE_RATIO - 1) / q
    rng = np.random.default_rng(args.seed)
    yy, xx = np.mgrid[:h, :w]
    near = np.hypot(yy - h / 2, xx - w / 2) < 2 * disk
    print(f"library {args.split}: 256 px, disk radius {disk:.2f} px, O3-O1 gap {gap_px:.2f} px")
    for dose in args.doses:
        for k, tilt in enumerate(lib.tilts_mrad):
            pairs, held = [], []
            for ti in range(len(lib.thicknesses_A)):
                for ri in range(len(lib.rotations_deg)):
                    clean = lib.patterns[0, ri, ti] if k == 0 else lib.tilted[0, ri, k - 1, ti]
                    clean = clean.astype(float)
                    c = (
                        np.array([(clean * near * yy).sum(), (clean * near * xx).sum()])
                        / (clean * near).sum()
                    )
                    r0 = r3_invA / q
                    rot = _rotation_of_ring(clean, c, r0)
                    for _ in range(args.repeats):
                        n = rng.poisson(clean / clean.sum() * dose).astype(np.float32)[None]
                        start = c + rng.normal(0.0, 0.5, 2)
                        by, bx, s, _ = count_centroids(
                            n, np.array([0]), start[None, :1], start[None, 1:], disk, iterations=3
                        )
                        beam = np.array([[by[0, 0], bx[0, 0]]])
                        sd = np.sqrt(BEAM_SD_FLOOR_PX**2 + radius_sigma_px(s[:, 0], disk) ** 2)
                        common = (n, np.array([0]), beam, np.array([r0]), np.array([rot]))
                        r_p, _ = hexagon_radius_fine(*common, disk_radius_px=disk)
                        r_b, _ = hexagon_radius_fine(
                            *common, disk_radius_px=disk, beam_yx=beam, beam_sd_px=sd
                        )
                        pairs.append((r_p[0] - r0) / gap_px)
                        held.append((r_b[0] - r0) / gap_px)
            p, b = np.array(pairs), np.array(held)
            print(
                f"dose {dose:7g} tilt {np.hypot(*tilt):5.1f} mrad: share scatter pairs "
                f"{np.nanstd(p):.3f} (mean {np.nanmean(p):+.3f}) -> beam-held {np.nanstd(b):.3f} "
                f"(mean {np.nanmean(b):+.3f}), n={np.isfinite(b).sum()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
