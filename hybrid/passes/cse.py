"""Common-subexpression elimination: one node per distinct (op, operands, attributes).

Stages:
  1. sweep the nodes in order; a node's key is its op, its (already deduplicated) operands and
     its attributes (constants by dtype, shape and bytes; nodes holding regions by their
     regions' text); each region is deduplicated on its own first (it sees no outside value)
  2. operands of commutative ops (OpDef.commutative) are sorted by definition order first, so
     add(%a, %b) and add(%b, %a) share a key
  3. a node whose key was seen before is replaced by the earlier node's results
Ops with effects (OpDef.effects, e.g. allreduce) are never merged: each one is a message the
other processes expect.
"""
from __future__ import annotations

import numpy

from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import Rewriter, in_regions


def _attr_key(value):
    if isinstance(value, numpy.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (tuple, list)):
        return tuple(_attr_key(v) for v in value)
    if isinstance(value, float):
        return ("float", value.hex()) if value == value else ("float", "nan")  # 0.0 and -0.0 differ
    return (type(value).__name__, value)


def node_key(node: Node, order: dict[Value, int]) -> tuple:
    inputs = [order[v] for v in node.inputs]
    if get_op(node.op).commutative:
        inputs.sort()
    attrs = tuple(sorted((k, _attr_key(v)) for k, v in node.attrs.items()))
    return node.op, tuple(inputs), attrs, tuple(str(r) for r in node.regions)


@register_pass("cse")
def cse(graph: Graph, **context) -> Graph:
    order: dict[Value, int] = {v: i for i, v in enumerate(graph.inputs)}
    seen: dict[tuple, Node] = {}
    in_regions(graph, cse)
    rw = Rewriter(graph)
    for node in rw.sweep():
        if get_op(node.op).effects:
            for v in node.outputs:
                order[v] = len(order)
            rw.keep(node)
            continue
        key = node_key(node, order)
        earlier = seen.get(key)
        if earlier is not None:
            for old, new in zip(node.outputs, earlier.outputs):
                rw.replace(old, new)
            continue
        seen[key] = node
        for v in node.outputs:
            order[v] = len(order)
        rw.keep(node)
    return rw.finish()
