"""Memory planning: one static arena per executable, buffers reused across disjoint lifetimes.

Stages:
  1. liveness over the scheduled nodes (graph.nodes order, fused kernels as single nodes):
     a result lives from the node that writes it to the last node that reads it; graph
     outputs live to the end, so nothing overwrites them
  2. in place: a result takes the buffer of an operand that dies at its node when the op
     allows it (OpDef.inplace: operand 0 of a plain node; any operand of a one-result
     elementwise kernel) and the operand has the result's exact type
  3. buffer reuse: otherwise a result takes the smallest free buffer that holds it; if none
     does, the largest free buffer grows to fit; if none is free, a new buffer opens
  4. buffers are laid out back to back in the arena (ALIGNMENT-byte aligned); every node gets
     a `node.meta["plan"]` comment and the graph a `memory_plan` (MemoryPlan below)

`check_memory_plan` re-derives liveness from the graph and proves that no two results that
are live at the same time overlap in the arena (apart from a legal in-place pair).

For backend authors: `graph.memory_plan` is a MemoryPlan or None (then allocate as you like).
Graph inputs, parameters and `constant` results are not in the arena: they live in the
caller's arrays and in the backend's constant storage. Every other node result has exactly
one Slot, found with `plan.slot(node_index, output_index)`; its bytes are
arena[slot.offset : slot.offset + slot.nbytes], row-major, of the value's dtype. Allocate
`plan.arena_bytes` once (aligned to ALIGNMENT) and reuse it for every call; copy the graph
outputs out of the arena before returning them. A Slot with `inplace_of` set overwrites that
operand's memory: read each element of the operand before writing the same element.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import HybridError
from ..ir.graph import Graph, Node
from ..ir.printer import value_names
from ..ir.registry import get_op
from .manager import register_pass

ALIGNMENT = 64


class MemoryPlanError(HybridError):
    """Two values that are live at the same time share arena bytes (or the plan is stale)."""


@dataclass(frozen=True)
class Slot:
    """Where one node result lives."""
    node: int                 # index of the producing node in graph.nodes
    output: int               # which result of that node
    value: str                # its printed name, e.g. "%12"
    nbytes: int
    buffer: int               # buffer id; results with disjoint lifetimes share buffers
    offset: int               # byte offset of the buffer (so of the value) in the arena
    start: int                # node index that writes it
    end: int                  # last node index that reads it; len(graph.nodes) for graph outputs
    inplace_of: Optional[str] = None   # printed name of the dying operand it overwrites


@dataclass
class MemoryPlan:
    arena_bytes: int                   # planned peak: the whole arena
    naive_bytes: int                   # one buffer per result, never reused
    buffer_sizes: list[int]            # bytes of each buffer id
    buffer_offsets: list[int]          # arena offset of each buffer id
    slots: list[Slot] = field(default_factory=list)
    alignment: int = ALIGNMENT

    def slot(self, node: int, output: int = 0) -> Optional[Slot]:
        """The slot of result `output` of graph.nodes[node]; None for constants."""
        return self._index().get((node, output))

    def _index(self) -> dict:
        return {(s.node, s.output): s for s in self.slots}

    def summary(self) -> str:
        return (f"naive {format_bytes(self.naive_bytes)} -> planned {format_bytes(self.arena_bytes)} "
                f"({len(self.slots)} -> {len(self.buffer_sizes)} buffers)")

    def table(self) -> str:
        lines = [self.summary(), "", f"{'value':<8}{'node':>6}{'live':>12}{'buffer':>8}{'offset':>12}{'bytes':>12}  "
                 "in place of"]
        for s in self.slots:
            lines.append(f"{s.value:<8}{s.node:>6}{f'{s.start}..{s.end}':>12}{'b' + str(s.buffer):>8}{s.offset:>12}"
                         f"{s.nbytes:>12}  {s.inplace_of or ''}")
        return "\n".join(lines)


def format_bytes(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.1f} KB"
    return f"{n} B"


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def liveness(graph: Graph) -> dict:
    """(node index, output index) -> (start, end) for every non-constant node result."""
    position = {}
    for i, node in enumerate(graph.nodes):
        if node.op != "constant":
            for k, v in enumerate(node.outputs):
                position[v] = (i, k)
    ends = {v: i for v, (i, _) in position.items()}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v in ends:
                ends[v] = max(ends[v], i)
    for v in graph.outputs:
        if v in ends:
            ends[v] = len(graph.nodes)
    return {position[v]: (position[v][0], end) for v, end in ends.items()}


def inplace_candidates(node: Node) -> list[int]:
    """Operand positions whose buffer the node's single result may overwrite."""
    if len(node.outputs) != 1:
        return []
    out = node.output.type
    if node.subgraph is not None:
        positions = range(len(node.inputs)) if node.attrs.get("kind") == "elementwise" else []
    else:
        positions = [0] if node.inputs and get_op(node.op).inplace else []
    return [k for k in positions if node.inputs[k].type == out]


@register_pass("memory_plan")
def plan_memory(graph: Graph, **context) -> Graph:
    """Assign every node result a buffer in one arena; see the module docstring."""
    live = liveness(graph)
    names = value_names(graph)
    where: dict = {}                                 # Value -> (node, output) of results in the arena
    for (i, k) in live:
        where[graph.nodes[i].outputs[k]] = (i, k)
    buffer_of: dict = {}                             # (node, output) -> buffer id
    sizes: list[int] = []
    free: set[int] = set()
    release: dict[int, list] = {}                    # node index -> results whose last reader it is
    for key, (_, end) in live.items():
        release.setdefault(end, []).append(key)
    inplace: dict = {}                               # result -> the dying operand whose buffer it took
    handed_over: set = set()
    for i, node in enumerate(graph.nodes):
        free.update(buffer_of[key] for key in release.pop(i - 1, ()) if key not in handed_over)
        if node.op == "constant":
            continue
        donor = next((where[node.inputs[p]] for p in inplace_candidates(node)
                      if node.inputs[p] in where and live[where[node.inputs[p]]][1] == i), None)
        for k, v in enumerate(node.outputs):
            if k == 0 and donor is not None:
                buffer_of[(i, k)] = buffer_of[donor]   # the donor's buffer now holds this result
                inplace[(i, k)] = donor
                handed_over.add(donor)
                continue
            need = v.type.nbytes
            fitting = [b for b in free if sizes[b] >= need]
            if fitting:
                b = min(fitting, key=lambda b: (sizes[b], b))
            elif free:
                b = max(free, key=lambda b: (sizes[b], -b))
                sizes[b] = need
            else:
                b = len(sizes)
                sizes.append(need)
            free.discard(b)
            buffer_of[(i, k)] = b
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += _align(size)
    slots = []
    for (i, k), (start, end) in sorted(live.items()):
        v = graph.nodes[i].outputs[k]
        b = buffer_of[(i, k)]
        donor = inplace.get((i, k))
        slots.append(Slot(i, k, "%" + names[v], v.type.nbytes, b, offsets[b], start, end,
                          "%" + names[graph.nodes[donor[0]].outputs[donor[1]]] if donor else None))
    plan = MemoryPlan(total, sum(s.nbytes for s in slots), sizes, offsets, slots)
    for node in graph.nodes:
        node.meta.pop("plan", None)
    for s in slots:
        node = graph.nodes[s.node]
        note = f"{s.value} -> b{s.buffer} @{s.offset} ({format_bytes(s.nbytes)})"
        if s.inplace_of:
            note += f" in place of {s.inplace_of}"
        node.meta["plan"] = f"{node.meta['plan']}; {note}" if "plan" in node.meta else note
    graph.memory_plan = plan
    return graph


def check_memory_plan(graph: Graph, plan: Optional[MemoryPlan] = None) -> None:
    """Prove the plan safe for `graph`: every result has a slot of its size inside the arena,
    in-place results only overwrite operands that die there, and no two results live at the
    same time share a byte. Raises MemoryPlanError naming the two values."""
    plan = plan or graph.memory_plan
    if plan is None:
        raise MemoryPlanError(f"graph @{graph.name} has no memory plan; run the memory_plan pass")
    live = liveness(graph)
    slots = plan._index()
    if set(slots) != set(live):
        raise MemoryPlanError(f"the plan covers results {sorted(set(slots) ^ set(live))} that the graph "
                              "does not have (or misses them): it is stale; re-run the memory_plan pass")
    names = value_names(graph)
    intervals = []
    for key, (start, end) in live.items():
        s = slots[key]
        v = graph.nodes[key[0]].outputs[key[1]]
        if s.nbytes != v.type.nbytes or s.offset + s.nbytes > plan.arena_bytes or s.offset % plan.alignment:
            raise MemoryPlanError(f"%{names[v]} needs {v.type.nbytes} bytes but its slot is {s}")
        intervals.append((start, end, s.offset, s.offset + s.nbytes, "%" + names[v], s))
    intervals.sort()
    active: list = []
    for interval in intervals:
        start, end, lo, hi, name, slot = interval
        active = [a for a in active if a[1] >= start]
        for a_start, a_end, a_lo, a_hi, a_name, _ in active:
            if lo < a_hi and a_lo < hi and not _legal_inplace(graph, names, slot, a_name, a_end):
                raise MemoryPlanError(f"{name} (live {start}..{end}, bytes {lo}..{hi}) overlaps {a_name} "
                                      f"(live {a_start}..{a_end}, bytes {a_lo}..{a_hi})")
        active.append(interval)


def _legal_inplace(graph: Graph, names: dict, slot: Slot, other: str, other_end: int) -> bool:
    """Is `slot` an in-place overwrite of `other`, which dies at slot's node and is its operand?"""
    if slot.inplace_of != other or other_end != slot.start:
        return False
    node = graph.nodes[slot.node]
    return any("%" + names[node.inputs[p]] == other for p in inplace_candidates(node))
