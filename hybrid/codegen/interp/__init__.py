"""The interp backend: runs a graph with the registry's NumPy references. The oracle.
While a profile is recorded (hybrid.events), each top-level node is reported as a kernel."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy

from ... import events
from ...core.array import NDArray
from ...core.context import host_data
from ...errors import IndexOutOfRangeError
from ...ir import cost
from ...ir.graph import Graph, Node, Value
from .. import Backend, register_backend
from ...ir.registry import get_op


def run_graph(graph: Graph, inputs: list[numpy.ndarray],
              on_node: Optional[Callable[[Node, int], None]] = None) -> list[numpy.ndarray]:
    """on_node(node, start_ns) after each node of `graph` (not of its bodies): the profiler's hook."""
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    for node in graph.nodes:
        start = time.perf_counter_ns() if on_node is not None else 0
        args = [env[v] for v in node.inputs]
        opdef = get_op(node.op)
        if node.regions:   # fused kernels and control flow: the op runs its regions through run_graph
            result = opdef.ref(run_graph, node.regions, *args, **node.attrs)
        else:
            try:
                result = opdef.ref(*args, **node.attrs)
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
    """Callable on a list of arrays (graph-input order); returns the outputs as NDArrays."""

    backend = "interp"

    def __init__(self, graph: Graph):
        self.graph = graph
        self._costs: Optional[dict] = None     # per node: (label, FLOPs, bytes, event args), once profiled

    def __call__(self, inputs: list) -> list[NDArray]:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"graph @{self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        arrays = [host_data(x)[0] for x in inputs]
        outputs = run_graph(self.graph, arrays) if not events.recording() else self._run_profiled(arrays)
        return [NDArray(out) for out in outputs]

    def refresh_params(self) -> None:
        """Nothing to do: every call reads the parameters afresh."""

    def _node_costs(self) -> dict:
        if self._costs is None:
            name = self.graph.name
            self._costs = {id(node): (cost.node_label(node), cost.node_flops(node), cost.node_bytes(node),
                                      {"kernel": f"n{i}", "graph": name, "backend": "interp", "line": node.loc,
                                       "shapes": cost.describe_shapes([v.type for v in node.inputs])})
                           for i, node in enumerate(self.graph.nodes) if node.op != "constant"}
        return self._costs

    def _run_profiled(self, inputs: list[numpy.ndarray]) -> list[numpy.ndarray]:
        costs, thread, found = self._node_costs(), events.current_thread(), []

        def report(node: Node, start: int) -> None:
            if node.op != "constant":
                found.append((node, start, time.perf_counter_ns() - start))
        start = time.perf_counter_ns()
        outputs = run_graph(self.graph, inputs, report)
        end = time.perf_counter_ns()
        name = self.graph.name
        events.emit(events.Event(f"@{name}", "call", start, end - start, sum(c[1] for c in costs.values()), 0,
                                 thread, {"graph": name, "backend": "interp"}))
        for node, begin, duration in found:      # reported after the call: the timing stays the nodes' own
            label, flops, nbytes, args = costs[id(node)]
            events.emit(events.Event(label, "kernel", begin, duration, flops, nbytes, thread, dict(args)))
        return outputs


register_backend(Backend("interp", lambda graph, options: InterpExecutable(graph),
                         doc="the registry's NumPy references, node by node: the oracle"))
