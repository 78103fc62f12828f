"""Image-quality metrics on detector counts, per example (TensorFlow ops).

PSNR and SSIM use each target's maximum as the peak value (data range), so patterns of any
dose are comparable.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["psnr_counts", "ssim_counts"]

_EPS = 1e-12


def _scaled(pred, target):
    peak = tf.reduce_max(target, axis=[1, 2, 3], keepdims=True) + _EPS
    return pred / peak, target / peak


def psnr_counts(pred, target):
    """PSNR [dB] per example with the target's maximum as the peak."""
    p, t = _scaled(pred, target)
    return tf.image.psnr(p, t, max_val=1.0)


def ssim_counts(pred, target):
    """SSIM per example with the target's maximum as the data range.

    11 px Gaussian window, smaller for tiny images.
    """
    p, t = _scaled(pred, target)
    size = min(11, int(target.shape[1] or 11), int(target.shape[2] or 11))
    return tf.image.ssim(p, t, max_val=1.0, filter_size=size)
