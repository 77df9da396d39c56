"""`hb.np`: the NumPy-compatible namespace. Every function works eagerly and when traced.

Composite functions (mean, var, clip, stack, split, ...) are written here from registry
primitives, once, so traced graphs contain primitives only.
"""
from __future__ import annotations

import builtins
import math
import sys
from typing import Optional, Sequence

import numpy

from ..errors import ShapeError
from ..ir.types import INT_DTYPES, dtype_name, is_float, to_numpy_dtype
from ..core.array import (Array, NDArray, Tracer, _where, check_order, install_numpy, install_operators,
                          write_out)
from ..core.context import is_host_device
from ..core.dispatch import bind
from .indexing import getitem  # noqa: F401  (used by Array.__getitem__)
from .indexing import functional_setitem as _functional_setitem  # noqa: F401  (used by Tracer.__setitem__)
from ..core.promote import asarray as _asarray, cast as _cast, default_dtype, float_default, int_default, promote
from . import random  # noqa: F401  (hb.np.random)
from ..core import views as _views

install_numpy(sys.modules[__name__])  # the array operators and methods call these functions

ndarray = NDArray
__array_api_version__ = "2023.12"
float16, float32, float64 = numpy.float16, numpy.float32, numpy.float64
complex64, complex128 = numpy.complex64, numpy.complex128
int8, int16, int32, int64 = numpy.int8, numpy.int16, numpy.int32, numpy.int64
uint8, uint16, uint32, uint64 = numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64
bool_ = numpy.bool_
pi, e, inf, nan = math.pi, math.e, math.inf, math.nan
newaxis = None
PZERO, NZERO, PINF, NINF = 0.0, -0.0, math.inf, -math.inf   # MXNet np (and NumPy 1.x) names
euler_gamma = 0.5772156649015329


# -- creation -------------------------------------------------------------------------------
def _on_cpu(device, op: str, ctx=None) -> None:
    """The Array API's `device=` (MXNet 2 also takes its older name, `ctx=`): hybrid's eager arrays live
    on the CPU (hb.gpu(i) is MXNet's API)."""
    device = device if device is not None else ctx
    if not is_host_device(device):
        raise ValueError(f"np.{op}: hybrid's arrays live on 'cpu', got device={device!r}; "
                         "use x.as_in_context(hb.gpu(i)) to move one to a GPU")


def array(obj, dtype=None, *, copy: bool = True, device=None, ctx=None) -> Array:
    """A new array from a list, NumPy array or scalar. Python floats give float32, ints int32."""
    _on_cpu(device, "array", ctx)
    if isinstance(obj, Array):
        out = _cast(obj, dtype) if dtype is not None else obj
        return out.copy() if copy and out is obj and isinstance(obj, NDArray) else out
    return _asarray(numpy.array(obj) if isinstance(obj, numpy.ndarray) else obj, dtype)


def asarray(obj, /, dtype=None, *, device=None, copy=None) -> Array:
    """NumPy's/the Array API's asarray: copy=True always copies, copy=False never does (a
    ValueError when a copy would be needed, e.g. for a dtype change or a list)."""
    _on_cpu(device, "asarray")
    if copy is False:
        if isinstance(obj, Array) and (dtype is None or obj.type.dtype == dtype_name(dtype)):
            return obj
        if isinstance(obj, numpy.ndarray) and obj.flags.c_contiguous and (dtype is None or obj.dtype == dtype):
            return NDArray(obj)
        raise ValueError(f"np.asarray(copy=False): a {type(obj).__name__} of dtype "
                         f"{getattr(obj, 'dtype', None)} cannot be used as a hybrid array of dtype {dtype} "
                         "without a copy; pass copy=None or copy=True")
    out = _asarray(obj, dtype)
    return out.copy() if copy and out is obj and isinstance(obj, NDArray) else out


def _shape(shape) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, numpy.integer)) else tuple(int(d) for d in shape)


def _fill_dtype(fill_value) -> str:
    """NumPy's kind of a fill value, with hybrid's float32/int32 defaults for Python numbers."""
    if isinstance(fill_value, (builtins.bool, numpy.bool_)):
        return "bool"
    if isinstance(fill_value, numpy.generic):
        return dtype_name(fill_value.dtype)
    return default_dtype(fill_value)


def full(shape, fill_value, dtype=None, *, device=None, ctx=None) -> NDArray:
    _on_cpu(device, "full", ctx)
    name = dtype_name(dtype) if dtype is not None else _fill_dtype(fill_value)
    return NDArray(numpy.full(_shape(shape), fill_value, to_numpy_dtype(name)))


def _filled(name: str, value):
    def fn(shape, dtype=None, order: str = "C", *, device=None, ctx=None) -> NDArray:
        _on_cpu(device, name, ctx)
        check_order(order, f"np.{name}", creation=True)
        return full(shape, value, float_default() if dtype is None else dtype)
    fn.__name__ = name
    fn.__doc__ = f"An array of {value}s (float32, or NumPy's float64 under its defaults, unless `dtype` is given)."
    return fn


zeros, ones, empty = _filled("zeros", 0), _filled("ones", 1), _filled("empty", 0)


def full_like(a: Array, fill_value, dtype=None, *, device=None, ctx=None) -> Array:
    _on_cpu(device, "full_like", ctx)
    dtype = dtype_name(dtype) if dtype is not None else a.type.dtype
    if isinstance(a, Tracer):
        return broadcast_to(full((), fill_value, dtype), a.shape)
    return full(a.shape, fill_value, dtype)


def _filled_like(name: str, value):
    def fn(a: Array, dtype=None, *, device=None, ctx=None) -> Array:
        _on_cpu(device, name, ctx)
        return full_like(a, value, dtype)
    fn.__name__ = name
    fn.__doc__ = f"An array of {value}s shaped as `a` (its dtype unless `dtype` is given)."
    return fn


zeros_like, ones_like, empty_like = _filled_like("zeros_like", 0), _filled_like("ones_like", 1), _filled_like(
    "empty_like", 0)


def arange(start, stop=None, step=1, dtype=None, *, device=None, ctx=None) -> NDArray:
    _on_cpu(device, "arange", ctx)
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = float_default() if builtins.any(isinstance(v, float) for v in (start, stop, step)) else int_default()
    return NDArray(numpy.arange(start, stop, step).astype(to_numpy_dtype(dtype_name(dtype))))


def linspace(start, stop, num=50, endpoint=True, retstep: bool = False, dtype=None, axis: int = 0, *, device=None,
             ctx=None):
    """`num` evenly spaced values (float32 unless `dtype`); retstep=True also returns the spacing."""
    _on_cpu(device, "linspace", ctx)
    out, step = numpy.linspace(start, stop, num, endpoint=endpoint, retstep=True, axis=axis)
    result = NDArray(out.astype(to_numpy_dtype(dtype_name(float_default() if dtype is None else dtype))))
    return (result, step) if retstep else result


def eye(N, M=None, k=0, dtype=None, *, device=None, ctx=None) -> NDArray:
    _on_cpu(device, "eye", ctx)
    return NDArray(numpy.eye(N, M, k, dtype=to_numpy_dtype(dtype_name(float_default() if dtype is None else dtype))))


def astype(x: Array, dtype, /, *, copy: bool = True, device=None) -> Array:
    _on_cpu(device, "astype")
    out = _cast(_asarray(x), dtype)
    return out.copy() if copy and out is x and isinstance(x, NDArray) else out


def copy(x: Array) -> Array:
    return _asarray(x).copy()


def _writable(x: Array) -> Array:
    """`x`, copied if it is an eager read-only view (of a broadcast): functions NumPy documents as
    returning new arrays (tile, repeat, meshgrid) must give arrays the caller can write into."""
    return x.copy() if isinstance(x, NDArray) and not x._data.flags.writeable else x


# -- elementwise -------------------------------------------------------------------------------
_BOOL_TO_INT8 = ("mod", "pow")


def _all_elements(where, op: str) -> None:
    """NumPy ufuncs' `where=`: hybrid computes every element (where=True); a mask would leave the other
    elements of a new result uninitialised in NumPy, so it is refused with the spelling that says what to keep."""
    if where is not True:
        raise NotImplementedError(f"np.{op}(where=...): only where=True is offered; write "
                                  f"np.where(mask, np.{op}(x), other) to choose the other elements")


# NumPy ufuncs' keywords besides out=: hybrid offers their defaults only (as MXNet's np ufuncs do);
# another value raises NotImplementedError saying what to write instead, a value NumPy rejects TypeError
_UFUNC_DEFAULTS = {"where": True, "casting": "same_kind", "order": "K", "dtype": None, "subok": True}
_UFUNC_INSTEAD = {"casting": "cast explicitly with .astype(dtype) first",
                  "order": "hybrid arrays are always row-major (C order), as order='K' gives here",
                  "dtype": "cast the input or the result with .astype(dtype)",
                  "subok": "hybrid has one array type; call .asnumpy() on the result for a numpy.ndarray"}
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")


def _ufunc_keywords(op: str, keywords: dict) -> None:
    """Check a ufunc's keywords (where=, casting=, order=, dtype=, subok=) against what hybrid offers."""
    for key, value in keywords.items():
        if key not in _UFUNC_DEFAULTS:
            raise TypeError(f"np.{op}() got an unexpected keyword argument {key!r}")
        if key == "where":
            _all_elements(value, op)
            continue
        if key == "casting" and value not in _CASTINGS:
            raise TypeError(f"np.{op}(casting={value!r}): casting must be one of {_CASTINGS}")
        if key == "dtype" and value is not None:
            try:
                numpy.dtype(value)
            except TypeError:
                raise TypeError(f"np.{op}(dtype={value!r}): not a data type") from None
        if value is not _UFUNC_DEFAULTS[key] and value != _UFUNC_DEFAULTS[key]:
            raise NotImplementedError(f"np.{op}({key}={value!r}): only {key}={_UFUNC_DEFAULTS[key]!r} is offered; "
                                      f"{_UFUNC_INSTEAD[key]}")


def takes_ufunc_keywords(fn):
    """Give a one-argument elementwise function NumPy's ufunc signature: `out=`, and the other ufunc
    keywords at their defaults (_ufunc_keywords)."""
    def wrapper(x, out=None, **keywords):
        _ufunc_keywords(fn.__name__, keywords)
        return write_out(out, fn(x))
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    wrapper.__module__ = fn.__module__
    return wrapper


def _binary(op: str, to_float: bool = False):
    def fn(a, b):
        a, b = promote(a, b, to_float=to_float, operands=True)
        if op in _BOOL_TO_INT8 and a.type.dtype == "bool":   # NumPy: bool % bool and bool ** bool are int8
            a, b = _cast(a, "i8"), _cast(b, "i8")
        return bind(op, a, b)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} with NumPy broadcasting."
    return fn


add, subtract, multiply, power, mod = (_binary(n) for n in ("add", "sub", "mul", "pow", "mod"))
divide = true_divide = _binary("div", to_float=True)
maximum, minimum = _binary("maximum"), _binary("minimum")
equal, not_equal, less, less_equal, greater, greater_equal = (
    _binary(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))


def _logical(op: str):
    def fn(a, b) -> Array:
        return bind(op, *(_cast(x, "bool") for x in promote(a, b)))
    fn.__name__ = f"logical_{op.split('_')[-1]}"
    return fn


logical_and, logical_or = _logical("logical_and"), _logical("logical_or")


@takes_ufunc_keywords
def logical_not(a) -> Array:
    return bind("logical_not", _cast(_asarray(a), "bool"))


def logical_xor(a, b) -> Array:
    return bind("ne", *(_cast(x, "bool") for x in promote(a, b)))


def floor_divide(a, b) -> Array:
    """a // b rounded toward -inf, as NumPy: exact for integers (x // 0 == 0); bool // bool is int8."""
    a, b = promote(a, b)
    if a.type.dtype == "bool":
        a, b = _cast(a, "i8"), _cast(b, "i8")
    return bind("floor_divide", a, b)


arctan2, hypot, logaddexp, logaddexp2, copysign, heaviside = (
    _binary(n, to_float=True) for n in ("arctan2", "hypot", "logaddexp", "logaddexp2", "copysign", "heaviside"))
fmax, fmin, fmod = _binary("fmax"), _binary("fmin"), _binary("fmod")
remainder = mod
bitwise_and, bitwise_or, bitwise_xor = _binary("bitwise_and"), _binary("bitwise_or"), _binary("bitwise_xor")
install_operators(sys.modules[__name__])   # x + y is add(x, y), ...: core.array.FORWARD_OPERATORS
bitwise_left_shift = left_shift = _binary("left_shift")
bitwise_right_shift = right_shift = _binary("right_shift")


@takes_ufunc_keywords
def invert(x) -> Array:
    """~x: bitwise NOT of integers, logical NOT of booleans."""
    return bind("invert", _asarray(x))


bitwise_not = bitwise_invert = invert


def _unary(op: str, to_float: bool = True):
    def fn(x):
        (x,) = promote(x, to_float=to_float)
        return bind(op, x)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}; `out=` as NumPy's, the other ufunc keywords at their defaults only."
    return takes_ufunc_keywords(fn)


exp, log, sqrt, tanh, sin, cos = (_unary(n) for n in ("exp", "log", "sqrt", "tanh", "sin", "cos"))
negative, abs, sign = _unary("neg", False), _unary("abs", False), _unary("sign", False)


def _rounding(op: str):
    """floor/ceil/trunc/round: integers and booleans are already integral, so they come back unchanged (NumPy 2)."""
    on_float = _unary(op, False)

    def fn(x):
        x = _asarray(x)
        if x.type.dtype in INT_DTYPES or x.type.dtype == "bool":
            return x.copy() if isinstance(x, NDArray) else x
        return on_float(x)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}; integer inputs are returned unchanged."
    return takes_ufunc_keywords(fn)


floor, ceil, trunc, _round_half_even = (_rounding(n) for n in ("floor", "ceil", "trunc", "round"))


def round(x, decimals: int = 0) -> Array:
    """Round half to even (to `decimals` places, as np.around)."""
    if decimals:
        from .np_logic import around
        return around(x, decimals)
    return _round_half_even(x)

absolute = abs
(tan, sinh, cosh, arcsin, arccos, arctan, arcsinh, arccosh, arctanh, log1p, expm1, log2, log10, exp2,
 cbrt) = (_unary(n) for n in ("tan", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh",
                               "arctanh", "log1p", "expm1", "log2", "log10", "exp2", "cbrt"))
signbit = _unary("signbit")


def isnan(x) -> Array:
    x = _asarray(x)
    return not_equal(x, x) if is_float(x.type.dtype) else full_like(x, False, "bool")


def isinf(x) -> Array:
    x = _asarray(x)
    return equal(abs(x), math.inf) if is_float(x.type.dtype) else full_like(x, False, "bool")


def isfinite(x) -> Array:
    return logical_not(logical_or(isnan(x), isinf(x)))


@takes_ufunc_keywords
def square(x) -> Array:
    x = _asarray(x)
    return x * x


def reciprocal(x) -> Array:
    return divide(1.0, x)


def stop_gradient(x) -> Array:
    """The same values; gradients do not flow through."""
    return bind("stop_gradient", _asarray(x))


def where(condition, x=None, y=None) -> Array:
    if x is None and y is None:
        return nonzero(condition)
    cond = _cast(_asarray(condition), "bool")
    x, y = promote(x, y)
    return bind("where", cond, x, y)


def clip(a, /, min=None, max=None, *, a_min=None, a_max=None) -> Array:
    """a limited to [min, max] (NumPy's a_min=/a_max= too); the dtype of `a` is kept."""
    a = _asarray(a)
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


# -- reductions -------------------------------------------------------------------------------
def _axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    bound = builtins.max(ndim, 1)   # a 0-d array takes axis 0 or -1 (NumPy)
    for a in axes:
        if not -bound <= a < bound:
            raise ShapeError(f"axis {a} is out of range for a {ndim}-d array")
    return tuple(sorted(a % bound for a in axes)) if ndim else ()   # reducing a 0-d array reduces nothing


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(numpy.prod([shape[i] for i in axes])) if axes else 1


def _accumulator(dtype: str) -> str:
    """NumPy sums and multiplies booleans and integers in the platform integer (64-bit here)."""
    if dtype in ("u8", "u16", "u32", "u64"):
        return "u64"
    return "i64" if dtype == "bool" or dtype.startswith("i") else dtype


def _narrower_float(target: str, source: str) -> bool:
    """Whether a float result dtype holds less than the float input (sum(x_f32, dtype='float16')): such a
    sum or product accumulates at the input's precision and rounds once (MXNet, PyTorch), not per element."""
    return is_float(target) and is_float(source) and to_numpy_dtype(target).itemsize < to_numpy_dtype(source).itemsize


def _reduce(op: str):
    def fn(a, axis=None, keepdims: bool = False, dtype=None) -> Array:
        a = _asarray(a)
        axes = _axes(axis, a.ndim)
        if op in ("sum", "prod"):
            target = _accumulator(a.type.dtype) if dtype is None else dtype_name(dtype)
            if not _narrower_float(target, a.type.dtype):   # else: reduce at the input's precision, round once
                a = _cast(a, target)
        elif a.type.dtype == "bool":
            # max/min of booleans: reduce them as 0/1 and give booleans back
            return _cast(bind(op, _cast(a, "i8"), axes=axes, keepdims=builtins.bool(keepdims)), "bool")
        out = bind(op, a, axes=axes, keepdims=builtins.bool(keepdims))
        return out if dtype is None else _cast(out, dtype)
    fn.__name__ = op
    fn.__doc__ = f"{op} over `axis` (all axes when None)."
    return fn


sum, max, min, prod = (_reduce(n) for n in ("sum", "max", "min", "prod"))
amax, amin = max, min


def _truth_reduce(a, axis, keepdims: bool, empty_value: bool) -> Array:
    """any/all: the max/min of booleans; over no elements, NumPy's identity (False/True)."""
    a = _cast(_asarray(a), "bool")
    axes = _axes(axis, a.ndim)
    if _count(a.shape, axes) == 0:
        return full(_reduced_shape(a.shape, axes, keepdims), empty_value, "bool")
    return max(a, axes, keepdims) if not empty_value else min(a, axes, keepdims)


def _reduced_shape(shape, axes, keepdims: bool) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)


def any(a, axis=None, keepdims: bool = False) -> Array:
    return _truth_reduce(a, axis, keepdims, False)


def all(a, axis=None, keepdims: bool = False) -> Array:
    return _truth_reduce(a, axis, keepdims, True)


def mean(a, axis=None, keepdims: bool = False, dtype=None) -> Array:
    """The average over `axis`; NaN over no elements, as NumPy. Integers are summed in float64, as NumPy
    does, and the mean rounded once to the result's float type: a float32 sum of large integers of both
    signs would depend on the order of its additions (which differs between backends)."""
    a = _asarray(a)
    ints = a if dtype is None and dtype_name(a.dtype) in INT_DTYPES else None
    (a,) = promote(a, to_float=True)
    if dtype is not None:
        a = _cast(a, dtype)
    axes = _axes(axis, a.ndim)
    count = _count(a.shape, axes)
    scale = 1.0 / count if count else math.nan
    if ints is not None:
        return _cast(sum(_cast(ints, "float64"), axes, keepdims) * scale, a.dtype)
    return sum(a, axes, keepdims) * scale


def var(a, axis=None, keepdims: bool = False, ddof: int = 0, dtype=None, *, correction=None) -> Array:
    """Variance; `correction` is the Array API's name for `ddof`."""
    ddof = ddof if correction is None else correction
    (a,) = promote(a, to_float=True)
    if dtype is not None:
        a = _cast(a, dtype)
    axes = _axes(axis, a.ndim)
    count = _count(a.shape, axes)
    centered = a - mean(a, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) * (1.0 / (count - ddof) if count > ddof else math.nan)


def std(a, axis=None, keepdims: bool = False, ddof: int = 0, dtype=None, *, correction=None) -> Array:
    return sqrt(var(a, axis, keepdims, ddof, dtype, correction=correction))


def argmax(a, axis=None, keepdims: bool = False) -> Array:
    """Index of the first maximum (the first NaN wins, as NumPy) as int64 along `axis`, or of the
    flattened array when None."""
    a = _asarray(a)
    if a.type.dtype == "bool":
        a = _cast(a, "i8")
    if axis is None or not _axes(axis, a.ndim):   # a 0-d array (axis 0 or -1) is its own flattening
        flat = bind("argmax", reshape(a, (-1,)), axis=0, keepdims=False)
        out = reshape(flat, (1,) * a.ndim) if keepdims else flat
    else:
        out = bind("argmax", a, axis=_axes(axis, a.ndim)[0], keepdims=builtins.bool(keepdims))
    return _cast(out, "i64")


def argmin(a, axis=None, keepdims: bool = False) -> Array:
    """argmax of an order-reversing map: -x for floats (NaN stays first), ~x for integers and
    booleans (exact, no overflow)."""
    a = _asarray(a)
    return argmax(negative(a) if is_float(a.type.dtype) else invert(a), axis, keepdims)


# -- linear algebra -----------------------------------------------------------------------------
def matmul(a, b) -> Array:
    """NumPy matmul: batched, with 1-d operands promoted to matrices and squeezed back."""
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got {a.shape} and {b.shape}; use *")
    squeeze_axes = []
    if a.ndim == 1:
        a = reshape(a, (1,) + a.shape)
        squeeze_axes.append(-2)
    if b.ndim == 1:
        b = reshape(b, b.shape + (1,))
        squeeze_axes.append(-1)
    out = bind("matmul", a, b, transpose_a=False, transpose_b=False)
    if squeeze_axes:
        out = squeeze(out, tuple(out.ndim + ax for ax in squeeze_axes))
    return out


def dot(a, b) -> Array:
    a, b = _asarray(a), _asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim <= 2:
        return matmul(a, b)
    # N-d . M-d: sum over a's last axis and b's second-to-last, as one 2-d matmul
    k = b.shape[-2]
    if a.shape[-1] != k:
        raise ShapeError(f"dot: shapes {a.shape} and {b.shape} are not aligned ({a.shape[-1]} != {k})")
    rows = reshape(a, (-1, k))
    cols = reshape(moveaxis(b, -2, 0), (k, -1))
    return reshape(matmul(rows, cols), a.shape[:-1] + b.shape[:-2] + b.shape[-1:])


# -- layout ------------------------------------------------------------------------------------
def reshape(a, shape=None, order: str = "C", *, newshape=None, copy=None) -> Array:
    """NumPy 2's reshape (`newshape=` is its older spelling); only C order."""
    if order != "C":
        raise ValueError(f"np.reshape: only order='C' is supported, got {order!r}")
    a = _asarray(a)
    if copy is False and isinstance(a, NDArray) and not a._data.flags.c_contiguous:
        raise ValueError("np.reshape(copy=False): this view is not contiguous, so the result needs a copy")
    out = _reshape(a, shape if newshape is None else newshape)
    return out.copy() if copy and isinstance(out, NDArray) else out


def _reshape(a: Array, newshape) -> Array:
    shape = list(_shape(newshape))
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one -1 allowed in {tuple(shape)}")
    if -1 in shape:
        known = int(numpy.prod([d for d in shape if d != -1]))
        if known == 0 or a.size % known:
            raise ShapeError(f"reshape: cannot reshape {a.shape} ({a.size} elements) to {tuple(newshape)}")
        shape[shape.index(-1)] = a.size // known
    shape = tuple(shape)
    if shape == a.shape:
        return a
    return _views.view_of(a, bind("reshape", a, shape=shape), lambda data: data.reshape(shape),
                          lambda base: bind("reshape", base, shape=shape),
                          lambda base, new: bind("reshape", new, shape=base.shape))


def ravel(a) -> Array:
    return reshape(a, (-1,))


def flip(a, axis=None) -> Array:
    """Reverse the order of elements along `axis` (every axis when None)."""
    a = _asarray(a)
    key = [builtins.slice(None)] * a.ndim
    for ax in _axes(axis, a.ndim):
        key[ax] = builtins.slice(None, None, -1)
    return a[tuple(key)]


def transpose(a, axes=None) -> Array:
    a = _asarray(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(x % builtins.max(a.ndim, 1) for x in axes)
    if perm == tuple(range(a.ndim)):
        return a
    inverse = tuple(int(i) for i in numpy.argsort(perm))
    return _views.view_of(a, bind("transpose", a, perm=perm), lambda data: data.transpose(perm),
                          lambda base: bind("transpose", base, perm=perm),
                          lambda base, new: bind("transpose", new, perm=inverse))


def swapaxes(a, axis1: int, axis2: int) -> Array:
    a = _asarray(a)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(a, perm)


def moveaxis(a, source, destination) -> Array:
    """Axes `source` (an int or a sequence) moved to `destination`, the others kept in order."""
    a = _asarray(a)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must have the same number of "
                         "elements")
    src = [_axes(s, a.ndim)[0] for s in src]
    dst = [_axes(d, a.ndim)[0] for d in dst]
    perm = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return transpose(a, perm)


def expand_dims(a, axis) -> Array:
    a = _asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = a.ndim + len(axes)
    axes = sorted(x % ndim for x in axes)
    shape = list(a.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return reshape(a, shape)


def squeeze(a, axis=None) -> Array:
    a = _asarray(a)
    axes = [i for i, d in enumerate(a.shape) if d == 1] if axis is None else list(_axes(axis, a.ndim))
    for ax in axes:
        if a.shape[ax] != 1:
            raise ShapeError(f"squeeze: axis {ax} of shape {a.shape} has size {a.shape[ax]}, not 1")
    return reshape(a, [d for i, d in enumerate(a.shape) if i not in axes])


def broadcast_to(a, shape) -> Array:
    """NumPy's broadcast_to, plus MXNet 2's -2 code: a -2 in `shape` keeps the size of the input dimension
    under it (dimensions aligned from the right), e.g. (3, 4, -2) for a (5,) array is (3, 4, 5)."""
    a = _asarray(a)
    shape = _keep_input_dims(tuple(a.shape), _shape(shape))
    return a if a.shape == shape else bind("broadcast_to", a, shape=shape)


def _keep_input_dims(ishape: tuple, shape: tuple) -> tuple:
    """`shape` with each -2 replaced by the size of the input dimension it aligns with (from the right)."""
    if -2 not in shape:
        return shape
    offset = len(shape) - len(ishape)
    resolved = tuple(ishape[i - offset] if d == -2 and i >= offset else d for i, d in enumerate(shape))
    if -2 in resolved:
        raise ShapeError(f"broadcast_to: -2 keeps the input's size, but dimension {resolved.index(-2)} of {shape} "
                         f"has no input dimension under it (input shape {ishape}, aligned from the right)"
                         f"{_where()}")
    return resolved


def slice(a, begin: Sequence[int], end: Sequence[int], step: Optional[Sequence[int]] = None) -> Array:
    """Static slice: begin/end/step for every axis (the primitive behind x[1:3, ::2])."""
    a = _asarray(a)
    step = tuple(step) if step is not None else (1,) * a.ndim
    return bind("slice", a, begin=tuple(begin), end=tuple(end), step=step)


def concatenate(arrays, axis: Optional[int] = 0, dtype=None) -> Array:
    arrays = promote(*arrays)
    if dtype is not None:
        arrays = [_cast(x, dtype) for x in arrays]
    if axis is None:
        arrays, axis = [reshape(x, (-1,)) for x in arrays], 0
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated; use np.stack")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"concatenate: axis {axis} is out of range for {ndim}-d arrays")
    if len(arrays) == 1:
        return arrays[0]
    return bind("concat", *arrays, axis=axis % ndim)


concat = concatenate


def stack(arrays, axis: int = 0) -> Array:
    arrays = [_asarray(x) for x in arrays]
    return concatenate([expand_dims(x, axis) for x in arrays], axis=axis)


def split(a, indices_or_sections, axis: int = 0) -> list[Array]:
    a = _asarray(a)
    axis %= a.ndim
    size = a.shape[axis]
    if isinstance(indices_or_sections, int):
        if size % indices_or_sections:
            raise ShapeError(f"split: axis {axis} of size {size} does not divide into {indices_or_sections} parts")
        step = size // indices_or_sections
        bounds = list(range(0, size + 1, step))
    else:  # indices past the end give empty parts, as in NumPy
        bounds = [0] + [builtins.min(int(i), size) for i in indices_or_sections] + [size]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        begin = [0] * a.ndim
        end = list(a.shape)
        begin[axis], end[axis] = lo, builtins.max(lo, hi)
        parts.append(slice(a, begin, end))
    return parts


def tile(a, reps) -> Array:
    """Repeat the whole array `reps` times along each axis (broadcast, then merge axes)."""
    a = _asarray(a)
    reps = _shape(reps)
    ndim = builtins.max(a.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    a = reshape(a, (1,) * (ndim - a.ndim) + a.shape)
    interleaved = [v for pair in zip((1,) * ndim, a.shape) for v in pair]
    spread = broadcast_to(reshape(a, interleaved), [v for pair in zip(reps, a.shape) for v in pair])
    return _writable(reshape(spread, tuple(r * d for r, d in zip(reps, a.shape))))


def repeat(a, repeats, axis: Optional[int] = None) -> Array:
    """Repeat each element `repeats` times along `axis` (the flattened array when None); per-element
    counts (a list or concrete array) gather the elements, so the result differentiates."""
    a = _asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis %= a.ndim
    if isinstance(repeats, Tracer):
        from ..core.array import _tracing_error
        raise _tracing_error("np.repeat got traced per-element counts",
                             "The output length depends on their values; pass them as a list or a NumPy array.")
    if numpy.ndim(repeats) == 1:
        counts = numpy.asarray(repeats)
        if counts.size != a.shape[axis] and counts.size != 1:
            raise ShapeError(f"np.repeat: {counts.size} counts for axis {axis} of length {a.shape[axis]}")
        index = numpy.repeat(numpy.arange(a.shape[axis]), numpy.broadcast_to(counts, (a.shape[axis],)))
        return take(a, NDArray(index.astype(numpy.int64)), axis=axis)
    repeats = int(repeats)
    expanded = expand_dims(a, axis + 1)
    shape = list(expanded.shape)
    shape[axis + 1] = repeats
    merged = list(a.shape)
    merged[axis] *= repeats
    return _writable(reshape(broadcast_to(expanded, shape), merged))


def outer(a, b) -> Array:
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def _triangle(m, k: int, lower: bool) -> Array:
    m = _asarray(m)
    if m.ndim < 1:
        raise ShapeError(f"{'tril' if lower else 'triu'} needs an array of at least 1 dimension, got {m.shape}")
    # a 1-d array is NumPy's square matrix with that row repeated
    rows, cols = m.shape[-2:] if m.ndim >= 2 else (m.shape[0], m.shape[0])
    keep = numpy.tri(rows, cols, k if lower else k - 1, dtype=bool)
    return where(keep if lower else ~keep, m, zeros((), m.dtype))


def tril(m, k: int = 0) -> Array:
    """Zero the elements above the k-th diagonal of the last two axes (causal masks)."""
    return _triangle(m, k, True)


def triu(m, k: int = 0) -> Array:
    """Zero the elements below the k-th diagonal of the last two axes."""
    return _triangle(m, k, False)


def pad(a, pad_width, mode: str = "constant", constant_values=0) -> Array:
    a = _asarray(a)
    widths = numpy.broadcast_to(numpy.asarray(pad_width, dtype=numpy.int64), (a.ndim, 2))
    if mode in ("reflect", "symmetric", "edge", "wrap"):
        from .np_shape import pad_modes
        return pad_modes(a, widths, mode)
    if mode != "constant":
        raise ValueError(f"pad mode {mode!r} is not supported; use constant, edge, reflect, symmetric or wrap")
    return bind("pad", a, pads=tuple(int(v) for v in widths.reshape(-1)), value=float(constant_values))


def take(a, indices, axis: Optional[int] = None) -> Array:
    """Elements of `a` at `indices` along `axis` (the flattened array when None); negative
    indices count from the end, as in NumPy."""
    a, indices = _asarray(a), _asarray(indices)
    if indices.type.dtype not in INT_DTYPES:
        if indices.type.dtype != "bool" and not is_float(indices.type.dtype):
            raise TypeError(f"take: indices must be integers, got {indices.dtype}")
        indices = _cast(indices, "i64")
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    if not -a.ndim <= axis < a.ndim:
        raise ShapeError(f"take: axis {axis} is out of range for a {a.ndim}-d array")
    axis %= a.ndim
    if indices.type.dtype in ("i8", "i16"):
        indices = _cast(indices, "i32")   # room for adding the axis size below
    if indices.type.dtype in ("i32", "i64"):
        # negative indices in [-n, 0) count from the end (eagerly and traced alike); ones below -n
        # stay as they are, so the range check reports the index the user gave
        n = a.shape[axis]
        indices = where(logical_and(less(indices, 0), greater_equal(indices, -n)), add(indices, n), indices)
    return bind("take", a, indices, axis=axis)


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    return tuple(numpy.broadcast_shapes(*[_shape(s) for s in shapes]))


def broadcast_arrays(*arrays) -> list[Array]:
    arrays = [_asarray(a) for a in arrays]
    shape = broadcast_shapes(*[a.shape for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


# -- the rest of NumPy's namespace, one module per family -----------------------------------------
from .np_dtypes import *  # noqa: E402,F401,F403
from .np_shape import *  # noqa: E402,F401,F403
from .np_sort import *  # noqa: E402,F401,F403
from .np_static_size import *  # noqa: E402,F401,F403
from .np_reduce import *  # noqa: E402,F401,F403
from .np_logic import *  # noqa: E402,F401,F403
from .np_misc import *  # noqa: E402,F401,F403
from . import np_linalg as linalg  # noqa: E402
from . import np_fft as fft  # noqa: E402,F401
from .np_linalg import cross, einsum, einsum_path, inner, kron, tensordot, vdot, vecdot  # noqa: E402,F401
from .interop import array_function as _array_function, array_ufunc as _array_ufunc  # noqa: E402,F401
