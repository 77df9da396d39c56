"""NumPy basic indexing (`x[1:3, ::2]`, `x[:, None]`, `x[..., 0]`, `x[-1]`), lowered to slice /
reshape / take; advanced indexing (arrays and masks) is advanced_indexing.py's. Basic indexing
returns a view (hybrid.core.views); `x[key] = v` while tracing is a functional update
(functional_setitem)."""
from __future__ import annotations

import numpy

from ..errors import ShapeError
from ..core.array import Array, Tracer, _tracing_error, normalize_setitem_key, setitem_value_shape
from ..core import views
from .advanced_indexing import getitem_advanced, is_advanced


def _expand_key(key, ndim: int) -> list:
    key = list(key) if isinstance(key, tuple) else [key]
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    if consumed > ndim:
        raise IndexError(f"too many indices ({consumed}) for a {ndim}-d array")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key[i:i + 1] = [slice(None)] * (ndim - consumed)
    else:
        key += [slice(None)] * (ndim - consumed)
    return key


def getitem(x: Array, key):
    result = _getitem_copy(x, key)
    if is_advanced(key):
        return result  # advanced indexing copies, as in NumPy
    return views.view_of(x, result, lambda data: data[key], lambda base: _getitem_copy(base, key),
                         lambda base, new: functional_setitem(base, key, new))


def functional_setitem(x: Array, key, value) -> Array:
    """x with `x[key] = value`, as a new array: how a write is traced. The element positions a static
    key selects are computed now with NumPy, so every key NumPy accepts works (integers, slices,
    integer arrays, boolean masks, combined); the write is then one gather and one select. A traced
    boolean mask becomes np.where(mask, value, x)."""
    from . import np

    value = np.asarray(value)
    if isinstance(key, Tracer):
        if key.dtype != numpy.bool_:
            raise _tracing_error("x[idx] = v with a traced integer index array was used",
                                 "Write with a boolean mask (x[mask] = v, i.e. np.where(mask, v, x)) or with "
                                 "static (NumPy or Python) indices.")
        return np.where(key, np.astype(value, x.dtype), x)
    parts = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, Tracer) for k in parts):
        raise _tracing_error("x[...] = v with a traced index inside a tuple key was used",
                             "Use static indices, or a single boolean mask of x's shape (np.where).")
    positions = numpy.arange(x.size, dtype=numpy.int64).reshape(x.shape)[normalize_setitem_key(key)]
    if positions.size == 0:
        return x
    trimmed = setitem_value_shape(tuple(value.shape), positions.ndim)
    if trimmed != tuple(value.shape):
        value = np.reshape(value, trimmed)
    try:
        numpy.broadcast_shapes(tuple(value.shape), positions.shape)
    except ValueError:
        raise ShapeError(f"x[...] = v: could not broadcast the value's shape {value.shape} to the indexed "
                         f"shape {positions.shape} of a {x.type} array") from None
    flat = positions.reshape(-1)
    source = numpy.zeros(x.size, numpy.int32 if x.size < 2 ** 31 else numpy.int64)
    source[flat] = numpy.arange(flat.size)  # for repeated positions the last write wins, as in NumPy
    hit = numpy.zeros(x.size, numpy.bool_)
    hit[flat] = True
    written = np.reshape(np.broadcast_to(np.astype(value, x.dtype), positions.shape), (-1,))
    gathered = np.take(written, np.asarray(source.reshape(x.shape)), axis=0)
    return gathered if hit.all() else np.where(np.asarray(hit.reshape(x.shape)), gathered, x)


def _getitem_copy(x: Array, key):
    from . import np

    if is_advanced(key):
        return getitem_advanced(x, key)
    key = _expand_key(key, x.ndim)
    begin, end, step, out_shape, reversed_axes = [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        size = x.shape[axis]
        if isinstance(k, slice):
            start, stop, stride = k.indices(size)
            if stride < 0:
                # a negative step keeps the whole axis here and gathers the picked rows in order below
                picked = list(range(start, stop, stride))
                reversed_axes.append((axis, picked))
                begin.append(0)
                end.append(size)
                step.append(1)
                out_shape.append(len(picked))
            else:
                begin.append(start)
                end.append(max(start, stop))
                step.append(stride)
                out_shape.append(max(0, (max(start, stop) - start + stride - 1) // stride))
        else:
            i = int(k)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
            i %= size
            begin.append(i)
            end.append(i + 1)
            step.append(1)
        axis += 1
    result = x
    if begin != [0] * x.ndim or end != list(x.shape) or step != [1] * x.ndim:
        result = np.slice(x, tuple(begin), tuple(end), tuple(step))
    for ax, indices in reversed_axes:
        result = np.take(result, np.asarray(numpy.array(indices, numpy.int32)), axis=ax)
    if tuple(out_shape) != result.shape:
        result = np.reshape(result, tuple(out_shape))
    return result
