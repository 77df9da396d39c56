"""Reductions of hb.np beyond sum/max/mean: cumulative (cumsum, cumprod and their nan
forms), order statistics (median, percentile, quantile, their nan forms), nan-ignoring
reductions, average, ptp, count_nonzero, diff, cov, corrcoef.

cumsum/cumprod run eagerly as one NumPy call (np_eager.py, taped); traced
they are a Hillis-Steele scan of log2(n) shifted adds (multiplies), so they compile
everywhere and differentiate. Order statistics sort (np_sort.sort) and interpolate, so they
trace too; positions that depend on the data (nanquantile) are gathers with computed indices.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy

from ..errors import ShapeError
from ..core.array import Array, NDArray, Tracer, write_out
from . import np_eager
from .np import (_accumulator, _asarray, _axes, _cast, _count, _reduced_shape, add, any as _any, argmax, argmin,
                 concatenate, divide, expand_dims, floor, full, is_float, isnan, logical_not, matmul, max as _max,
                 maximum, mean, min as _min, minimum, moveaxis, multiply, not_equal, prod, promote, reshape, sqrt,
                 subtract, sum as _sum, take, where)
from .np_shape import take_along_axis
from .np_sort import sort


def _scan(x: Array, axis: int, combine, identity) -> Array:
    """Inclusive scan along `axis` by doubling strides (Hillis-Steele): log2(n) steps."""
    n = x.shape[axis]
    step = 1
    while step < n:
        shape = list(x.shape)
        shape[axis] = step
        head = [slice(None)] * x.ndim
        head[axis] = slice(0, n - step)
        shifted = concatenate([full(tuple(shape), identity, x.type.dtype), x[tuple(head)]], axis=axis)
        x = combine(x, shifted)
        step *= 2
    return x


def _cumulative(op: str, combine, identity):
    def fn(a, axis: Optional[int] = None, dtype=None, out=None) -> Array:
        a = _asarray(a)
        if axis is None:
            a, axis = reshape(a, (-1,)), 0
        if a.ndim == 0:
            a = reshape(a, (1,))
        axis = _axes(axis, a.ndim)[0]
        a = _cast(a, dtype if dtype is not None else _accumulator(a.type.dtype))
        if isinstance(a, Tracer):
            return write_out(out, _scan(a, axis, combine, identity))
        return write_out(out, getattr(np_eager, op)(a, axis))
    fn.__name__ = op
    fn.__doc__ = f"Cumulative {op[3:]} along `axis` (the flattened array when None)."
    return fn


cumsum = _cumulative("cumsum", add, 0)
cumprod = _cumulative("cumprod", multiply, 1)


def _cumulative_array_api(name: str, scan, identity: int):
    """The Array API's form of `scan` (cumsum/cumprod): axis may be omitted only for 1-d input;
    include_initial prepends the identity."""
    def cumulative(x, *, axis: Optional[int] = None, dtype=None, include_initial: bool = False) -> Array:
        x = _asarray(x)
        if axis is None:
            if x.ndim != 1:
                raise ShapeError(f"{name}: axis is required for a {x.ndim}-d array")
            axis = 0
        out = scan(x, axis, dtype)
        if include_initial:
            shape = list(out.shape)
            shape[axis % x.ndim] = 1
            out = concatenate([full(tuple(shape), identity, out.type.dtype), out], axis=axis)
        return out
    cumulative.__name__ = cumulative.__qualname__ = name
    return cumulative


cumulative_sum = _cumulative_array_api("cumulative_sum", cumsum, 0)
cumulative_prod = _cumulative_array_api("cumulative_prod", cumprod, 1)


# -- nan-ignoring reductions -----------------------------------------------------------------------
def _fill_nan(a, value):
    a = _asarray(a)
    return where(isnan(a), value, a) if is_float(a.type.dtype) else a


_NUMPY_FLOATS = ("f16", "f32", "f64")    # float dtypes NumPy's own loops take (not bfloat16)


def nansum(a, axis=None, dtype=None, keepdims: bool = False) -> Array:
    a = _asarray(a)
    # one pass, not three (not float16: NumPy sums it in float16 along strided axes; the composite in float32)
    if a.type.dtype in ("f32", "f64") and dtype is None and np_eager.untaped(a):
        return NDArray(numpy.asarray(numpy.nansum(a._data, axis=_axes(axis, a.ndim), keepdims=keepdims)))
    return _sum(_fill_nan(a, 0.0), axis, keepdims, dtype=dtype)


def nanprod(a, axis=None, dtype=None, keepdims: bool = False) -> Array:
    return prod(_fill_nan(a, 1.0), axis, keepdims, dtype=dtype)


def nancumsum(a, axis=None, dtype=None) -> Array:
    return cumsum(_fill_nan(a, 0.0), axis, dtype)


def nancumprod(a, axis=None, dtype=None) -> Array:
    return cumprod(_fill_nan(a, 1.0), axis, dtype)


def _nan_extremum(reduce, fill):
    def fn(a, axis=None, keepdims: bool = False) -> Array:
        a = _asarray(a)
        if not is_float(a.type.dtype):
            return reduce(a, axis, keepdims)
        out = reduce(_fill_nan(a, fill), axis, keepdims)
        all_nan = logical_not(_any(logical_not(isnan(a)), axis, keepdims))
        return where(all_nan, math.nan, out)
    return fn


nanmax, nanmin = _nan_extremum(_max, -math.inf), _nan_extremum(_min, math.inf)


def nanargmax(a, axis=None, keepdims: bool = False) -> Array:
    return argmax(_fill_nan(a, -math.inf), axis, keepdims)


def nanargmin(a, axis=None, keepdims: bool = False) -> Array:
    return argmin(_fill_nan(a, math.inf), axis, keepdims)


def _valid_count(a, axis, keepdims):
    return _sum(_cast(logical_not(isnan(a)), a.type.dtype), axis, keepdims)


def nanmean(a, axis=None, dtype=None, keepdims: bool = False) -> Array:
    (a,) = promote(a, to_float=True)
    return divide(nansum(a, axis, keepdims=keepdims, dtype=dtype), _valid_count(a, axis, keepdims))


def nanvar(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False) -> Array:
    (a,) = promote(a, to_float=True)
    centered = _fill_nan(a - nanmean(a, axis, keepdims=True), 0.0)
    count = _valid_count(a, axis, keepdims)
    return divide(_sum(centered * centered, axis, keepdims), maximum(count - ddof, 0.0))


def nanstd(a, axis=None, dtype=None, ddof: int = 0, keepdims: bool = False) -> Array:
    return sqrt(nanvar(a, axis, dtype, ddof, keepdims))


# -- order statistics -------------------------------------------------------------------------------
_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _interpolate(sorted_last, pos, method: str, last):
    """Values at fractional positions `pos` (array, last axis) of a sorted last axis whose
    valid entries end at position `last`."""
    lo = floor(pos)
    frac = pos - lo
    hi_idx = minimum(lo + 1.0, last)
    lo_v = take_along_axis(sorted_last, _cast(lo, "i64"), -1)
    hi_v = take_along_axis(sorted_last, _cast(hi_idx, "i64"), -1)
    if method == "lower":
        return lo_v
    if method == "higher":
        return where(frac > 0, hi_v, lo_v)
    if method == "nearest":   # NumPy rounds half to even positions
        up = where(frac == 0.5, _cast(lo, "i64") % 2 == 1, frac > 0.5)
        return where(up, hi_v, lo_v)
    if method == "midpoint":
        return where(frac > 0, (lo_v + hi_v) * 0.5, lo_v)
    return lo_v + (hi_v - lo_v) * frac


def _quantile(a, q, axis, keepdims: bool, method: str, ignore_nan: bool):
    if method not in _METHODS:
        raise ValueError(f"quantile method {method!r} is not supported; use one of {_METHODS}")
    (a,) = promote(a, to_float=True)
    q_np = None if isinstance(q, Tracer) else numpy.asarray(q, dtype=numpy.float64)
    if q_np is not None and ((q_np < 0) | (q_np > 1)).any():
        raise ValueError("quantiles must be in the range [0, 1]")
    axes = _axes(axis, a.ndim)
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = reshape(a if not axes else a.transpose(rest + list(axes)),
                    tuple(a.shape[i] for i in rest) + (_count(a.shape, axes),))
    n = moved.shape[-1]
    if n == 0:
        raise ShapeError("quantile of an empty array has no value")
    if q_np is not None and a.type.dtype in _NUMPY_FLOATS and np_eager.untaped(a):
        # NumPy partitions instead of sorting; same definition of every method
        fn = numpy.nanquantile if ignore_nan else numpy.quantile
        with warnings.catch_warnings():      # an all-NaN slice gives NaN, as the composite does, unannounced
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn(a._data, q_np.astype(a._data.dtype), axis=axes, method=method, keepdims=keepdims)
        return NDArray(numpy.asarray(out, dtype=a._data.dtype))
    s = sort(moved, -1)
    qs = _asarray(q_np.astype(a.dtype) if q_np is not None else q, a.type.dtype)
    qflat = reshape(qs, (-1,))
    if ignore_nan:
        count = _sum(_cast(logical_not(isnan(moved)), a.type.dtype), -1, keepdims=True)    # (..., 1)
        last = maximum(count - 1.0, 0.0)
    else:
        last = full(moved.shape[:-1] + (1,), float(n - 1), a.type.dtype)
    out = _interpolate(s, multiply(last, qflat), method, last)                               # (..., nq)
    if ignore_nan:
        out = where(count == 0, math.nan, out)
    else:
        out = where(_any(isnan(moved), -1, keepdims=True), math.nan, out)
    out = moveaxis(out, -1, 0)
    kept = _reduced_shape(a.shape, axes, True) if keepdims else tuple(a.shape[i] for i in rest)
    return reshape(out, qs.shape + kept)


def quantile(a, q, axis=None, out=None, overwrite_input=False, method: str = "linear", keepdims: bool = False,
             *, weights=None, interpolation=None) -> Array:
    return write_out(out, _quantile(a, q, axis, keepdims, interpolation or method, False))


def percentile(a, q, axis=None, out=None, overwrite_input=False, method: str = "linear", keepdims: bool = False,
               *, weights=None, interpolation=None) -> Array:
    q = _asarray(q) / 100.0 if isinstance(q, Tracer) else numpy.asarray(q, numpy.float64) / 100.0
    return write_out(out, _quantile(a, q, axis, keepdims, interpolation or method, False))


def median(a, axis=None, out=None, overwrite_input=False, keepdims: bool = False) -> Array:
    return write_out(out, _quantile(a, 0.5, axis, keepdims, "linear", False))


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method: str = "linear", keepdims: bool = False,
                *, weights=None, interpolation=None) -> Array:
    return write_out(out, _quantile(a, q, axis, keepdims, interpolation or method, True))


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method: str = "linear", keepdims: bool = False,
                  *, weights=None, interpolation=None) -> Array:
    q = _asarray(q) / 100.0 if isinstance(q, Tracer) else numpy.asarray(q, numpy.float64) / 100.0
    return write_out(out, _quantile(a, q, axis, keepdims, interpolation or method, True))


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims: bool = False) -> Array:
    return write_out(out, _quantile(a, 0.5, axis, keepdims, "linear", True))


# -- others -----------------------------------------------------------------------------------------
def average(a, axis=None, weights=None, returned: bool = False, *, keepdims: bool = False):
    if weights is None:
        (a,) = promote(a, to_float=True)
        avg = mean(a, axis, keepdims)
        total = full(avg.shape, float(_count(a.shape, _axes(axis, a.ndim))), avg.type.dtype)
    else:
        a, w = promote(a, weights, to_float=True)
        if w.shape != a.shape:
            if axis is None or w.ndim != 1:
                raise ShapeError(f"average: weights of shape {w.shape} need axis= and a 1-d shape for {a.shape}")
            shape = [1] * a.ndim
            shape[axis % a.ndim] = w.shape[0]
            w = reshape(w, tuple(shape))
        total = _sum(w + 0 * a, axis, keepdims)
        avg = divide(_sum(a * w, axis, keepdims), total)
    return (avg, total) if returned else avg


def ptp(a, axis=None, keepdims: bool = False) -> Array:
    return subtract(_max(a, axis, keepdims), _min(a, axis, keepdims))


def count_nonzero(a, axis=None, *, keepdims: bool = False) -> Array:
    return _sum(not_equal(_asarray(a), 0), axis, keepdims)


def diff(a, n: int = 1, axis: int = -1, prepend=None, append=None) -> Array:
    a = _asarray(a)
    axis %= a.ndim
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            continue
        extra = _asarray(extra)
        if extra.ndim == 0:
            shape = list(a.shape)
            shape[axis] = 1
            extra = full(tuple(shape), 0, a.type.dtype) + _cast(extra, a.type.dtype)
        parts.append(extra)
    if prepend is not None:
        a = concatenate([parts[0], a], axis=axis)
    if append is not None:
        a = concatenate([a, parts[-1]], axis=axis)
    for _ in range(n):
        hi = [slice(None)] * a.ndim
        lo = [slice(None)] * a.ndim
        hi[axis], lo[axis] = slice(1, None), slice(None, -1)
        a = not_equal(a[tuple(hi)], a[tuple(lo)]) if a.type.dtype == "bool" else a[tuple(hi)] - a[tuple(lo)]
    return a


def ediff1d(ary, to_end=None, to_begin=None) -> Array:
    flat = reshape(_asarray(ary), (-1,))
    out = diff(flat)
    parts = ([reshape(_cast(_asarray(to_begin), flat.type.dtype), (-1,))] if to_begin is not None else []) + [out] + \
        ([reshape(_cast(_asarray(to_end), flat.type.dtype), (-1,))] if to_end is not None else [])
    return concatenate(parts) if len(parts) > 1 else out


def cov(m, y=None, rowvar: bool = True, bias: bool = False, ddof: Optional[int] = None, fweights=None,
        aweights=None, *, dtype=None) -> Array:
    if fweights is not None or aweights is not None:
        raise ValueError("cov: fweights/aweights are not supported; weight the observations before calling")
    (x,) = promote(m, to_float=True)
    if x.ndim == 1:
        x = reshape(x, (1, -1))
    if not rowvar:
        x = x.T
    if y is not None:
        (yy,) = promote(y, to_float=True)
        yy = reshape(yy, (1, -1)) if yy.ndim == 1 else (yy if rowvar else yy.T)
        x = concatenate([x, _cast(yy, x.type.dtype)], axis=0)
    n = x.shape[1]
    dd = ddof if ddof is not None else (0 if bias else 1)
    centered = x - mean(x, axis=1, keepdims=True)
    c = matmul(centered, centered.T) * (1.0 / (n - dd) if n > dd else math.nan)
    return reshape(c, ()) if c.shape == (1, 1) else c


def corrcoef(x, y=None, rowvar: bool = True, *, dtype=None) -> Array:
    c = cov(x, y, rowvar)
    if c.ndim == 0:
        return c / c
    d = sqrt(expand_dims(_diag_of(c), 1) * expand_dims(_diag_of(c), 0))
    return minimum(maximum(c / d, -1.0), 1.0)


def _diag_of(c):
    from .np_shape import diagonal
    return diagonal(c)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and getattr(_v, "__module__", None) == __name__ and _n != "eager_only"]
