"""Denoisers for detector patterns: a batch of counts in, a same-shape batch out.

``load("none")`` is the identity; ``load("saved_models/rdunet/1")`` runs a SavedModel;
``load("http://host:8501/v1/models/rdunet")`` / ``load("grpc://host:8500/rdunet")`` call a model
in TF Serving (helper clients in :mod:`stemtf.serving`). TensorFlow is imported lazily.
"""

from stemtf.denoise.base import Denoiser, IdentityDenoiser
from stemtf.denoise.load import load
from stemtf.denoise.savedmodel import SavedModelDenoiser

__all__ = ["Denoiser", "IdentityDenoiser", "SavedModelDenoiser", "load"]
