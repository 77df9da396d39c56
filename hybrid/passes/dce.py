"""Dead-code elimination: drop nodes none of whose results reach a graph output.

Stages:
  1. walk the nodes backwards from the graph outputs, marking the nodes whose results are read
  2. keep the marked nodes in their order (graph inputs stay: they are the signature)

Regions are cleaned the same way (their inputs stay: they are the region's signature).
Primitives are pure (random ops are counter-based functions of their key input), so an
unread result has no effect; the exception is an op with effects (OpDef.effects: a collective
that other processes wait for), which is kept even when nothing reads its results.
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import in_regions


@register_pass("dce")
def dce(graph: Graph, **context) -> Graph:
    needed = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(v in needed for v in node.outputs) or get_op(node.op).effects:
            kept.append(node)
            needed.update(node.inputs)
    graph.nodes = kept[::-1]
    in_regions(graph, dce)
    return graph
