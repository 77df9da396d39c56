"""The interp backend: runs a graph with the registry's NumPy references. The oracle.
While a profile is recorded (hybrid.events), each top-level node is reported as a kernel."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy

from ... import events
from ...errors import IndexOutOfRangeError
from ...ir import cost
from ...ir.graph import Graph, Node, Value
from ...ir.registry import get_op


def run_graph(graph: Graph, inputs: list[numpy.ndarray],
              on_node: Optional[Callable[[Node, int], None]] = None) -> list[numpy.ndarray]:
    """on_node(node, start_ns) after each node of `graph` (not of its bodies): the profiler's hook."""
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    for node in graph.nodes:
        start = time.perf_counter_ns() if on_node is not None else 0
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
        if on_node is not None:
            on_node(node, start)
    return [env[v] for v in graph.outputs]


class InterpExecutable:
    """Callable on a list of NumPy arrays (graph-input order); returns the outputs."""

    backend = "interp"

    def __init__(self, graph: Graph):
        self.graph = graph

    def __call__(self, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"graph @{self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        if not events.recording():
            return run_graph(self.graph, inputs)
        return self._run_profiled(inputs)

    def _run_profiled(self, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
        name, thread = self.graph.name, events.current_thread()
        index = {id(node): i for i, node in enumerate(self.graph.nodes)}

        def report(node: Node, start: int) -> None:
            if node.op != "constant":
                events.emit(events.Event(cost.node_label(node), "kernel", start, time.perf_counter_ns() - start,
                                         cost.node_flops(node), cost.node_bytes(node), thread,
                                         {"kernel": f"n{index[id(node)]}", "graph": name,
                                          "backend": "interp", "line": node.loc,
                                          "shapes": cost.describe_shapes([v.type for v in node.inputs])}))
        start = time.perf_counter_ns()
        outputs = run_graph(self.graph, inputs, report)
        events.emit(events.Event(f"@{name}", "call", start, time.perf_counter_ns() - start,
                                 sum(cost.node_flops(n) for n in self.graph.nodes), 0, thread,
                                 {"graph": name, "backend": "interp"}))
        return outputs


def build(graph: Graph, **options) -> InterpExecutable:
    return InterpExecutable(graph)
