"""The ``stemtf analyze`` pipeline: orchestration only.

Reading, denoising, phase identification and reporting live in their own stages.
"""

from stemtf.analysis.config import DEFAULT_PHASES, AnalyzeConfig
from stemtf.analysis.run import OUTPUT_FILES, AnalyzeResult, analyze

__all__ = ["DEFAULT_PHASES", "OUTPUT_FILES", "AnalyzeConfig", "AnalyzeResult", "analyze"]
