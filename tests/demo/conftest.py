"""Fixtures of the demo tests: the demo's clean-pattern library and a tiny exported RDUNet."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def library_cache(tmp_path_factory) -> Path:
    """A scene-library cache holding the demo's default clean-pattern library (real abTEM)."""
    from stemtf.scenes import build_library

    cache = tmp_path_factory.mktemp("scene-cache")
    build_library(cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory) -> Path:
    """``<base>/rdunet/{1,3}``: an untrained tiny RDUNet exported twice by ``stemtf export``."""
    import keras

    from stemtf.models import RDUNet
    from stemtf.training.export import export_saved_model

    base = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = RDUNet(width=4, levels=2, blocks=1)
    model(keras.ops.zeros((1, 16, 16, 1)))
    model.save(base / "tiny.keras")
    for version in (1, 3):
        export_saved_model(base / "tiny.keras", base, "rdunet", version, warmup=False)
    return base / "rdunet"
