"""`hb.np.fft`: the real-valued helpers of NumPy's fft module (sample frequencies and the
zero-frequency shifts), written from hb.np functions so they trace, compile and differentiate.

The transforms themselves (fft, ifft, rfft, irfft, fftn, hfft, ...) produce or take complex
arrays, and hybrid has no complex dtype (docs/semantics.md), so they are not offered.
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..core.array import Array, NDArray
from ..ir.types import dtype_name, to_numpy_dtype
from .np import _asarray, _on_cpu
from .np_shape import roll


def _frequencies(values: numpy.ndarray, dtype, device, name: str) -> NDArray:
    _on_cpu(device, f"fft.{name}")
    return NDArray(values.astype(to_numpy_dtype(dtype_name("float32" if dtype is None else dtype))))


def fftfreq(n: int, d: float = 1.0, *, dtype=None, device=None) -> NDArray:
    """Sample frequencies of an n-point DFT (float32 unless `dtype`: hybrid's creation default)."""
    return _frequencies(numpy.fft.fftfreq(n, d), dtype, device, "fftfreq")


def rfftfreq(n: int, d: float = 1.0, *, dtype=None, device=None) -> NDArray:
    return _frequencies(numpy.fft.rfftfreq(n, d), dtype, device, "rfftfreq")


def _axes(x: Array, axes) -> tuple[int, ...]:
    return tuple(range(x.ndim)) if axes is None else ((axes,) if isinstance(axes, int) else tuple(axes))


def fftshift(x, axes: Optional[int] = None) -> Array:
    """The zero-frequency term moved to the centre: a roll by n // 2 along each axis."""
    x = _asarray(x)
    axes = _axes(x, axes)
    return roll(x, [x.shape[a] // 2 for a in axes], axes) if axes else x


def ifftshift(x, axes: Optional[int] = None) -> Array:
    """fftshift's inverse: a roll by -(n // 2) along each axis."""
    x = _asarray(x)
    axes = _axes(x, axes)
    return roll(x, [-(x.shape[a] // 2) for a in axes], axes) if axes else x


__all__ = ["fftfreq", "rfftfreq", "fftshift", "ifftshift"]
