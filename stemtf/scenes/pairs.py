"""Denoiser training pairs from the field scenes, in the frame a denoiser sees them in ``analyze``.

A denoiser is only as good as the patterns it was trained on. The ``default`` dataset holds
128 px patterns of many materials at 10^3-10^5 e-/DP; the field scenes (:mod:`stemtf.scenes`:
thickness maps, grain mistilt, descan drift, ellipticity, carbon support with a halo, gain map,
dead lines and hot pixels, off-zone grains, 128-512 px detectors) are what ``analyze`` meets.
:func:`field_pairs` renders such scenes with :func:`stemtf.scenes.build_scene` and returns each
pattern's noisy counts and its target (the noise model's: the specimen's expected counts after
the geometry, without background, blur, gain, defects or shot noise), both put through the
same :class:`stemtf.denoise.frame.Frame` that ``analyze`` uses for the model (crop about the
beam, count-preserving resampling to the model's disk radius), then cut or padded about the
frame's centre to ``frame_px``. NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stemtf.errors import InputError, check_positive
from stemtf.scenes.field import FieldConditions
from stemtf.scenes.library import CleanLibrary

__all__ = ["PairSource", "field_pairs"]


@dataclass(frozen=True)
class PairSource:
    """One kind of scene to draw pairs from: a clean library and its field conditions."""

    name: str
    library: CleanLibrary
    field: FieldConditions
    n_grains: int = 5


def _centre_cut(batch: np.ndarray, size: int) -> np.ndarray:
    """``(B, h, w)`` -> ``(B, size, size)`` about the centre (zero-padded where smaller)."""
    b, h, w = batch.shape
    out = np.zeros((b, size, size), np.float32)
    y0, x0 = (h - size) // 2, (w - size) // 2
    sy0, sx0 = max(0, y0), max(0, x0)
    sy1, sx1 = min(h, y0 + size), min(w, x0 + size)
    out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = batch[:, sy0:sy1, sx0:sx1]
    return out


def field_pairs(
    sources: Sequence[PairSource],
    *,
    n_scenes: int,
    model_disk_radius_px: float,
    dose_range_e: tuple[float, float] = (50.0, 1e5),
    scene_shape: tuple[int, int] = (12, 12),
    rows_per_scene: int = 2,
    per_row: int = 6,
    frame_px: int = 112,
    seed: int = 0,
    progress=None,
    context: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Render ``n_scenes`` field scenes and return ``(noisy, target, records)`` in the model frame.

    Parameters
    ----------
    sources : sequence of PairSource
        Scene kinds; each scene draws one uniformly.
    n_scenes : int
        Scenes to render (each gives ``rows_per_scene * per_row`` pairs).
    model_disk_radius_px : float
        The model's Bragg-disk radius [px] (its card's ``domain.disk_radius_px``): patterns are
        resampled so their disks have it, as ``analyze`` does.
    dose_range_e : (float, float)
        Dose per pattern [e-/DP], drawn log-uniformly per scene.
    scene_shape : (int, int)
        Scan size of each scene (the grain layout needs room; only some positions are kept).
    rows_per_scene, per_row : int
        Scan rows rendered per scene and positions kept per row (drawn at random).
    frame_px : int
        Side of the returned patterns [px], cut or zero-padded about the frame's centre.
    seed : int
        Seeds every draw (scene kind, dose, scene seed, rows, positions).
    progress : callable, optional
        Called with the number of scenes done.
    context : bool
        Also return each pattern's scan neighbourhood, for a scan-context denoiser: positions
        are kept only where all 8 neighbours exist, and ``noisy`` gets a second channel, the
        mean noisy counts of the 8 neighbouring probe positions in the same frame
        (:func:`stemtf.denoise.context.neighbour_mean`).

    Returns
    -------
    noisy : (N, frame_px, frame_px) float32, or (N, frame_px, frame_px, 2) with ``context``
        Counts in the model's frame (channel 0: the pattern; channel 1: its neighbours' mean).
    target : (N, frame_px, frame_px) float32
        The pattern's target counts in the model's frame.
    records : list of dict
        Per scene: source name, dose, scene seed (``build_scene`` with these rebuilds it),
        zoom, the number of pairs and the probe positions kept (row -> columns).
    """
    from stemtf.denoise.frame import Frame
    from stemtf.noise.optics import disk_radius_px
    from stemtf.scenes.scan import build_scene

    if not sources:
        raise InputError("field_pairs needs at least one PairSource")
    check_positive("model_disk_radius_px", model_disk_radius_px, "px")
    lo, hi = (float(v) for v in dose_range_e)
    if not 0 < lo <= hi:
        raise InputError(f"dose_range_e={dose_range_e!r} is not allowed: 0 < low <= high e-/DP")
    ry, rx = (int(v) for v in scene_shape)
    edge = 1 if context else 0  # rows and columns left out at the scene's border
    if (
        rows_per_scene > ry - 2 * edge
        or per_row > rx - 2 * edge
        or min(rows_per_scene, per_row, n_scenes) < 1
    ):
        raise InputError(
            f"rows_per_scene={rows_per_scene}, per_row={per_row}, n_scenes={n_scenes} are not "
            f"allowed for scenes of {ry}x{rx}: 1..rows, 1..columns, n_scenes >= 1"
        )
    noisy_out, target_out, records = [], [], []
    for i in range(int(n_scenes)):
        rng = np.random.default_rng([int(seed), i])
        src = sources[int(rng.integers(len(sources)))]
        dose = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        scene_seed = int(rng.integers(2**31))
        scene = build_scene(
            (ry, rx),
            src.library,
            dose_e=dose,
            seed=scene_seed,
            field=src.field,
            n_grains=src.n_grains,
        )
        lib = src.library
        h, w = scene.shape[2:]
        q = scene.q_sampling_given_invA
        r_data = disk_radius_px(lib.semiangle_mrad, lib.energy_eV, q)
        centre = (
            h / 2.0 + scene.params["centre_shift_y_px"],
            w / 2.0 + scene.params["centre_shift_x_px"],
        )
        frame = Frame.for_geometry((h, w), r_data, model_disk_radius_px, q, center_yx=centre)
        n, kept, rendered = 0, {}, {}

        def row_of(r: int, scene=scene, rendered=rendered):
            if r not in rendered:
                rendered[r] = scene.render_row(r, targets=True)
            return rendered[r]

        rows = rng.choice(np.arange(edge, ry - edge), size=rows_per_scene, replace=False)
        for row in sorted(int(r) for r in rows):
            cols = np.sort(rng.choice(np.arange(edge, rx - edge), size=per_row, replace=False))
            kept[row] = [int(c) for c in cols]
            noisy, target = row_of(row)
            x = _centre_cut(frame.to_model(noisy[cols]), frame_px)
            if context:
                from stemtf.denoise.context import neighbour_mean

                block = np.stack([row_of(r)[0] for r in (row - 1, row, row + 1)])
                mean = neighbour_mean(block.astype(np.float32))[1, cols]
                x = np.stack([x, _centre_cut(frame.to_model(mean), frame_px)], axis=-1)
            noisy_out.append(x)
            target_out.append(_centre_cut(frame.to_model(target[cols]), frame_px))
            n += len(cols)
        rendered.clear()
        records.append(
            {
                "source": src.name,
                "dose_e": dose,
                "scene_seed": scene_seed,
                "zoom": round(frame.zoom[0], 4),
                "pairs": n,
                "positions": kept,
            }
        )
        if progress is not None:
            progress(i + 1)
    return np.concatenate(noisy_out), np.concatenate(target_out), records
