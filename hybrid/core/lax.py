"""The primitive layer: one function per use of a registry op, on core arrays, eager or traced.

Gradient rules (hybrid.ir.ops) and graph autodiff are written with these. Unlike `hb.np`, there
are no NumPy conventions here (no negative axes, no implicit casts between arrays): operands must
already agree, except that Python scalars are weak and take the dtype of the array they meet.
The rules live in the IR's registry, below this layer, so this module hands itself to
`ir.ops.gradkit` when imported; rules run only from core (the tape and `ad`), after that.
"""
from __future__ import annotations

import numbers
import sys

import numpy

from ..ir.ops import gradkit
from ..ir.types import to_numpy_dtype
from .array import Array, NDArray, Tracer
from .dispatch import bind


def _operands(values) -> list[Array]:
    """Python scalars become constants of the arrays' dtype."""
    arrays = [v for v in values if isinstance(v, Array)]
    if not arrays:
        raise TypeError("lax functions need at least one array operand")
    dtype = to_numpy_dtype(arrays[0].type.dtype)
    return [v if isinstance(v, Array) else NDArray(numpy.array(v, dtype)) for v in values]


def where(cond: Array, a, b) -> Array:
    return bind("where", cond, *_operands([a, b]))


def exp(x: Array) -> Array:
    return bind("exp", x)


def log(x: Array) -> Array:
    return bind("log", x)


def sin(x: Array) -> Array:
    return bind("sin", x)


def cos(x: Array) -> Array:
    return bind("cos", x)


def full_like(x: Array, value: numbers.Number) -> Array:
    """`value` in x's shape and dtype: for a traced x, a traced broadcast of one scalar constant
    (so the graph holds no large constants and the rules that read it are traced too); eagerly,
    a filled array."""
    dtype = to_numpy_dtype(x.type.dtype)
    if isinstance(x, Tracer):
        scalar = Tracer(x.trace, x.trace.value_of(NDArray(numpy.array(value, dtype))))
        return scalar if x.ndim == 0 else bind("broadcast_to", scalar, shape=tuple(x.shape))
    return NDArray(numpy.full(x.shape, value, dtype))


def zeros_like(x: Array) -> Array:
    return full_like(x, 0)


gradkit.install_lax(sys.modules[__name__])


# structured control flow (eager Python loops, traced region ops): hb.lax.cond / switch / while_loop / scan / fori_loop
from .control import cond, fori_loop, scan, switch, while_loop  # noqa: E402,F401
