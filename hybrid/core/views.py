"""Views: basic indexing, reshape and transpose share memory with their base, as in NumPy.

Eagerly a view is an NDArray over a NumPy view of its base's data, so a write through either
reaches the other. While tracing, arrays are graph values and cannot alias: a view is a Tracer
that remembers how to read itself from its base and how to write a new value of itself back
into the base (a functional update). A write anywhere in a family of views is written back up
to the root; every member re-reads itself from its base the next time its value is used.
"""
from __future__ import annotations

from typing import Callable

import numpy

from .array import NDArray, Tracer


def eager_view(base: NDArray, result: NDArray, view_of: Callable[[numpy.ndarray], numpy.ndarray]) -> NDArray:
    """Make `result` (computed from `base` by ops, so autograd has recorded it) share base's memory:
    its data becomes `view_of(base data)`. Where NumPy would copy (reshaping non-contiguous data),
    the result stays a copy."""
    data = view_of(base._data)
    if numpy.shares_memory(data, base._data):
        result.wait_to_read()  # a queued op (core/engine.py) must not store its copy over the view later
        result._data = data
        result._base = base if base._base is None else base._base
    return result


def traced_view(base: Tracer, result: Tracer, read: Callable[[Tracer], Tracer],
                write: Callable[[Tracer, Tracer], Tracer]) -> Tracer:
    """Mark `result` as a view of `base`: `read(base)` derives it again after the family was written,
    `write(base, new)` is base with this view replaced by `new`."""
    result._base, result._read, result._write = base, read, write
    result._seen = result._root()._writes
    return result


def view_of(x, result, numpy_view: Callable[[numpy.ndarray], numpy.ndarray], read: Callable, write: Callable):
    """`result`, computed from `x`, made a view of `x` in whichever mode `x` is in."""
    if isinstance(x, NDArray) and isinstance(result, NDArray):
        return eager_view(x, result, numpy_view)
    if isinstance(x, Tracer) and isinstance(result, Tracer) and result is not x:
        return traced_view(x, result, read, write)
    return result
