"""Write a synthetic NMC811 scan with its ground truth: the ``stemtf simulate-scan`` library call."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from stemtf.errors import InputError, check_range
from stemtf.fileio import atomic_path
from stemtf.scenes.layout import make_layout
from stemtf.scenes.library import CleanLibrary, build_library
from stemtf.scenes.render import SceneRenderer, scan_noise_params

__all__ = ["simulate_scan", "truth_path_for", "read_truth"]

log = logging.getLogger(__name__)

_SCAN_SUFFIXES = (".h5", ".hdf5", ".emd", ".npy")
#: Real-space scan step recorded in the file [nm] (nominal; the scene has no length scale).
SCAN_STEP_NM = 2.0


def truth_path_for(out: str | os.PathLike) -> Path:
    """Default truth file beside the scan: ``<stem>_truth.h5``."""
    p = Path(out)
    return p.with_name(p.stem + "_truth.h5")


def simulate_scan(
    out: str | os.PathLike,
    *,
    truth: str | os.PathLike | None = None,
    shape: tuple[int, int] = (64, 64),
    dose_e: float = 1e4,
    detector_px: int = 128,
    q_sampling_invA: float = 0.0125,
    energy_eV: float = 200e3,
    semiangle_mrad: float = 1.0,
    seed: int = 0,
    noise: bool = True,
    library: CleanLibrary | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_grains: int = 5,
    n_domains: int = 3,
) -> tuple[Path, Path]:
    """Simulate a scan of an NMC811 particle and write it with its truth.

    Parameters
    ----------
    out : path
        Scan file: ``.h5``/``.emd`` (EMD 1.0 with calibration) or ``.npy`` (no calibration;
        it is in the truth file's attributes).
    truth : path, optional
        Truth file (HDF5: ``labels`` (Ry, Rx) uint8 0 none, 1 O3, 2 O1, 3 both, plus
        ``o1_fraction``, ``rotation_deg``, ``thickness_A``); default ``<stem>_truth.h5``.
    shape : (int, int)
        Scan size (Ry, Rx).
    dose_e : float
        Electrons per pattern (1 to 1e9).
    detector_px, q_sampling_invA, energy_eV, semiangle_mrad
        Detector and beam (used when ``library`` is not given).
    seed : int
        Seeds the layout, the noise-model draw and every pattern's noise.
    noise : bool
        Apply the detector noise model (off: exact expected counts, no distortions).
    library : CleanLibrary, optional
        Clean patterns to use instead of simulating (or loading the cached) library.
    cache_dir : path, optional
        Library cache folder (see :func:`stemtf.scenes.library.build_library`).
    n_grains, n_domains : int
        Grains of different rotation, and O1 domains.

    Returns
    -------
    (Path, Path)
        The scan and truth files.
    """
    out = Path(out)
    if out.suffix.lower() not in _SCAN_SUFFIXES:
        raise InputError(f"--out {str(out)!r}: unknown scan format {out.suffix!r}; allowed "
                         f"{', '.join(_SCAN_SUFFIXES)}")
    ry, rx = (int(v) for v in shape)
    check_range("scan rows", ry, 1, 4096)
    check_range("scan columns", rx, 1, 4096)
    check_range("dose_e", dose_e, 1.0, 1e9, "e-/DP")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} is not allowed: it must be an integer >= 0")
    truth = Path(truth) if truth is not None else truth_path_for(out)
    if truth.resolve() == out.resolve():
        raise InputError(f"--truth {str(truth)!r} must differ from --out")
    if library is None:
        library = build_library(detector_px=detector_px, q_sampling_invA=q_sampling_invA,
                                energy_eV=energy_eV, semiangle_mrad=semiangle_mrad,
                                cache_dir=cache_dir)
    rng = np.random.default_rng([seed, 0])
    layout = make_layout((ry, rx), rng, n_rotations=len(library.rotations_deg),
                         n_thicknesses=len(library.thicknesses_A), n_grains=n_grains,
                         n_domains=n_domains)
    params = scan_noise_params(dose_e, rng, noise=noise)
    scene = SceneRenderer(layout, library, dose_e=dose_e, seed=seed, params=params)
    meta = {"library": library.info(), "dose_e": dose_e, "seed": seed, "noise": noise,
            "shape": [ry, rx], "noise_params": params, "scan_file": out.name,
            "label_names": ["none", "O3", "O1", "both"]}
    _write_scan(out, scene, library)
    _write_truth(truth, layout, library, meta)
    log.info("wrote %s and %s (%s)", out, truth,
             {n: int(c) for n, c in zip(meta["label_names"], np.bincount(
                 layout.labels.ravel(), minlength=4), strict=True)})
    return out, truth


def _write_scan(out: Path, scene: SceneRenderer, library: CleanLibrary) -> None:
    if out.suffix.lower() == ".npy":
        with atomic_path(out) as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=scene.shape)
            for r in range(scene.shape[0]):
                mm[r] = scene[r]
            mm.flush()
            del mm
        return
    from stemtf.io import ScanMetadata, write_scan_hdf5

    md = ScanMetadata(q_sampling_invA=library.q_sampling_invA, energy_eV=library.energy_eV,
                      semiangle_mrad=library.semiangle_mrad, scan_step_nm=SCAN_STEP_NM)
    write_scan_hdf5(out, scene, md, compression="gzip")  # sparse counts: ~20x smaller


def _write_truth(path: Path, layout, library: CleanLibrary, meta: dict) -> None:
    import h5py

    rot = np.asarray(library.rotations_deg, np.float32)[layout.rotation_index]
    thick = np.asarray(library.thicknesses_A, np.float32)[layout.thickness_index]
    vac = layout.labels == 0
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("labels", data=layout.labels.astype(np.uint8))
        f.create_dataset("o1_fraction", data=layout.o1_fraction.astype(np.float32))
        f.create_dataset("rotation_deg", data=np.where(vac, np.nan, rot).astype(np.float32))
        f.create_dataset("thickness_A", data=np.where(vac, 0.0, thick).astype(np.float32))
        f.attrs["scene"] = json.dumps(meta)
        f.attrs["q_sampling_invA"] = library.q_sampling_invA
        f.attrs["energy_eV"] = library.energy_eV
        f.attrs["semiangle_mrad"] = library.semiangle_mrad


def read_truth(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Labels (Ry, Rx) uint8 and the scene description of a truth file."""
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            labels = np.asarray(f["labels"])
            meta = json.loads(f.attrs.get("scene", "{}"))
    except (OSError, KeyError) as e:
        raise InputError(f"truth file {str(p)!r} cannot be read (need an HDF5 file with a "
                         f"'labels' dataset): {e}") from None
    return labels, meta
