"""Tiny real SavedModels for tests (built with tf.Module + tf.function, no mocks)."""

from __future__ import annotations


def save_mean_filter(path, rank: int = 3):
    """Save a SavedModel whose ``serving_default`` is a 3x3 mean filter (zero padding).

    ``rank`` 3 takes (B, H, W) counts, 4 takes (B, H, W, 1); the output has the input's shape.
    """
    import tensorflow as tf

    class MeanFilter(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None] + [1] * (rank - 3), tf.float32)]
        )
        def serve(self, counts):
            x = counts if rank == 4 else counts[..., None]
            kernel = tf.ones((3, 3, 1, 1), tf.float32) / 9.0
            y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
            return {"denoised": y if rank == 4 else y[..., 0]}

    module = MeanFilter()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path
