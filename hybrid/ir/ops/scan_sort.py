"""Sorting and cumulative ops along one axis: sort, argsort, cumsum, cumprod.

Their NumPy references are what eager code runs (one NumPy call: as fast as NumPy). Traced
code composes the same functions from elementwise/layout primitives in the frontend (a
bitonic sorting network, a Hillis-Steele scan: hybrid/frontend/np_sort.py, np_reduce.py), so
compiled graphs never contain these ops and every backend runs them; the gradient rules
below serve the eager tape.
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType
from .common import check_axes
from .gradkit import np


def _same_infer(types, axis):
    (t,) = types
    check_axes((axis,), t.ndim)
    return t


def _index_infer(types, axis):
    (t,) = types
    check_axes((axis,), t.ndim)
    return TensorType(t.shape, "i64")


def _sort_ref(x, axis):
    return numpy.sort(x, axis=axis, kind="stable")


def _argsort_ref(x, axis):
    return numpy.argsort(x, axis=axis, kind="stable").astype(numpy.int64)


def _sort_grad(g, inputs, outputs, axis):
    """Each output element came from one input element: route g back through the inverse permutation."""
    n = np()
    order = n.argsort(inputs[0], axis=axis)
    return [n.take_along_axis(g, n.argsort(order, axis=axis), axis=axis)]


def _cumsum_grad(g, inputs, outputs, axis):
    n = np()
    return [n.flip(n.cumsum(n.flip(g, axis), axis=axis), axis)]


def _cumprod_grad(g, inputs, outputs, axis):
    """d y_j / d x_i = y_j / x_i for j >= i (inputs without zeros)."""
    n = np()
    (x,), (y,) = inputs, outputs
    return [n.flip(n.cumsum(n.flip(g * y, axis), axis=axis), axis) / x]


def _cum_ref(fn):
    def ref(x, axis):
        if x.dtype == numpy.bool_:
            raise ShapeError("cumulative ops need numbers; cast booleans first")
        return fn(x, axis=axis, dtype=x.dtype)
    return ref


register(OpDef("sort", _same_infer, _sort_ref, "other", attrs=("axis",), grad=_sort_grad))
register(OpDef("argsort", _index_infer, _argsort_ref, "other", attrs=("axis",), differentiable=False))
register(OpDef("cumsum", _same_infer, _cum_ref(numpy.cumsum), "other", attrs=("axis",), grad=_cumsum_grad))
register(OpDef("cumprod", _same_infer, _cum_ref(numpy.cumprod), "other", attrs=("axis",), grad=_cumprod_grad))
