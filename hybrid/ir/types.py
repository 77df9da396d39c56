"""Tensor types: a static shape and a dtype, printed as `f32[256,784]`."""
from __future__ import annotations

from typing import NamedTuple

import ml_dtypes
import numpy

# IR dtype name -> NumPy dtype. The short names are what the text form prints.
DTYPES: dict[str, numpy.dtype] = {
    "f16": numpy.dtype(numpy.float16),
    "bf16": numpy.dtype(ml_dtypes.bfloat16),
    "f32": numpy.dtype(numpy.float32),
    "f64": numpy.dtype(numpy.float64),
    "i8": numpy.dtype(numpy.int8),
    "i16": numpy.dtype(numpy.int16),
    "i32": numpy.dtype(numpy.int32),
    "i64": numpy.dtype(numpy.int64),
    "u8": numpy.dtype(numpy.uint8),
    "u16": numpy.dtype(numpy.uint16),
    "u32": numpy.dtype(numpy.uint32),
    "u64": numpy.dtype(numpy.uint64),
    "bool": numpy.dtype(numpy.bool_),
    "c64": numpy.dtype(numpy.complex64),
    "c128": numpy.dtype(numpy.complex128),
}
_NAMES = {v: k for k, v in DTYPES.items()}
FLOAT_DTYPES = ("f16", "bf16", "f32", "f64")
INT_DTYPES = ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64")
COMPLEX_DTYPES = ("c64", "c128")
# a complex dtype's real and imaginary parts, and the complex dtype holding a real one exactly
COMPLEX_PART = {"c64": "f32", "c128": "f64"}
COMPLEX_OF = {"f16": "c64", "bf16": "c64", "f32": "c64", "f64": "c128", "c64": "c64", "c128": "c128"}


def dtype_name(dtype) -> str:
    """The IR name ('f32', 'i32', ...) of a NumPy dtype or dtype-like ('float32', numpy.int32, 'f32')."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    if isinstance(dtype, numpy.dtype) and dtype in _NAMES:    # an array's own dtype: the eager hot path
        return _NAMES[dtype]
    try:
        return _NAMES[numpy.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"unsupported dtype {dtype!r}; hybrid supports {', '.join(DTYPES)}") from None


def to_numpy_dtype(name: str) -> numpy.dtype:
    return DTYPES[dtype_name(name)]


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def is_float_dtype(dtype) -> bool:
    """Whether a NumPy dtype holds floats: kind 'f', or bfloat16 (whose NumPy kind, from ml_dtypes, is 'V')."""
    dtype = numpy.dtype(dtype)
    return dtype.kind == "f" or dtype == DTYPES["bf16"]


def is_complex(dtype: str) -> bool:
    return dtype in COMPLEX_DTYPES


def is_integer(dtype: str) -> bool:
    return dtype in INT_DTYPES


def is_inexact(dtype: str) -> bool:
    """float or complex (NumPy's `inexact`)."""
    return dtype in FLOAT_DTYPES or dtype in COMPLEX_DTYPES


class TensorType(NamedTuple):
    """The static type of an IR value."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * DTYPES[self.dtype].itemsize

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"

    @staticmethod
    def of(array) -> "TensorType":
        return TensorType(tuple(int(d) for d in array.shape), dtype_name(array.dtype))
