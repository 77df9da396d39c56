"""Turning user values into Arrays and promoting dtypes (JAX-style weak Python scalars).

Rules: a Python or NumPy scalar takes the dtype of the array it meets (a float scalar with an
integer array gives float32, a complex scalar complex64 or, with float64, complex128); mixing
integer and float arrays gives the float dtype, float and complex the complex one; NumPy arrays
and lists met in an operation count as float32/int32/bool/complex64 by kind; with no arrays at
all, floats are float32, ints int32, complex numbers complex64. hybrid never silently widens to
float64.

Inside `numpy_default_dtypes()` (MXNet's `use_np_default_dtype` / `np_default_dtype()` /
`npx.set_np(dtype=True)`) the defaults are NumPy's instead: Python floats and float creation give
float64, ints int64, complex numbers complex128.
"""
from __future__ import annotations

import contextlib
import numbers

import numpy

from ..ir.types import COMPLEX_OF, dtype_name, is_complex, is_float, is_inexact, to_numpy_dtype
from .array import Array, NDArray


class _Defaults:
    """Which creation defaults are in force: hybrid's 32-bit ones, or NumPy's 64-bit ones. One
    process-wide setting (MXNet's is per thread): a data-loader thread sees the caller's mode."""
    numpy = False


def numpy_defaults_active() -> bool:
    return _Defaults.numpy


def set_numpy_default_dtypes(active: bool) -> bool:
    """Switch NumPy's float64/int64 creation defaults on or off; returns the previous setting."""
    previous, _Defaults.numpy = _Defaults.numpy, bool(active)
    return previous


@contextlib.contextmanager
def numpy_default_dtypes(active: bool = True):
    """NumPy's float64/int64 creation defaults inside the `with` block (the previous setting after)."""
    previous = set_numpy_default_dtypes(active)
    try:
        yield
    finally:
        set_numpy_default_dtypes(previous)


def float_default() -> str:
    """The float dtype of creation without a dtype: float32, or float64 under NumPy's defaults."""
    return "f64" if _Defaults.numpy else "f32"


def int_default() -> str:
    return "i64" if _Defaults.numpy else "i32"


def default_dtype(values) -> str:
    """dtype of a Python scalar or nested list when the user gave none."""
    arr = numpy.asarray(values)
    if arr.dtype.kind == "f":
        return float_default()
    if arr.dtype.kind in "iu":
        if arr.size and int_default() == "i32" and (arr.min() < -2 ** 31 or arr.max() >= 2 ** 31):
            return dtype_name(arr.dtype)   # ints beyond int32 keep NumPy's 64-bit type rather than overflow
        return int_default()
    if arr.dtype.kind == "b":
        return "bool"
    if arr.dtype.kind == "c":
        return "c128" if _Defaults.numpy else "c64"
    return dtype_name(arr.dtype)


def asarray(x, dtype=None) -> Array:
    """Array for an Array, NumPy array, Python scalar or nested list (dtype keeps NumPy arrays' own)."""
    if isinstance(x, Array):
        return x if dtype is None or x.type.dtype == dtype_name(dtype) else cast(x, dtype)
    if isinstance(x, (numpy.ndarray, numpy.generic)) and dtype is None:
        return NDArray(numpy.array(x))
    name = dtype_name(dtype) if dtype is not None else default_dtype(x)
    return NDArray(numpy.array(x, dtype=to_numpy_dtype(name)))


def cast(x: Array, dtype) -> Array:
    from .dispatch import bind
    name = dtype_name(dtype)
    return x if x.type.dtype == name else bind("cast", x, dtype=name)


def _strong_result(dtypes: list[str]) -> str:
    inexact = [d for d in dtypes if is_inexact(d)]
    return dtype_name(numpy.result_type(*[to_numpy_dtype(d) for d in inexact or dtypes]))


def _is_weak(v) -> bool:
    """Python and NumPy scalars are weak: they take the dtype of the arrays they meet."""
    return isinstance(v, (numbers.Number, numpy.generic)) and not isinstance(v, numpy.ndarray)


def _strong_dtype(v) -> str:
    """Arrays count with their dtype; NumPy arrays and lists met in an operation count by kind
    (float32, int32 or bool), so NumPy's float64 default never silently widens a computation."""
    return v.type.dtype if isinstance(v, Array) else default_dtype(v)


# The common dtype by operand kinds: an array's dtype name, or a Python scalar's type.
_PROMOTIONS: dict[tuple, str] = {}
_PYTHON_SCALARS = (bool, int, float)


def _promotion(kinds: tuple, values) -> str:
    """The common dtype of `values` (whose kinds are `kinds`), remembered where the kinds decide it."""
    known = _result_dtype(values)
    if not _Defaults.numpy and all(type(k) is str or k in _PYTHON_SCALARS for k in kinds):   # by kind
        _PROMOTIONS[kinds] = known
    return known


def _result_dtype(values) -> str:
    """The common dtype of arrays and scalars under the rules above."""
    strong = [_strong_dtype(v) for v in values if not _is_weak(v)]
    weak = [v for v in values if _is_weak(v)]
    if strong:
        dtype = _strong_result(strong)
        is_bool = lambda w: isinstance(w, (bool, numpy.bool_))  # noqa: E731
        if any(isinstance(w, (complex, numpy.complexfloating)) for w in weak) and not is_complex(dtype):
            return COMPLEX_OF.get(dtype, "c64")
        if any(not is_bool(w) and not isinstance(w, numbers.Integral) for w in weak) and not is_inexact(dtype):
            return float_default()
        if any(not is_bool(w) for w in weak) and dtype == "bool":
            return "i32"
        return dtype
    return _strong_result([default_dtype(w) for w in weak])


def promote(*values, to_float: bool = False, operands: bool = False) -> list[Array]:
    """Arrays of one common dtype (float32 at least when `to_float`). operands: the caller only passes the
    results to an op (never to the user), so a Python scalar may become a shared read-only 0-d array."""
    # every eager operator passes here: plain loops (cheaper than comprehensions for an operator's two or three
    # values), and an array already of the dtype (its kind is the dtype's name) is itself
    kinds = []
    for v in values:
        if type(v) is NDArray and v._type is not None:      # an eager array whose type is known: no property call
            kinds.append(v._type.dtype)
        else:
            kinds.append(v.type.dtype if isinstance(v, Array) else type(v))
    kinds = tuple(kinds)
    dtype = (None if _Defaults.numpy else _PROMOTIONS.get(kinds)) or _promotion(kinds, values)
    if to_float and not is_inexact(dtype):
        dtype = float_default()
    out = []
    for v, kind in zip(values, kinds):
        if kind == dtype:
            out.append(v)
        elif operands and kind in _PYTHON_SCALARS:
            known = _SCALARS.get((kind, v, dtype))
            out.append(_scalar(v, dtype) if known is None else known)
        else:
            out.append(asarray(v, dtype))
    return out


# The 0-d arrays of the Python scalars that operators meet (`x + 1`, `0.5 * x`: promote(operands=True)), by
# (type, value, dtype): each is read-only and only ever an op's operand, so one serves every such call (an eager
# op's overhead is mostly this kind of bookkeeping). A float zero is not kept: -0.0 == 0.0 would share an entry.
_SCALARS: dict[tuple, NDArray] = {}
_SCALARS_MAX = 1024


def _scalar(x, name: str) -> NDArray:
    key = (type(x), x, name)
    known = _SCALARS.get(key)
    if known is None:
        data = numpy.array(x, dtype=to_numpy_dtype(name))
        data.flags.writeable = False
        known = NDArray(data)
        if x or type(x) is not float:
            if len(_SCALARS) >= _SCALARS_MAX:
                _SCALARS.clear()
            _SCALARS[key] = known
    return known
