"""Denoiser evaluation against the noisy input and classical baselines.

Per-dose PSNR/SSIM, spot-position error, weak-spot recall and invented spots, against the noisy input and classical baselines (Gaussian, median, NLM, BM3D).
"""

from stemtf.evaluation.baselines import anscombe, baselines, inverse_anscombe_unbiased
from stemtf.evaluation.data import EvalSet, load_eval_set, synthetic_eval_set
from stemtf.evaluation.ensemble import self_ensemble
from stemtf.evaluation.evaluate import DOSE_EDGES_E, evaluate_methods, format_table
from stemtf.evaluation.metrics import SpotMatch, match_spots, psnr, ssim

__all__ = [
    "EvalSet",
    "load_eval_set",
    "synthetic_eval_set",
    "baselines",
    "anscombe",
    "inverse_anscombe_unbiased",
    "self_ensemble",
    "evaluate_methods",
    "format_table",
    "DOSE_EDGES_E",
    "SpotMatch",
    "match_spots",
    "psnr",
    "ssim",
]
