"""Shape manipulation and indexing helpers of hb.np, composed from the layout primitives so
they trace and differentiate: stacking and splitting families, roll, rot90, flips, atleast_Nd,
take_along_axis, diag/diagonal/trace, tril/triu indices, indices/ix_/meshgrid, pad modes.
"""
from __future__ import annotations

import builtins
from typing import Optional, Sequence

import numpy

from ..errors import ShapeError
from ..core.array import Array, NDArray, Tracer
from . import np_eager
from .np import (_asarray, _axes, _cast, _shape, _writable, broadcast_to, concatenate, expand_dims, flip, full, moveaxis,
                 reshape, slice as _slice, split, stack, take, transpose, where, zeros)


def atleast_1d(*arys):
    out = [reshape(a, (1,)) if _asarray(a).ndim == 0 else _asarray(a) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = []
    for a in arys:
        a = _asarray(a)
        out.append(reshape(a, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a)
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys):
    out = []
    for a in arys:
        a = _asarray(a)
        shape = {0: (1, 1, 1), 1: (1,) + a.shape + (1,), 2: a.shape + (1,)}.get(a.ndim, a.shape)
        out.append(reshape(a, shape))
    return out[0] if len(out) == 1 else out


def vstack(tup, dtype=None) -> Array:
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


row_stack = vstack


def hstack(tup, dtype=None) -> Array:
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1, dtype=dtype)


def dstack(tup) -> Array:
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def column_stack(tup) -> Array:
    return concatenate([reshape(a, (-1, 1)) if _asarray(a).ndim < 2 else _asarray(a) for a in tup], axis=1)


def unstack(x, axis: int = 0) -> tuple:
    x = _asarray(x)
    return tuple(reshape(p, x.shape[:axis % x.ndim] + x.shape[axis % x.ndim + 1:])
                 for p in split(x, x.shape[axis], axis)) if x.shape[axis] else ()


def array_split(a, indices_or_sections, axis: int = 0) -> list:
    a = _asarray(a)
    if isinstance(indices_or_sections, (int, numpy.integer)):
        n = int(indices_or_sections)
        size = a.shape[axis]
        each, extra = divmod(size, n)
        bounds, pos = [], 0
        for i in range(n - 1):
            pos += each + (1 if i < extra else 0)
            bounds.append(pos)
        return split(a, bounds, axis)
    return split(a, indices_or_sections, axis)


def _at_least(a, ndim: int, name: str):
    a = _asarray(a)
    if a.ndim < ndim:
        raise ShapeError(f"np.{name} needs an array of at least {ndim} dimensions (as NumPy), got shape {a.shape}; "
                         f"use np.split(a, n, axis=...) instead")
    return a


def hsplit(a, indices_or_sections) -> list:
    a = _at_least(a, 1, "hsplit")
    return split(a, indices_or_sections, axis=0 if a.ndim == 1 else 1)


def vsplit(a, indices_or_sections) -> list:
    return split(_at_least(a, 2, "vsplit"), indices_or_sections, axis=0)


def dsplit(a, indices_or_sections) -> list:
    return split(_at_least(a, 3, "dsplit"), indices_or_sections, axis=2)


def roll(a, shift, axis=None) -> Array:
    """Elements shifted along `axis` (the flattened array when None), wrapping around."""
    a = _asarray(a)
    if np_eager.untaped(a, shift):       # one NumPy copy instead of split + concatenate
        return NDArray(numpy.roll(a._data, shift, axis))
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), a.shape)
    shifts = numpy.broadcast_arrays(numpy.asarray(shift), numpy.asarray(axis))
    for s, ax in zip(shifts[0].reshape(-1), shifts[1].reshape(-1)):
        ax = int(ax) % a.ndim
        n = a.shape[ax]
        if n == 0 or int(s) % n == 0:
            continue
        k = int(s) % n
        head, tail = split(a, [n - k], ax)
        a = concatenate([tail, head], axis=ax)
    return a


def rollaxis(a, axis: int, start: int = 0) -> Array:
    a = _asarray(a)
    axis %= a.ndim
    start = start + a.ndim if start < 0 else start   # NumPy: a negative start counts from ndim, not ndim + 1
    if not 0 <= start <= a.ndim:
        raise ValueError(f"rollaxis: start {start} is out of range for a {a.ndim}-d array (-{a.ndim} <= start <= "
                         f"{a.ndim})")
    if axis < start:
        start -= 1
    return moveaxis(a, axis, start)


def fliplr(m) -> Array:
    return flip(m, 1)


def flipud(m) -> Array:
    return flip(m, 0)


def rot90(m, k: int = 1, axes=(0, 1)) -> Array:
    m = _asarray(m)
    k %= 4
    a0, a1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return transpose(flip(m, a1), perm) if k == 1 else flip(transpose(m, perm), a1)


def permute_dims(a, axes) -> Array:
    return transpose(a, axes)


def matrix_transpose(x) -> Array:
    return moveaxis(_asarray(x), -1, -2)


def append(arr, values, axis: Optional[int] = None) -> Array:
    arr, values = _asarray(arr), _asarray(values)
    if axis is None:
        return concatenate([reshape(arr, (-1,)), reshape(values, (-1,))])
    return concatenate([arr, values], axis=axis)


def delete(arr, obj, axis: Optional[int] = None) -> Array:
    arr = _asarray(arr)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    n = arr.shape[axis]
    keep = numpy.ones(n, bool)
    keep[numpy.asarray(obj) if not isinstance(obj, slice) else obj] = False
    return take(arr, NDArray(numpy.flatnonzero(keep).astype(numpy.int64)), axis=axis)


def insert(arr, obj, values, axis: Optional[int] = None) -> Array:
    """Static positions (ints, lists, slices) only: the result's shape depends on them."""
    arr = _asarray(arr)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    axis %= arr.ndim
    n = arr.shape[axis]
    positions = numpy.arange(n + 1)[obj] if isinstance(obj, slice) else numpy.asarray(obj)
    scalar_pos = positions.ndim == 0
    positions = numpy.atleast_1d(positions) % (n + 1)
    values = _asarray(values)
    count = len(positions)
    vshape = list(arr.shape)
    vshape[axis] = count
    if scalar_pos and values.ndim < arr.ndim:
        values = expand_dims(values, axis) if values.ndim == arr.ndim - 1 else values
    values = broadcast_to(_cast(values, arr.type.dtype), tuple(vshape))
    # the joined array's rows in final order: an inserted row goes before the original row it names
    order = numpy.argsort(numpy.concatenate([numpy.arange(n), positions - 0.5]), kind="stable")
    joined = concatenate([arr, values], axis=axis)
    return take(joined, NDArray(order.astype(numpy.int64)), axis=axis)


def resize(a, new_shape) -> Array:
    a = reshape(_asarray(a), (-1,))
    shape = _shape(new_shape)
    total = int(numpy.prod(shape))
    if a.size == 0 or total == 0:
        return zeros(shape, a.dtype)
    reps = -(-total // a.size)
    return reshape(_slice(concatenate([a] * reps) if reps > 1 else a, (0,), (total,)), shape)


def take_along_axis(arr, indices, axis: Optional[int] = -1) -> Array:
    """arr's elements at `indices` along `axis` (indices broadcast against arr elsewhere)."""
    arr, indices = _asarray(arr), _asarray(indices)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    axis %= arr.ndim
    if indices.ndim != arr.ndim:
        raise ShapeError(f"take_along_axis: indices ({indices.ndim}-d) and arr ({arr.ndim}-d) must have the same rank")
    shape = tuple(builtins.max(i, a) if k != axis else i for k, (i, a) in enumerate(zip(indices.shape, arr.shape)))
    idx = broadcast_to(_cast(indices, "i64"), shape)
    idx = where(idx < 0, idx + arr.shape[axis], idx)
    # one flat gather: the index along `axis`, plus every other axis's own position
    flat_arr = reshape(moveaxis(broadcast_to(arr, tuple(d if k != axis else arr.shape[axis]
                                                        for k, d in enumerate(shape))), axis, -1), (-1,))
    moved = moveaxis(idx, axis, -1)
    rows = int(numpy.prod(moved.shape[:-1]))
    base = NDArray((numpy.arange(rows, dtype=numpy.int64) * arr.shape[axis]).reshape(moved.shape[:-1] + (1,)))
    out = take(flat_arr, moved + base)
    return moveaxis(out, -1, axis)


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Array:
    a = _asarray(a)
    first, second = axis1 % a.ndim, axis2 % a.ndim
    a = transpose(a, [i for i in range(a.ndim) if i not in (first, second)] + [first, second])
    n, m = a.shape[-2:]
    rows = numpy.arange(builtins.max(0, -offset), n)
    cols = rows + offset
    ok = (cols >= 0) & (cols < m)
    rows, cols = rows[ok], cols[ok]
    flat = reshape(a, a.shape[:-2] + (n * m,))
    return take(flat, NDArray((rows * m + cols).astype(numpy.int64)), axis=-1)


def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype=None) -> Array:
    from .np import sum
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k: int = 0) -> Array:
    v = _asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag: input must be 1-d or 2-d, got {v.shape}")
    n = v.shape[0] + builtins.abs(k)
    rows = numpy.arange(v.shape[0]) + builtins.max(0, -k)
    cols = numpy.arange(v.shape[0]) + builtins.max(0, k)
    hit = numpy.full(n * n, v.shape[0], numpy.int64)
    hit[rows * n + cols] = numpy.arange(v.shape[0])
    padded = concatenate([v, zeros((1,), v.dtype)])
    return reshape(take(padded, NDArray(hit)), (n, n))


def diagflat(v, k: int = 0) -> Array:
    return diag(reshape(_asarray(v), (-1,)), k)


def tri(N: int, M: Optional[int] = None, k: int = 0, dtype="float32") -> NDArray:
    from .np import array
    return array(numpy.tri(N, M, k), dtype=dtype)


def tril_indices(n: int, k: int = 0, m: Optional[int] = None) -> tuple:
    return tuple(NDArray(i.astype(numpy.int64)) for i in numpy.tril_indices(n, k, m))


def triu_indices(n: int, k: int = 0, m: Optional[int] = None) -> tuple:
    return tuple(NDArray(i.astype(numpy.int64)) for i in numpy.triu_indices(n, k, m))


def tril_indices_from(arr, k: int = 0) -> tuple:
    return tril_indices(arr.shape[-2], k, arr.shape[-1])


def triu_indices_from(arr, k: int = 0) -> tuple:
    return triu_indices(arr.shape[-2], k, arr.shape[-1])


def diag_indices(n: int, ndim: int = 2) -> tuple:
    return tuple(NDArray(i.astype(numpy.int64)) for i in numpy.diag_indices(n, ndim))


def diag_indices_from(arr) -> tuple:
    return diag_indices(arr.shape[0], arr.ndim)


def indices(dimensions, dtype="int64", sparse: bool = False):
    out = numpy.indices(tuple(dimensions), dtype=numpy.dtype(dtype), sparse=sparse)
    return tuple(NDArray(o) for o in out) if sparse else NDArray(out)


def ix_(*args) -> tuple:
    arrays = [numpy.asarray(a) for a in args]
    return tuple(NDArray(o.astype(numpy.int64) if o.dtype.kind in "iub" and o.dtype != bool else o)
                 for o in numpy.ix_(*arrays))


def meshgrid(*xi, indexing: str = "xy", sparse: bool = False, copy: bool = True) -> list:
    arrays = [reshape(_asarray(x), (-1,)) for x in xi]
    n = len(arrays)
    shapes = []
    for i, a in enumerate(arrays):
        shape = [1] * n
        shape[i] = a.shape[0]
        if indexing == "xy" and n >= 2 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        shapes.append(tuple(shape))
    out = [reshape(a, s) for a, s in zip(arrays, shapes)]
    if sparse:
        return out
    full_shape = tuple(numpy.broadcast_shapes(*shapes))
    views = [broadcast_to(o, full_shape) for o in out]
    return [_writable(v) for v in views] if copy else views


def pad_modes(a, widths, mode: str) -> Array:
    """reflect / symmetric / edge / wrap padding, axis by axis, from slices and concatenate."""
    a = _asarray(a)
    for ax in range(a.ndim):
        before, after = (int(w) for w in widths[ax])
        n = a.shape[ax]
        if before == after == 0:
            continue
        if n == 0:
            raise ShapeError(f"pad: cannot pad axis {ax} of size 0 in mode {mode!r}")
        src = numpy.arange(n)
        left = numpy.arange(-before, 0)
        right = numpy.arange(n, n + after)
        if mode == "edge":
            pick = numpy.clip(numpy.concatenate([left, src, right]), 0, n - 1)
        elif mode == "wrap":
            pick = numpy.concatenate([left, src, right]) % n
        else:
            period = 2 * n - (2 if mode == "reflect" else 0) if n > 1 or mode == "symmetric" else 1
            idx = numpy.concatenate([left, src, right])
            if mode == "reflect":
                idx = numpy.abs(idx) % builtins.max(period, 1)
                pick = numpy.where(idx >= n, period - idx, idx) if n > 1 else numpy.zeros_like(idx)
            else:
                idx = numpy.where(idx < 0, -idx - 1, idx) % period
                pick = numpy.where(idx >= n, period - 1 - idx, idx)
        a = take(a, NDArray(pick.astype(numpy.int64)), axis=ax)
    return a


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and getattr(_v, "__module__", None) == __name__ and _n != "eager_only"]
