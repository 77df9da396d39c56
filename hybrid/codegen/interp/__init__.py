"""The interp backend: runs a graph with the registry's NumPy references. The oracle.
While a profile is recorded (hybrid.events), each top-level node is reported as a kernel.
Concurrent groups (passes/concurrent_groups.py) run on a pool of num_threads Python threads, one
group per task (NumPy releases the GIL in its loops), when the graph's measured choice says so
(codegen/schedule_choice.py, as on llvm); a profiled call runs them in order."""
from __future__ import annotations

import time
import weakref
from concurrent.futures import ThreadPoolExecutor
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
from ...config import config
from ...passes.concurrent_groups import regions
from ..schedule_choice import ScheduleChoice


def _run_node(node: Node, env: dict) -> None:
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


def _run_nodes(nodes: list[Node], env: dict) -> None:
    for node in nodes:
        _run_node(node, env)


def run_graph(graph: Graph, inputs: list[numpy.ndarray],
              on_node: Optional[Callable[[Node, int], None]] = None,
              side_by_side: Optional[tuple[ThreadPoolExecutor, dict]] = None) -> list[numpy.ndarray]:
    """on_node(node, start_ns) after each node of `graph` (not of its bodies): the profiler's hook.
    side_by_side: (a thread pool, {position of a concurrent region's first node: its groups' positions}):
    each group of such a region runs as one task of the pool (each writes only its own results)."""
    env: dict[Value, numpy.ndarray] = dict(zip(graph.inputs, inputs))
    pool, starts = side_by_side or (None, {})
    i = 0
    while i < len(graph.nodes):
        region = starts.get(i)
        if region is not None:
            tasks = [pool.submit(_run_nodes, [graph.nodes[n] for n in group], env) for group in region]
            for task in tasks:
                task.result()
            i += sum(len(group) for group in region)
            continue
        node = graph.nodes[i]
        start = time.perf_counter_ns() if on_node is not None else 0
        _run_node(node, env)
        if on_node is not None:
            on_node(node, start)
        i += 1
    return [env[v] for v in graph.outputs]


class InterpExecutable:
    """Callable on a list of arrays (graph-input order); returns the outputs as NDArrays."""

    backend = "interp"

    def __init__(self, graph: Graph):
        self.graph = graph
        self._costs: Optional[dict] = None     # per node: (label, FLOPs, bytes, event args), once profiled
        found = regions(graph) if config.get("concurrent_groups") != "off" else []
        threads = config.get("num_threads")
        self.schedule = ScheduleChoice(graph.name, "interp", len(found), threads)
        self._starts = {region[0][0]: region for region in found}
        self._pool: Optional[ThreadPoolExecutor] = None
        self._threads = min(threads, max((len(region) for region in found), default=1))

    def __call__(self, inputs: list) -> list[NDArray]:
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"graph @{self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}")
        arrays = [host_data(x)[0] for x in inputs]
        if events.recording():
            outputs = self._run_profiled(arrays)
        elif not self._starts:
            outputs = run_graph(self.graph, arrays)
        else:
            concurrent = self.schedule.next()
            if concurrent and self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hybrid-interp")
                weakref.finalize(self, self._pool.shutdown, wait=False)
            start = time.perf_counter()
            outputs = run_graph(self.graph, arrays, side_by_side=(self._pool, self._starts) if concurrent else None)
            self.schedule.record(concurrent, time.perf_counter() - start)
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
                                 thread, {"graph": name, "backend": "interp",
                                          **({"schedule": self.schedule.reason} if self._starts else {})}))
        for node, begin, duration in found:      # reported after the call: the timing stays the nodes' own
            label, flops, nbytes, args = costs[id(node)]
            events.emit(events.Event(label, "kernel", begin, duration, flops, nbytes, thread, dict(args)))
        return outputs


register_backend(Backend("interp", lambda graph, options: InterpExecutable(graph),
                         doc="the registry's NumPy references, node by node: the oracle"))
