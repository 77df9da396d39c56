"""Fold a `cond` whose branch index is a compile-time constant: the taken branch's nodes are
inlined in its place (its inputs become the cond's operands), the other branches disappear.

Stages:
  1. sweep the nodes; a cond whose index is a `constant` node picks branch clip(index, 0, n-1)
  2. copy that branch's nodes into the graph, mapping its inputs to the cond's operands
  3. the cond's results become the copies of the branch's results
Regions are folded first (a cond inside a loop body with a constant index folds there).
"""
from __future__ import annotations

from ..ir.control import branch_index
from ..ir.graph import Graph, Node
from .manager import register_pass
from .rewrite import Rewriter, constant_value, in_regions


@register_pass("fold_cond")
def fold_cond(graph: Graph, **context) -> Graph:
    in_regions(graph, fold_cond)
    rw = Rewriter(graph)
    for node in rw.sweep():
        index = constant_value(node.inputs[0]) if node.op == "cond" else None
        if index is None:
            rw.keep(node)
            continue
        branch = node.regions[branch_index(index, len(node.regions))]
        mapping = dict(zip(branch.inputs, node.inputs[1:]))
        for inner in branch.nodes:
            copy = Node(inner.op, [mapping[v] for v in inner.inputs], inner.attrs, [v.type for v in inner.outputs],
                        inner.loc or node.loc, [r.copy() for r in inner.regions])
            rw.keep(copy)
            mapping.update(zip(inner.outputs, copy.outputs))
        for old, new in zip(node.outputs, branch.outputs):
            rw.replace(old, mapping[new])
    return rw.finish()
