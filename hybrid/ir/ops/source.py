"""Ops that make values: constant, iota, and the counter-based random source.

random_uniform uses Threefry-2x32 (20 rounds, as in JAX and Random123): element i under key
(k0, k1) is a pure function of (k0, k1, i), so eager and compiled runs with the same key draw
the same numbers, on any backend. The frontend derives one key per random op: (seed, counter).
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import FLOAT_DTYPES, TensorType, dtype_name, to_numpy_dtype


def _constant_infer(types, value):
    if types:
        raise ShapeError("constant takes no inputs")
    return TensorType(tuple(value.shape), dtype_name(value.dtype))


register(OpDef("constant", _constant_infer, lambda value: value.copy(), "source", attrs=("value",),
               differentiable=False))


def _iota_infer(types, shape, axis, dtype):
    if not 0 <= axis < len(shape):
        raise ShapeError(f"axis {axis} out of range for shape {tuple(shape)}")
    return TensorType(tuple(shape), dtype_name(dtype))


def _iota_reference(shape, axis, dtype):
    line = numpy.arange(shape[axis], dtype=to_numpy_dtype(dtype))
    view = line.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return numpy.ascontiguousarray(numpy.broadcast_to(view, shape))


register(OpDef("iota", _iota_infer, _iota_reference, "source", attrs=("shape", "axis", "dtype"),
               differentiable=False))

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)


def threefry2x32(k0, k1, c0, c1):
    """Threefry-2x32, 20 rounds, on uint32 arrays. Returns the two output words."""
    u32 = numpy.uint32
    k0, k1 = u32(k0), u32(k1)
    ks = (k0, k1, u32(k0 ^ k1 ^ u32(0x1BD11BDA)))
    x0 = (c0.astype(u32) + ks[0]).astype(u32)
    x1 = (c1.astype(u32) + ks[1]).astype(u32)
    with numpy.errstate(over="ignore"):
        for block in range(5):
            for r in range(4):
                rot = _ROTATIONS[(block % 2) * 4 + r]
                x0 = x0 + x1
                x1 = (x1 << u32(rot)) | (x1 >> u32(32 - rot))
                x1 = x1 ^ x0
            x0 = x0 + ks[(block + 1) % 3]
            x1 = x1 + ks[(block + 2) % 3] + u32(block + 1)
    return x0, x1


def _random_infer(types, shape, dtype):
    (key,) = types
    if key.shape != (2,) or key.dtype != "u32":
        raise ShapeError(f"key must be u32[2], got {key}")
    if dtype_name(dtype) not in FLOAT_DTYPES:
        raise ShapeError(f"random_uniform makes floats, not {dtype}")
    return TensorType(tuple(shape), dtype_name(dtype))


def _random_reference(key, shape, dtype):
    size = int(numpy.prod(shape, dtype=numpy.int64))
    index = numpy.arange(size, dtype=numpy.uint32)
    bits, _ = threefry2x32(key[0], key[1], index, numpy.zeros(size, numpy.uint32))
    # 24 random bits -> [0, 1), exactly representable in float32.
    values = (bits >> numpy.uint32(8)).astype(numpy.float64) * (1.0 / (1 << 24))
    return values.astype(to_numpy_dtype(dtype)).reshape(shape)


register(OpDef("random_uniform", _random_infer, _random_reference, "random", attrs=("shape", "dtype"),
               differentiable=False))
