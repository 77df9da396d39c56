"""Programs with effects: a graph holding ops with effects (OpDef.effects, e.g. allreduce)
runs as compiled segments of pure code with the effectful ops between them.

Stages of `build`:
  1. place every pure node as late as possible: in the segment just before the first effect
     op that (transitively) reads it, else in the last segment. So the segment before the
     first bucket's allreduce computes only what that bucket needs, and the rest of backward
     runs while that message is in flight (the op's `start` is non-blocking)
  2. cut each segment out as a graph of its own: inputs are the values it reads from the
     program's inputs, earlier segments or effect ops; outputs are what later parts read
  3. optimize (fusion, memory planning) and build each segment with the chosen backend

At run time the segments run in order; an effect op is started as soon as its segment is done
and waited on only when a later segment (or the program's result) reads its outputs.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy

from ..core.array import NDArray
from ..core.context import host_data
from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op


def _placement(graph: Graph) -> tuple[list[Node], dict[int, int]]:
    """The effect nodes in order, and each pure node's segment (0 .. number of effect nodes)."""
    effects = [n for n in graph.nodes if get_op(n.op).effects]
    position = {id(n): k for k, n in enumerate(effects)}
    readers: dict[Value, list[Node]] = graph.users()
    last = len(effects)
    segment: dict[int, int] = {}
    for node in reversed(graph.nodes):
        if id(node) in position:
            continue
        latest = last
        for v in node.outputs:
            for reader in readers.get(v, []):
                latest = min(latest, position[id(reader)] if id(reader) in position else segment[id(reader)])
        segment[id(node)] = latest
    return effects, segment


class Segment:
    """One pure part of the program: its graph, executable, and where its values come from."""

    def __init__(self, graph: Graph, reads: list[Value], writes: list[Value]):
        self.graph, self.reads, self.writes = graph, reads, writes
        self.executable = None


def split(graph: Graph) -> tuple[list[Segment], list[Node]]:
    """Cut `graph` into pure segments around its effect nodes (see the module doc)."""
    effects, segment = _placement(graph)
    count = len(effects) + 1
    members: list[list[Node]] = [[] for _ in range(count)]
    for node in graph.nodes:
        if id(node) in segment:
            members[segment[id(node)]].append(node)
    produced_in: dict[Value, int] = {v: segment[id(n)] for n in graph.nodes if id(n) in segment for v in n.outputs}
    exported = set(graph.outputs)          # values read outside the segment that makes them
    for node in effects:
        exported.update(node.inputs)
    for node in graph.nodes:
        if id(node) in segment:
            exported.update(v for v in node.inputs if produced_in.get(v) != segment[id(node)])
    segments = []
    for k, nodes in enumerate(members):
        sub = Graph(f"{graph.name}.part{k}")
        mapping: dict[Value, Value] = {}
        reads: list[Value] = []
        for node in nodes:
            for v in node.inputs:
                if v not in mapping and produced_in.get(v) != k:
                    name = v.name if v.producer is None else f"in{len(reads)}"
                    mapping[v] = sub.add_input(name, v.type, v.name in graph.param_names)
                    reads.append(v)
            copy = Node(node.op, [mapping[v] for v in node.inputs], node.attrs, [v.type for v in node.outputs],
                        node.loc, [r.copy() for r in node.regions])
            sub.nodes.append(copy)
            mapping.update(zip(node.outputs, copy.outputs))
        writes = [v for node in nodes for v in node.outputs if v in exported]
        sub.outputs = [mapping[v] for v in writes]
        segments.append(Segment(sub, reads, writes))
    return segments, effects


class SegmentedExecutable:
    """An Executable (the codegen protocol): inputs in graph-input order, NDArrays out."""

    def __init__(self, graph: Graph, segments: list[Segment], effects: list[Node], backend: str):
        self.graph, self.segments, self.effects, self.backend = graph, segments, effects, backend

    def refresh_params(self) -> None:
        for part in self.segments:
            if part.executable is not None:
                part.executable.refresh_params()

    def __call__(self, inputs: list) -> list[NDArray]:
        env: dict[Value, object] = dict(zip(self.graph.inputs, inputs))
        pending: dict[Value, tuple] = {}      # effect output -> (handle, results index)

        def read(v: Value):
            if v in pending:
                handle, _ = pending[v]
                results = handle.wait()
                for out, (h, i) in list(pending.items()):
                    if h is handle:
                        env[out] = results[i]
                        del pending[out]
            return env[v]

        for k, part in enumerate(self.segments):
            if part.graph.nodes:
                outs = part.executable([read(v) for v in part.reads])
                env.update(zip(part.writes, outs))
            if k < len(self.effects):
                node = self.effects[k]
                arrays = [host_data(read(v))[0] for v in node.inputs]
                handle = get_op(node.op).extra["start"](*arrays, **node.attrs)
                pending.update({v: (handle, i) for i, v in enumerate(node.outputs)})
        return [v if isinstance(v, NDArray) else NDArray(numpy.asarray(v)) for v in map(read, self.graph.outputs)]


def build(graph: Graph, backend: str, opt_level: int = 2, dump: Optional[str] = None,
          **options) -> SegmentedExecutable:
    """Split `graph` around its effect ops; optimize and build each pure segment."""
    from .. import codegen, passes

    segments, effects = split(graph)
    for k, part in enumerate(segments):
        if not part.graph.nodes:
            continue
        where = os.path.join(dump, f"part{k}") if dump else None
        pipeline = passes.optimize(part.graph, opt_level=opt_level, dump=where,
                                   workspace_rule=codegen.workspace_rule(backend))
        part.executable = codegen.build(pipeline.graph, backend, dump=where, **options)
    return SegmentedExecutable(graph, segments, effects, backend)
