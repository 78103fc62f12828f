"""Vendor formats through RosettaSciIO, read with ``lazy=True``.

Merlin ``.mib``, Digital Micrograph ``.dm3/.dm4``, NanoMegas ``.blo``, ``.hspy``, ``.mrc``,
TVIPS, ...

RosettaSciIO returns a dask array and a list of axes flagged ``navigate``; navigation axes are
moved first, so the array is ``(Ry, Rx, Qy, Qx)``. Detector calibration is converted from the
signal axes (1/Å, 1/nm, mrad, or a physical pixel size with the camera length for ``.blo``),
beam energy and convergence angle from hyperspy-style metadata
(``Acquisition_instrument.TEM.beam_energy`` [keV], ``.convergence_angle`` [mrad]).
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stemtf.errors import InputError
from stemtf.io.scan import Scan, ScanMetadata, _one_line
from stemtf.io.units import normalise_unit, q_sampling_from_axis

__all__ = ["RsciioSource", "open_rsciio", "rsciio_plugin_for"]

#: Reads up to this size reuse the opened file; larger ones reopen it (see __getitem__).
_SMALL_READ_BYTES = 4 * 1024 * 1024
#: Reader warnings that mean the file lacks its format's signature.
_NOT_THIS_FORMAT = r"(?i).*(unrecognized|unknown|invalid) header signature"


def rsciio_plugin_for(path: str | Path) -> dict[str, Any] | None:
    """The RosettaSciIO plugin entry whose extensions include the file's, or None."""
    from rsciio import IO_PLUGINS

    ext = Path(path).suffix.lstrip(".").lower()
    for plugin in IO_PLUGINS:
        if ext in {e.lower() for e in plugin["file_extensions"]}:
            return plugin
    return None


def _read(path: str, api: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    module = importlib.import_module(api)
    fmt = api.rsplit(".", 1)[-1]
    with warnings.catch_warnings():
        # a reader that "will attempt to read" a file without its format's signature makes up
        # a shape from random bytes (and may spend minutes on it): that file is not this format
        warnings.filterwarnings("error", message=_NOT_THIS_FORMAT, category=UserWarning)
        try:
            return module.file_reader(path, lazy=True, **kwargs)
        except InputError:
            raise
        except UserWarning as w:
            said = _one_line(w).split(". ")[0]  # not its "will attempt to read" sequel
            raise InputError(f"{path}: not a {fmt} file ({said})") from None
        except MemoryError:
            # a damaged header describes a huge array: that is the file, not the machine
            raise InputError(
                f"{path}: not a readable {fmt} file: its header describes far more data than "
                f"the file's {os.path.getsize(path):,} bytes hold (damaged, or another format)"
            ) from None
        except Exception as e:  # noqa: BLE001 - vendor readers raise anything on a bad file
            raise InputError(
                f"{path}: RosettaSciIO ({api}) cannot read it ({type(e).__name__}: {_one_line(e)})"
            ) from None


def _pick_signal(path: str, signals: list[dict[str, Any]]) -> dict[str, Any]:
    for sig in signals:
        if getattr(sig["data"], "ndim", 0) in (3, 4):
            return sig
    shapes = ", ".join(str(tuple(s["data"].shape)) for s in signals) or "none"
    raise InputError(f"{path}: no 3D or 4D signal in the file (signals: {shapes})")


class RsciioSource:
    """Picklable lazy view of a RosettaSciIO-readable file (re-read lazily in each process)."""

    def __init__(self, path: str | Path, api: str, reader_kwargs: dict[str, Any]) -> None:
        self.path = str(path)
        self.api = api
        self.reader_kwargs = dict(reader_kwargs)
        data, _ = self._open()
        self.shape = tuple(int(n) for n in data.shape)
        self.dtype = np.dtype(data.dtype)
        self.ndim = len(self.shape)

    def _open(self) -> tuple[Any, dict[str, Any]]:
        sig = _pick_signal(self.path, _read(self.path, self.api, self.reader_kwargs))
        nav = [i for i, ax in enumerate(sig["axes"]) if ax.get("navigate", True)]
        others = [i for i in range(len(sig["axes"])) if i not in nav]
        order = nav + others
        data = sig["data"]
        if order != list(range(data.ndim)):
            data = data.transpose(order)
        sig = dict(sig, axes=[sig["axes"][i] for i in order])
        return data, sig

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_data"}

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        # Small reads (single patterns of the calibration sample) share one opened file; large
        # reads (chunks) open it afresh and let go of it, so memory-mapped pages of the file do
        # not accumulate in the process as a large scan is read.
        data = getattr(self, "_data", None)
        if data is None:
            data, _ = self._open()
            if self._nbytes(index) <= _SMALL_READ_BYTES:
                self._data = data
        block = data[index]
        if hasattr(block, "compute"):
            block = block.compute(scheduler="synchronous")
        return np.asarray(block)

    def _nbytes(self, index: tuple[slice, ...]) -> int:
        n = self.dtype.itemsize
        for size, sl in zip(self.shape, tuple(index) + (slice(None),) * self.ndim, strict=False):
            n *= len(range(*sl.indices(size))) if isinstance(sl, slice) else 1
        return n


def open_rsciio(path: str | Path, *, navigation_shape: tuple[int, int] | None = None) -> Scan:
    """Open a file through RosettaSciIO as a lazy :class:`Scan`.

    Parameters
    ----------
    path : str or Path
        A file whose extension RosettaSciIO knows.
    navigation_shape : (Ry, Rx), optional
        Scan shape for formats that store a flat frame stack (Merlin ``.mib``); passed to the
        reader in its own (x, y) order.
    """
    plugin = rsciio_plugin_for(path)
    if plugin is None:
        raise InputError(f"{path}: file extension {Path(path).suffix!r} is not a known format")
    kwargs: dict[str, Any] = {}
    if navigation_shape is not None and plugin["name"] == "QuantumDetector":
        kwargs["navigation_shape"] = (int(navigation_shape[1]), int(navigation_shape[0]))
    source = RsciioSource(path, plugin["api"], kwargs)
    _, sig = source._open()
    metadata = _metadata(sig)
    return Scan(Path(path), source, metadata, f"rsciio:{plugin['name']}")


def _get(tree: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(tree, dict) or k not in tree:
            return None
        tree = tree[k]
    return tree


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def _metadata(sig: dict[str, Any]) -> ScanMetadata:
    md = sig.get("metadata", {}) or {}
    omd = sig.get("original_metadata", {}) or {}
    origin: dict[str, str] = {}
    energy = _positive(_get(md, "Acquisition_instrument", "TEM", "beam_energy"))
    if energy is not None:
        energy *= 1e3
        origin["energy_eV"] = "file: Acquisition_instrument.TEM.beam_energy [keV]"
    else:
        energy = _positive(_get(omd, "blockfile_header", "Beam_energy"))  # [V]
        if energy is not None:
            origin["energy_eV"] = "file: blockfile_header.Beam_energy [V]"
    semiangle = _positive(_get(md, "Acquisition_instrument", "TEM", "convergence_angle"))
    if semiangle is not None:
        origin["semiangle_mrad"] = "file: Acquisition_instrument.TEM.convergence_angle [mrad]"
    camera_length_mm = _positive(_get(md, "Acquisition_instrument", "TEM", "camera_length"))
    if camera_length_mm is None:
        cl = _positive(_get(omd, "blockfile_header", "Camera_length"))  # [10 * mm]
        camera_length_mm = cl / 10.0 if cl else None

    axes = sig["axes"]
    q = None
    if len(axes) >= 2:
        ax = axes[-1]
        q = q_sampling_from_axis(
            ax.get("scale", 1.0),
            ax.get("units"),
            energy_eV=energy,
            camera_length_mm=camera_length_mm,
        )
        if q is not None:
            origin["q_sampling_invA"] = (
                f"file: detector axis {ax.get('scale')} {ax.get('units')}"
                + (f", camera length {camera_length_mm} mm" if camera_length_mm else "")
            )
    step = None
    if len(axes) == 4:
        u = normalise_unit(axes[1].get("units"))
        factor = {"nm": 1.0, "µm": 1e3, "um": 1e3, "a": 0.1, "å": 0.1}.get(u)
        if factor:
            step = _positive(axes[1].get("scale"))
            step = step * factor if step else None
            if step:
                origin["scan_step_nm"] = f"file: navigation axis [{u}]"
    general = md.get("General", {}) if isinstance(md, dict) else {}
    extra = {k: str(v) for k, v in general.items() if k in ("original_filename", "date", "time")}
    return ScanMetadata(
        q_sampling_invA=q,
        energy_eV=energy,
        semiangle_mrad=semiangle,
        scan_step_nm=step,
        origin=origin,
        extra=extra,
    )
