"""Batched matmul with optional transposed operands: (..., M, K) x (..., K, N) -> (..., M, N)."""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType, is_float_dtype
from .common import broadcast_shapes, same_dtype
from .gradkit import apply, unbroadcast


def matmul_dims(a: TensorType, b: TensorType, transpose_a: bool, transpose_b: bool):
    """(batch shape, M, K, N) of a matmul, or ShapeError."""
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError("operands must be at least 2-d (the frontend reshapes vectors)")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    k2, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
    if k != k2:
        raise ShapeError(f"contraction dimensions differ: {k} vs {k2}")
    return broadcast_shapes(a.shape[:-2], b.shape[:-2]), m, k, n


def _matmul_infer(types, transpose_a=False, transpose_b=False):
    a, b = types
    batch, m, _, n = matmul_dims(a, b, transpose_a, transpose_b)
    return TensorType(batch + (m, n), same_dtype(types))


def _matmul_reference(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = numpy.swapaxes(a, -1, -2)
    if transpose_b:
        b = numpy.swapaxes(b, -1, -2)
    # 16-bit floats multiply and accumulate in float32 and round once (NumPy's float16 loop does; ml_dtypes
    # returns bfloat16 products as float32); the op's type (and every backend) keeps the operand dtype
    dtype = numpy.result_type(a.dtype, b.dtype)
    if dtype.itemsize == 2 and is_float_dtype(dtype):
        a, b = a.astype(numpy.float32), b.astype(numpy.float32)
    return numpy.matmul(a, b).astype(dtype, copy=False)


def _matmul_grad(g, inputs, outputs, transpose_a=False, transpose_b=False):
    """C = op(A) op(B): each operand's cotangent is one matmul of g with the other operand, with
    the transposes chosen so no explicit transpose is needed; batch broadcasting is summed."""
    a, b = inputs

    def mm(x, y, ta, tb):
        return apply("matmul", x, y, transpose_a=ta, transpose_b=tb)

    da = mm(b, g, transpose_b, True) if transpose_a else mm(g, b, False, not transpose_b)
    db = mm(g, a, True, transpose_a) if transpose_b else mm(a, g, not transpose_a, False)
    return [unbroadcast(da, a.shape), unbroadcast(db, b.shape)]


register(OpDef("matmul", _matmul_infer, _matmul_reference, "matmul", attrs=("transpose_a", "transpose_b"),
               grad=_matmul_grad))
