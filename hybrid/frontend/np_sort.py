"""Sorting, searching and set functions of hb.np.

sort/argsort: eagerly one NumPy call (np_eager.py, stable, taped); traced, the registry's
argsort op (a per-row merge sort kernel), and sort gathers through it, so it differentiates as
the gather (each output is one input). searchsorted and
isin compile as broadcast comparisons. Functions whose result size depends on the data
(unique, nonzero, set operations) run eagerly and are a TracingError when traced (np_static_size:
the size= forms of nonzero/unique that compile).
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy

from ..core.array import Array, NDArray, Tracer, _tracing_error
from . import np_eager
from .np import (_asarray, any as _any, equal, full, less, less_equal, logical_not, moveaxis, reshape, sum as _sum,
                 take)

_DYNAMIC_HELP = ("Its result's size depends on the data, so it has no static shape in a compiled graph. Call it "
                 "outside the hybridized code, or use a fixed-size alternative (np.where(mask, x, fill), "
                 "np.sort, np.isin).")


def eager_only(fn, instead: str = _DYNAMIC_HELP):
    """A NumPy function whose result's shape depends on the data: run on NumPy data eagerly
    (array results come back as hybrid arrays); a traced argument is a clear TracingError that
    says `instead`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        def unwrap(v):
            if isinstance(v, Tracer):
                raise _tracing_error(f"np.{fn.__name__} was called", instead, data_dependent_shape=True)
            if isinstance(v, Array):
                return numpy.asarray(v)
            if isinstance(v, (list, tuple)) and any(isinstance(x, Array) for x in v):
                return type(v)(unwrap(x) for x in v)
            return v

        def wrap(v):
            if isinstance(v, numpy.ndarray):
                return NDArray(v.astype(numpy.int64) if v.dtype == numpy.intp else v)
            if isinstance(v, tuple):
                return type(v)(*map(wrap, v)) if hasattr(v, "_fields") else tuple(wrap(x) for x in v)
            if isinstance(v, list):
                return [wrap(x) for x in v]
            return v

        return wrap(fn(*[unwrap(a) for a in args], **{k: unwrap(v) for k, v in kwargs.items()}))
    wrapper.__module__ = __name__
    return wrapper


# -- sorting --------------------------------------------------------------------------------
def _traced_argsort(x: Array) -> Array:
    """The registry's argsort of the last axis: a per-row stable merge sort in compiled code
    (NaNs last, ties in index order, as NumPy's kind="stable")."""
    from ..core import lax
    return lax.bind("argsort", x)


def _along(a, axis, fn):
    a = _asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    if a.ndim == 0:
        return fn(reshape(a, (1,)), 0)
    return fn(a, axis % a.ndim)


def sort(a, axis: Optional[int] = -1, kind=None, order=None, *, stable=None, descending: bool = False) -> Array:
    """Sorted copy along `axis` (NaNs last; flattened when axis is None)."""
    def go(x, ax):
        if descending:   # stable: equal values (-0.0, +0.0) keep their order, as argsort(descending=True)
            from .np import flip
            return flip(sort(flip(x, ax), ax), ax)
        if isinstance(x, Tracer):
            from .np_shape import take_along_axis
            moved = moveaxis(x, ax, -1)
            return moveaxis(take_along_axis(moved, _traced_argsort(moved), -1), -1, ax)
        return np_eager.sort(x, ax)
    out = _along(a, axis, go)
    return reshape(out, ()) if _asarray(a).ndim == 0 and axis is not None else out


def argsort(a, axis: Optional[int] = -1, kind=None, order=None, *, stable=None, descending: bool = False) -> Array:
    """Indices that sort `a` along `axis` (stable, int64)."""
    def go(x, ax):
        if descending:
            from .np import flip
            n = x.shape[ax]
            rev = argsort(flip(x, ax), ax)
            return flip((n - 1) - rev, ax)
        if isinstance(x, Tracer):
            return moveaxis(_traced_argsort(moveaxis(x, ax, -1)), -1, ax)
        return np_eager.argsort(x, ax)
    return _along(a, axis, go)


def partition(a, kth, axis: int = -1, kind=None, order=None) -> Array:
    """A sorted copy satisfies NumPy's partition contract (every kth element in place)."""
    return sort(a, axis)


def argpartition(a, kth, axis: int = -1, kind=None, order=None) -> Array:
    return argsort(a, axis)


def msort(a) -> Array:
    return sort(a, 0)


def searchsorted(a, v, side: str = "left", sorter=None) -> Array:
    """Insertion points of v into the sorted 1-d a: the count of elements before each (int64)."""
    a, v = _asarray(a), _asarray(v)
    if sorter is not None:
        a = take(a, sorter)
    if not isinstance(a, Tracer) and not isinstance(v, Tracer):
        return NDArray(numpy.searchsorted(numpy.asarray(a), numpy.asarray(v), side=side).astype(numpy.int64))
    before = less(a, reshape(v, v.shape + (1,))) if side == "left" else less_equal(a, reshape(v, v.shape + (1,)))
    return _sum(before, axis=-1)


def digitize(x, bins, right: bool = False) -> Array:
    bins_np = numpy.asarray(bins) if not isinstance(bins, Tracer) else None
    if bins_np is not None and bins_np.size > 1 and bins_np[0] > bins_np[-1]:
        from .np import flip
        n = bins_np.size
        return n - searchsorted(flip(_asarray(bins)), x, side="left" if right else "right")
    return searchsorted(bins, x, side="left" if right else "right")


def isin(element, test_elements, assume_unique: bool = False, invert: bool = False, *, kind=None) -> Array:
    element, test = _asarray(element), reshape(_asarray(test_elements), (-1,))
    hit = _any(equal(reshape(element, element.shape + (1,)), test), axis=-1) if test.size else \
        full(element.shape, False, "bool")
    return logical_not(hit) if invert else hit


def in1d(ar1, ar2, assume_unique: bool = False, invert: bool = False) -> Array:
    return isin(reshape(_asarray(ar1), (-1,)), ar2, invert=invert)


# -- data-dependent sizes: eager only -------------------------------------------------------------
# nonzero, flatnonzero, argwhere and unique (which take JAX's size=) are np_static_size's
for _name in ("extract", "compress", "intersect1d", "union1d", "setdiff1d", "setxor1d", "trim_zeros",
              "bincount", "histogram", "histogram2d", "histogramdd", "histogram_bin_edges"):
    globals()[_name] = eager_only(getattr(numpy, _name))
_UNIQUE_HELP = ("Its result's size depends on the data, so it has no static shape in a compiled graph (hybrid "
                "compiles static shapes; MXNet's CachedOp ran such ops imperatively). In hybridized code call "
                "np.unique(x, size=N, fill_value=v, return_index=, return_inverse=, return_counts=): the first N "
                "unique values, padded, as JAX's; or call it outside the hybridized code.")
for _name in ("unique_all", "unique_counts", "unique_inverse"):
    globals()[_name] = eager_only(getattr(numpy, _name), _UNIQUE_HELP)


def _sorted_unique_values(x):
    """The array API's unique_values, sorted as np.unique and MXNet's (NumPy >= 2.3 hashes integers and
    returns them in an order that depends on the data); NaNs stay distinct, as the standard asks."""
    return numpy.unique(x, equal_nan=False)


_sorted_unique_values.__name__ = "unique_values"
unique_values = eager_only(_sorted_unique_values, _UNIQUE_HELP)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and getattr(_v, "__module__", None) == __name__ and _n != "eager_only"]
