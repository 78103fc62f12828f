"""``stemtf demo``: simulate a small NMC811 scan with ground truth, analyse it with the bundled
denoiser, evaluate the phase map against the truth and write the report."""

from stemtf.demo.run import DEFAULT_DOSE_E, DEFAULT_SHAPE, DemoResult, run_demo

__all__ = ["DEFAULT_DOSE_E", "DEFAULT_SHAPE", "DemoResult", "run_demo"]
