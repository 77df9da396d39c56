"""`hb.np.fft`: NumPy's fft module.

The transforms (fft, ifft, rfft, irfft, hfft, ihfft and their 2-d / n-d forms) are built from the
registry's fft/rfft/irfft ops on the last axis (hybrid/ir/ops/complex.py): other axes move last and
back, `n`/`s` crop or zero-pad, `norm` scales. Results have NumPy's dtypes for float32/float64 and
complex input (complex64 stays complex64); integer input is transformed as float32 (hybrid's
default, where NumPy uses float64). The helpers (sample frequencies, zero-frequency shifts) are
written from hb.np functions, so they trace, compile and differentiate.
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..core import lax
from ..core.array import Array, NDArray
from ..ir.types import COMPLEX_OF, COMPLEX_PART, dtype_name, is_complex, to_numpy_dtype
from .np import _asarray, _cast, _on_cpu, concatenate, moveaxis, promote, zeros
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


# -- the transforms ----------------------------------------------------------------------------
_NORMS = (None, "backward", "ortho", "forward")


def _check_norm(norm) -> str:
    if norm not in _NORMS:
        raise ValueError(f"fft: invalid norm {norm!r}; use 'backward', 'ortho' or 'forward'")
    return norm or "backward"


def _swap(norm: str) -> str:
    """The norm of the transform in the other direction that gives the same scaling (hfft/ihfft)."""
    return {"backward": "forward", "forward": "backward"}.get(norm, norm)


def _inexact(x) -> Array:
    (x,) = promote(_asarray(x), to_float=True)
    return x


def _to_complex(x: Array) -> Array:
    x = _inexact(x)
    return x if is_complex(x.type.dtype) else _cast(x, COMPLEX_OF[x.type.dtype])


def _to_real(x: Array, name: str) -> Array:
    x = _inexact(x)
    if is_complex(x.type.dtype):
        raise TypeError(f"np.fft.{name} transforms real input; got {x.dtype}: take np.real(x) first or use fft")
    return x if x.type.dtype in ("f32", "f64") else _cast(x, "float32")


def _fit(x: Array, n: Optional[int], axis: int) -> Array:
    """x cropped or zero-padded to n along `axis` (None: unchanged)."""
    size = x.shape[axis]
    if n is None or n == size:
        return x
    if n < 1:
        raise ValueError(f"fft: invalid number of data points ({n}) specified")
    if n < size:
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, n)
        return x[tuple(index)]
    pad = list(x.shape)
    pad[axis] = n - size
    return concatenate([x, zeros(tuple(pad), x.dtype)], axis=axis)


def _last(fn, x: Array, axis: int) -> Array:
    """fn applied with `axis` moved last, then moved back."""
    axis = axis % x.ndim if x.ndim else 0
    if x.ndim == 0:
        raise ValueError("fft: the input must have at least one dimension")
    return moveaxis(fn(moveaxis(x, axis, -1)), -1, axis)


def _scale(y: Array, n: int, norm: str, inverse: bool) -> Array:
    """The ops compute the unnormalized forward and 1/n-scaled inverse ('backward')."""
    if norm == "backward":
        return y
    factor = {("ortho", False): 1 / numpy.sqrt(n), ("ortho", True): numpy.sqrt(n),
              ("forward", False): 1 / n, ("forward", True): float(n)}[(norm, inverse)]
    return y * float(factor)


def _c2c(a, n, axis: int, norm, inverse: bool) -> Array:
    x = _fit(_to_complex(a), n, axis)
    size = x.shape[axis] if x.ndim else 0
    y = _last(lambda v: lax.bind("fft", v, inverse=inverse), x, axis)
    return _scale(y, size, _check_norm(norm), inverse)


def fft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    return _c2c(a, n, axis, norm, False)


def ifft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    return _c2c(a, n, axis, norm, True)


def rfft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    x = _fit(_to_real(a, "rfft"), n, axis)
    size = x.shape[axis]
    return _scale(_last(lambda v: lax.bind("rfft", v), x, axis), size, _check_norm(norm), False)


def irfft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    x = _to_complex(a)
    n = 2 * (x.shape[axis] - 1) if n is None else n
    if n < 1:
        raise ValueError(f"fft: invalid number of data points ({n}) specified")
    x = _fit(x, n // 2 + 1, axis)
    return _scale(_last(lambda v: lax.bind("irfft", v, n=n), x, axis), n, _check_norm(norm), True)


def hfft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    """The real spectrum of a Hermitian-symmetric signal given by its first half."""
    from .np_logic import conj
    return irfft(conj(_to_complex(a)), n, axis, _swap(_check_norm(norm)))


def ihfft(a, n: Optional[int] = None, axis: int = -1, norm=None) -> Array:
    from .np_logic import conj
    return conj(rfft(a, n, axis, _swap(_check_norm(norm))))


def _shape_axes(x: Array, s, axes) -> tuple[list, list]:
    """NumPy's (s, axes) defaults: every axis, or the last len(s) axes."""
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [a % x.ndim for a in ([axes] if isinstance(axes, int) else axes)]
    s = [None] * len(axes) if s is None else list(s)
    if len(s) != len(axes):
        raise ValueError(f"fft: shape {tuple(s)} and axes {tuple(axes)} differ in length")
    return s, axes


def _c2c_n(a, s, axes, norm, inverse: bool) -> Array:
    x = _to_complex(a)
    s, axes = _shape_axes(x, s, axes)
    for n, axis in zip(s, axes):
        x = _c2c(x, n, axis, norm, inverse)
    return x


def fftn(a, s=None, axes=None, norm=None) -> Array:
    return _c2c_n(a, s, axes, norm, False)


def ifftn(a, s=None, axes=None, norm=None) -> Array:
    return _c2c_n(a, s, axes, norm, True)


def fft2(a, s=None, axes=(-2, -1), norm=None) -> Array:
    return fftn(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None) -> Array:
    return ifftn(a, s, axes, norm)


def rfftn(a, s=None, axes=None, norm=None) -> Array:
    x = _to_real(a, "rfftn")
    s, axes = _shape_axes(x, s, axes)
    y = rfft(x, s[-1], axes[-1], norm)
    for n, axis in zip(s[:-1], axes[:-1]):
        y = _c2c(y, n, axis, norm, False)
    return y


def irfftn(a, s=None, axes=None, norm=None) -> Array:
    x = _to_complex(a)
    s, axes = _shape_axes(x, s, axes)
    for n, axis in zip(s[:-1], axes[:-1]):
        x = _c2c(x, n, axis, norm, True)
    return irfft(x, s[-1], axes[-1], norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None) -> Array:
    return rfftn(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None) -> Array:
    return irfftn(a, s, axes, norm)


__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fftn", "ifftn", "fft2", "ifft2", "rfftn", "irfftn",
           "rfft2", "irfft2", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]
