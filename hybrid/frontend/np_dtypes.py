"""Dtype utilities of hb.np: finfo, iinfo, result_type, promote_types, can_cast, isdtype,
issubdtype, and the dtype objects (every NumPy integer width, float16/32/64, bfloat16, complex64/128).

They answer NumPy's questions with NumPy's answers; hybrid arrays count by their dtype and
Python scalars are weak (NEP 50), as in NumPy 2.
"""
from __future__ import annotations

import ml_dtypes
import numpy

from ..core.array import Array

bfloat16 = ml_dtypes.bfloat16
dtype = numpy.dtype
bool = numpy.bool_  # noqa: A001  (NumPy's and the Array API's name)
generic, number, integer, signedinteger, unsignedinteger, floating, inexact, complexfloating = (
    numpy.generic, numpy.number, numpy.integer, numpy.signedinteger, numpy.unsignedinteger, numpy.floating,
    numpy.inexact, numpy.complexfloating)
csingle, cdouble = numpy.complex64, numpy.complex128
intp, uintp, int_, float_, double, single, half = (numpy.intp, numpy.uintp, numpy.int_, numpy.float64,
                                                   numpy.float64, numpy.float32, numpy.float16)
short, ushort, intc, uintc, longlong, ulonglong, byte, ubyte = (
    numpy.short, numpy.ushort, numpy.intc, numpy.uintc, numpy.longlong, numpy.ulonglong, numpy.byte, numpy.ubyte)


def _dt(x):
    """A dtype NumPy understands for an Array, a dtype-like or a value."""
    return x.dtype if isinstance(x, Array) else x


class finfo:  # noqa: N801  (NumPy's name)
    """Machine limits of a float dtype (bfloat16 included): NumPy's finfo, whose limits are Python
    floats as the Array API asks (NumPy gives float32 scalars for float32)."""

    _FLOATS = ("eps", "epsneg", "max", "min", "tiny", "smallest_normal", "smallest_subnormal", "resolution")

    def __init__(self, t):
        t = numpy.dtype(_dt(t))
        self._info = ml_dtypes.finfo(t) if t == numpy.dtype(bfloat16) else numpy.finfo(t)
        self.dtype, self.bits = self._info.dtype, int(self._info.bits)
        for name in self._FLOATS:
            setattr(self, name, float(getattr(self._info, name)))

    def __getattr__(self, name):      # the rest of NumPy's fields (nmant, iexp, precision, ...)
        return getattr(self._info, name)

    def __repr__(self) -> str:
        return repr(self._info)


def iinfo(t) -> numpy.iinfo:
    return numpy.iinfo(numpy.dtype(_dt(t)))


def result_type(*arrays_and_dtypes) -> numpy.dtype:
    return numpy.result_type(*[_dt(x) for x in arrays_and_dtypes])


def promote_types(type1, type2) -> numpy.dtype:
    return numpy.promote_types(_dt(type1), _dt(type2))


def can_cast(from_, to, casting: str = "safe") -> bool:
    return numpy.can_cast(_dt(from_), _dt(to), casting=casting)


def min_scalar_type(a) -> numpy.dtype:
    return numpy.min_scalar_type(numpy.asarray(a) if isinstance(a, Array) else a)


def issubdtype(arg1, arg2) -> bool:
    return numpy.issubdtype(_dt(arg1), _dt(arg2))


def isdtype(dtype, kind) -> bool:  # noqa: F811  (the Array API's parameter name)
    """The Array API's dtype-kind test ('bool', 'signed integer', 'integral', 'real floating', ...)."""
    return numpy.isdtype(numpy.dtype(_dt(dtype)), kind)


class _NamespaceInfo:
    """The Array API's inspection object (`__array_namespace_info__()`)."""

    _NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
              "complex64", "complex128")

    def capabilities(self) -> dict:
        # boolean indexing works eagerly only (a TracingError when traced); no data-dependent shapes compile
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self) -> str:
        return "cpu"

    def devices(self) -> list:
        return ["cpu"]

    def default_dtypes(self, *, device=None) -> dict:
        return {"real floating": numpy.dtype(numpy.float32), "complex floating": numpy.dtype(numpy.complex64),
                "integral": numpy.dtype(numpy.int32), "indexing": numpy.dtype(numpy.int64)}

    def dtypes(self, *, device=None, kind=None) -> dict:
        chosen = {n: numpy.dtype(n) for n in self._NAMES}
        if kind is None:
            return chosen
        return {n: d for n, d in chosen.items() if numpy.isdtype(d, kind)}


# MXNet's dtype groups (mxnet.numpy.integer_dtypes, ...): the dtypes of each kind its operators take
integer_dtypes = [numpy.int8, numpy.int16, numpy.int32, numpy.int64, numpy.uint8, numpy.uint16, numpy.uint32,
                  numpy.uint64]
floating_dtypes = [numpy.float16, numpy.float32, numpy.float64]
numeric_dtypes = [*integer_dtypes, *floating_dtypes]
boolean_dtypes = [numpy.bool_]


def __array_namespace_info__() -> _NamespaceInfo:
    return _NamespaceInfo()


__all__ = ["__array_namespace_info__", "bfloat16", "dtype", "bool", "generic", "number", "integer", "signedinteger", "unsignedinteger", "floating",
           "inexact", "complexfloating", "csingle", "cdouble", "intp", "uintp", "int_", "float_", "double", "single", "half", "short", "ushort", "intc", "uintc",
           "longlong", "ulonglong", "byte", "ubyte", "finfo", "iinfo", "result_type", "promote_types", "can_cast",
           "min_scalar_type", "issubdtype", "isdtype", "integer_dtypes", "floating_dtypes", "numeric_dtypes",
           "boolean_dtypes"]
