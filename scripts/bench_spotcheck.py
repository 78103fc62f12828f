"""A candidate task-aware self-check, measured: do the model's spots survive the other half?

Binomial thinning splits each pattern of a scan's self-check sample (64 patterns, as
``analyze`` draws them) into two independent halves A and B. The phase identification's spot
finder (Difference of Gaussians at 0.45 disk radius, 5 sigma of its robust noise, >= 8
counts, the 18 strongest per pattern, inside the annulus of the phase rings) runs on raw A and
on the bundled model's output of A (framed as ``analyze`` runs it); a spot is *confirmed*
where B's aperture counts stand >= 2 shot-noise sigmas above their local background there.
Printed per scene: whether the deviance self-check lets ``auto`` use the model, and the
confirmed / unconfirmed spot totals of raw and model (all spots, and only those whose own
half's aperture counts are >= 5 sigma and >= 8 counts).

    STEMTF_CACHE=... python scripts/bench_spotcheck.py --conditions ideal-128 detector-256 \\
        --doses 300 2000 10000 --seeds 100 101

This is a measurement for issue 12 (which check would keep ``auto`` from a model that costs
O1-present F1); ``analyze`` does not use it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def spot_totals(half, other, disk_radius_px, region, significant_only):
    """Confirmed and unconfirmed spot counts per pattern of ``half`` against ``other``."""
    from stemtf.phase.dog import disk_response, dog_filter, suppress_hot_pixels
    from stemtf.phase.spots import (
        aperture_counts,
        find_spots_batch,
        noise_scale,
        strongest_spots,
    )

    sigma = float(np.clip(0.45 * disk_radius_px, 1.0, 4.0))
    arr = suppress_hot_pixels(np.asarray(half, np.float32))
    resp = dog_filter(arr, sigma)
    table = find_spots_batch(
        arr,
        sigma_px=sigma,
        threshold=5.0,
        mask=region,
        rel_threshold=0.0,
        abs_threshold=8.0 * disk_response(disk_radius_px, sigma),
        response=resp,
        noise=noise_scale(resp, region),
    )
    table = strongest_spots(table, 18)
    keep = np.ones(len(table), bool)
    if significant_only:
        excess, z = aperture_counts(arr, table, disk_radius_px)
        keep = (z >= 5.0) & (excess >= 8.0)
    _, z_other = aperture_counts(
        suppress_hot_pixels(np.asarray(other, np.float32)), table, disk_radius_px
    )
    n = len(arr)
    conf = np.bincount(table.dp_index[keep & (z_other >= 2.0)], minlength=n)
    unconf = np.bincount(table.dp_index[keep & (z_other < 2.0)], minlength=n)
    return conf, unconf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="report", choices=("tune", "report"))
    ap.add_argument("--conditions", nargs="+", default=["ideal-128", "detector-256"])
    ap.add_argument("--doses", type=float, nargs="+", default=[300.0, 2000.0, 10000.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    ap.add_argument(
        "--model", default=str(Path(__file__).resolve().parents[1] / "saved_models/rdunet/1")
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    import bench_field as bf
    import h5py

    from stemtf.denoise import load
    from stemtf.denoise.domain import DataGeometry
    from stemtf.denoise.selfcheck import SELF_CHECK_DPS, choose_denoiser, ring_annulus, thin
    from stemtf.scenes import simulate_scan

    split = bf.SPLITS[args.split]
    libs = bf.libraries(split, None)
    model = load(args.model)
    print(
        "condition dose seed | auto uses model | all spots: confirmed raw/model, unconfirmed "
        "raw/model | significant spots: same"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for cond in args.conditions:
            det, field = bf.conditions()[cond]
            lib = libs[det]
            for dose in args.doses:
                for seed in args.seeds:
                    scan, truth = simulate_scan(
                        Path(tmp) / f"{cond}_{dose:g}_{seed}.npy",
                        shape=(32, 32),
                        dose_e=dose,
                        seed=seed,
                        library=lib,
                        field=field,
                        n_grains=bf.N_GRAINS,
                    )
                    dps = np.load(scan).astype(np.float32)
                    dps = dps.reshape(-1, *dps.shape[2:])
                    with h5py.File(truth, "r") as f:
                        q = float(f.attrs["q_sampling_invA"])
                    rng = np.random.default_rng(seed)
                    pick = np.sort(rng.choice(len(dps), 256, replace=False))
                    sample = dps[pick][:SELF_CHECK_DPS]
                    geo = DataGeometry(tuple(dps.shape[1:]), q, lib.energy_eV, lib.semiangle_mrad)
                    chosen, _ = choose_denoiser(args.model, model, sample, geo, seed=seed)
                    a, b = thin(sample, 0.5, seed)
                    region = ring_annulus(geo)
                    den = np.asarray(chosen(a))
                    cols = []
                    for sig in (False, True):
                        cr, ur = spot_totals(a, b, geo.disk_radius_px, region, sig)
                        cm, um = spot_totals(den, b, geo.disk_radius_px, region, sig)
                        cols.append(f"{cr.sum()}/{cm.sum()}, {ur.sum()}/{um.sum()}")
                    print(
                        f"{cond} {dose:g} {seed} | {chosen.info['self_check']['model_wins']} | "
                        + " | ".join(cols),
                        flush=True,
                    )


if __name__ == "__main__":
    main()
