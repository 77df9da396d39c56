"""Discrete Fourier transforms written with real registry ops, for passes/lower_complex.py.

A transform of length n along the last axis is a product with the DFT matrix (n^2 work) when n
is at most DIRECT_MAX, or has no factor up to RADIX_MAX and is at most CHIRP_MIN. A longer n
without such a factor (a large prime, or a product of primes above RADIX_MAX) is Bluestein's
chirp-z transform: with jk = (j^2 + k^2 - (k - j)^2) / 2 and h_m = exp(sign pi i m^2 / n),
  X[k] = h_k sum_j (x_j h_j) conj(h_(k-j)),
a convolution done as a product of spectra of length M, the power of two >= 2n - 1 (two
transforms of that smooth length; the chirp's spectrum is a constant), so every length is
O(n log n). Otherwise it is one Cooley-Tukey step
n = a * b, a the largest such factor: with j = b j1 + j2 and k = k1 + a k2,
  X[k1 + a k2] = sum_j2 W_b^(j2 k2) W_n^(j2 k1) sum_j1 W_a^(j1 k1) x[b j1 + j2],
i.e. a length-a DFT of each of the b columns (one matmul with the a x a matrix), a twiddle
product, and b-point transforms of the a rows (recursively), the result read transposed. The
work is n times the sum of the factors (O(n log n) for smooth n), all of it matmuls, elementwise
products and transposes that every backend compiles. Constants are computed in float64 with the
angles reduced mod n first. rfft runs the complex transform of (x, 0) and keeps n//2 + 1 terms;
irfft extends its terms to the Hermitian spectrum (imaginary parts of the zero and Nyquist
terms drop out of the real part it keeps) and runs the inverse transform.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy

from ..ir.graph import Value

Parts = tuple[Value, Value]
DIRECT_MAX = 32     # up to this length the DFT product is as cheap as the steps
RADIX_MAX = 16      # the largest factor one step splits off (an a x a matmul per step)
# lengths without a small factor up to this take the DFT product: 4 n^2 multiply-adds against
# Bluestein's two transforms of length 2n..4n (~ 2 * 4 * 16 M log16(M)), cheaper only past ~ 200
CHIRP_MIN = 128


def radix(n: int) -> Optional[int]:
    """The factor a Cooley-Tukey step splits off n, or None for a direct DFT or a chirp-z transform."""
    if n <= DIRECT_MAX:
        return None
    return next((a for a in range(RADIX_MAX, 1, -1) if n % a == 0), None)


def direct(n: int) -> bool:
    """Is the length-n transform a product with the DFT matrix?"""
    return radix(n) is None and n <= CHIRP_MIN


def chirp(n: int, sign: float) -> numpy.ndarray:
    """h_m = exp(sign pi i m^2 / n) for m < n (complex128), m^2 reduced mod 2n first (the period)."""
    m = numpy.arange(n, dtype=numpy.int64)
    return numpy.exp(sign * 1j * numpy.pi * ((m * m) % (2 * n)) / n)


def angles(n_in: int, n_out: int, n: int) -> numpy.ndarray:
    """2 pi j k / n for j < n_in (rows), k < n_out (columns), exact for large j * k."""
    j = numpy.arange(n_in).reshape(-1, 1)
    k = numpy.arange(n_out).reshape(1, -1)
    return 2 * numpy.pi * ((j * k) % n) / n


class Fourier:
    """Transforms on (re, im) parts with `emit(op, *values, **attrs)` and `const(array, dtype)`."""

    def __init__(self, emit: Callable[..., Value], const: Callable[..., Value]):
        self.o = emit
        self.const = const

    # -- building blocks ----------------------------------------------------------------------
    def product(self, x: Value, matrix: numpy.ndarray) -> Value:
        """x (..., n) @ matrix (n, m) as one 2-d matmul."""
        lead = x.type.shape[:-1]
        rows = self.o("reshape", x, shape=(math.prod(lead), x.type.shape[-1]))
        y = self.o("matmul", rows, self.const(matrix, x.type.dtype), transpose_a=False, transpose_b=False)
        return self.o("reshape", y, shape=lead + (matrix.shape[1],))

    def complex_product(self, z: Parts, cos: numpy.ndarray, sin: numpy.ndarray) -> Parts:
        """(re + i im) @ (cos + i sin)."""
        re, im = z
        return (self.o("sub", self.product(re, cos), self.product(im, sin)),
                self.o("add", self.product(im, cos), self.product(re, sin)))

    def swap_last(self, v: Value, shape: tuple[int, ...]) -> Value:
        """v as (rows, p, q) transposed to (rows, q, p)."""
        return self.o("transpose", self.o("reshape", v, shape=shape), perm=(0, 2, 1))

    # -- transforms ---------------------------------------------------------------------------
    def dft(self, z: Parts, sign: float) -> Parts:
        """sum_j z_j exp(sign 2 pi i j k / n) along the last axis, unscaled."""
        re, _ = z
        shape = re.type.shape
        n = shape[-1]
        if direct(n):
            angle = angles(n, n, n)
            return self.complex_product(z, numpy.cos(angle), sign * numpy.sin(angle))
        a = radix(n)
        if a is None:
            return self.bluestein(z, sign)
        b = n // a
        rows = math.prod(shape[:-1])
        o = self.o
        # columns j2 of the (a, b) view, each transformed over j1: (rows, b, a) @ F_a
        cols = tuple(self.swap_last(v, (rows, a, b)) for v in z)
        angle = angles(a, a, a)
        y = self.complex_product(cols, numpy.cos(angle), sign * numpy.sin(angle))     # (rows, b, a): [j2, k1]
        y = self.scale(y, numpy.exp(1j * sign * angles(b, a, n)))                      # W_n^(j2 k1)
        # rows k1 transformed over j2: (rows, a, b) -> recursive b-point transforms
        zz = self.dft(tuple(o("transpose", v, perm=(0, 2, 1)) for v in y), sign)       # (rows, a, b): [k1, k2]
        # X[k1 + a k2]: read (k2, k1)
        return tuple(o("reshape", o("transpose", v, perm=(0, 2, 1)), shape=shape) for v in zz)

    def scale(self, z: Parts, factor: numpy.ndarray) -> Parts:
        """z times the complex constant `factor` (broadcast along the last axis)."""
        o, dtype = self.o, z[0].type.dtype
        fr, fi = self.const(factor.real.copy(), dtype), self.const(factor.imag.copy(), dtype)
        return (o("sub", o("mul", z[0], fr), o("mul", z[1], fi)), o("add", o("mul", z[0], fi), o("mul", z[1], fr)))

    def bluestein(self, z: Parts, sign: float) -> Parts:
        """The chirp-z transform (module docstring): x h padded to M, times the spectrum of the
        circular chirp conj(h_m) (m = -(n-1)..n-1), transformed back, the first n terms times h."""
        n = z[0].type.shape[-1]
        size = 1 << (2 * n - 2).bit_length()        # the power of two >= 2n - 1
        h = chirp(n, sign)
        kernel = numpy.zeros(size, numpy.complex128)
        kernel[:n] = numpy.conj(h)
        kernel[size - n + 1:] = numpy.conj(h[1:])[::-1]
        padded = tuple(self.first(v, size) for v in self.scale(z, h))
        spectrum = self.dft(padded, -1.0)
        conv = self.dft(self.scale(spectrum, numpy.fft.fft(kernel) / size), 1.0)
        return self.scale(tuple(self.first(v, n) for v in conv), h)

    def fft(self, z: Parts, inverse: bool) -> Parts:
        n = z[0].type.shape[-1]
        out = self.dft(z, 1.0 if inverse else -1.0)
        if not inverse:
            return out
        scale = self.const(numpy.asarray(1.0 / n), z[0].type.dtype)
        return self.o("mul", out[0], scale), self.o("mul", out[1], scale)

    def rfft(self, x: Value) -> Parts:
        n = x.type.shape[-1]
        if direct(n):
            angle = angles(n, n // 2 + 1, n)
            return self.product(x, numpy.cos(angle)), self.product(x, -numpy.sin(angle))
        zero = self.o("broadcast_to", self.const(numpy.asarray(0.0), x.type.dtype), shape=x.type.shape)
        return tuple(self.first(v, n // 2 + 1) for v in self.dft((x, zero), -1.0))

    def irfft(self, z: Parts, n: int) -> Value:
        """NumPy's irfft: the Hermitian extension of the first n//2 + 1 terms (the imaginary parts of
        the zero and, for even n, Nyquist terms ignored), scaled by 1/n."""
        re, im = z
        m = re.type.shape[-1]
        if direct(n):
            angle = angles(m, n, n)
            weight = numpy.full((m, 1), 2.0)
            weight[0] = 1.0
            if n % 2 == 0 and m > n // 2:
                weight[n // 2] = 1.0
            return self.o("add", self.product(re, weight * numpy.cos(angle) / n),
                          self.product(im, -weight * numpy.sin(angle) / n))
        half = n // 2 + 1
        re, im = self.first(re, half), self.first(im, half)
        mirror = self.const(numpy.arange(n - half, 0, -1), "i64")      # k > n/2 reads conj(X[n - k])
        tail_re = self.o("take", re, mirror, axis=re.type.ndim - 1)
        tail_im = self.o("neg", self.o("take", im, mirror, axis=im.type.ndim - 1))
        axis = re.type.ndim - 1
        full = (self.o("concat", re, tail_re, axis=axis), self.o("concat", im, tail_im, axis=axis))
        out = self.dft(full, 1.0)[0]
        return self.o("mul", out, self.const(numpy.asarray(1.0 / n), re.type.dtype))

    def first(self, v: Value, count: int) -> Value:
        """v's first `count` terms along the last axis, zero-padded when it has fewer."""
        shape = v.type.shape
        nd = len(shape)
        if shape[-1] >= count:
            return self.o("slice", v, begin=(0,) * nd, end=shape[:-1] + (count,), step=(1,) * nd)
        return self.o("pad", v, pads=(0, 0) * (nd - 1) + (0, count - shape[-1]), value=0.0)
