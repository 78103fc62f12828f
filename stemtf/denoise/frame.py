"""Show a denoiser the patterns in the frame it was trained for, and map its output back.

:class:`Frame` crops the detector region the phase rings need (about the beam centre) and
resamples it by one zoom factor so that the Bragg disks have the model's disk radius [px].
Both directions are linear and count-preserving (each source pixel's counts are shared among
destination pixels with weights summing to one): shrinking bins counts by pixel-area overlap
(sums of Poisson counts stay Poisson) and spreads them back with a tent; enlarging does the
reverse. Outside the crop the raw counts are kept. :class:`FramedDenoiser` wraps a denoiser:
crop -> resample -> denoise -> resample back -> restore the counts the network removed as a
smooth background -> rescale each pattern to its raw total counts (hot pixels left out), so
total counts are kept for every geometry.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemtf.denoise.base import check_batch
from stemtf.errors import InputError, check_positive

__all__ = [
    "Frame",
    "FramedDenoiser",
    "hot_pixel_mask",
    "counts_per_pattern",
    "resample_matrix",
    "OUTER_RING_INVA",
    "ZOOM_TOLERANCE",
]

log = logging.getLogger(__name__)

#: Outermost ring that decides the phases [1/Å] (H3 {110} 0.710, 2 % above O3's 0.697).
OUTER_RING_INVA = 0.71
#: Relative radius margin of the phase annulus (as :meth:`stemtf.phase.PhaseModel.annulus_px`).
RING_MARGIN = 0.12
#: Extra room for the beam-centre wander (descan) [px].
DESCAN_MARGIN_PX = 6.0
#: Zoom factors this close to 1 are treated as 1 (no resampling).
ZOOM_TOLERANCE = 0.05
#: A pixel whose count exceeds ``HOT_FACTOR x`` the third largest of its 8 neighbours (``n3``),
#: plus ``HOT_OFFSET + HOT_SIGMAS sqrt(n3)`` counts, is a detector defect (hot pixel), not shot
#: noise (a lone shot-noise count at low dose is 1-3; a disk pixel has bright neighbours).
HOT_FACTOR = 4.0
HOT_OFFSET = 10.0
HOT_SIGMAS = 5.0
#: Width of the residual low-pass that restores the counts a network removed, in disk radii
#: (at least 3 px): the diffuse background comes back, single-pixel noise does not.
RESTORE_SIGMA_RADII = 2.0
#: Frame sides are rounded to the nearest multiple of this (the U-Net stride; no padding).
FRAME_MULTIPLE = 8


def resample_matrix(n_src: int, n_dst: int, kind: str) -> np.ndarray:
    """``(n_dst, n_src)`` count-preserving resampling of ``n_src`` pixels onto ``n_dst``.

    The two axes span the same length. Column ``i`` shares source pixel ``i``'s counts among
    destination pixels; every column sums to 1.

    Parameters
    ----------
    kind : {"area", "tent"}
        ``area``: weights are the overlap of the pixel intervals (binning when shrinking);
        ``tent``: a triangle of half-width the larger pixel (smooth spreading).
    """
    check_positive("n_src", n_src, "px")
    check_positive("n_dst", n_dst, "px")
    scale = n_dst / n_src  # destination px per source px
    src_lo = np.arange(n_src)[None, :] * scale
    dst = np.arange(n_dst)[:, None].astype(np.float64)
    if kind == "area":
        w = np.clip(np.minimum(src_lo + scale, dst + 1) - np.maximum(src_lo, dst), 0.0, None)
    elif kind == "tent":
        half = max(1.0, scale)
        w = np.clip(1.0 - np.abs((src_lo + 0.5 * scale) - (dst + 0.5)) / half, 0.0, None)
    else:
        raise InputError(f"kind={kind!r} is not allowed: area or tent")
    sums = w.sum(axis=0, keepdims=True)
    return (w / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def _apply_separable(batch: np.ndarray, my: np.ndarray, mx: np.ndarray) -> np.ndarray:
    """``my @ X @ mx.T`` for every ``X`` of a ``(B, h, w)`` batch, as two large matrix products."""
    b, h, w = batch.shape
    t = np.ascontiguousarray(batch, np.float32).reshape(b * h, w) @ mx.T  # (B h, w')
    t = np.ascontiguousarray(t.reshape(b, h, -1).transpose(1, 0, 2)).reshape(h, -1)
    t = (my @ t).reshape(my.shape[0], b, mx.shape[0])  # (h', B, w')
    return np.ascontiguousarray(t.transpose(1, 0, 2))


def _blur(batch: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian low-pass of each pattern (zero outside), OpenCV (float32)."""
    import cv2

    k = 2 * int(math.ceil(3.0 * sigma_px)) + 1
    out = np.empty_like(batch)
    for i in range(len(batch)):
        out[i] = cv2.GaussianBlur(batch[i], (k, k), sigma_px, borderType=cv2.BORDER_CONSTANT)
    return out


@dataclass(frozen=True)
class Frame:
    """A crop of the detector and its resampling to a model's frame.

    Attributes
    ----------
    detector_px : (int, int)
        Data detector shape (H, W) [px].
    crop : (int, int, int, int)
        Half-open ``(y0, y1, x0, x1)`` region of the detector shown to the model.
    model_px : (int, int)
        Size of the resampled region [px].
    """

    detector_px: tuple[int, int]
    crop: tuple[int, int, int, int]
    model_px: tuple[int, int]

    def __post_init__(self) -> None:
        h, w = self.detector_px
        y0, y1, x0, x1 = self.crop
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise InputError(f"frame crop {self.crop!r} is not inside the {h}x{w} detector")
        if min(self.model_px) < 1:
            raise InputError(f"frame model_px {self.model_px!r} is not allowed: >= 1 px")
        object.__setattr__(self, "_mats", None)

    @classmethod
    def for_geometry(
        cls,
        detector_px: tuple[int, int],
        data_disk_radius_px: float,
        model_disk_radius_px: float | None,
        q_sampling_invA: float | None,
        *,
        center_yx: tuple[float, float] | None = None,
        outer_ring_invA: float = OUTER_RING_INVA,
    ) -> Frame:
        """The frame matching the data's disk radius to the model's.

        Parameters
        ----------
        detector_px : (int, int)
            Data detector shape [px].
        data_disk_radius_px, model_disk_radius_px : float
            Disk radii [px]; a model radius of None (unknown domain) means no resampling.
        q_sampling_invA : float or None
            Data reciprocal pixel size [1/Å per px]; None = no crop.
        center_yx : (float, float), optional
            Beam centre [px]; default the detector centre.
        outer_ring_invA : float
            Outermost ring the phase identification needs [1/Å].
        """
        h, w = (int(v) for v in detector_px)
        zoom = 1.0
        if model_disk_radius_px and data_disk_radius_px > 0:
            zoom = float(model_disk_radius_px) / float(data_disk_radius_px)
            if abs(zoom - 1.0) <= ZOOM_TOLERANCE:
                zoom = 1.0
        cy, cx = center_yx if center_yx is not None else (h / 2.0, w / 2.0)
        crop = (0, h, 0, w)
        if q_sampling_invA:
            reach = (
                outer_ring_invA * (1 + RING_MARGIN) / q_sampling_invA
                + 2.0 * data_disk_radius_px
                + 2.0
                + DESCAN_MARGIN_PX
            )
            crop = (
                max(0, int(math.floor(cy - reach))),
                min(h, int(math.ceil(cy + reach))),
                max(0, int(math.floor(cx - reach))),
                min(w, int(math.ceil(cx + reach))),
            )
        ch, cw = crop[1] - crop[0], crop[3] - crop[2]
        if zoom == 1.0:
            model_px = (ch, cw)
        else:
            m = FRAME_MULTIPLE
            model_px = (max(m, m * round(ch * zoom / m)), max(m, m * round(cw * zoom / m)))
        return cls((h, w), crop, model_px)

    @property
    def crop_px(self) -> tuple[int, int]:
        """Size (h, w) of the cropped region [px]."""
        return self.crop[1] - self.crop[0], self.crop[3] - self.crop[2]

    @property
    def zoom(self) -> tuple[float, float]:
        """Model px per data px along y and x."""
        ch, cw = self.crop_px
        return self.model_px[0] / ch, self.model_px[1] / cw

    @property
    def identity(self) -> bool:
        """Whole detector, no resampling."""
        return (
            self.crop == (0, self.detector_px[0], 0, self.detector_px[1])
            and self.model_px == self.crop_px
        )

    def _matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        mats = self.__dict__.get("_mats")
        if mats is None:
            mats = []
            for n_src, n_dst in zip(self.crop_px, self.model_px, strict=True):
                fwd = "area" if n_dst <= n_src else "tent"
                back = "tent" if n_dst <= n_src else "area"
                mats += [resample_matrix(n_src, n_dst, fwd), resample_matrix(n_dst, n_src, back)]
            object.__setattr__(self, "_mats", tuple(mats))
        return self.__dict__["_mats"]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_mats"} | {"_mats": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def to_model(self, batch: np.ndarray) -> np.ndarray:
        """``(B, H, W)`` data counts -> ``(B, *model_px)`` counts in the model's frame."""
        y0, y1, x0, x1 = self.crop
        part = np.asarray(batch, np.float32)[:, y0:y1, x0:x1]
        if self.model_px == self.crop_px:
            return np.ascontiguousarray(part)
        ay, _, ax, _ = self._matrices()
        return _apply_separable(part, ay, ax)

    def from_model(self, model_batch: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Denoised counts in the model's frame -> data frame; outside the crop ``raw`` stays."""
        y0, y1, x0, x1 = self.crop
        m = np.asarray(model_batch, np.float32)
        if self.model_px != self.crop_px:
            _, by, _, bx = self._matrices()
            m = _apply_separable(m, by, bx)
        out = np.array(raw, dtype=np.float32, copy=True)
        out[:, y0:y1, x0:x1] = m
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (crop, frame size, zoom)."""
        return {
            "detector_px": list(self.detector_px),
            "crop_y0_y1_x0_x1": list(self.crop),
            "model_px": list(self.model_px),
            "zoom": [round(z, 4) for z in self.zoom],
        }


def hot_pixel_mask(batch: np.ndarray) -> np.ndarray:
    """``(B, H, W)`` bool: isolated spikes of each pattern (hot pixels; see :data:`HOT_FACTOR`).

    A pixel is compared with the third largest of its 8 neighbours (zero outside the
    detector), so two or three touching hot pixels are still found while the corner pixel of
    a small bright disk (three bright neighbours) is not.
    """
    import cv2

    x = np.ascontiguousarray(batch, np.float32)
    b, h, w = x.shape
    out = np.zeros(x.shape, bool)
    shifts = [(dy, dx) for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    for i in range(b):
        pad = cv2.copyMakeBorder(x[i], 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0.0)
        med = cv2.medianBlur(pad, 3)[1:-1, 1:-1]  # cheap superset of candidates first
        ys, xs = np.nonzero(x[i] > HOT_FACTOR * med + HOT_OFFSET + HOT_SIGMAS * np.sqrt(med))
        if ys.size == 0:
            continue
        nb = np.stack([pad[ys + dy, xs + dx] for dy, dx in shifts])
        third = np.partition(nb, 5, axis=0)[5]  # 3rd largest of the 8 neighbours
        keep = x[i, ys, xs] > HOT_FACTOR * third + HOT_OFFSET + HOT_SIGMAS * np.sqrt(third)
        out[i, ys[keep], xs[keep]] = True
    return out


def counts_per_pattern(batch: np.ndarray) -> np.ndarray:
    """``(B,)`` total counts of each pattern, its hot pixels (:func:`hot_pixel_mask`) left out."""
    x = np.asarray(batch, np.float32)
    if x.ndim != 3 or len(x) == 0:
        return np.zeros(len(x) if x.ndim else 0, np.float64)
    return np.where(hot_pixel_mask(x), 0.0, x).reshape(len(x), -1).sum(axis=1, dtype=np.float64)


class FramedDenoiser:
    """A denoiser run in its training frame (see the module docstring).

    After mapping back, the counts the network removed (raw minus denoised, hot pixels left
    out) are low-pass filtered (Gaussian, :data:`RESTORE_SIGMA_RADII` disk radii) and added
    back: a diffuse background the network wiped out returns as a smooth background (DoG spot
    finding does not see it; a Poisson score does), isolated noise does not. Then each pattern
    is rescaled to the raw pattern's total counts without hot pixels (a detector's hot pixels
    are not electrons; a network rightly removes them).

    Parameters
    ----------
    inner : Denoiser
        The network (SavedModel, TF Serving client, ...).
    frame : Frame
        Crop and resampling for this scan's geometry.
    disk_radius_px : float
        Data disk radius [px] (sets the restore low-pass).
    keep_counts : bool
        Restore the removed counts and rescale to the raw total (False: the network's output
        in the data frame as it is, e.g. to measure what the network keeps).
    """

    def __init__(
        self, inner: Any, frame: Frame, *, disk_radius_px: float = 3.0, keep_counts: bool = True
    ) -> None:
        self.inner = inner
        self.frame = frame
        self.disk_radius_px = float(disk_radius_px)
        self.keep_counts = bool(keep_counts)
        self.info = {
            **dict(getattr(inner, "info", {})),
            "frame": frame.to_dict(),
            "keep_counts": self.keep_counts,
        }

    @property
    def scan_context(self) -> str | None:
        """The inner model's scan context (None: it takes the pattern alone)."""
        return getattr(self.inner, "scan_context", None)

    def __call__(self, batch: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Denoise a ``(B, H, W)`` batch of counts in the model's frame; same shape out.

        ``context`` (a scan-context model only): the ``(B, H, W)`` mean counts of each
        pattern's neighbours, put through the same frame.
        """
        raw = check_batch(batch)
        if raw.shape[1:] != self.frame.detector_px:
            raise InputError(
                f"denoiser frame is for {self.frame.detector_px} px patterns, got {raw.shape[1:]}"
            )
        if len(raw) == 0:
            return raw.copy()
        if context is None:
            den = self.inner(self.frame.to_model(raw))
        else:
            from stemtf.denoise.context import check_context

            ctx = check_context(context, raw)
            den = self.inner(self.frame.to_model(raw), context=self.frame.to_model(ctx))
        den = np.maximum(np.asarray(den, np.float32), 0.0)
        out = self.frame.from_model(den, raw)
        if self.keep_counts:
            y0, y1, x0, x1 = self.frame.crop
            part = raw[:, y0:y1, x0:x1]
            clean = np.where(hot_pixel_mask(part), 0.0, part)
            got = out[:, y0:y1, x0:x1]
            sigma = max(3.0, RESTORE_SIGMA_RADII * self.disk_radius_px)
            got += _blur(np.ascontiguousarray(clean - got, np.float32), sigma)
            np.maximum(got, 0.0, out=got)
            want = clean.sum(axis=(1, 2), dtype=np.float64)
            have = got.sum(axis=(1, 2), dtype=np.float64)
            scale = np.where(have > 0, want / np.where(have > 0, have, 1.0), 1.0)
            got *= scale.astype(np.float32)[:, None, None]
        return out

    def __repr__(self) -> str:
        return f"FramedDenoiser({self.inner!r}, {self.frame.to_dict()})"
