"""Apply a registry op to arrays: run it now (eager) or record it into the active trace.

This is the one place where eager and traced execution part ways; every np/npx function
and every Array operator goes through `bind`.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from .. import events
from ..errors import ShapeError
from ..ir.cost import describe_shapes, op_bytes, op_flops
from ..ir.registry import get_op, infer_types
from ..ir.types import TensorType
from .source import user_line

# Set by hybrid.core.autograd: called as recorder(op, inputs, attrs, outputs) after every
# eager op while autograd is recording.
recorder: Optional[Callable] = None
# Set by hybrid.frontend.eager_kernels: eager_kernels(op, datas, in_types, out_types, attrs) returns the
# results of a compiled kernel, or None where the reference should run.
eager_kernels: Optional[Callable] = None


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
    in_types = [x.type for x in inputs]
    out_types = infer_or_raise(op, in_types, attrs)
    if events.recording():
        result = _profiled_run(op, inputs, attrs, in_types, out_types)
    else:
        result = _run(op, inputs, attrs, in_types, out_types)
    outputs = wrap_outputs(result, NDArray)
    if recorder is not None:
        recorder(op, inputs, attrs, outputs)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _run(op: str, inputs, attrs: dict, in_types, out_types):
    """A compiled kernel's results where eager_kernels has one for this op, else the reference's."""
    datas = [x._data for x in inputs]
    if eager_kernels is not None:
        result = eager_kernels(op, datas, in_types, out_types, attrs)
        if result is not None:
            return result
    return get_op(op).ref(*datas, **attrs)


def _profiled_run(op: str, inputs, attrs: dict, in_types, out_types):
    """_run, reported to the profiler (hybrid.events) with its FLOPs, bytes and operand types."""
    start = time.perf_counter_ns()
    result = _run(op, inputs, attrs, in_types, out_types)
    end = time.perf_counter_ns()
    line = user_line()
    events.emit(events.Event(op, "op", start, end - start, op_flops(op, in_types, out_types, attrs),
                             op_bytes(in_types, out_types), events.current_thread(),
                             {"shapes": describe_shapes(in_types), "line": line.describe() if line else None}))
    return result
