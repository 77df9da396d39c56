"""nonzero/flatnonzero/argwhere/unique with JAX's static `size=` (and `fill_value=`): the result
has `size` entries whatever the data, so the functions trace and compile on every backend.

Without `size` they are NumPy's data-dependent functions (eager only; a TracingError traced,
whose message names `size=`). With it, the first `size` hits are kept (in NumPy's order) and the
rest of the slots hold `fill_value`. Written once from primitives: slot j of the output takes the
element whose running count of hits (a cumsum) is j + 1, found by a (size, n) comparison, so the
cost is O(size * n) elements; unique sorts first (np.sort: the argsort kernel when traced).
"""
from __future__ import annotations

import builtins
from typing import Optional

import numpy

from ..core.array import Array, NDArray, Tracer, _tracing_error
from .np import (_asarray, _cast, any as _any, concatenate, equal, expand_dims, logical_and, logical_not, not_equal,
                 reshape, stack, sum as _sum, take, where)
from .np_logic import isnan
from ..ir.types import is_float_dtype
from .np_reduce import cumsum
from .np_sort import argsort, eager_only

_SIZE_HELP = ("Its result's size depends on the data. Pass size=N (and fill_value=) for a fixed-size result "
              "that compiles, as in JAX, or call it outside the hybridized code.")
_eager_nonzero, _eager_unique = eager_only(numpy.nonzero), eager_only(numpy.unique)
_eager_flatnonzero, _eager_argwhere = eager_only(numpy.flatnonzero), eager_only(numpy.argwhere)


def _data_dependent(name: str, eager, *args, **kwargs):
    if any(isinstance(a, Tracer) for a in args):
        raise _tracing_error(f"np.{name} was called without size=", _SIZE_HELP, data_dependent_shape=True)
    return eager(*args, **kwargs)


def _first_hits(mask: Array, size: int):
    """(positions, valid): the flat positions of the first `size` True entries of the 1-d `mask`
    (int64, 0 where there are fewer) and which slots hold one."""
    n = mask.shape[0]
    if n == 0:
        return (NDArray(numpy.zeros(size, numpy.int64)), NDArray(numpy.zeros(size, bool)))
    rank = cumsum(_cast(mask, "i64"))                          # hits up to and including each element
    slot = NDArray(numpy.arange(1, size + 1, dtype=numpy.int64).reshape(size, 1))
    hits = logical_and(equal(expand_dims(rank, 0), slot), expand_dims(mask, 0))       # (size, n)
    positions = _sum(where(hits, NDArray(numpy.arange(n, dtype=numpy.int64)), 0), axis=1)
    return positions, _any(hits, axis=1)


def _check_size(name: str, size) -> int:
    if isinstance(size, Tracer) or int(size) < 0:
        raise ValueError(f"np.{name}: size must be a non-negative Python int (a static shape), got {size!r}")
    return int(size)


def _coordinates(a: Array, size: int, fill_value):
    """The (ndim, size) coordinates of the first `size` nonzero elements, fill_value-padded."""
    flat = reshape(not_equal(a, 0), (-1,))
    positions, valid = _first_hits(flat, size)
    fills = fill_value if isinstance(fill_value, (tuple, list)) else (fill_value,) * builtins.max(a.ndim, 1)
    if len(fills) != builtins.max(a.ndim, 1):
        raise ValueError(f"np.nonzero: {len(fills)} fill values for a {a.ndim}-d array")
    coords, stride = [], 1
    for axis in reversed(range(a.ndim)):
        coords.append(where(valid, (positions // stride) % a.shape[axis], int(fills[axis])))
        stride *= a.shape[axis]
    return tuple(reversed(coords)), positions, valid, fills


def nonzero(a, *, size: Optional[int] = None, fill_value=None):
    """Indices of the nonzero elements, one int64 array per axis; with size=, exactly `size` of
    them (the first ones in C order), padded with fill_value (default 0)."""
    if size is None:
        return _data_dependent("nonzero", _eager_nonzero, a)
    a = _asarray(a)
    if a.ndim == 0:
        raise ValueError("np.nonzero of a 0-d array is not defined (NumPy raises too); use np.atleast_1d")
    coords, _, _, _ = _coordinates(a, _check_size("nonzero", size), 0 if fill_value is None else fill_value)
    return coords


def flatnonzero(a, *, size: Optional[int] = None, fill_value=None) -> Array:
    if size is None:
        return _data_dependent("flatnonzero", _eager_flatnonzero, a)
    positions, valid = _first_hits(reshape(not_equal(_asarray(a), 0), (-1,)), _check_size("flatnonzero", size))
    return where(valid, positions, 0 if fill_value is None else int(fill_value))


def argwhere(a, *, size: Optional[int] = None, fill_value=None) -> Array:
    if size is None:
        return _data_dependent("argwhere", _eager_argwhere, a)
    a = _asarray(a)
    if a.ndim == 0:         # no axes to give coordinates along
        return NDArray(numpy.zeros((_check_size("argwhere", size), 0), numpy.int64))
    coords, _, _, _ = _coordinates(a, _check_size("argwhere", size), 0 if fill_value is None else fill_value)
    return stack(coords, axis=-1)


def unique(ar, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False,
           axis=None, *, equal_nan: bool = True, sorted: bool = True, size: Optional[int] = None, fill_value=None):
    """NumPy's unique; with size= (flattened input only, as JAX), the first `size` sorted unique
    values padded with fill_value (default: the smallest value), and the requested index,
    inverse and counts arrays (padded indices and counts are 0)."""
    if size is None:
        return _data_dependent("unique", _eager_unique, ar, return_index, return_inverse, return_counts, axis,
                               equal_nan=equal_nan)
    if axis is not None:
        raise ValueError("np.unique(size=...) works on the flattened array; pass axis=None")
    size = _check_size("unique", size)
    flat = reshape(_asarray(ar), (-1,))
    n = flat.shape[0]
    if n == 0:
        raise ValueError("np.unique(size=...) of an empty array has no fill value; pass a non-empty array")
    order = argsort(flat)
    values = take(flat, order)
    new = not_equal(values[1:], values[:-1])
    if equal_nan and is_float_dtype(values.dtype):
        new = logical_and(new, logical_not(logical_and(isnan(values[1:]), isnan(values[:-1]))))
    starts = concatenate([NDArray(numpy.ones(1, bool)), new])      # True at the first of each run
    # one slot more than asked: where the last kept run ends (the next run's start, or n)
    positions, valid = _first_hits(starts, size + 1)
    following = where(valid[1:], positions[1:], n)
    positions, valid = positions[:size], valid[:size]
    fill = values[0] if fill_value is None else fill_value
    out = [where(valid, take(values, positions), fill)]
    if return_index:
        out.append(where(valid, take(order, positions), 0))
    if return_inverse:
        group = cumsum(_cast(starts, "i64")) - 1                    # the run of each sorted element
        out.append(reshape(take(group, argsort(order)), _asarray(ar).shape))
    if return_counts:
        out.append(where(valid, following - positions, 0))
    return out[0] if len(out) == 1 else tuple(out)


__all__ = ["nonzero", "flatnonzero", "argwhere", "unique"]
