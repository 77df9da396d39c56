"""Dead-code elimination: drop nodes none of whose results reach a graph output.

Stages:
  1. walk the nodes backwards from the graph outputs, marking the nodes whose results are read
  2. keep the marked nodes in their order (graph inputs stay: they are the signature)

Regions are cleaned the same way (their inputs stay: they are the region's signature).
Every primitive is pure (random ops are counter-based functions of their key input), so an
unread result never has an effect.
"""
from __future__ import annotations

from ..ir.graph import Graph
from .manager import register_pass
from .rewrite import in_regions


@register_pass("dce")
def dce(graph: Graph, **context) -> Graph:
    needed = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(v in needed for v in node.outputs):
            kept.append(node)
            needed.update(node.inputs)
    graph.nodes = kept[::-1]
    in_regions(graph, dce)
    return graph
