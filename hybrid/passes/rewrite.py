"""Helpers the rewriting passes share (not a pass itself).

Stages of a rewrite with `Rewriter`:
  1. sweep the nodes once in order; each node's inputs are already resolved through the
     substitutions made so far, so a rule sees the rewritten producers
  2. a rule keeps the node, maps its output onto an existing value, or emits new nodes
  3. `finish` installs the new node list and the resolved graph outputs

One forward sweep with a substitution map is O(nodes): the passes never call
Graph.replace_uses (O(nodes) per call) inside a loop.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy

from ..ir.graph import Graph, Node, Value
from ..ir.registry import infer_types
from ..ir.types import to_numpy_dtype


class Rewriter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.subst: dict[Value, Value] = {}
        self.nodes: list[Node] = []

    def resolve(self, v: Value) -> Value:
        while v in self.subst:
            v = self.subst[v]
        return v

    def sweep(self) -> Iterator[Node]:
        """The original nodes in order, with inputs resolved. Each must be kept or replaced."""
        for node in list(self.graph.nodes):
            node.inputs = [self.resolve(v) for v in node.inputs]
            yield node

    def keep(self, node: Node) -> None:
        self.nodes.append(node)

    def replace(self, old: Value, new: Value) -> None:
        if old is not new:
            self.subst[old] = new

    def emit(self, op: str, inputs: list[Value], attrs: Optional[dict] = None, like: Optional[Node] = None) -> Value:
        """Append a new single-output node (types from the shape rule); `like` lends its source line."""
        attrs = dict(attrs or {})
        node = Node(op, inputs, attrs, infer_types(op, [v.type for v in inputs], attrs),
                    like.loc if like is not None else None)
        self.nodes.append(node)
        return node.output

    def constant(self, array: numpy.ndarray, like: Optional[Node] = None) -> Value:
        return self.emit("constant", [], {"value": array}, like)

    def finish(self) -> Graph:
        self.graph.nodes = self.nodes
        self.graph.outputs = [self.resolve(v) for v in self.graph.outputs]
        return self.graph


def rewrite_round(graph: Graph, rules, frozen=None) -> bool:
    """One sweep over graph's single-output, region-free nodes, each replaced by the first of
    `rules` (rule(rw, node, frozen) -> new value or None) that applies; whether any did."""
    rw = Rewriter(graph)
    changed = False
    for node in rw.sweep():
        result = None
        if not node.regions and len(node.outputs) == 1:
            for rule in rules:
                result = rule(rw, node, frozen)
                if result is not None:
                    break
        if result is None:
            rw.keep(node)
        else:
            rw.replace(node.output, result)
            changed = True
    rw.finish()
    return changed


def in_regions(graph: Graph, pass_fn, **context) -> None:
    """Run a graph pass on every region the graph's nodes hold (each region is a closed graph,
    so a pass treats it like any other; nested regions are the pass's own recursion)."""
    for node in graph.nodes:
        node.regions = [pass_fn(region, **context) for region in node.regions]


def constant_value(v: Value, frozen: Optional[dict] = None) -> Optional[numpy.ndarray]:
    """The compile-time value of `v`: a `constant` node's array, or a parameter's frozen value
    (parameters count as constants only under freeze=True, when `frozen` holds them)."""
    if v.producer is not None:
        return v.producer.attrs["value"] if v.producer.op == "constant" else None
    if frozen and v.name in frozen:
        array = numpy.asarray(frozen[v.name])
        if tuple(array.shape) != v.shape:
            return None
        return array.astype(to_numpy_dtype(v.dtype), copy=False)
    return None


def splat_value(v: Value, frozen: Optional[dict] = None) -> Optional[float]:
    """The single value every element of a constant `v` holds, or None."""
    array = constant_value(v, frozen)
    if array is None or array.size == 0:
        return None
    first = array.reshape(-1)[0]
    if array.size > 1 and not numpy.all(array == first):
        return None
    return first.item()

