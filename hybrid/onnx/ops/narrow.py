"""ONNX element types narrower than any hybrid dtype: float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0),
float4 (e2m1) and 4- / 2-bit integers.

hybrid carries such a value in a wider dtype that holds every value of the narrow type exactly
(float32 for the float formats, int8 / uint8 for the integers). The ops that produce a narrow value
(Cast, CastLike, QuantizeLinear) round it onto the narrow type's value grid in the carrier, so
everything downstream sees exactly the numbers the narrow type would hold; arrays cross the model's
boundary as the ml_dtypes types ONNX uses (`to_carrier` on the way in, `from_carrier` on the way out).
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy
from onnx import TensorProto

from ...core.promote import cast
from ...frontend import np
from ...ir.types import to_numpy_dtype


@dataclass(frozen=True)
class Narrow:
    numpy: type          # the ml_dtypes scalar type of boundary arrays
    carrier: str         # the hybrid dtype that holds the values
    overflow: str = "nan"  # float formats, when not saturating: "inf", "nan" or "saturate" (float4 has neither)


NARROW: dict[int, Narrow] = {
    TensorProto.FLOAT8E4M3FN: Narrow(ml_dtypes.float8_e4m3fn, "f32"),
    TensorProto.FLOAT8E4M3FNUZ: Narrow(ml_dtypes.float8_e4m3fnuz, "f32"),
    TensorProto.FLOAT8E5M2: Narrow(ml_dtypes.float8_e5m2, "f32", overflow="inf"),
    TensorProto.FLOAT8E5M2FNUZ: Narrow(ml_dtypes.float8_e5m2fnuz, "f32"),
    TensorProto.FLOAT8E8M0: Narrow(ml_dtypes.float8_e8m0fnu, "f32"),
    TensorProto.FLOAT4E2M1: Narrow(ml_dtypes.float4_e2m1fn, "f32", overflow="saturate"),
    TensorProto.INT4: Narrow(ml_dtypes.int4, "i8"),
    TensorProto.UINT4: Narrow(ml_dtypes.uint4, "u8"),
    TensorProto.INT2: Narrow(ml_dtypes.int2, "i8"),
    TensorProto.UINT2: Narrow(ml_dtypes.uint2, "u8"),
}
_BY_NUMPY = {numpy.dtype(n.numpy): n for n in NARROW.values()}


def to_carrier(value):
    """A NumPy array of a narrow ml_dtypes type as its carrier dtype (other values unchanged)."""
    if isinstance(value, numpy.ndarray) and value.dtype in _BY_NUMPY:
        return value.astype(to_numpy_dtype(_BY_NUMPY[value.dtype].carrier))
    return value


def from_carrier(value: numpy.ndarray, elem_type: int) -> numpy.ndarray:
    """A carrier array (already on the narrow grid) as the narrow ml_dtypes type."""
    return numpy.asarray(value).astype(NARROW[elem_type].numpy)


def round_to(x, elem_type: int, saturate: bool = True, round_mode: str = "up"):
    """x (a hybrid array) rounded onto the value grid of the narrow type, in the carrier dtype, as
    ONNX's Cast does: round to nearest even; out-of-range floats saturate to the largest finite value
    or, without saturation, become inf or NaN as the format defines. Integer targets follow the
    reference's ml_dtypes conversion: integers wrap to the low bits, floats truncate and become 0
    when out of range."""
    narrow = NARROW[elem_type]
    if narrow.carrier != "f32":
        info = ml_dtypes.iinfo(narrow.numpy)
        if x.type.dtype[0] in "iub":   # two's-complement wrap-around to the low bits
            span = int(info.max) - int(info.min) + 1
            return cast(np.mod(cast(x, "i64") - int(info.min), span) + int(info.min), narrow.carrier)
        t = np.trunc(cast(x, "f32"))
        inside = np.logical_and(t >= float(info.min), t <= float(info.max))
        return cast(np.where(inside, t, 0.0), narrow.carrier)
    x = cast(x, "f32")
    if elem_type == TensorProto.FLOAT8E8M0:
        return _round_e8m0(x, saturate, round_mode)
    info = ml_dtypes.finfo(narrow.numpy)
    top = float(info.max)
    a = np.abs(x)
    _, e = np.frexp(a)                                    # a = m * 2**e, m in [0.5, 1)
    # the grid spacing at a: 2**(exponent - mantissa bits), never finer than the subnormal spacing
    step = np.exp2(cast(np.maximum(e - 1, info.minexp) - info.nmant, "f32"))
    r = np.round(a / step) * step                        # exact scaling by a power of two, then RNE
    if narrow.overflow == "saturate":
        r = np.where(np.isnan(a), 0.0, np.minimum(r, top))
    elif saturate:
        r = np.minimum(r, top)                           # inf -> the largest finite value, NaN stays
    else:
        r = np.where(r > top, float(narrow.overflow), r)
    return np.where(x < 0, -r, r)


def _round_e8m0(x, saturate: bool, round_mode: str):
    """float8e8m0 holds powers of two 2**-127 .. 2**127 (and NaN); the sign is dropped."""
    a = np.abs(x)
    m, e = np.frexp(a)                                   # a = m * 2**e; the value's exponent is e - 1
    e = cast(e, "f32")
    if round_mode == "up":
        up = m > 0.5
    elif round_mode == "down":
        up = m < 0.0
    elif round_mode == "nearest":
        up = m >= 0.75
    else:
        raise ValueError(f"Cast to FLOAT8E8M0: unknown round_mode {round_mode!r} (up, down or nearest)")
    k = np.where(up, e, e - 1.0)
    k = np.where(np.equal(a, 0.0), -127.0, np.maximum(k, -127.0))
    k = np.minimum(k, 127.0) if saturate else k
    finite = np.logical_and(np.isfinite(a), k <= 127.0)
    return np.where(finite, np.exp2(k), float("nan"))
