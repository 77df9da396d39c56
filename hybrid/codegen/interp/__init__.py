"""The interp backend: runs a graph with the registry's NumPy references. The oracle."""
from __future__ import annotations

import numpy

from ...ir.graph import Graph, Value
from ...ir.registry import get_op


def run_graph(graph: Graph, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    for node in graph.nodes:
        args = [env[v] for v in node.inputs]
        opdef = get_op(node.op)
        if node.regions:   # fused kernels and control flow: the op runs its regions through run_graph
            result = opdef.ref(run_graph, node.regions, *args, **node.attrs)
        else:
            result = opdef.ref(*args, **node.attrs)
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
