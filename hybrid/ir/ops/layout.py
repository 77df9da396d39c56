"""Layout ops: reshape, transpose, broadcast_to, slice, concat, pad, take (gather).

All attributes are static and normalized by the frontend (no negative axes, full-rank
slices), so shape rules and backends never re-derive NumPy's conventions.
"""
from __future__ import annotations

import numpy

from ...errors import IndexOutOfRangeError, ShapeError
from ..registry import OpDef, register
from ..types import INT_DTYPES, TensorType
from .common import broadcast_shapes, check_axes, same_dtype
from .gradkit import apply, dilate, lax, resize, unbroadcast


def _reshape_infer(types, shape):
    (t,) = types
    size = 1
    for d in shape:
        size *= d
    if size != t.size:
        raise ShapeError(f"cannot reshape {t.shape} ({t.size} elements) to {tuple(shape)} ({size} elements)")
    return TensorType(tuple(shape), t.dtype)


register(OpDef("reshape", _reshape_infer, lambda x, shape: x.reshape(shape), "layout", attrs=("shape",),
               grad=lambda g, i, o, shape: [apply("reshape", g, shape=i[0].shape)]))


def _transpose_infer(types, perm):
    (t,) = types
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"perm {tuple(perm)} is not a permutation of the {t.ndim} axes")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_grad(g, inputs, outputs, perm):
    return [apply("transpose", g, perm=tuple(int(i) for i in numpy.argsort(perm)))]


register(OpDef("transpose", _transpose_infer, lambda x, perm: numpy.ascontiguousarray(x.transpose(perm)), "layout",
               attrs=("perm",), grad=_transpose_grad))


def _broadcast_infer(types, shape):
    (t,) = types
    if broadcast_shapes(t.shape, shape) != tuple(shape):
        raise ShapeError(f"cannot broadcast {t.shape} to {tuple(shape)}")
    return TensorType(tuple(shape), t.dtype)


register(OpDef("broadcast_to", _broadcast_infer,
               # NumPy's read-only view: nothing is materialized (a huge broadcast sliced afterwards stays cheap)
               lambda x, shape: numpy.broadcast_to(x, shape), "layout", attrs=("shape",),
               grad=lambda g, i, o, shape: [unbroadcast(g, i[0].shape)]))


def _slice_infer(types, begin, end, step):
    (t,) = types
    if not len(begin) == len(end) == len(step) == t.ndim:
        raise ShapeError(f"slice needs begin/end/step for all {t.ndim} axes")
    shape = []
    for d, b, e, s in zip(t.shape, begin, end, step):
        if s <= 0 or not 0 <= b <= d or not b <= e <= d:
            raise ShapeError(f"slice [{b}:{e}:{s}] is out of range for a dimension of size {d}")
        shape.append(max(0, (e - b + s - 1) // s))
    return TensorType(tuple(shape), t.dtype)


def _slice_grad(g, inputs, outputs, begin, end, step):
    """The cotangent spread back to every `step`-th place, then moved to `begin` in zeros of the
    input's shape."""
    (x,) = inputs
    if g.size == 0:
        return [lax().zeros_like(x)]
    for axis, s in enumerate(step):
        g = dilate(g, axis, s)
    return [resize(g, list(begin), [d - b - n for d, b, n in zip(x.shape, begin, g.shape)])]


register(OpDef("slice", _slice_infer,
               lambda x, begin, end, step: x[tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))].copy(),
               "layout", attrs=("begin", "end", "step"), grad=_slice_grad))


def _concat_infer(types, axis):
    first = types[0]
    dtype = same_dtype(types)
    check_axes((axis,), first.ndim)
    for t in types[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ShapeError(f"concat along axis {axis} needs equal other dimensions, got "
                             f"{', '.join(str(x.shape) for x in types)}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return TensorType(tuple(shape), dtype)


def _concat_grad(g, inputs, outputs, axis):
    grads, offset = [], 0
    for x in inputs:
        begin = [0] * g.ndim
        end = list(g.shape)
        begin[axis], end[axis] = offset, offset + x.shape[axis]
        grads.append(apply("slice", g, begin=tuple(begin), end=tuple(end), step=(1,) * g.ndim))
        offset += x.shape[axis]
    return grads


register(OpDef("concat", _concat_infer, lambda *xs, axis: numpy.concatenate(xs, axis=axis), "layout",
               attrs=("axis",), grad=_concat_grad))


def _pad_infer(types, pads, value):
    (t,) = types
    if len(pads) != 2 * t.ndim or any(p < 0 for p in pads):
        raise ShapeError(f"pad needs {2 * t.ndim} non-negative (before, after) amounts, got {tuple(pads)}")
    return TensorType(tuple(d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(t.shape)), t.dtype)


register(OpDef("pad", _pad_infer,
               lambda x, pads, value: numpy.pad(x, [(pads[2 * i], pads[2 * i + 1]) for i in range(x.ndim)],
                                                constant_values=value),
               "layout", attrs=("pads", "value"),
               grad=lambda g, i, o, pads, value: [apply("slice", g, begin=tuple(pads[0::2]),
                                                        end=tuple(p + d for p, d in zip(pads[0::2], i[0].shape)),
                                                        step=(1,) * g.ndim)]))


def _take_infer(types, axis):
    x, idx = types
    check_axes((axis,), x.ndim)
    if idx.dtype not in INT_DTYPES:
        raise ShapeError(f"indices must be integers, got {idx.dtype}")
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


def _take_reference(x, idx, axis):
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[axis]):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise IndexOutOfRangeError(f"take: index {bad} is out of range [0, {x.shape[axis]}) for axis {axis} of a "
                                   f"{x.dtype}{list(x.shape)} array (indices {idx.dtype}{list(idx.shape)})")
    return numpy.take(x, idx, axis=axis)


register(OpDef("take", _take_infer, _take_reference, "other", attrs=("axis",),
               grad=lambda g, i, o, axis: [apply("take_grad", g, i[1], axis=axis, size=i[0].shape[axis]), None]))
