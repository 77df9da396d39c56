"""Apply a registry op to arrays: run it now (eager) or record it into the active trace.

This is the one place where eager and traced execution part ways; every np/npx function
and every Array operator goes through `bind`.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy

from .. import events
from ..errors import ShapeError
from ..ir.cost import describe_shapes, op_bytes, op_flops
from ..ir.registry import get_op, infer_types
from ..ir.types import TensorType
from .array import NDArray, Tracer, wrap_outputs
from .engine import ENGINE, annotate
from .source import user_line

# Set by hybrid.core.autograd: called as recorder(op, inputs, attrs, outputs) after every
# eager op while autograd is recording.
recorder: Optional[Callable] = None
# Set by hybrid.frontend.eager_kernels: eager_kernels(op, datas, in_types, out_types, attrs) returns the
# results of a compiled kernel, or None where the reference should run.
eager_kernels: Optional[Callable] = None


def infer_or_raise(op: str, types: list[TensorType], attrs: dict, regions=()) -> list[TensorType]:
    """The op's shape rule; on failure the error names the user's source line."""
    try:
        return infer_types(op, types, attrs, regions=regions)
    except ShapeError:
        line = user_line()
        infer_types(op, types, attrs, line.describe() if line else None, regions)
        raise


# Eager code repeats a few signatures (the same layer on the same batch shape), so the shape rules'
# answers are remembered: (op, operand types, attributes) -> result types.
_EAGER_TYPES: dict[tuple, tuple] = {}
_EAGER_TYPES_MAX = 8192


def eager_result_types(op: str, in_types: list[TensorType], attrs: dict) -> list[TensorType]:
    """infer_or_raise, remembered per signature (attributes that cannot be hashed skip the memo)."""
    try:
        key = (op, tuple(in_types), tuple(attrs.items()))
        known = _EAGER_TYPES.get(key)
    except TypeError:
        return infer_or_raise(op, in_types, attrs)
    if known is None:
        known = tuple(infer_or_raise(op, in_types, attrs))
        if len(_EAGER_TYPES) >= _EAGER_TYPES_MAX:
            _EAGER_TYPES.clear()
        _EAGER_TYPES[key] = known
    return list(known)


def bind(op: str, *inputs, **attrs):
    """Run `op` on Arrays (NDArray or Tracer). Returns one Array, or a tuple for multi-output ops."""
    for x in inputs:
        if isinstance(x, Tracer):
            from .tracing import current_trace
            # the innermost trace: inside a loop body or branch, outer values are captured into it
            return (current_trace() or x.trace).emit(op, inputs, attrs)
    in_types = [x.type for x in inputs]
    out_types = eager_result_types(op, in_types, attrs)
    deps = [x._pending for x in inputs if x._pending is not None and not x._pending.done]
    if ENGINE.wants(op, in_types, out_types, attrs, bool(deps)):
        outputs = _queue(op, inputs, attrs, in_types, out_types, deps)
    else:
        outputs = wrap_outputs(_profiled_run(op, inputs, attrs, in_types, out_types) if events.recording()
                               else _run(op, inputs, attrs, in_types, out_types), NDArray)
    if recorder is not None:
        recorder(op, inputs, attrs, outputs)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _queue(op: str, inputs, attrs: dict, in_types, out_types, deps: list) -> list:
    """Queue the op on the engine after `deps` (the queued ops making its operands); its results are
    futures (NDArray._future) until it has run."""
    from .array import NDArray

    line = user_line()
    where = line.describe() if line else None
    outputs = [NDArray._future(t) for t in out_types]
    profiled = events.recording()

    def work(pending) -> None:
        try:
            # a failed operand raises its error here
            result = (_profiled_run(op, inputs, attrs, in_types, out_types, where) if profiled
                      else _run(op, inputs, attrs, in_types, out_types))
            for o, r in zip(outputs, result if isinstance(result, tuple) else (result,)):
                o._buf = numpy.asarray(r)
        except Exception as exc:
            pending.error = annotate(exc, op, describe_shapes(in_types), where)
    pending = ENGINE.submit(work, deps, effects=get_op(op).effects)
    for o in outputs:
        o._pending = pending
    return outputs


def _run(op: str, inputs, attrs: dict, in_types, out_types):
    """A compiled kernel's results where eager_kernels has one for this op, else the reference's."""
    datas = [x._data for x in inputs]
    if eager_kernels is not None:
        result = eager_kernels(op, datas, in_types, out_types, attrs)
        if result is not None:
            return result
    return get_op(op).ref(*datas, **attrs)


def _profiled_run(op: str, inputs, attrs: dict, in_types, out_types, where: Optional[str] = None):
    """_run, reported to the profiler (hybrid.events) with its FLOPs, bytes, operand types and the user's line
    (`where`, for an op the engine runs later: by then the user's stack is gone)."""
    start = time.perf_counter_ns()
    result = _run(op, inputs, attrs, in_types, out_types)
    end = time.perf_counter_ns()
    if where is None:
        line = user_line()
        where = line.describe() if line else None
    events.emit(events.Event(op, "op", start, end - start, op_flops(op, in_types, out_types, attrs),
                             op_bytes(in_types, out_types), events.current_thread(),
                             {"shapes": describe_shapes(in_types), "line": where}))
    return result
