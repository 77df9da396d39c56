"""Algebraic simplification: rewrites that make the graph smaller without changing a result.

Stages (one forward sweep per round, repeated until nothing changes):
  1. identities: x+0, 0+x, x-0, x*1, 1*x, x/1 -> x (broadcast_to when the constant widened
     x); x*0 -> 0 only for integer and bool dtypes (for floats, NaN*0 and inf*0 are NaN)
  2. casts to the same dtype, identity transposes/reshapes/broadcasts -> their operand
  3. chains: transpose(transpose(x)) -> one transpose (or x), reshape(reshape(x)) -> one
     reshape, broadcast_to(broadcast_to(x)) -> one broadcast_to
  4. broadcasts feeding elementwise ops: op(broadcast_to(s), y) -> op(s, y) when NumPy
     broadcasting gives the same result shape (scalars need no materialized broadcast)
  5. matmul(transpose(a), b) with a transpose of the last two axes -> matmul(a, b) with
     transpose_a flipped (same for b and transpose_b)
  6. slice(broadcast_to(x)) -> broadcast_to(slice(x)) (slice_broadcasts.py, which also runs at O0)
Dead producers left behind are removed by the dce pass that follows in the pipelines.
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..errors import ShapeError
from ..ir.graph import Graph, Node, Value
from ..ir.ops.common import broadcast_shapes
from ..ir.registry import get_op
from ..ir.types import is_float, to_numpy_dtype
from .manager import register_pass
from .rewrite import Rewriter, in_regions, rewrite_round, splat_value
from .slice_broadcasts import slice_of_broadcast

MAX_ROUNDS = 8


def _as_result(rw: Rewriter, node: Node, x: Value) -> Value:
    """`x` standing in for node's result: broadcast when the dropped operand widened it."""
    out = node.output
    if x.type == out.type:
        return x
    return rw.emit("broadcast_to", [x], {"shape": out.shape}, like=node)


def _identity(rw: Rewriter, node: Node, frozen) -> Optional[Value]:
    if node.op not in ("add", "sub", "mul", "div"):
        return None
    a, b = node.inputs
    ca, cb = splat_value(a, frozen), splat_value(b, frozen)
    unit = 0 if node.op in ("add", "sub") else 1
    if cb is not None and cb == unit:
        return _as_result(rw, node, a)
    if ca is not None and ca == unit and node.op in ("add", "mul"):
        return _as_result(rw, node, b)
    if node.op == "mul" and not is_float(node.output.dtype) and 0 in (ca, cb):
        zero = rw.constant(numpy.zeros((), to_numpy_dtype(node.output.dtype)), like=node)
        return _as_result(rw, node, zero)
    return None


def _noop(rw: Rewriter, node: Node, frozen) -> Optional[Value]:
    x = node.inputs[0] if node.inputs else None
    if node.op == "cast" and x.dtype == node.output.dtype:
        return x
    if node.op == "transpose" and list(node.attrs["perm"]) == list(range(x.type.ndim)):
        return x
    if node.op in ("reshape", "broadcast_to") and x.shape == node.output.shape:
        return x
    return None


def _chain(rw: Rewriter, node: Node, frozen) -> Optional[Value]:
    if node.op not in ("transpose", "reshape", "broadcast_to"):
        return None
    inner = node.inputs[0].producer
    if inner is None or inner.op != node.op:
        return None
    x = inner.inputs[0]
    if node.op == "transpose":
        perm = tuple(inner.attrs["perm"][p] for p in node.attrs["perm"])
        if perm == tuple(range(len(perm))):
            return x
        return rw.emit("transpose", [x], {"perm": perm}, like=node)
    if x.shape == node.output.shape:
        return x
    return rw.emit(node.op, [x], {"shape": node.attrs["shape"]}, like=node)


def _unbroadcast_operands(rw: Rewriter, node: Node, frozen) -> Optional[Value]:
    if get_op(node.op).kind != "elementwise":
        return None
    inputs = list(node.inputs)
    changed = False
    for k, v in enumerate(inputs):
        if v.producer is None or v.producer.op != "broadcast_to":
            continue
        trial = inputs[:k] + [v.producer.inputs[0]] + inputs[k + 1:]
        try:
            ok = broadcast_shapes(*(t.shape for t in trial)) == node.output.shape
        except ShapeError:
            ok = False
        if ok:
            inputs, changed = trial, True
    if not changed:
        return None
    return rw.emit(node.op, inputs, node.attrs, like=node)


def _swaps_last_two(v: Value) -> Optional[Value]:
    """x when v = transpose(x) exchanging only the last two axes."""
    p = v.producer
    if p is None or p.op != "transpose":
        return None
    n = len(p.attrs["perm"])
    swap = tuple(range(n - 2)) + (n - 1, n - 2)
    return p.inputs[0] if n >= 2 and tuple(p.attrs["perm"]) == swap else None


def _matmul_transpose(rw: Rewriter, node: Node, frozen) -> Optional[Value]:
    if node.op != "matmul":
        return None
    a, b = node.inputs
    ta, tb = bool(node.attrs.get("transpose_a")), bool(node.attrs.get("transpose_b"))
    xa, xb = _swaps_last_two(a), _swaps_last_two(b)
    if xa is None and xb is None:
        return None
    if xa is not None:
        a, ta = xa, not ta
    if xb is not None:
        b, tb = xb, not tb
    return rw.emit("matmul", [a, b], {"transpose_a": ta, "transpose_b": tb}, like=node)


RULES = (_identity, _noop, _chain, _unbroadcast_operands, _matmul_transpose, slice_of_broadcast)


@register_pass("simplify")
def simplify(graph: Graph, frozen=None, **context) -> Graph:
    in_regions(graph, simplify)
    for _ in range(MAX_ROUNDS):
        if not rewrite_round(graph, RULES, frozen):
            break
    return graph
