"""Round-trip checks for registered Keras layers and models (used by the test suite).

:func:`check_layer` and :func:`check_model` build, compare ``get_config`` round trips, save
and reload ``.keras`` files with ``safe_mode=True`` and compare outputs on given inputs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

__all__ = ["check_layer", "check_model"]


def _as_list(x):
    return list(x) if isinstance(x, list | tuple) else [x]


def check_layer(layer: keras.layers.Layer, inputs, tmp_dir: str | Path, *, atol: float = 1e-5):
    """Check build, config round trip and ``.keras`` round trip of one layer.

    Parameters
    ----------
    layer : keras.layers.Layer
        A fresh, unbuilt layer.
    inputs : array or list of arrays
        Concrete inputs (batch first).
    tmp_dir : path
        Folder for the ``.keras`` file.
    atol : float
        Tolerance for comparing outputs after reload.
    """
    arrays = [np.asarray(a, dtype="float32") for a in _as_list(inputs)]
    out = keras.ops.convert_to_numpy(layer(arrays if len(arrays) > 1 else arrays[0]))
    shapes = [a.shape for a in arrays]
    expected = layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
    if tuple(expected) != out.shape:
        raise AssertionError(f"{layer.name}: compute_output_shape {expected} != output {out.shape}")

    config = layer.get_config()
    clone = type(layer).from_config(config)
    if clone.get_config() != config:
        raise AssertionError(f"{layer.name}: config round trip differs")

    symbolic = [keras.Input(shape=a.shape[1:], dtype="float32") for a in arrays]
    fresh = type(layer).from_config(config)
    y = fresh(symbolic if len(symbolic) > 1 else symbolic[0])
    wrapper = keras.Model(symbolic if len(symbolic) > 1 else symbolic[0], y)
    check_model(wrapper, arrays if len(arrays) > 1 else arrays[0], tmp_dir, atol=atol)
    return out


def check_model(model: keras.Model, inputs, tmp_dir: str | Path, *, atol: float = 1e-5):
    """Check ``.keras`` save/load (safe mode) and, for registered models, the config round trip.

    Returns the reloaded model.
    """
    before = keras.ops.convert_to_numpy(model(inputs))
    path = Path(tmp_dir) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = keras.ops.convert_to_numpy(loaded(inputs))
    if before.shape != after.shape or not np.allclose(before, after, atol=atol, rtol=1e-5):
        raise AssertionError(f"{model.name}: outputs differ after .keras round trip")
    if type(loaded) is not type(model):
        raise AssertionError(f"{model.name}: reloaded as {type(loaded).__name__}")
    if not type(model).__module__.startswith("keras."):
        config = model.get_config()
        if type(model).from_config(config).get_config() != config:
            raise AssertionError(f"{model.name}: config round trip differs")
    return loaded
