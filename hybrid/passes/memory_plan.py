"""Memory planning: one static arena per executable; results with disjoint lifetimes share bytes.

Stages:
  1. liveness over the scheduled nodes (graph.nodes order, fused kernels as single nodes):
     a result lives from the node that writes it to the last node that reads it; graph
     outputs live to the end, so nothing overwrites them
  2. in place: a result takes the memory of an operand that dies at its node when the op
     allows it (OpDef.inplace: operand 0 of a plain node; an operand of a one-result
     elementwise kernel that only elementwise ops of its body read) and the operand has the
     result's exact type; such chains become one block whose lifetime is the union of theirs
  3. offsets, greedy by size (best fit): blocks are placed largest first, each at the
     smallest gap of the arena that no placed block with an overlapping lifetime occupies
     (or above them all); ALIGNMENT-byte aligned
  4. every node gets a `node.meta["plan"]` comment and the graph a `memory_plan` (MemoryPlan)

`check_memory_plan` re-derives liveness from the graph and proves that no two results that
are live at the same time overlap in the arena (apart from a legal in-place pair).

For backend authors: `graph.memory_plan` is a MemoryPlan (hybrid.ir.memory_plan) or None.
Graph inputs, parameters and `constant` results are not in the arena: they live in the
caller's arrays and in the backend's constant storage. Every other node result has exactly
one Slot, found with `plan.slot(node_index, output_index)`; its bytes are
arena[slot.offset : slot.offset + slot.nbytes], row-major, of the value's dtype. Allocate
`plan.arena_bytes` once (aligned to ALIGNMENT) and reuse it for every call; copy the graph
outputs out of the arena before returning them. A Slot with `inplace_of` set overwrites that
operand's memory: read each element of the operand before writing the same element.
"Buffer" b<N> names the block at one offset (an in-place chain, or results that reuse the
bytes at that offset later); `buffer_offsets`/`buffer_sizes` give each block's extent.
"""
from __future__ import annotations

from typing import Optional

from ..errors import HybridError
from ..ir.graph import Graph, Node
from ..ir.memory_plan import ALIGNMENT, MemoryPlan, Slot, liveness, note
from ..ir.printer import value_names
from ..ir.registry import get_op
from .manager import register_pass
from .rewrite import in_regions

class MemoryPlanError(HybridError):
    """Two values that are live at the same time share arena bytes (or the plan is stale)."""


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _read_in_step(body: Graph, k: int) -> bool:
    """Whether only elementwise ops read body input k (directly or through other ops), so the
    kernel reads that operand only at the element it writes (a fused transpose would not)."""
    tainted = {body.inputs[k]}
    for node in body.nodes:
        if any(v in tainted for v in node.inputs):
            if node.regions or get_op(node.op).kind != "elementwise":
                return False
            tainted.update(node.outputs)
    return True


def inplace_candidates(node: Node) -> list[int]:
    """Operand positions whose buffer the node's single result may overwrite: every backend runs
    the node in place there (the plan is authoritative), so only where each output element reads
    the operand at its own position."""
    if len(node.outputs) != 1:
        return []
    out = node.output.type
    if node.regions:   # an elementwise kernel reads each element before writing it; control flow may not
        positions = ([k for k in range(len(node.inputs)) if _read_in_step(node.regions[0], k)]
                     if node.op == "fused" and node.attrs.get("kind") == "elementwise" else [])
    else:
        positions = [0] if node.inputs and get_op(node.op).inplace else []
    return [k for k in positions if node.inputs[k].type == out]


def _inplace_chains(graph: Graph, live: dict) -> dict:
    """result key -> the key of the dying operand whose memory it takes (stage 2)."""
    where = {graph.nodes[i].outputs[k]: (i, k) for (i, k) in live}
    donors: dict = {}
    for i, node in enumerate(graph.nodes):
        for p in inplace_candidates(node):
            key = where.get(node.inputs[p])
            if key is not None and live[key][1] == i:
                donors[(i, 0)] = key
                break
    return donors


def _place(blocks: list) -> tuple[dict, int]:
    """Offsets for blocks (id, start, end, bytes): largest first, best-fitting gap (stage 3)."""
    offsets: dict = {}
    placed: list = []                                  # (start, end, offset, size)
    arena = 0
    for bid, start, end, size in sorted(blocks, key=lambda b: (-b[3], b[1], b[0])):
        busy = sorted((o, o + sz) for s, e, o, sz in placed if s <= end and start <= e)
        best, cursor = None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= size and (best is None or gap < best[1]):
                best = (cursor, gap)
            cursor = max(cursor, hi)
        offset = best[0] if best is not None else cursor
        offsets[bid] = offset
        placed.append((start, end, offset, size))
        arena = max(arena, offset + size)
    return offsets, arena


@register_pass("memory_plan")
def plan_memory(graph: Graph, **context) -> Graph:
    """Give every node result an offset in one arena; see the module docstring. Each region gets
    a plan of its own (its values live in an arena the backend gives the node for its run)."""
    in_regions(graph, plan_memory)
    live = liveness(graph)
    names = value_names(graph)
    donors = _inplace_chains(graph, live)
    block_of: dict = {}
    for key in sorted(live):
        block_of[key] = block_of[donors[key]] if key in donors else key
    extent: dict = {}                                  # block -> [start, end, bytes]
    for key, (start, end) in live.items():
        nbytes = _align(graph.nodes[key[0]].outputs[key[1]].type.nbytes)
        b = extent.setdefault(block_of[key], [start, end, nbytes])
        b[0], b[1], b[2] = min(b[0], start), max(b[1], end), max(b[2], nbytes)
    offsets, arena = _place([(bid, *e) for bid, e in extent.items()])
    buffer_ids: dict = {}
    for bid in sorted(extent, key=lambda b: (offsets[b], b)):
        buffer_ids.setdefault(offsets[bid], len(buffer_ids))
    sizes = [0] * len(buffer_ids)
    for bid, (_, _, nbytes) in extent.items():
        sizes[buffer_ids[offsets[bid]]] = max(sizes[buffer_ids[offsets[bid]]], nbytes)
    slots = []
    for (i, k), (start, end) in sorted(live.items()):
        v = graph.nodes[i].outputs[k]
        offset = offsets[block_of[(i, k)]]
        donor = donors.get((i, k))
        slots.append(Slot(i, k, "%" + names[v], v.type.nbytes, buffer_ids[offset], offset, start, end,
                          "%" + names[graph.nodes[donor[0]].outputs[donor[1]]] if donor else None))
    plan = MemoryPlan(arena, sum(s.nbytes for s in slots), sizes, sorted(buffer_ids), slots)
    for node in graph.nodes:
        node.meta.pop("plan", None)
    for s in slots:
        node = graph.nodes[s.node]
        node.meta["plan"] = f"{node.meta['plan']}; {note(s)}" if "plan" in node.meta else note(s)
    graph.memory_plan = plan
    return graph


def check_memory_plan(graph: Graph, plan: Optional[MemoryPlan] = None) -> None:
    """Prove the plan safe for `graph`: every result has a slot of its size inside the arena,
    in-place results only overwrite operands that die there, and no two results live at the
    same time share a byte. Raises MemoryPlanError naming the two values."""
    if plan is None:
        for node in graph.nodes:
            for region in node.regions:
                check_memory_plan(region)
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
