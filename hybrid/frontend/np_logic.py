"""Logic, comparison and small elementwise helpers of hb.np: isclose/allclose/array_equal,
isposinf/isneginf, nan_to_num, real/imag/conj for real dtypes, select/choose/piecewise-free
composites, and creation helpers (identity, logspace, geomspace, fromfunction, ...)."""
from __future__ import annotations

import math
from typing import Optional

import numpy

from ..core.array import Array, NDArray, Tracer
from ..core.dispatch import bind
from ..core.promote import float_default
from ..ir.types import is_complex
from .np import (_asarray, _cast, _on_cpu, _shape, abs, all as _all, array, asarray, broadcast_shapes, broadcast_to,
                 equal, exp2, eye, full, is_float, isfinite, isinf, isnan, less_equal, linspace, log10,
                 logical_and, logical_not, logical_or, maximum, minimum, multiply, not_equal, power, promote,
                 reshape,
                 signbit, stack, takes_ufunc_keywords, where)


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Array:
    """|a - b| <= atol + rtol * |b|, infinities equal only to themselves (NumPy's rule)."""
    a, b = promote(a, b, to_float=True)
    if isinstance(a, NDArray) and isinstance(b, NDArray) and a.type.dtype != "bf16":
        # a boolean result (no gradient to tape): one NumPy pass instead of seven ops
        return NDArray(numpy.isclose(a._data, b._data, rtol, atol, equal_nan))
    close = less_equal(abs(a - b), atol + rtol * abs(b))
    finite = logical_and(isfinite(a), isfinite(b))
    result = where(finite, close, equal(a, b))
    if equal_nan:
        result = logical_or(result, logical_and(isnan(a), isnan(b)))
    return result


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Array:
    return _all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan: bool = False) -> Array:
    a1, a2 = _asarray(a1), _asarray(a2)
    if a1.shape != a2.shape:
        return asarray(False)
    if equal_nan and is_float(promote(a1, a2)[0].type.dtype):
        a1, a2 = promote(a1, a2)
        return _all(logical_or(equal(a1, a2), logical_and(isnan(a1), isnan(a2))))
    return _all(equal(a1, a2))


def array_equiv(a1, a2) -> Array:
    a1, a2 = _asarray(a1), _asarray(a2)
    try:
        broadcast_shapes(a1.shape, a2.shape)
    except ValueError:
        return asarray(False)
    return _all(equal(a1, a2))


def isposinf(x) -> Array:
    x = _asarray(x)
    return logical_and(isinf(x), logical_not(signbit(x))) if is_float(x.type.dtype) else isinf(x)


def isneginf(x) -> Array:
    x = _asarray(x)
    return logical_and(isinf(x), signbit(x)) if is_float(x.type.dtype) else isinf(x)


def _cplx(x) -> bool:
    return is_complex(x.type.dtype)


def isreal(x) -> Array:
    x = _asarray(x)
    return equal(imag(x), 0) if _cplx(x) else full(x.shape, True, "bool")


def iscomplex(x) -> Array:
    x = _asarray(x)
    return not_equal(imag(x), 0) if _cplx(x) else full(x.shape, False, "bool")


def isrealobj(x) -> bool:
    return not _cplx(_asarray(x))


def iscomplexobj(x) -> bool:
    return _cplx(_asarray(x))


def isscalar(element) -> bool:
    return numpy.isscalar(element)


def real(val) -> Array:
    val = _asarray(val)
    return bind("real", val) if _cplx(val) else val


def imag(val) -> Array:
    val = _asarray(val)
    if _cplx(val):
        return bind("imag", val)
    return full(val.shape, 0, val.type.dtype) if not isinstance(val, Tracer) else val * 0


def conj(x) -> Array:
    x = _asarray(x)
    return bind("conj", x) if _cplx(x) else x


conjugate = conj


def angle(z, deg: bool = False) -> Array:
    """The argument of complex z (arctan2(imag, real)); of real z, 0 or pi."""
    from .np import arctan2, degrees
    (z,) = promote(_asarray(z), to_float=True)
    a = arctan2(imag(z), real(z)) if _cplx(z) else arctan2(full(z.shape, 0, z.type.dtype), z)
    return degrees(a) if deg else a


def real_if_close(a, tol: float = 100) -> Array:
    return _asarray(a)


def nan_to_num(x, copy: bool = True, nan: float = 0.0, posinf: Optional[float] = None,
               neginf: Optional[float] = None) -> Array:
    x = _asarray(x)
    if not is_float(x.type.dtype):
        return x
    info = numpy.finfo(x.dtype)
    x = where(isnan(x), nan, x)
    x = where(logical_and(isinf(x), x > 0), info.max if posinf is None else posinf, x)
    return where(logical_and(isinf(x), x < 0), info.min if neginf is None else neginf, x)


@takes_ufunc_keywords
def fix(x) -> Array:
    from .np import trunc
    return trunc(x)


@takes_ufunc_keywords
def positive(x) -> Array:
    return _asarray(x) + 0


@takes_ufunc_keywords
def rint(x) -> Array:
    from .np import round
    return round(x)


def around(a, decimals: int = 0) -> Array:
    from .np import round
    if decimals == 0:
        return round(a)
    (a,) = promote(a, to_float=True)
    scale = 10.0 ** decimals
    return round(a * scale) / scale


@takes_ufunc_keywords
def deg2rad(x) -> Array:
    (x,) = promote(x, to_float=True)
    return x * (math.pi / 180.0)


@takes_ufunc_keywords
def rad2deg(x) -> Array:
    (x,) = promote(x, to_float=True)
    return x * (180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


def sinc(x) -> Array:
    from .np import sin
    (x,) = promote(x, to_float=True)
    y = x * math.pi
    safe = where(equal(y, 0.0), 1.0, y)
    return where(equal(y, 0.0), 1.0, sin(safe) / safe)


def float_power(x1, x2) -> Array:
    return power(_cast(_asarray(x1), "f64"), _cast(_asarray(x2), "f64"))


def ldexp(x1, x2) -> Array:
    (x1,) = promote(x1, to_float=True)
    return x1 * exp2(_cast(_asarray(x2), x1.type.dtype))


def divmod(x1, x2) -> tuple:
    from .np import floor_divide, mod
    return floor_divide(x1, x2), mod(x1, x2)


def modf(x) -> tuple:
    from .np import trunc
    (x,) = promote(x, to_float=True)
    whole = trunc(x)
    return x - whole, whole


def frexp(x) -> tuple:
    """Mantissa in [0.5, 1) and exponent (int32): exact powers of two from log2 then corrected."""
    from .np import floor, log2
    (x,) = promote(x, to_float=True)
    ax = abs(x)
    safe = where(equal(ax, 0.0), 1.0, ax)
    e = floor(log2(safe)) + 1.0
    m = x / exp2(e)
    fix_hi = abs(m) >= 1.0
    fix_lo = abs(m) < 0.5
    e = where(fix_hi, e + 1.0, where(fix_lo, e - 1.0, e))
    m = x / exp2(e)
    zero = logical_or(equal(ax, 0.0), logical_not(isfinite(x)))
    return where(zero, x, m), where(zero, 0, _cast(e, "i32"))


def gcd(x1, x2) -> Array:
    """Greatest common divisor by Euclid's algorithm (unrolled, so it also compiles)."""
    from .np import mod
    a, b = promote(x1, x2)
    a, b = abs(a), abs(b)
    for _ in range(a.dtype.itemsize * 12):   # Euclid needs < 1.45 log2(max) steps
        safe = where(equal(b, 0), 1, b)
        a, b = where(equal(b, 0), a, b), where(equal(b, 0), 0, mod(a, safe))
    return a


def lcm(x1, x2) -> Array:
    from .np import floor_divide
    a, b = promote(x1, x2)
    g = gcd(a, b)
    return abs(floor_divide(a, where(equal(g, 0), 1, g)) * b)


def select(condlist, choicelist, default=0) -> Array:
    result = _asarray(default)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        result = where(cond, choice, result)
    return result


def choose(a, choices) -> Array:
    from .np_shape import take_along_axis
    a = _cast(_asarray(a), "i64")
    stacked = stack(list(promote(*choices)))
    shape = broadcast_shapes(a.shape, stacked.shape[1:])
    stacked = broadcast_to(stacked, (stacked.shape[0],) + shape)
    return reshape(take_along_axis(stacked, reshape(broadcast_to(a, shape), (1,) + shape), 0), shape)


# -- creation ---------------------------------------------------------------------------------------
def identity(n: int, dtype=None) -> NDArray:
    return eye(n, dtype=dtype)


def logspace(start, stop, num: int = 50, endpoint: bool = True, base: float = 10.0, dtype=None,
             axis: int = 0) -> NDArray:
    return array(numpy.logspace(start, stop, num, endpoint, base, axis=axis), dtype=dtype or float_default())


def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, axis: int = 0) -> NDArray:
    return array(numpy.geomspace(start, stop, num, endpoint, axis=axis), dtype=dtype or float_default())


def fromfunction(function, shape, *, dtype="float32", **kwargs):
    from .np_shape import indices
    coords = indices(_shape(shape), dtype=dtype)
    return function(*[coords[i] for i in range(len(_shape(shape)))], **kwargs)


def asanyarray(a, dtype=None) -> Array:
    return asarray(a, dtype)


def ascontiguousarray(a, dtype=None) -> Array:
    return asarray(a, dtype)


def frombuffer(buffer, dtype=float, count: int = -1, offset: int = 0) -> NDArray:
    return NDArray(numpy.frombuffer(buffer, dtype, count, offset).copy())


def fromiter(iterable, dtype, count: int = -1) -> NDArray:
    return NDArray(numpy.fromiter(iterable, dtype, count))


def genfromtxt(fname, *args, device=None, ctx=None, **kwargs) -> NDArray:
    """NumPy's text-table reader (missing values, comments, named columns: NumPy's arguments), as
    MXNet's np.genfromtxt: the table becomes an array of the dtype NumPy read (float64 unless
    dtype= says otherwise); structured results (dtype=None with mixed columns) are refused."""
    _on_cpu(device, "genfromtxt", ctx)
    return _table_array(numpy.genfromtxt(fname, *args, **kwargs), "genfromtxt")


def loadtxt(fname, *args, device=None, ctx=None, **kwargs) -> NDArray:
    """NumPy's loadtxt (a table with no missing values) as an array; see genfromtxt."""
    _on_cpu(device, "loadtxt", ctx)
    return _table_array(numpy.loadtxt(fname, *args, **kwargs), "loadtxt")


def _table_array(table: numpy.ndarray, what: str) -> NDArray:
    if table.dtype.names is not None:
        raise TypeError(f"np.{what}: the file read as a structured table with columns {table.dtype.names}; "
                        "arrays hold one dtype: pass dtype= (e.g. dtype='float32') or usecols= to read "
                        "numeric columns only")
    return NDArray(numpy.ascontiguousarray(table))


def copyto(dst, src, casting: str = "same_kind", where=True) -> None:
    if isinstance(dst, Tracer):
        from ..core.array import _tracing_error
        raise _tracing_error("np.copyto wrote into a traced array", "Use np.where(mask, src, dst) and the result.")
    dst[...] = numpy.where(numpy.asarray(where), numpy.asarray(src), numpy.asarray(dst))


def from_dlpack(x, /, *, device=None, copy=None) -> NDArray:
    """An array sharing the memory of any DLPack producer (PyTorch, JAX, NumPy, ...)."""
    return NDArray(numpy.from_dlpack(x, device=device, copy=copy))


def ndim(a) -> int:
    return _asarray(a).ndim


def shape(a) -> tuple:
    return _asarray(a).shape


def size(a, axis: Optional[int] = None) -> int:
    a = _asarray(a)
    return a.size if axis is None else a.shape[axis]


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and getattr(_v, "__module__", None) == __name__ and _n != "eager_only"]
