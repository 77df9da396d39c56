"""`gluon.data.batchify`: functions that turn a list of samples into a batch (MXNet's names).

    Stack()                      samples of equal shape -> one array with a new batch axis
    Pad(axis=0, pad_val=0, ret_length=False)
                                 pad along `axis` to the longest sample, then stack (and the lengths)
    Append(expand=True, batch_axis=0)
                                 a list of the samples as arrays (each with a batch axis of 1)
    Group(fn_1, fn_2, ...)       sample tuples: field i batchified by fn_i

Batches are hybrid NDArrays; 64-bit NumPy data becomes float32 / int32 as in the DataLoader.
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


class Stack:
    def __init__(self, dtype=None):
        self._dtype = dtype

    def __call__(self, data: list) -> NDArray:
        arrays = [_host(d) for d in data]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ShapeError(f"batchify.Stack: samples have different shapes {sorted(shapes)}; use batchify.Pad")
        return _wrap(numpy.stack(arrays), self._dtype)


class Pad:
    def __init__(self, axis: int = 0, pad_val=None, ret_length: bool = False, dtype=None, round_to: Optional[int] = None):
        self._axis, self._pad_val = axis, 0 if pad_val is None else pad_val
        self._ret_length, self._dtype, self._round_to = ret_length, dtype, round_to

    def __call__(self, data: list):
        arrays = [_host(d) for d in data]
        ndim = arrays[0].ndim
        if any(a.ndim != ndim for a in arrays):
            raise ShapeError("batchify.Pad: samples must have the same number of dimensions")
        axis = self._axis % ndim
        lengths = numpy.array([a.shape[axis] for a in arrays], numpy.int32)
        longest = int(lengths.max())
        if self._round_to:
            longest = -(-longest // self._round_to) * self._round_to
        padded = []
        for a in arrays:
            widths = [(0, 0)] * ndim
            widths[axis] = (0, longest - a.shape[axis])
            padded.append(numpy.pad(a, widths, constant_values=self._pad_val))
        batch = _wrap(numpy.stack(padded), self._dtype)
        return (batch, NDArray(lengths)) if self._ret_length else batch


class Append:
    def __init__(self, expand: bool = True, batch_axis: int = 0):
        self._expand, self._batch_axis = expand, batch_axis

    def __call__(self, data: list) -> list:
        out = []
        for d in data:
            a = _host(d)
            out.append(_wrap(numpy.expand_dims(a, self._batch_axis) if self._expand else a))
        return out


class Group:
    def __init__(self, fn: Callable, *fns: Callable):
        self._fns = list(fn) if isinstance(fn, (list, tuple)) and not fns else [fn, *fns]

    def __call__(self, data: list) -> tuple:
        fields = list(zip(*data))
        if len(fields) != len(self._fns):
            raise ShapeError(f"batchify.Group: samples have {len(fields)} fields for {len(self._fns)} functions")
        return tuple(fn(list(field)) for fn, field in zip(self._fns, fields))


__all__ = ["Stack", "Pad", "Append", "Group"]
