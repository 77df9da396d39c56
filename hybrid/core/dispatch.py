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
from ..ir.types import DTYPES, TensorType
from .array import NDArray, Tracer
from .autograd import _state as _autograd     # the per-thread recording flag: read on every op
from .engine import ENGINE, annotate
from .source import user_line

# Set by hybrid.core.autograd: called as recorder(op, inputs, attrs, outputs) after every
# eager op while autograd is recording.
recorder: Optional[Callable] = None
# Set by hybrid.frontend.eager_kernels: eager_kernels(signature, datas) returns the results of a compiled
# kernel, or None where the reference should run (called on every eager op: small ones leave first).
eager_kernels: Optional[Callable] = None


def infer_or_raise(op: str, types: list[TensorType], attrs: dict, regions=()) -> list[TensorType]:
    """The op's shape rule; on failure the error names the user's source line."""
    try:
        return infer_types(op, types, attrs, regions=regions)
    except ShapeError:
        line = user_line()
        infer_types(op, types, attrs, line.describe() if line else None, regions)
        raise


class Signature:
    """What every eager call of one (op, operand types, attributes) shares, worked out at its first call: the
    result types (the shape rule's answer), the reference, and the sizes the engine's and the compiled
    kernels' policies decide on. Eager code repeats a few signatures (the same layer on the same batch
    shape), so an eager op's own bookkeeping is one dictionary look-up (see bind)."""

    __slots__ = ("op", "in_types", "attrs", "out_types", "ref", "kind", "size", "flops", "effects", "taped",
                 "result_types", "result_type")

    def __init__(self, op: str, in_types: tuple, attrs: dict):
        opdef = get_op(op)
        self.op, self.in_types, self.attrs = op, in_types, attrs
        self.out_types = tuple(infer_or_raise(op, list(in_types), attrs))
        self.ref, self.kind, self.effects, self.taped = opdef.ref, opdef.kind, opdef.effects, opdef.differentiable
        self.size = self.out_types[0].size
        # the work of ops whose cost is not their result's size (Engine.wants, EagerKernels decide on it)
        self.flops = (op_flops(op, in_types, self.out_types, attrs) if self.kind in ("conv", "matmul", "pool")
                      else 0)
        # the types handed to the result arrays: out_types once a result's data was seen to match them (NumPy's
        # result types depend on the operands' types alone), None (the array works its type out) before
        self.result_types = (None,) * len(self.out_types)
        self.result_type = None     # a single result's type, once checked: bind's shortcut

    def wrap(self, result) -> list[NDArray]:
        """The arrays holding a kernel's or the reference's result (one array, or a tuple of them)."""
        if len(self.out_types) == 1:
            return [NDArray(result if type(result) is numpy.ndarray else numpy.asarray(result),
                            self.result_types[0] or self._check([result])[0])]
        datas = [r if type(r) is numpy.ndarray else numpy.asarray(r) for r in result]
        types = self.result_types if self.result_types[0] is not None else self._check(datas)
        return [NDArray(d, t) for d, t in zip(datas, types)]

    def _check(self, datas: list) -> tuple:
        if all(numpy.asarray(d).dtype == DTYPES[t.dtype] and numpy.shape(d) == t.shape
               for d, t in zip(datas, self.out_types)):
            self.result_types = self.out_types
            self.result_type = self.out_types[0] if len(self.out_types) == 1 else None
        return self.result_types


_SIGNATURES: dict[tuple, Signature] = {}
_SIGNATURES_MAX = 8192


def signature(op: str, in_types: tuple, attrs: dict) -> Signature:
    """The Signature of an eager call, remembered (attributes that cannot be hashed are worked out each time;
    an attribute's type counts, so 1 and 1.0 or True are different signatures)."""
    try:
        key = (op, in_types, tuple([(k, type(v), v) for k, v in attrs.items()])) if attrs else (op, in_types)
        known = _SIGNATURES.get(key)
    except TypeError:
        return Signature(op, in_types, attrs)
    if known is None:
        known = Signature(op, in_types, attrs)
        if len(_SIGNATURES) >= _SIGNATURES_MAX:
            _SIGNATURES.clear()
        _SIGNATURES[key] = known
    return known


def bind(op: str, *inputs, **attrs):
    """Run `op` on Arrays (NDArray or Tracer). Returns one Array, or a tuple for multi-output ops."""
    # every eager op passes here: plain loops (cheaper than comprehensions for an op's few operands)
    types, datas = [], []   # datas: the buffers of the operands that are plain NDArrays holding their data
    ready = True            # every operand is one
    for x in inputs:
        if type(x) is NDArray and x._pending is None:
            types.append(x._type or x.type)
            datas.append(x._buf)
            continue
        if isinstance(x, Tracer):
            from .tracing import current_trace
            # the innermost trace: inside a loop body or branch, outer values are captured into it
            return (current_trace() or x.trace).emit(op, inputs, attrs)
        types.append(x.type)         # a queued op's result, a device array: bind's other cases
        ready = False
    types = tuple(types)
    sig = None if attrs else _SIGNATURES.get((op, types))     # signature()'s look-up, inline for the plain case
    if sig is None:
        sig = signature(op, types, attrs)
    if ready and not ENGINE.wants(sig) and not events.recording():     # small-array code's path
        result = _run(sig, datas, attrs)
        known = sig.result_type
        outputs = [NDArray(result, known)] if known is not None and type(result) is numpy.ndarray else sig.wrap(result)
    else:
        outputs = _bind_slow(sig, inputs, attrs)
    if recorder is not None and sig.taped and _autograd.recording:
        recorder(op, inputs, attrs, outputs)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _bind_slow(sig: Signature, inputs, attrs: dict) -> list:
    """bind's other cases: operands still being made by queued ops, large work the engine queues, device
    arrays, a profiler session recording."""
    deps = [x._pending for x in inputs if x._pending is not None and not x._pending.done]
    if ENGINE.wants(sig, bool(deps)):
        return _queue(sig, inputs, attrs, deps)
    datas = [x._data for x in inputs]
    return sig.wrap(_profiled_run(sig, datas, attrs) if events.recording() else _run(sig, datas, attrs))


def _queue(sig: Signature, inputs, attrs: dict, deps: list) -> list:
    """Queue the op on the engine after `deps` (the queued ops making its operands); its results are
    futures (NDArray._future) until it has run."""
    line = user_line()
    where = line.describe() if line else None
    outputs = [NDArray._future(t) for t in sig.out_types]
    profiled = events.recording()

    def work(pending) -> None:
        try:
            datas = [x._data for x in inputs]        # a failed operand raises its error here
            result = _profiled_run(sig, datas, attrs, where) if profiled else _run(sig, datas, attrs)
            for o, r in zip(outputs, result if len(outputs) > 1 else (result,)):
                o._buf = numpy.asarray(r)
        except Exception as exc:
            pending.error = annotate(exc, sig.op, describe_shapes(sig.in_types), where)
    pending = ENGINE.submit(work, deps, effects=sig.effects)
    for o in outputs:
        o._pending = pending
    return outputs


def _run(sig: Signature, datas: list, attrs: dict):
    """A compiled kernel's results where eager_kernels has one for this op, else the reference's (called with
    the call's own attributes: equal ones of the signature may differ in type)."""
    if eager_kernels is not None:
        result = eager_kernels(sig, datas)
        if result is not None:
            return result
    return sig.ref(*datas, **attrs)


def _profiled_run(sig: Signature, datas: list, attrs: dict, where: Optional[str] = None):
    """_run, reported to the profiler (hybrid.events) with its FLOPs, bytes, operand types and the user's line
    (`where`, for an op the engine runs later: by then the user's stack is gone)."""
    start = time.perf_counter_ns()
    result = _run(sig, datas, attrs)
    end = time.perf_counter_ns()
    if where is None:
        line = user_line()
        where = line.describe() if line else None
    events.emit(events.Event(sig.op, "op", start, end - start, op_flops(sig.op, sig.in_types, sig.out_types, sig.attrs),
                             op_bytes(sig.in_types, sig.out_types), events.current_thread(),
                             {"shapes": describe_shapes(sig.in_types), "line": where}))
    return result
