"""Write a synthetic NMC811 scan with its ground truth: the ``stemtf simulate-scan`` library call."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from stemtf.errors import InputError, check_range
from stemtf.fileio import atomic_path
from stemtf.scenes.family import (
    FAMILY_IDS,
    FamilyScene,
    family_library_args,
    make_family_layout,
)
from stemtf.scenes.field import FieldConditions
from stemtf.scenes.layout import make_layout
from stemtf.scenes.library import (
    DEFAULT_ROTATIONS_DEG,
    DEFAULT_THICKNESSES_A,
    OFFZONE_AXES,
    CleanLibrary,
    build_library,
    tilt_axis_mrad,
)
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
    field: FieldConditions | None = None,
    thicknesses_A: tuple[float, ...] = DEFAULT_THICKNESSES_A,
    rotations_deg: tuple[float, ...] = DEFAULT_ROTATIONS_DEG,
    library_seed: int = 0,
    family: FamilyScene | None = None,
) -> tuple[Path, Path]:
    """Simulate a scan of an NMC811 particle and write it with its truth.

    Parameters
    ----------
    out : path
        Scan file: ``.h5``/``.emd`` (EMD 1.0 with calibration) or ``.npy`` (no calibration;
        it is in the truth file's attributes).
    truth : path, optional
        Truth file, default ``<stem>_truth.h5``; HDF5 with (Ry, Rx) datasets ``labels`` uint8
        (0 none, 1 O3, 2 O1, 3 both, 4 unassigned = O3 off the [001] zone; with ``family`` the
        codes of :func:`stemtf.scenes.family.family_label_names`; always the attribute
        ``label_names``, a JSON list, index -> name), ``o1_fraction``, ``rotation_deg`` (the
        grain's in-plane rotation, the same orientation for every phase of a family scene),
        ``thickness_A``, ``tilt_mrad`` (|beam tilt|), ``tilt_azimuth_deg`` (crystal frame),
        ``off_zone`` uint8 (1 = a crystal off its phase's zone axis), ``zone_axis`` (Ry, Rx, 3)
        int8 (the phase's own basis: [111] for cubic phases; 0 0 0 in vacuum)
        and ``centre_shift_px`` (Ry, Rx, 2) (beam centre minus detector centre, y x); attributes
        ``q_sampling_invA`` (the handed calibration, as in the scan file),
        ``q_sampling_true_invA``, ``energy_eV``, ``semiangle_mrad``, ``scene`` (JSON).
    shape : (int, int)
        Scan size (Ry, Rx).
    dose_e : float
        Electrons per pattern (1 to 1e9).
    detector_px, q_sampling_invA, energy_eV, semiangle_mrad
        Detector and beam (used when ``library`` is not given).
    seed : int
        Seeds the layout, the noise-model draw and every pattern's noise.
    noise : bool
        Apply the detector noise model (off: exact expected counts, no distortions); the
        field conditions asked for in ``field`` apply either way.
    library : CleanLibrary, optional
        Clean patterns to use instead of simulating (or loading the cached) library.
    cache_dir : path, optional
        Library cache folder (see :func:`stemtf.scenes.library.build_library`).
    n_grains, n_domains : int
        Grains of different rotation, and O1 domains.
    field : FieldConditions, optional
        Field conditions (descan, ellipticity, wrong calibration, carbon support, halo,
        detector defects, uint16, O1 share of mixed columns, mistilt, off-zone grains); the
        default changes nothing.
    thicknesses_A, rotations_deg : tuple of float
        Library axes when ``library`` is not given (e.g.
        :data:`stemtf.scenes.library.FIELD_THICKNESSES_A`, 30-200 Å).
    library_seed : int
        Simulation seed of the library when ``library`` is not given.
    family : FamilyScene, optional
        Place the NMC811 degradation family (:mod:`stemtf.scenes.family`): a rock-salt shell,
        spinel and H3 grains over the O3/O1 scene, cubic phases along [111] in their
        topotactic orientation; the library (given or simulated) must hold
        :data:`~stemtf.scenes.family.FAMILY_IDS` in that order. None: the O3/O1 scene.

    Returns
    -------
    (Path, Path)
        The scan and truth files.
    """
    out = Path(out)
    if out.suffix.lower() not in _SCAN_SUFFIXES:
        raise InputError(
            f"--out {str(out)!r}: unknown scan format {out.suffix!r}; allowed "
            f"{', '.join(_SCAN_SUFFIXES)}"
        )
    ry, rx = (int(v) for v in shape)
    check_range("scan rows", ry, 1, 4096)
    check_range("scan columns", rx, 1, 4096)
    check_range("dose_e", dose_e, 1.0, 1e9, "e-/DP")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} is not allowed: it must be an integer >= 0")
    truth = Path(truth) if truth is not None else truth_path_for(out)
    if truth.resolve() == out.resolve():
        raise InputError(f"--truth {str(truth)!r} must differ from --out")
    field = field if field is not None else FieldConditions()
    if family is not None and not isinstance(family, FamilyScene):
        raise InputError(f"family={family!r} must be a FamilyScene or None")
    if library is None:
        extra = family_library_args() if family is not None else {}
        library = build_library(
            **extra,
            detector_px=detector_px,
            q_sampling_invA=q_sampling_invA,
            energy_eV=energy_eV,
            semiangle_mrad=semiangle_mrad,
            cache_dir=cache_dir,
            thicknesses_A=tuple(thicknesses_A),
            rotations_deg=tuple(rotations_deg),
            seed=library_seed,
            tilts_mrad=tilt_axis_mrad(field.max_tilt_mrad),
            offzone_axes=OFFZONE_AXES if field.offzone_grains else (),
        )
    scene = build_scene(
        (ry, rx),
        library,
        dose_e=dose_e,
        seed=seed,
        noise=noise,
        n_grains=n_grains,
        n_domains=n_domains,
        field=field,
        family=family,
    )
    layout = scene.layout
    names = layout.label_names
    meta = {
        "library": library.info(),
        "dose_e": dose_e,
        "seed": seed,
        "noise": noise,
        "shape": [ry, rx],
        "noise_params": scene.params,
        "scan_file": out.name,
        "label_names": list(names),
        "field": field.to_dict(),
        "q_sampling_given_invA": scene.q_sampling_given_invA,
        "q_sampling_true_invA": scene.q_sampling_true_invA,
        "dtype": scene.dtype.name,
    }
    if family is not None:
        meta["family"] = family.to_dict()
    _write_scan(out, scene, library)
    _write_truth(truth, scene, meta)
    log.info(
        "wrote %s and %s (%s)",
        out,
        truth,
        {
            n: int(c)
            for n, c in zip(
                names,
                np.bincount(layout.labels.ravel(), minlength=len(names)),
                strict=True,
            )
        },
    )
    return out, truth


def build_scene(
    shape: tuple[int, int],
    library: CleanLibrary,
    *,
    dose_e: float,
    seed: int,
    noise: bool = True,
    n_grains: int = 5,
    n_domains: int = 3,
    field: FieldConditions | None = None,
    family: FamilyScene | None = None,
) -> SceneRenderer:
    """The scene :func:`simulate_scan` writes (layout, noise draw, renderer), without writing it.

    Same arguments and the same random draws as :func:`simulate_scan` (the layout from
    ``(seed, 0)``, every pattern from ``(seed, 2, row)``), so ``build_scene(...)[row]`` is row
    ``row`` of the scan that :func:`simulate_scan` writes with these settings; use
    :meth:`SceneRenderer.render_row` with ``targets=True`` for denoiser training pairs.
    """
    ry, rx = (int(v) for v in shape)
    field = field if field is not None else FieldConditions()
    tilt_choices = tuple(
        int(k) for k in np.flatnonzero(library.tilt_magnitudes_mrad <= field.max_tilt_mrad + 1e-9)
    )
    if field.offzone_grains and not library.offzone_axes:
        raise InputError(
            f"offzone_grains={field.offzone_grains} needs a library with off-zone "
            "axes (build_library(offzone_axes=...))"
        )
    layout_kw = dict(
        n_rotations=len(library.rotations_deg),
        n_thicknesses=len(library.thicknesses_A),
        n_grains=n_grains,
        n_domains=n_domains,
        both_fraction=field.both_o1_fraction,
        tilt_choices=tilt_choices,
        offzone_grains=field.offzone_grains,
        n_offzone_axes=len(library.offzone_axes),
    )
    rng = np.random.default_rng([seed, 0])
    if family is None:
        layout = make_layout((ry, rx), rng, **layout_kw)
    else:
        if tuple(library.material_ids) != FAMILY_IDS:
            raise InputError(
                f"a family scene needs a library of {list(FAMILY_IDS)} in that order, "
                f"not {list(library.material_ids)}"
            )
        layout = make_family_layout((ry, rx), rng, family=family, **layout_kw)
    params = scan_noise_params(dose_e, rng, noise=noise)
    return SceneRenderer(layout, library, dose_e=dose_e, seed=seed, params=params, field=field)


def _write_scan(out: Path, scene: SceneRenderer, library: CleanLibrary) -> None:
    if out.suffix.lower() == ".npy":
        with atomic_path(out) as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=scene.dtype, shape=scene.shape)
            for r in range(scene.shape[0]):
                mm[r] = scene[r]
            mm.flush()
            del mm
        return
    from stemtf.io import ScanMetadata, write_scan_hdf5

    md = ScanMetadata(
        q_sampling_invA=scene.q_sampling_given_invA,
        energy_eV=library.energy_eV,
        semiangle_mrad=library.semiangle_mrad,
        scan_step_nm=SCAN_STEP_NM,
    )
    write_scan_hdf5(out, scene, md, compression="gzip")  # sparse counts: ~20x smaller


def _write_truth(path: Path, scene: SceneRenderer, meta: dict) -> None:
    import h5py

    layout, library = scene.layout, scene.library
    ry, rx = layout.shape
    vac = layout.labels == 0
    rot = np.asarray(library.rotations_deg, np.float32)[layout.rotation_index]
    thick = np.asarray(library.thicknesses_A, np.float32)[layout.thickness_index]
    tilts = np.asarray(library.tilts_mrad, np.float64)[layout.tilt_index]
    tilt = np.hypot(tilts[..., 0], tilts[..., 1])
    azim = np.degrees(np.arctan2(tilts[..., 1], tilts[..., 0]))
    off_axes = np.asarray(((0, 0, 1),) + library.offzone_axes, np.int8)[layout.zone_index]
    phase_axes = np.asarray(
        [library.zone_axis_of(p) for p in range(len(library.material_ids))], np.int8
    )[layout.phase_index]
    axes = np.where((layout.zone_index > 0)[..., None], off_axes, phase_axes)
    axes[vac] = 0
    shift = np.array(
        [[scene.centre_shift(iy, ix) for ix in range(rx)] for iy in range(ry)], np.float32
    ).reshape(ry, rx, 2)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("labels", data=layout.labels.astype(np.uint8))
        ds.attrs["label_names"] = json.dumps(list(layout.label_names))
        f.create_dataset("o1_fraction", data=layout.o1_fraction.astype(np.float32))
        f.create_dataset("rotation_deg", data=np.where(vac, np.nan, rot).astype(np.float32))
        f.create_dataset("thickness_A", data=np.where(vac, 0.0, thick).astype(np.float32))
        f.create_dataset("tilt_mrad", data=np.where(vac, 0.0, tilt).astype(np.float32))
        f.create_dataset(
            "tilt_azimuth_deg", data=np.where(vac | (tilt == 0), 0.0, azim).astype(np.float32)
        )
        f.create_dataset("off_zone", data=(layout.zone_index > 0).astype(np.uint8))
        f.create_dataset("zone_axis", data=axes)
        f.create_dataset("centre_shift_px", data=shift)
        f.attrs["scene"] = json.dumps(meta)
        f.attrs["q_sampling_invA"] = scene.q_sampling_given_invA
        f.attrs["q_sampling_true_invA"] = scene.q_sampling_true_invA
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
        raise InputError(
            f"truth file {str(p)!r} cannot be read (need an HDF5 file with a 'labels' dataset): {e}"
        ) from None
    return labels, meta
