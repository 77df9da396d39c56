"""slice_broadcasts: slice(broadcast_to(x)) -> broadcast_to(slice(x)), at every opt level.

A lowering, not only an optimization: a broadcast can be far larger than memory
(broadcast_to(a, (3, 2**31 + 7))[:, -3:] is 24 GiB) and every backend materializes each value
it computes, so even opt level 0 (no optimization passes) must never build one only to slice
it. The pass manager runs this pass first whenever a graph slices a broadcast; simplify (O1+)
applies the same rule again where its other rewrites expose new instances.

Stages (one forward sweep per round, repeated until nothing changes):
  1. a slice of a broadcast_to becomes a broadcast_to of the slice of the small source (a
     broadcast axis reads its one source element whatever the slice)
  2. the broadcasts no longer read are removed (only those: the rest of an O0 graph is left as traced)
"""
from __future__ import annotations

from typing import Optional

from ..ir.graph import Graph, Node, Value
from .manager import register_pass
from .rewrite import Rewriter, in_regions, rewrite_round

MAX_ROUNDS = 8


def slice_of_broadcast(rw: Rewriter, node: Node, frozen=None) -> Optional[Value]:
    """The rewrite of one node, or None when it is not a slice of a broadcast."""
    if node.op != "slice" or node.inputs[0].producer is None or node.inputs[0].producer.op != "broadcast_to":
        return None
    x = node.inputs[0].producer.inputs[0]
    offset = node.output.type.ndim - x.type.ndim
    begin, end, step = [], [], []
    for d, size in enumerate(x.shape):
        if size == 1:     # a broadcast axis: every output element reads the one source element
            begin.append(0), end.append(1), step.append(1)
        else:
            k = d + offset
            begin.append(node.attrs["begin"][k]), end.append(node.attrs["end"][k]), step.append(node.attrs["step"][k])
    src = x
    if (tuple(begin), tuple(end), tuple(step)) != ((0,) * x.type.ndim, tuple(x.shape), (1,) * x.type.ndim):
        src = rw.emit("slice", [x], {"begin": tuple(begin), "end": tuple(end), "step": tuple(step)}, like=node)
    return rw.emit("broadcast_to", [src], {"shape": node.output.shape}, like=node)


def _drop_unread_broadcasts(graph: Graph) -> None:
    read = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if node.op != "broadcast_to" or node.output in read:
            kept.append(node)
            read.update(node.inputs)
    graph.nodes = kept[::-1]


@register_pass("slice_broadcasts")
def slice_broadcasts(graph: Graph, **context) -> Graph:
    in_regions(graph, slice_broadcasts)
    changed = False
    for _ in range(MAX_ROUNDS):
        if not rewrite_round(graph, (slice_of_broadcast,)):
            break
        changed = True
    if changed:
        _drop_unread_broadcasts(graph)
    return graph
