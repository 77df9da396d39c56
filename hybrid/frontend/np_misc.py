"""The remaining NumPy functions of hb.np: Array API spellings (acos, atan2, pow, ...), index
arithmetic (ravel_multi_index, unravel_index), interpolation and calculus helpers (interp,
gradient, trapezoid, convolve, correlate, unwrap), polynomials, window functions, vander,
block, apply_along_axis, piecewise, and NumPy's in-place writers (put, place, putmask,
fill_diagonal, put_along_axis) for eager arrays.

Everything with a static result shape is composed from hb.np functions, so it traces.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy

from ..core.array import Array, NDArray, Tracer, _tracing_error
from ..core.promote import float_default
from ..ir.types import to_numpy_dtype
from .np import (_asarray, _cast, abs, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, bitwise_and,
                 concatenate, cumsum, expand_dims, floor_divide, full, mod, moveaxis, power, promote, reshape,
                 right_shift, searchsorted, stack, sum as _sum, take, where, zeros)
from .np_sort import eager_only

acos, acosh, asin, asinh, atan, atan2, atanh = arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh
pow = power  # noqa: A001
fabs = abs
long, ulong, uint = numpy.int64, numpy.uint64, numpy.uint64
iterable = numpy.iterable
common_type = numpy.common_type
# hybrid arrays print through NumPy, so NumPy's print options are theirs (MXNet's np.set_printoptions too)
set_printoptions, get_printoptions, printoptions = numpy.set_printoptions, numpy.get_printoptions, numpy.printoptions


def bitwise_count(x) -> Array:
    """Number of 1 bits in |x| (SWAR popcount, so it compiles)."""
    x = _asarray(x)
    bits = x.dtype.itemsize * 8
    v = _cast(abs(x), {8: "u8", 16: "u16", 32: "u32", 64: "u64"}[bits])
    count = bitwise_and(v, 0)
    for shift in range(bits):
        count = count + bitwise_and(right_shift(v, shift), 1)
    return _cast(count, "u8")


def asarray_chkfinite(a, dtype=None) -> Array:
    from .np import asarray, isfinite, all as _all
    out = asarray(a, dtype)
    if not isinstance(out, Tracer) and not bool(_all(isfinite(out))):
        raise ValueError("array must not contain infs or NaNs")
    return out


def matvec(x1, x2) -> Array:
    x1, x2 = promote(x1, x2)
    return _sum(x1 * expand_dims(x2, -2), axis=-1)


def vecmat(x1, x2) -> Array:
    x1, x2 = promote(x1, x2)
    return _sum(expand_dims(x1, -1) * x2, axis=-2)


# -- index arithmetic -----------------------------------------------------------------------------
def ravel_multi_index(multi_index, dims, mode: str = "raise", order: str = "C") -> Array:
    dims = tuple(int(d) for d in dims)
    flat = None
    stride = 1
    order_axes = range(len(dims) - 1, -1, -1) if order == "C" else range(len(dims))
    for k in order_axes:
        idx = _cast(_asarray(multi_index[k]), "i64")
        if mode == "wrap":
            idx = mod(idx, dims[k])
        elif mode == "clip":
            idx = where(idx < 0, 0, where(idx >= dims[k], dims[k] - 1, idx))
        elif not isinstance(idx, Tracer) and bool(((numpy.asarray(idx) < 0) | (numpy.asarray(idx) >= dims[k])).any()):
            raise ValueError("invalid entry in coordinates array")
        flat = idx * stride if flat is None else flat + idx * stride
        stride *= dims[k]
    return flat


def unravel_index(indices, shape, order: str = "C") -> tuple:
    idx = _cast(_asarray(indices), "i64")
    shape = (int(shape),) if isinstance(shape, (int, numpy.integer)) else tuple(int(d) for d in shape)
    out = [None] * len(shape)
    axes = range(len(shape) - 1, -1, -1) if order == "C" else range(len(shape))
    for k in axes:
        out[k] = mod(idx, shape[k])
        idx = floor_divide(idx, shape[k])
    return tuple(out)


def mask_indices(n: int, mask_func, k: int = 0) -> tuple:
    return tuple(NDArray(i.astype(numpy.int64)) for i in numpy.nonzero(mask_func(numpy.ones((n, n), int), k) != 0))


# -- interpolation and calculus ---------------------------------------------------------------------
def interp(x, xp, fp, left=None, right=None, period=None) -> Array:
    """Piecewise-linear interpolation of (xp, fp) at x (xp increasing)."""
    if period is not None:
        raise ValueError("interp: period= is not supported; map x into one period first")
    x, xp, fp = promote(x, xp, fp, to_float=True)
    n = xp.shape[0]
    hi = where(searchsorted(xp, x, side="right") > n - 1, n - 1, searchsorted(xp, x, side="right"))
    hi = where(hi < 1, 1, hi)
    lo = hi - 1
    x0, x1, y0, y1 = take(xp, lo), take(xp, hi), take(fp, lo), take(fp, hi)
    span = where(x1 == x0, 1.0, x1 - x0)
    y = y0 + (x - x0) * (y1 - y0) / span
    y = where(x < take(xp, NDArray(numpy.int64(0))), fp[0] if left is None else left, y)
    return where(x > take(xp, NDArray(numpy.int64(n - 1))), fp[n - 1] if right is None else right, y)


def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """Second-order central differences inside, first-order one-sided at the edges (unit or
    scalar spacing)."""
    f = promote(f, to_float=True)[0]
    axes = list(range(f.ndim)) if axis is None else ([axis] if isinstance(axis, int) else list(axis))
    spacing = list(varargs) if varargs else [1.0] * len(axes)
    if len(spacing) == 1 and len(axes) > 1:
        spacing = spacing * len(axes)
    out = []
    for ax, h in zip(axes, spacing):
        if not isinstance(h, (int, float)):
            raise ValueError("gradient: only scalar spacings are supported")
        a = moveaxis(f, ax, 0)
        n = a.shape[0]
        if n < 2:
            raise ValueError("gradient: each dimension must have at least 2 elements")
        inner = (a[2:] - a[:-2]) / (2.0 * h)
        first = (a[1:2] - a[0:1]) / h
        last = (a[n - 1:n] - a[n - 2:n - 1]) / h
        out.append(moveaxis(concatenate([first, inner, last]), 0, ax))
    return out[0] if len(out) == 1 else out


def trapezoid(y, x=None, dx: float = 1.0, axis: int = -1) -> Array:
    y = promote(y, to_float=True)[0]
    a = moveaxis(y, axis, -1)
    if x is None:
        return _sum(a[..., 1:] + a[..., :-1], axis=-1) * (dx / 2.0)
    x = promote(x, to_float=True)[0]
    d = x[1:] - x[:-1] if x.ndim == 1 else moveaxis(x, axis, -1)[..., 1:] - moveaxis(x, axis, -1)[..., :-1]
    return _sum(d * (a[..., 1:] + a[..., :-1]), axis=-1) * 0.5


def _full_correlation(a, v):
    """c[k] = sum_n a[n + k - (len(v) - 1)] * v[n] over the zero-padded a, for every overlap."""
    a, v = promote(a, v)
    n, m = a.shape[0], v.shape[0]
    padded = concatenate([zeros((m - 1,), a.dtype), a, zeros((m - 1,), a.dtype)])
    windows = take(padded, NDArray(numpy.arange(n + m - 1)[:, None] + numpy.arange(m)[None, :]))
    return _sum(windows * v, axis=-1)


def _trim(full_result, n, m, mode):
    if mode == "full":
        return full_result
    if mode == "same":
        size = max(n, m)
        start = (n + m - 1 - size) // 2
        return full_result[start:start + size]
    if mode == "valid":
        size = max(n, m) - min(n, m) + 1
        start = min(n, m) - 1
        return full_result[start:start + size]
    raise ValueError(f"mode must be 'valid', 'same' or 'full', got {mode!r}")


def correlate(a, v, mode: str = "valid") -> Array:
    a, v = _asarray(a), _asarray(v)
    if a.shape[0] < v.shape[0]:
        from .np import flip
        return flip(correlate(v, a, mode), 0)
    return _trim(_full_correlation(a, v), a.shape[0], v.shape[0], mode)


def convolve(a, v, mode: str = "full") -> Array:
    from .np import flip
    a, v = _asarray(a), _asarray(v)
    if a.shape[0] < v.shape[0]:
        a, v = v, a
    return _trim(_full_correlation(a, flip(v, 0)), a.shape[0], v.shape[0], mode)


def unwrap(p, discont=None, axis: int = -1, *, period: float = 2 * math.pi) -> Array:
    p = promote(p, to_float=True)[0]
    a = moveaxis(p, axis, -1)
    dd = a[..., 1:] - a[..., :-1]
    half = period / 2
    discont = half if discont is None else max(discont, half)
    ddmod = mod(dd + half, period) - half
    ddmod = where((ddmod == -half) & (dd > 0), half, ddmod)
    correction = where(abs(dd) < discont, 0.0, ddmod - dd)
    fixed = concatenate([a[..., :1], a[..., 1:] + cumsum(correction, axis=-1)], axis=-1)
    return moveaxis(fixed, -1, axis)


def vander(x, N: Optional[int] = None, increasing: bool = False) -> Array:
    x = _asarray(x)
    n = x.shape[0] if N is None else N
    powers = numpy.arange(n) if increasing else numpy.arange(n - 1, -1, -1)
    return power(expand_dims(x, -1), NDArray(powers.astype(numpy.int32)).astype(x.dtype))


def polyval(p, x) -> Array:
    """Horner's rule (so it compiles)."""
    p, x = _asarray(p), _asarray(x)
    p, x = promote(p, x)
    result = zeros(x.shape, x.dtype) + 0 * x
    for k in range(p.shape[0]):
        result = result * x + p[k]
    return result


def i0(x) -> Array:
    """Modified Bessel function of order 0 from its power series (30 terms: float32-exact for
    |x| < 20)."""
    x = promote(x, to_float=True)[0]
    q = x * x * 0.25
    term = full(x.shape, 1.0, x.type.dtype) + 0 * x
    total = term
    for k in range(1, 30):
        term = term * q / float(k * k)
        total = total + term
    return total


def sinc_window(kind: str, m: int, *args) -> NDArray:
    return NDArray(getattr(numpy, kind)(m, *args).astype(to_numpy_dtype(float_default())))


def bartlett(M: int) -> NDArray:
    return sinc_window("bartlett", M)


def blackman(M: int) -> NDArray:
    return sinc_window("blackman", M)


def hamming(M: int) -> NDArray:
    return sinc_window("hamming", M)


def hanning(M: int) -> NDArray:
    return sinc_window("hanning", M)


def kaiser(M: int, beta: float) -> NDArray:
    return sinc_window("kaiser", M, beta)


def block(arrays) -> Array:
    """Assemble nested lists of blocks (innermost lists join along the last axis)."""
    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) else 0

    total = depth(arrays)

    def assemble(x, level):
        if not isinstance(x, list):
            x = _asarray(x)
            ndim = max(x.ndim, total)
            return reshape(x, (1,) * (ndim - x.ndim) + x.shape)
        parts = [assemble(item, level + 1) for item in x]
        return concatenate(parts, axis=-(total - level))

    return assemble(arrays, 0)


def apply_along_axis(func1d, axis: int, arr, *args, **kwargs) -> Array:
    arr = _asarray(arr)
    moved = moveaxis(arr, axis, -1)
    lead = moved.shape[:-1]
    rows = reshape(moved, (-1, moved.shape[-1]))
    results = [_asarray(func1d(rows[i], *args, **kwargs)) for i in range(rows.shape[0])]
    out = reshape(stack(results), lead + results[0].shape)
    return moveaxis(out, len(lead), axis) if results[0].ndim == 1 else out


def apply_over_axes(func, a, axes) -> Array:
    a = _asarray(a)
    for ax in ([axes] if isinstance(axes, int) else axes):
        res = _asarray(func(a, ax))
        a = res if res.ndim == a.ndim else expand_dims(res, ax)
    return a


def piecewise(x, condlist, funclist, *args, **kw) -> Array:
    x = _asarray(x)
    if isinstance(condlist, (Array, numpy.ndarray)) and _asarray(condlist).ndim == x.ndim:
        condlist = [condlist]
    condlist = list(condlist)
    if len(funclist) == len(condlist) + 1:
        from .np import logical_not, any as _any
        otherwise = logical_not(_any(stack([_asarray(c) for c in condlist]), axis=0))
        condlist.append(otherwise)
    result = zeros(x.shape, x.dtype) + 0 * x
    for cond, fn in zip(condlist, funclist):
        value = fn(x, *args, **kw) if callable(fn) else fn
        result = where(cond, value, result)
    return result


# -- eager in-place writers -------------------------------------------------------------------------
def _writable(a, what: str) -> NDArray:
    if isinstance(a, Tracer):
        raise _tracing_error(f"np.{what} wrote into a traced array", "Arrays are immutable while tracing: "
                             "build the result with np.where(...) or np.put_along_axis-free arithmetic.")
    return a


def put(a, ind, v, mode: str = "raise") -> None:
    a = _writable(a, "put")
    data = numpy.asarray(a).copy()
    numpy.put(data, numpy.asarray(ind), numpy.asarray(v), mode=mode)
    a[...] = data


def place(arr, mask, vals) -> None:
    arr = _writable(arr, "place")
    data = numpy.asarray(arr).copy()
    numpy.place(data, numpy.asarray(mask), numpy.asarray(vals))
    arr[...] = data


def putmask(a, mask, values) -> None:
    a = _writable(a, "putmask")
    data = numpy.asarray(a).copy()
    numpy.putmask(data, numpy.asarray(mask), numpy.asarray(values))
    a[...] = data


def fill_diagonal(a, val, wrap: bool = False) -> None:
    a = _writable(a, "fill_diagonal")
    data = numpy.asarray(a).copy()
    numpy.fill_diagonal(data, numpy.asarray(val), wrap)
    a[...] = data


def put_along_axis(arr, indices, values, axis: Optional[int]) -> None:
    arr = _writable(arr, "put_along_axis")
    data = numpy.asarray(arr).copy()
    numpy.put_along_axis(data, numpy.asarray(indices), numpy.asarray(values), axis)
    arr[...] = data


# -- eager-only (result sizes depend on the data, or on complex arithmetic) ---------------------------------
for _name in ("lexsort", "poly", "polyadd", "polyder", "polydiv", "polyfit", "polyint", "polymul", "polysub", "roots",
              "sort_complex", "nextafter", "spacing"):
    globals()[_name] = eager_only(getattr(numpy, _name))


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and (getattr(_v, "__module__", None) == __name__ or _n in (
               "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "pow", "fabs", "long", "ulong", "uint",
               "iterable", "common_type", "set_printoptions", "get_printoptions", "printoptions", "lexsort", "poly", "polyadd", "polyder", "polydiv", "polyfit", "polyint",
               "polymul", "polysub", "roots", "sort_complex", "nextafter", "spacing"))
           and _n not in ("sinc_window", "eager_only")]
