"""NumPy basic indexing (`x[1:3, ::2]`, `x[:, None]`, `x[..., 0]`, `x[-1]`) and integer-array
indexing along one axis, lowered to slice / reshape / take."""
from __future__ import annotations

import numpy

from ..errors import ShapeError
from ..core.array import Array


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
    from . import np

    if isinstance(key, (Array, list, numpy.ndarray)):
        idx = np.asarray(key)
        if idx.type.dtype == "bool":
            raise ShapeError("boolean mask indexing gives a data-dependent shape, which hybrid cannot compile; "
                             "use np.where(mask, x, 0) instead")
        return np.take(x, idx, axis=0)
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
        elif isinstance(k, (Array, list, numpy.ndarray)):
            raise IndexError("integer-array indexing is supported on the first axis only (x[idx]) or through "
                             "np.take(x, idx, axis=k)")
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
