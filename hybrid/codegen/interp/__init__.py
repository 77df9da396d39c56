"""The interp backend: runs a graph with the registry's NumPy references. The oracle."""
from __future__ import annotations

import numpy

from ...core.array import NDArray
from ...core.context import host_data
from ...ir.graph import Graph, Value
from .. import Backend, register_backend
from ...ir.registry import get_op


def run_graph(graph: Graph, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    for node in graph.nodes:
        args = [env[v] for v in node.inputs]
        if node.subgraph is not None:
            outs = run_graph(node.subgraph, args)
        else:
            result = get_op(node.op).ref(*args, **node.attrs)
            outs = result if isinstance(result, tuple) else (result,)
        for value, out in zip(node.outputs, outs):
            env[value] = numpy.asarray(out)
    return [env[v] for v in graph.outputs]


class InterpExecutable:
    """Callable on a list of arrays (graph-input order); returns the outputs as NDArrays."""

    backend = "interp"

    def __init__(self, graph: Graph):
        self.graph = graph

    def __call__(self, inputs: list) -> list[NDArray]:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"graph @{self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        return [NDArray(out) for out in run_graph(self.graph, [host_data(x)[0] for x in inputs])]

    def refresh_params(self) -> None:
        """Nothing to do: every call reads the parameters afresh."""


register_backend(Backend("interp", lambda graph, options: InterpExecutable(graph),
                         doc="the registry's NumPy references, node by node: the oracle"))
