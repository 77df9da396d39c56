"""Helpers the control-flow passes share (not a pass): a loop node's operand sections and
rebuilding a node with fewer or more operands and results."""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value


def invariant_start(node: Node) -> int:
    """Index of a loop node's first loop-invariant operand (and region input): after the carried
    state and, for a scan, the sequences."""
    return node.attrs["num_carry"] + node.attrs.get("num_xs", 0)


def used_values(graph: Graph) -> set[Value]:
    used = set(graph.outputs)
    for node in graph.nodes:
        used.update(node.inputs)
    return used


def rebuild(node: Node, inputs: list[Value], attrs: dict, keep_outputs: list[int]) -> Node:
    """A copy of `node` with new operands and attrs, keeping the results at `keep_outputs`
    (its regions, already edited by the caller, move over)."""
    new = Node(node.op, inputs, attrs, [node.outputs[k].type for k in keep_outputs], node.loc, node.regions)
    new.meta = dict(node.meta)
    return new
