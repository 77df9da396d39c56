"""NumPy advanced indexing: integer arrays and boolean masks on any axes, mixed with slices,
integers, None and Ellipsis (`x[idx]`, `x[:, [0, 2]]`, `x[rows, cols]`, `x[x > 0]`, `x[0, :, idx]`).

The result is one gather: the advanced axes move to the front and merge into one axis, the
index arrays (broadcast together) become one flat index into it, `take` reads it, and the
gathered dimensions go where NumPy puts them (in place when the advanced indices are adjacent,
first otherwise). So it works eagerly, traced and under autograd alike. A boolean mask has a
data-dependent number of true elements: eagerly it becomes its indices (`nonzero`); traced it
is a TracingError that names the line and the static alternative (np.where).
"""
from __future__ import annotations

import numpy

from ..core.array import Array, NDArray, Tracer, _tracing_error
from . import np_eager

_MASK_HELP = ("A boolean mask selects a data-dependent number of elements, so the result has no static shape. "
              "Use np.where(mask, x, 0) to keep the shape (then reduce it, e.g. np.sum), or index outside the "
              "hybridized code and pass the result in.")


def is_advanced(key) -> bool:
    """Whether NumPy treats `key` as advanced indexing (an array, list or boolean anywhere)."""
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (Array, list, numpy.ndarray, bool, numpy.bool_)) for k in parts)


def _mask_indices(mask, np) -> list:
    """The integer index arrays that NumPy reads a boolean mask as (one per masked axis)."""
    if isinstance(mask, Tracer):
        raise _tracing_error("Boolean-mask indexing (x[mask]) was used", _MASK_HELP, data_dependent_shape=True)
    data = numpy.asarray(mask)
    return [np.asarray(i.astype(numpy.int64)) for i in numpy.nonzero(numpy.atleast_1d(data))] \
        if data.ndim else [np.asarray(numpy.zeros(int(data), numpy.int64))]


def _normalize(key, shape: tuple[int, ...], np) -> list:
    """Entries, each ("adv", int array, axis) / ("slice", slice, axis) / ("new",); ints become 0-d
    index arrays (NumPy treats them as advanced here); a 0-d boolean is an index array of length
    1 or 0 on no axis."""
    ndim = len(shape)
    parts = list(key) if isinstance(key, tuple) else [key]
    if sum(k is Ellipsis for k in parts) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = 0
    for k in parts:
        if k is None or k is Ellipsis or isinstance(k, (bool, numpy.bool_)):
            continue
        arr = k if isinstance(k, Array) else numpy.asarray(k) if isinstance(k, (list, numpy.ndarray)) else None
        consumed += arr.ndim if arr is not None and arr.dtype == numpy.bool_ else 1
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {consumed} were indexed")
    entries, axis = [], 0
    for k in parts:
        if k is Ellipsis:
            for _ in range(ndim - consumed):
                entries.append(("slice", slice(None), axis))
                axis += 1
        elif k is None:
            entries.append(("new",))
        elif isinstance(k, slice):
            entries.append(("slice", k, axis))
            axis += 1
        elif isinstance(k, (bool, numpy.bool_)) or (isinstance(k, Array) and k.ndim == 0 and k.dtype == numpy.bool_):
            if isinstance(k, Tracer):
                raise _tracing_error("Boolean-mask indexing (x[mask]) was used", _MASK_HELP, data_dependent_shape=True)
            entries.append(("adv", np.asarray(numpy.zeros(int(bool(k)), numpy.int64)), None))
        else:
            arr = k if isinstance(k, Array) else np.asarray(numpy.asarray(k) if not isinstance(k, int) else
                                                            numpy.int64(k))
            if arr.dtype == numpy.bool_:
                # NumPy lets an empty mask index any axes (it selects nothing)
                if arr.size and tuple(arr.shape) != tuple(shape[axis:axis + arr.ndim]):
                    raise IndexError(f"boolean index of shape {tuple(arr.shape)} does not match the indexed "
                                     f"array's axes {axis}..{axis + arr.ndim - 1} of shape {tuple(shape)}")
                for idx in _mask_indices(arr, np):
                    entries.append(("adv", idx, axis))
                    axis += 1
            else:
                if arr.dtype.kind not in "iu":
                    raise IndexError("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                                     f"integer or boolean arrays are valid indices, got an array of {arr.dtype}")
                entries.append(("adv", arr, axis))
                axis += 1
    entries += [("slice", slice(None), a) for a in range(axis, ndim)]
    return entries


def _group_is_adjacent(entries) -> bool:
    positions = [i for i, e in enumerate(entries) if e[0] == "adv"]
    return positions == list(range(positions[0], positions[-1] + 1))


def _numpy_getitem(x: Array, key):
    """x[key] by NumPy itself, for an eager array with no gradient to tape (NumPy's advanced
    indexing copies too); None where it must go through the gather (traced, taped, or an index
    NumPy rejects: the gather path then raises hybrid's error)."""
    parts = key if isinstance(key, tuple) else (key,)
    if not isinstance(x, NDArray) or not np_eager.untaped(x, *parts):
        return None
    raw = tuple(p._data if isinstance(p, NDArray) else p for p in parts)
    try:
        return NDArray(numpy.ascontiguousarray(x._data[raw if isinstance(key, tuple) else raw[0]]))
    except IndexError:
        return None


def getitem_advanced(x: Array, key):
    from . import np

    fast = _numpy_getitem(x, key)
    if fast is not None:
        return fast
    entries = _normalize(key, tuple(x.shape), np)
    # 1. the slices, as one basic index (advanced axes kept whole)
    basic = tuple(e[1] if e[0] == "slice" else slice(None) for e in entries if e[0] != "new" and e[2] is not None)
    y = x[basic] if any(s != slice(None) for s in basic) else x
    adv = [e for e in entries if e[0] == "adv"]
    adv_axes = [e[2] for e in adv if e[2] is not None]
    rest_axes = [a for a in range(y.ndim) if a not in adv_axes]
    # 2. advanced axes to the front, merged into one; a flat index into it
    merged = 1
    for a in adv_axes:
        merged *= y.shape[a]
    y = np.reshape(np.transpose(y, adv_axes + rest_axes), (merged,) + tuple(y.shape[a] for a in rest_axes))
    arrays = np.broadcast_arrays(*[e[1] for e in adv])
    flat = None
    stride = 1
    for e, idx in reversed(list(zip(adv, arrays))):
        if e[2] is None:
            continue
        size = x.shape[e[2]]
        idx = np.astype(idx, "i64")
        bad = np.logical_or(np.less(idx, -size), np.greater_equal(idx, size))
        if not isinstance(bad, Tracer) and numpy.asarray(bad).any():
            raise IndexError(f"index out of bounds for axis {e[2]} with size {size}")
        idx = np.where(np.less(idx, 0), np.add(idx, size), idx)
        term = idx if stride == 1 else np.multiply(idx, stride)
        flat = term if flat is None else np.add(flat, term)
        stride *= size
    if flat is None:  # only 0-d boolean entries
        flat = np.zeros(arrays[0].shape, "i64")
    gathered = np.take(y, flat, axis=0)
    # 3. where NumPy places the broadcast index dimensions, and the new axes
    bshape = tuple(flat.shape)
    rest_shape = [y.shape[1 + i] for i in range(len(rest_axes))]
    out_shape, order, ri = [], [], 0
    adjacent = _group_is_adjacent(entries)
    placed = not adjacent
    for e in entries:
        if e[0] == "adv":
            if not placed:
                out_shape += list(bshape)
                placed = True
        elif e[0] == "new":
            out_shape.append(1)
        else:
            out_shape.append(rest_shape[ri])
            ri += 1
    if not adjacent:
        out_shape = list(bshape) + out_shape
    # gathered is (bshape + rest); move bshape to the group's place among the rest dims
    if adjacent:
        before = 0
        for e in entries:
            if e[0] == "adv":
                break
            if e[0] == "slice":
                before += 1
        nb = len(bshape)
        perm = list(range(nb, nb + before)) + list(range(nb)) + list(range(nb + before, gathered.ndim))
        gathered = np.transpose(gathered, perm)
    return np.reshape(gathered, tuple(out_shape))
