"""Field conditions of a synthetic scan: what a real microscope and detector add to the scene.

Each field is a switch with a physical unit; the defaults reproduce the project's original
scenes exactly (same seeds, same counts). Conditions that live in the clean-pattern library
(detector size and sampling, semi-angle, thickness series, beam-tilt axis, off-zone axes) are
parameters of :func:`stemtf.scenes.build_library`; the rest are here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from stemtf.errors import InputError, check_range

__all__ = ["FieldConditions"]


@dataclass(frozen=True)
class FieldConditions:
    """Per-scan field conditions (frozen, validated on construction).

    Parameters
    ----------
    descan_px : float
        Drift of the beam centre across the scan, first to last position [px] (0-64), along a
        seeded direction; 2 by default (the original scenes).
    descan_jitter_px : float
        RMS of an extra random beam-centre offset per probe position [px] (0-5).
    ellipticity : float or None
        Relative ellipticity ``a/b - 1`` of the pattern (0-0.1), fixed for the scan; None
        keeps the noise model's draw (0.5-2 %).
    calibration_error : float or None
        Relative error of the reciprocal pixel size handed to the analysis (-0.2 to 0.2): the
        scan file (and ``q_sampling_invA`` of the truth file) holds ``true * (1 + error)``, the
        truth file's ``q_sampling_true_invA`` the true value. With a value the pattern is not
        rescaled (noise-model pixel-scale jitter off); None keeps the noise model's +-2 % jitter
        and hands the library's sampling (the original scenes).
    carbon_fraction : float
        Share of all electrons in the diffuse rings of an amorphous carbon support film
        (0-0.5), near 0.47 and 0.85 1/Å, in every pattern including vacuum.
    halo_per_100A : float
        Diffuse-background share added per 100 Å of specimen thickness (0-0.5): the halo grows
        with the thickness map (capped at 0.9 of the counts).
    gain_sigma : float or None
        RMS of a fixed per-scan detector gain map ``1 + N(0, sigma)`` (0-0.3); None keeps the
        noise model's per-pattern gain.
    dead_rows, dead_cols : int
        Whole detector rows / columns that read 0 in every pattern (0-16).
    hot_fraction : float or None
        Share of detector pixels that are hot (read the saturation value) in every pattern
        (0-0.01); None keeps the noise model's per-pattern hot/dead pixels.
    integer_counts : bool
        Write the scan as uint16 counts (a counting detector) instead of float32.
    both_o1_fraction : (float, float)
        Range of the O1 share in columns holding both phases (0 < lo <= hi < 1); (0.4, 0.6) by
        default.
    max_tilt_mrad : float
        Per-grain mistilt: each grain draws a beam tilt from the library's tilt axis among those
        up to this magnitude [mrad] (0-50); 0 = every grain on zone.
    offzone_grains : int
        Grains of the O3 matrix viewed along another zone axis than [001] (from the library's
        off-zone axes); their truth label is 4 'unassigned' (0-16).
    """

    descan_px: float = 2.0
    descan_jitter_px: float = 0.0
    ellipticity: float | None = None
    calibration_error: float | None = None
    carbon_fraction: float = 0.0
    halo_per_100A: float = 0.0
    gain_sigma: float | None = None
    dead_rows: int = 0
    dead_cols: int = 0
    hot_fraction: float | None = None
    integer_counts: bool = False
    both_o1_fraction: tuple[float, float] = (0.4, 0.6)
    max_tilt_mrad: float = 0.0
    offzone_grains: int = 0

    def __post_init__(self) -> None:
        check_range("descan_px", self.descan_px, 0.0, 64.0, "px")
        check_range("descan_jitter_px", self.descan_jitter_px, 0.0, 5.0, "px")
        if self.ellipticity is not None:
            check_range("ellipticity", self.ellipticity, 0.0, 0.1)
        if self.calibration_error is not None:
            check_range("calibration_error", self.calibration_error, -0.2, 0.2)
        check_range("carbon_fraction", self.carbon_fraction, 0.0, 0.5)
        check_range("halo_per_100A", self.halo_per_100A, 0.0, 0.5, "per 100 A")
        if self.gain_sigma is not None:
            check_range("gain_sigma", self.gain_sigma, 0.0, 0.3)
        for name in ("dead_rows", "dead_cols", "offzone_grains"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 16:
                raise InputError(f"{name}={v!r} is not allowed: it must be an integer 0 to 16")
        if self.hot_fraction is not None:
            check_range("hot_fraction", self.hot_fraction, 0.0, 0.01)
        if not isinstance(self.integer_counts, bool):
            raise InputError(f"integer_counts={self.integer_counts!r} must be True or False")
        try:
            lo, hi = (float(v) for v in self.both_o1_fraction)
        except (TypeError, ValueError):
            raise InputError(
                f"both_o1_fraction={self.both_o1_fraction!r} must be a (lo, hi) pair"
            ) from None
        if not 0.0 < lo <= hi < 1.0:
            raise InputError(
                f"both_o1_fraction={self.both_o1_fraction!r} is not allowed: need 0 < lo <= hi < 1"
            )
        object.__setattr__(self, "both_o1_fraction", (lo, hi))
        check_range("max_tilt_mrad", self.max_tilt_mrad, 0.0, 50.0, "mrad")

    @property
    def fixed_detector(self) -> bool:
        """True when the scan has a fixed gain map or fixed defects."""
        return (
            self.gain_sigma is not None
            or self.hot_fraction is not None
            or self.dead_rows > 0
            or self.dead_cols > 0
        )

    def to_dict(self) -> dict:
        """JSON-serialisable dict (provenance)."""
        d = asdict(self)
        d["both_o1_fraction"] = list(self.both_o1_fraction)
        return d
