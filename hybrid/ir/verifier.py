"""Checks a graph is well formed: SSA, topological order, and types agreeing with the shape rules."""
from __future__ import annotations

from ..errors import HybridError, ShapeError
from .graph import Graph, Value
from .registry import get_op, infer_types


class VerifyError(HybridError):
    """The graph breaks an IR invariant; the message names the node."""


def verify(graph: Graph) -> None:
    defined: set[Value] = set(graph.inputs)
    for name in graph.param_names:
        graph.input(name)
    for index, node in enumerate(graph.nodes):
        where = f"node {index} ({node.op}) of graph @{graph.name}"
        for v in node.inputs:
            if v not in defined:
                raise VerifyError(f"{where} reads a value that is not defined before it: {v}")
        for region in node.regions:  # each region is closed: it sees only its own inputs
            verify(region)
        get_op(node.op)
        try:
            expected = infer_types(node.op, [v.type for v in node.inputs], node.attrs, regions=node.regions)
        except (ShapeError, TypeError) as e:
            raise VerifyError(f"{where}: {e}") from None
        got = [v.type for v in node.outputs]
        if expected != got:
            raise VerifyError(f"{where}: result types {[str(t) for t in got]} but the shape rule gives "
                              f"{[str(t) for t in expected]}")
        for v in node.outputs:
            if v in defined:
                raise VerifyError(f"{where} redefines {v}")
            if v.producer is not node:
                raise VerifyError(f"{where}: result {v} does not point back at its node")
            defined.add(v)
    for v in graph.outputs:
        if v not in defined:
            raise VerifyError(f"graph @{graph.name} returns an undefined value {v}")
