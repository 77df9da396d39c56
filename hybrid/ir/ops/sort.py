"""argsort: the stable sorting permutation of the last axis (NumPy's order: NaNs last, ties by
index). Backends render it as a per-row merge sort (codegen/kernel SortStage); sort, top-k and
the descending forms are gathers through it, written once in the frontend, so their gradients are
the gather's."""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType


def _argsort_infer(types):
    (t,) = types
    if t.ndim == 0:
        raise ShapeError(f"argsort sorts the last axis; got a 0-d {t}: reshape it to (1,) first")
    return TensorType(t.shape, "i64")


def _argsort_reference(x):
    return numpy.argsort(x, axis=-1, kind="stable").astype(numpy.int64)


register(OpDef("argsort", _argsort_infer, _argsort_reference, "other", differentiable=False,
               doc="indices that stably sort the last axis (NaNs last), i64"))
