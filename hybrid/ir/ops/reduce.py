"""Reductions over a set of axes: sum, max, min, prod (and argmax, not differentiable)."""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType
from .common import check_axes
from .gradkit import apply, keep_reduced


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(types, axes, keepdims):
    (t,) = types
    check_axes(axes, t.ndim)
    return TensorType(reduced_shape(t.shape, axes, keepdims), t.dtype)


def _empty_guard(name, fn):
    def ref(x, axes, keepdims):
        if x.size == 0 and name in ("max", "min"):
            raise ShapeError(f"{name} of an empty array has no identity")
        return numpy.asarray(fn(x, axis=axes, keepdims=keepdims)).astype(x.dtype, copy=False)
    return ref


def _sum_grad(g, inputs, outputs, axes, keepdims):
    return [keep_reduced(g, inputs[0].shape, axes, keepdims)]


def _prod_grad(g, inputs, outputs, axes, keepdims):
    (x,), (y,) = inputs, outputs
    return [keep_reduced(g * y, x.shape, axes, keepdims) / x]


def _extremum_grad(g, inputs, outputs, axes, keepdims):
    """The cotangent is shared equally by the elements that attain the max (min)."""
    (x,), (y,) = inputs, outputs
    hit = apply("cast", x == keep_reduced(y, x.shape, axes, keepdims), dtype=x.type.dtype)
    count = apply("sum", hit, axes=axes, keepdims=True)
    return [hit * keep_reduced(g, x.shape, axes, keepdims) / count]


_GRADS = {"sum": _sum_grad, "prod": _prod_grad, "max": _extremum_grad, "min": _extremum_grad}

# identity: the value a reduction starts from, used by backends to initialize accumulators.
for _name, _fn, _identity in [("sum", numpy.sum, 0.0), ("prod", numpy.prod, 1.0),
                              ("max", numpy.max, "-inf"), ("min", numpy.min, "inf")]:
    register(OpDef(_name, _reduce_infer, _empty_guard(_name, _fn), "reduce", attrs=("axes", "keepdims"),
                   grad=_GRADS[_name],
                   extra={"identity": _identity, "combine": {"sum": "add", "prod": "mul"}.get(_name, _name)}))


def _argmax_infer(types, axis, keepdims):
    (t,) = types
    check_axes((axis,), t.ndim)
    return TensorType(reduced_shape(t.shape, (axis,), keepdims), "i32")


register(OpDef("argmax", _argmax_infer,
               lambda x, axis, keepdims: numpy.argmax(x, axis=axis, keepdims=keepdims).astype(numpy.int32),
               "reduce", attrs=("axis", "keepdims"), differentiable=False))
