"""Reductions over a set of axes: sum, max, min, prod (and argmax, not differentiable)."""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType, is_float_dtype
from .common import check_axes
from .gradkit import apply, keep_reduced


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _no_empty_axis(name: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    """max/min/argmax have no identity: like NumPy, reducing an axis of length 0 is an error."""
    empty = [a for a in axes if shape[a] == 0]
    if empty:
        raise ShapeError(f"{name} over axis {empty[0]} of length 0 (shape {shape}): a {name} of nothing is "
                         "undefined; reduce a non-empty axis, or use sum/prod, which have an identity")


def _reduce_infer_of(name: str):
    def infer(types, axes, keepdims):
        (t,) = types
        check_axes(axes, t.ndim)
        if name in ("max", "min"):
            _no_empty_axis(name, t.shape, axes)
        return TensorType(reduced_shape(t.shape, axes, keepdims), t.dtype)
    return infer


def _reference(fn):
    def ref(x, axes, keepdims):
        # float16 and bfloat16 sums and products accumulate in float32 and round once (NumPy does so
        # for float16 only along contiguous axes, ml_dtypes not at all; every backend does it for all)
        wide = {"dtype": numpy.float32} if x.dtype.itemsize == 2 and is_float_dtype(x.dtype) \
            and fn in (numpy.sum, numpy.prod) else {}
        return numpy.asarray(fn(x, axis=axes, keepdims=keepdims, **wide)).astype(x.dtype, copy=False)
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
    register(OpDef(_name, _reduce_infer_of(_name), _reference(_fn), "reduce", attrs=("axes", "keepdims"),
                   grad=_GRADS[_name],
                   extra={"identity": _identity, "combine": {"sum": "add", "prod": "mul"}.get(_name, _name)}))


def _argmax_infer(types, axis, keepdims):
    (t,) = types
    check_axes((axis,), t.ndim)
    _no_empty_axis("argmax", t.shape, (axis,))
    return TensorType(reduced_shape(t.shape, (axis,), keepdims), "i32")


register(OpDef("argmax", _argmax_infer,
               lambda x, axis, keepdims: numpy.argmax(x, axis=axis, keepdims=keepdims).astype(numpy.int32),
               "reduce", attrs=("axis", "keepdims"), differentiable=False))
