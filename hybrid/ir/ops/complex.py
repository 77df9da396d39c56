"""Complex numbers: parts, conjugate, construction, and the discrete Fourier transforms.

  real, imag   c64 -> f32, c128 -> f64 (numpy.real / numpy.imag)
  conj         complex -> same dtype
  fft          complex -> complex along the last axis, unnormalized forward or (inverse) 1/n-scaled
               backward transform (numpy.fft.fft / ifft with norm="backward")
  rfft         f32/f64 (..., n) -> complex (..., n//2 + 1)                    (numpy.fft.rfft)
  irfft        complex (..., m) -> float (..., n), 1/n-scaled                 (numpy.fft.irfft)
  view_real    c64[S] -> f32[S + (2,)]: the same bytes seen as (re, im) pairs; view_complex the reverse
               (the boundary of compiled code, which stores complex values as such pairs)
They are kind "other": compiled code never sees a complex value (passes/lower_complex.py rewrites
them into real arithmetic first). The frontend (np_fft) builds every other transform, axis, length
and norm from these.

Gradients through complex values follow PyTorch's convention (JAX's is its conjugate): the
cotangent of z = x + iy is dL/dx + i dL/dy for a real loss L, so z - lr * grad descends. For an op
that is holomorphic in its complex operands, whose real rule computes J^T g (no conjugation), the
cotangent of its input is conj(J^T conj(g)) = g * conj(f'(z)): the tape (core/tape.py) applies the
rules of the ops in HOLOMORPHIC_GRAD that way, and keeps the real part for a real operand. The ops
in DIRECT_COMPLEX_GRAD (not holomorphic: parts, conjugate, abs, irfft's Hermitian extension, the
decompositions with their conjugate transposes: decomp.py) give
complex cotangents from their own rules; any other op on complex values refuses a gradient.
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import COMPLEX_OF, COMPLEX_PART, TensorType, is_complex, to_numpy_dtype
from .gradkit import apply

HOLOMORPHIC_GRAD = frozenset({
    "add", "sub", "neg", "mul", "div", "pow", "exp", "log", "sqrt", "tanh", "expm1", "log1p", "sinh", "arcsinh", "sin",
    "cos", "tan", "cosh", "log2", "log10", "exp2", "arctan", "arcsin", "arccos", "arccosh", "arctanh", "sum",
    "reshape", "transpose", "broadcast_to", "slice", "concat", "pad", "take", "take_grad", "matmul", "where", "cast",
    "fft", "rfft"})
DIRECT_COMPLEX_GRAD = frozenset({"real", "imag", "conj", "abs", "irfft", "view_real", "view_complex", "svd", "eigh"})


def _complex_input(t: TensorType, op: str) -> None:
    if not is_complex(t.dtype):
        raise ShapeError(f"{op} takes a complex array, got {t.dtype}")


def _part_infer(name):
    def infer(types):
        (t,) = types
        _complex_input(t, name)
        return TensorType(t.shape, COMPLEX_PART[t.dtype])
    return infer


def _conj_infer(types):
    (t,) = types
    _complex_input(t, "conj")
    return t


def _view_real_infer(types):
    (t,) = types
    _complex_input(t, "view_real")
    return TensorType(t.shape + (2,), COMPLEX_PART[t.dtype])


def _view_complex_infer(types):
    (t,) = types
    if t.dtype not in ("f32", "f64") or not t.shape or t.shape[-1] != 2:
        raise ShapeError(f"view_complex takes (re, im) pairs: an f32/f64 array whose last axis is 2, got {t}")
    return TensorType(t.shape[:-1], COMPLEX_OF[t.dtype])


def _last_axis(t: TensorType, op: str) -> None:
    if t.ndim == 0:
        raise ShapeError(f"{op} transforms the last axis; got a 0-d {t}")


def _fft_infer(types, inverse=False):
    (t,) = types
    _complex_input(t, "fft")
    _last_axis(t, "fft")
    return t


def _fft_reference(x, inverse=False):
    return (numpy.fft.ifft if inverse else numpy.fft.fft)(x, axis=-1).astype(x.dtype)


def _rfft_infer(types):
    (t,) = types
    if t.dtype not in ("f32", "f64"):
        raise ShapeError(f"rfft takes an f32 or f64 array, got {t.dtype}")
    _last_axis(t, "rfft")
    return TensorType(t.shape[:-1] + (t.shape[-1] // 2 + 1,), COMPLEX_OF[t.dtype])


def _irfft_infer(types, n):
    (t,) = types
    _complex_input(t, "irfft")
    _last_axis(t, "irfft")
    if n < 1:
        raise ShapeError(f"irfft: output length n={n} must be positive")
    return TensorType(t.shape[:-1] + (n,), COMPLEX_PART[t.dtype])


def _pad_last(x, length: int):
    """x zero-padded (or cut) along its last axis to `length`."""
    n = x.shape[-1]
    nd = x.ndim
    if n > length:
        return apply("slice", x, begin=(0,) * nd, end=tuple(x.shape[:-1]) + (length,), step=(1,) * nd)
    return apply("pad", x, pads=(0, 0) * (nd - 1) + (0, length - n), value=0.0) if n < length else x


def _rfft_grad(g, inputs, outputs):
    """J^T g of rfft = P F (F symmetric, P keeps the first n//2 + 1 terms): fft of g padded to n."""
    return [apply("fft", _pad_last(g, inputs[0].shape[-1]), inverse=False)]


def _irfft_grad(g, inputs, outputs, n):
    """irfft(c)[t] = sum_k w_k (Re c_k cos - Im c_k sin)(2 pi k t / n) / n, with w_k = 2 but for
    the zero (and, n even, the Nyquist) term: dL/dRe c_k + i dL/dIm c_k = w_k rfft(g)_k / n."""
    (c,) = inputs
    m = c.shape[-1]
    weight = numpy.full(m, 2.0 / n)
    weight[0] = 1.0 / n
    if n % 2 == 0 and m > n // 2:
        weight[n // 2] = 1.0 / n
    weight[n // 2 + 1:] = 0.0       # terms beyond n//2 are not read
    scale = apply("constant", value=weight.astype(to_numpy_dtype(COMPLEX_PART[c.type.dtype])))
    return [_pad_last(apply("rfft", g), m) * scale]


register(OpDef("real", _part_infer("real"), lambda x: x.real.copy(), "other",
               grad=lambda g, i, o: [apply("cast", g, dtype=i[0].type.dtype)], doc="real part of a complex array"))
register(OpDef("imag", _part_infer("imag"), lambda x: x.imag.copy(), "other",
               grad=lambda g, i, o: [apply("cast", g, dtype=i[0].type.dtype) * 1j],
               doc="imaginary part of a complex array"))
register(OpDef("conj", _conj_infer, numpy.conjugate, "other", grad=lambda g, i, o: [apply("conj", g)],
               doc="complex conjugate"))
register(OpDef("fft", _fft_infer, _fft_reference, "other", attrs=("inverse",),
               grad=lambda g, i, o, inverse=False: [apply("fft", g, inverse=inverse)],   # F is symmetric
               doc="discrete Fourier transform of the last axis (inverse: scaled by 1/n)"))
register(OpDef("rfft", _rfft_infer, lambda x: numpy.fft.rfft(x, axis=-1).astype(numpy.result_type(x.dtype, numpy.complex64)), "other",
               grad=_rfft_grad, doc="Fourier transform of a real last axis: the n//2 + 1 non-negative frequencies"))
register(OpDef("irfft", _irfft_infer, lambda x, n: numpy.fft.irfft(x, n=n, axis=-1).astype(x.real.dtype), "other",
               attrs=("n",), grad=_irfft_grad, doc="inverse of rfft: n real samples from n//2 + 1 frequencies"))
register(OpDef("view_real", _view_real_infer,
               lambda x: numpy.array(x).reshape(-1).view(x.real.dtype).reshape(x.shape + (2,)), "layout",
               grad=lambda g, i, o: [apply("view_complex", g)],
               doc="a complex array's bytes as (re, im) pairs along a new last axis"))
register(OpDef("view_complex", _view_complex_infer,
               lambda x: numpy.array(x).reshape(-1).view(numpy.result_type(x.dtype, numpy.complex64)).reshape(
                   x.shape[:-1]), "layout", grad=lambda g, i, o: [apply("view_real", g)],
               doc="(re, im) pairs along the last axis as a complex array"))
