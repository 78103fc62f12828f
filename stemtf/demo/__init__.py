"""``stemtf demo``: a small NMC811 scan, phase-mapped and scored against its truth.

Simulates the scan with ground truth, analyses it with the bundled denoiser, evaluates the
phase map against the truth and writes the report.
"""

from stemtf.demo.run import DEFAULT_DOSE_E, DEFAULT_SHAPE, DemoResult, run_demo

__all__ = ["DEFAULT_DOSE_E", "DEFAULT_SHAPE", "DemoResult", "run_demo"]
