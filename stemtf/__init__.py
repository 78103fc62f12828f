"""stemtf: simulate, denoise and phase-map 4D-STEM electron diffraction.

The package is organised in stages (see DESIGN.md): ``materials`` -> ``simulate`` -> ``noise``
-> ``data`` (tfds) -> ``models``/``training`` -> ``io`` -> ``denoise`` -> ``phase`` -> ``report``.
Importing :mod:`stemtf` is cheap: stages load their heavy dependencies (TensorFlow, abTEM,
pymatgen) only when they are imported themselves.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "StemtfError", "InputError"]

from stemtf.errors import InputError, StemtfError  # noqa: E402
