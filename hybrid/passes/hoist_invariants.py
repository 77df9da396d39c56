"""Loop-invariant code motion: a loop body's (or a while_loop's cond's) nodes that read only
loop-invariant values are computed once, before the loop, and passed in as new invariant
operands.

Stages:
  1. regions first (an inner loop's invariants rise to the enclosing body, then further)
  2. for each while_loop / scan, per region: a node is invariant when every input is an
     invariant region input or the result of an invariant node (constants stay: they cost
     nothing to keep and let folding see them)
  3. the invariant nodes are copied before the loop, reading the loop's invariant operands;
     each result that a remaining node (or the region's results) reads becomes a new region
     input and loop operand; every region of the loop gets the new inputs, so they keep one
     signature
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from .manager import register_pass
from .regions import invariant_start, rebuild
from .rewrite import Rewriter, in_regions


def _invariant_nodes(region: Graph, invariant_inputs: set[Value]) -> list[Node]:
    invariant = set(invariant_inputs)
    found = []
    for node in region.nodes:
        if node.op != "constant" and node.inputs and all(v in invariant or
                                                           (v.producer is not None and v.producer.op == "constant"
                                                            and v.producer in region.nodes) for v in node.inputs):
            found.append(node)
            invariant.update(node.outputs)
    return found


@register_pass("hoist_invariants")
def hoist_invariants(graph: Graph, **context) -> Graph:
    in_regions(graph, hoist_invariants)
    rw = Rewriter(graph)
    for node in rw.sweep():
        if node.op not in ("while_loop", "scan"):
            rw.keep(node)
            continue
        start = invariant_start(node)
        new_operands: list[Value] = []
        added: list[list[Value]] = [[] for _ in node.regions]   # per region: its new inputs, in order
        for r, region in enumerate(node.regions):
            hoisted = _invariant_nodes(region, set(region.inputs[start:]))
            if not hoisted:
                continue
            outer = dict(zip(region.inputs[start:], node.inputs[start:]))
            for inner in hoisted:
                args = []
                for v in inner.inputs:
                    if v not in outer:   # a constant of the region: copy it out too
                        const = Node("constant", [], v.producer.attrs, [v.type], v.producer.loc)
                        rw.keep(const)
                        outer[v] = const.output
                    args.append(outer[v])
                copy = Node(inner.op, args, inner.attrs, [v.type for v in inner.outputs], inner.loc,
                            [g.copy() for g in inner.regions])
                rw.keep(copy)
                outer.update(zip(inner.outputs, copy.outputs))
            gone = set(hoisted)
            region.nodes = [n for n in region.nodes if n not in gone]
            read = {v for n in region.nodes for v in n.inputs} | set(region.outputs)
            for inner in hoisted:
                for v in inner.outputs:
                    if v in read:
                        fresh = Value(v.type, None, "")
                        region.replace_uses(v, fresh)
                        new_operands.append(outer[v])
                        added[r].append(fresh)
                        for other in range(len(node.regions)):
                            if other != r:
                                added[other].append(Value(v.type, None, ""))
        if not new_operands:
            rw.keep(node)
            continue
        for region, extra in zip(node.regions, added):
            region.inputs = region.inputs + extra
            for k, v in enumerate(region.inputs[start:]):
                v.name = f"k{k}"
        new = rebuild(node, node.inputs + new_operands, node.attrs, list(range(len(node.outputs))))
        rw.keep(new)
        for old, fresh in zip(node.outputs, new.outputs):
            rw.replace(old, fresh)
    return rw.finish()
