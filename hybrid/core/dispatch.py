"""Apply a registry op to arrays: run it now (eager) or record it into the active trace.

This is the one place where eager and traced execution part ways; every np/npx function
and every Array operator goes through `bind`.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..errors import ShapeError
from ..ir.registry import get_op, infer_types
from ..ir.types import TensorType
from .source import user_line

# Set by hybrid.core.autograd: called as recorder(op, inputs, attrs, outputs) after every
# eager op while autograd is recording.
recorder: Optional[Callable] = None


def infer_or_raise(op: str, types: list[TensorType], attrs: dict) -> list[TensorType]:
    """The op's shape rule; on failure the error names the user's source line."""
    try:
        return infer_types(op, types, attrs)
    except ShapeError:
        line = user_line()
        infer_types(op, types, attrs, line.describe() if line else None)
        raise


def bind(op: str, *inputs, **attrs):
    """Run `op` on Arrays (NDArray or Tracer). Returns one Array, or a tuple for multi-output ops."""
    from .array import NDArray, Tracer, wrap_outputs

    tracers = [x for x in inputs if isinstance(x, Tracer)]
    if tracers:
        return tracers[0].trace.emit(op, inputs, attrs)
    infer_or_raise(op, [x.type for x in inputs], attrs)
    result = get_op(op).ref(*[x._data for x in inputs], **attrs)
    outputs = wrap_outputs(result, NDArray)
    if recorder is not None:
        recorder(op, inputs, attrs, outputs)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)
