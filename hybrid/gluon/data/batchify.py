"""`gluon.data.batchify`: functions that turn a list of samples into a batch (MXNet's names).

    Stack()                      samples of equal shape -> one array with a new batch axis
    Pad(val=0, dtype=None, round_to=None)
                                 pad every axis to the largest sample's size, then stack (MXNet 2)
    Pad(axis=k, pad_val=0, ret_length=False)
                                 pad only axis k (GluonNLP's form; the other axes must agree), and
                                 with ret_length also return each sample's length along it
    Append(expand=True, batch_axis=0)
                                 a list of the samples as arrays (each with a batch axis of 1)
    Group(fn_1, fn_2, ...)       sample tuples: field i batchified by fn_i

Batches are hybrid NDArrays; 64-bit NumPy data becomes float32 / int32 as in the DataLoader.
`__mx_handle__()` (MXNet's C++ batchify for its no-Python DataLoader path) returns the function
itself: hybrid has one data pipeline, so the handle is the same Python object.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy

from ...core.array import NDArray
from ...errors import ShapeError

_NARROW = {numpy.dtype(numpy.float64): numpy.float32, numpy.dtype(numpy.int64): numpy.int32}


def _host(x) -> numpy.ndarray:
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


def _wrap(a: numpy.ndarray, dtype=None) -> NDArray:
    if dtype is not None:
        return NDArray(a.astype(dtype))
    narrow = _NARROW.get(a.dtype)
    return NDArray(a.astype(narrow) if narrow is not None else a)


class _Batchify:
    def __mx_handle__(self) -> "_Batchify":
        return self


class Stack(_Batchify):
    """Samples of one shape stacked along a new batch axis."""

    def __init__(self, dtype=None, use_shared_mem: bool = False):
        self._dtype = dtype   # use_shared_mem: batches are host arrays any worker process can send anyway

    def __call__(self, data: list) -> NDArray:
        arrays = [_host(d) for d in data]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ShapeError(f"batchify.Stack: samples have different shapes {sorted(shapes)}; use batchify.Pad")
        return _wrap(numpy.stack(arrays), self._dtype)


class Pad(_Batchify):
    """Samples padded with `val` (alias `pad_val`) to a common shape, then stacked: every axis to the
    largest sample's size (MXNet 2), or only `axis`; round_to rounds padded sizes up to a multiple;
    ret_length also returns each sample's length along `axis` (axis 0 when every axis is padded)."""

    def __init__(self, val=None, dtype=None, round_to: Optional[int] = None, use_shared_mem: bool = False, *,
                 axis: Optional[int] = None, pad_val=None, ret_length: bool = False):
        if val is not None and pad_val is not None and val != pad_val:
            raise ValueError(f"batchify.Pad: val={val} and pad_val={pad_val} disagree; pass one of them")
        self._axis, self._pad_val = axis, next((v for v in (val, pad_val) if v is not None), 0)
        self._ret_length, self._dtype, self._round_to = ret_length, dtype, round_to

    def __call__(self, data: list):
        arrays = [_host(d) for d in data]
        ndim = arrays[0].ndim
        if any(a.ndim != ndim for a in arrays):
            raise ShapeError(f"batchify.Pad: samples must have the same number of dimensions, got shapes "
                             f"{[a.shape for a in arrays]}")
        axes = range(ndim) if self._axis is None else [self._axis % ndim]
        target = list(arrays[0].shape)
        for axis in axes:
            longest = max(a.shape[axis] for a in arrays)
            if self._round_to:
                longest = -(-longest // self._round_to) * self._round_to
            target[axis] = longest
        if any(a.shape[k] != target[k] for a in arrays for k in range(ndim) if k not in axes):
            raise ShapeError(f"batchify.Pad(axis={self._axis}): samples differ off the padded axis, shapes "
                             f"{[a.shape for a in arrays]}; use Pad() to pad every axis")
        padded = [numpy.pad(a, [(0, t - d) for d, t in zip(a.shape, target)], constant_values=self._pad_val)
                  for a in arrays]
        batch = _wrap(numpy.stack(padded), self._dtype)
        if not self._ret_length:
            return batch
        length_axis = 0 if self._axis is None else self._axis % ndim
        return batch, NDArray(numpy.array([a.shape[length_axis] for a in arrays], numpy.int32))


class Append(_Batchify):
    """The samples as a list of arrays, each with a batch axis of 1 at `batch_axis` (expand=True)."""

    def __init__(self, expand: bool = True, batch_axis: int = 0, use_shared_mem: bool = False):
        self._expand, self._batch_axis = expand, batch_axis

    def __call__(self, data: list) -> list:
        out = []
        for d in data:
            a = _host(d)
            out.append(_wrap(numpy.expand_dims(a, self._batch_axis) if self._expand else a))
        return out


class Group(_Batchify):
    """Tuple samples: field i batchified by the i-th function."""

    def __init__(self, fn: Callable, *fns: Callable):
        self._fns = list(fn) if isinstance(fn, (list, tuple)) and not fns else [fn, *fns]

    def __call__(self, data: list) -> tuple:
        fields = list(zip(*data))
        if len(fields) != len(self._fns):
            raise ShapeError(f"batchify.Group: samples have {len(fields)} fields for {len(self._fns)} functions")
        return tuple(fn(list(field)) for fn, field in zip(self._fns, fields))


__all__ = ["Stack", "Pad", "Append", "Group"]
