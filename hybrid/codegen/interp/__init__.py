"""The interp backend: runs a graph with the registry's NumPy references. The oracle."""
from __future__ import annotations

import numpy

from ...errors import IndexOutOfRangeError
from ...ir.graph import Graph, Value
from ...ir.registry import get_op


def run_graph(graph: Graph, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    for node in graph.nodes:
        args = [env[v] for v in node.inputs]
        if node.subgraph is not None:
            outs = run_graph(node.subgraph, args)
        else:
            try:
                result = get_op(node.op).ref(*args, **node.attrs)
            except IndexOutOfRangeError as error:  # name the user's line, as the native backends do
                raise IndexOutOfRangeError(f"{error} at {node.loc or 'an unknown line'}; the call's outputs "
                                           "were discarded") from None
            outs = result if isinstance(result, tuple) else (result,)
        for value, out in zip(node.outputs, outs):
            env[value] = numpy.asarray(out)
    return [env[v] for v in graph.outputs]


class InterpExecutable:
    """Callable on a list of NumPy arrays (graph-input order); returns the outputs."""

    backend = "interp"

    def __init__(self, graph: Graph):
        self.graph = graph

    def __call__(self, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"graph @{self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        return run_graph(self.graph, inputs)


def build(graph: Graph, **options) -> InterpExecutable:
    return InterpExecutable(graph)
