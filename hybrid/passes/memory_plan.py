"""Memory planning: one static arena per executable; results with disjoint lifetimes share bytes.

Stages:
  1. liveness over the scheduled nodes (graph.nodes order, fused kernels as single nodes):
     a result lives from the node that writes it to the last node that reads it; graph
     outputs live to the end, so nothing overwrites them
  2. in place: a result takes the memory of an operand that dies at its node when the op
     allows it (OpDef.inplace: operand 0 of a plain node; an operand of a one-result
     elementwise kernel that only elementwise ops of its body read) and the operand has the
     result's exact type; such chains become one block whose lifetime is the union of theirs.
     In a loop body, a result that becomes carried state k is written straight into the
     carried buffer k (`carry_aliases`: no copy back after each iteration) when the body reads
     the old state no later than that result's node; otherwise it gets its own buffer and the
     backend copies it back (double buffering)
  3. workspace: each node gets a scratch block live only while it runs, of the size the
     backend asks for (`workspace(graph, node)`: im2col and packing buffers of a kernel; a
     control-flow node's region arenas and staging buffers, `ir.memory_plan.region_layout`)
  1b. concurrent groups (passes/concurrent_groups.py): the groups of one region may run at the
     same time, in any order, so a result used only inside one group keeps its lifetime but is
     tagged with its group (two tagged blocks of different groups of one region conflict whatever
     their lifetimes), and any other result a region's node writes or reads lives across the
     whole region (`concurrent_liveness`); a plan made so is also safe for the plain order
  4. offsets, greedy by size (best fit): blocks are placed largest first, each at the
     smallest gap of the arena that no placed block with an overlapping lifetime (or of another
     group of the same region) occupies (or above them all); ALIGNMENT-byte aligned
  5. every node gets a `node.meta["plan"]` comment and the graph a `memory_plan` (MemoryPlan)

`check_memory_plan` re-derives liveness from the graph (with stage 1b) and proves that no two results
that are live at the same time, or belong to different groups of one concurrent region, overlap in
the arena (apart from a legal in-place pair).

For backend authors: `graph.memory_plan` is a MemoryPlan (hybrid.ir.memory_plan) or None.
Graph inputs, parameters and `constant` results are not in the arena: they live in the
caller's arrays and in the backend's constant storage. Every other node result has exactly
one Slot, found with `plan.slot(node_index, output_index)`; its bytes are
arena[slot.offset : slot.offset + slot.nbytes], row-major, of the value's dtype. Allocate
`plan.arena_bytes` once (aligned to ALIGNMENT) and reuse it for every call; copy the graph
outputs out of the arena before returning them. A Slot with `inplace_of` set overwrites that
operand's memory: read each element of the operand before writing the same element. A Slot
with `carry` set lives in the buffer of that carried region input (the loop node's result).
`plan.scratch(node_index)` is the node's workspace (a kernel lays its temporaries out in it one
after another; a control-flow node by `region_layout`). Checks and pre-packed parameters are
the backend's own (they outlive the call), not arena values. A backend that needs other
workspace sizes than the graph was planned with calls `plan_for(graph, its_workspace)`.
"Buffer" b<N> names the block at one offset (an in-place chain, or results that reuse the
bytes at that offset later); `buffer_offsets`/`buffer_sizes` give each block's extent.
"""
from __future__ import annotations

from typing import Callable, Optional

from .. import log
from ..errors import HybridError
from ..ir.graph import Graph, Node
from ..ir.memory_plan import ALIGNMENT, SCRATCH, MemoryPlan, Slot, carried_inputs, liveness, note, region_layout
from ..ir.printer import value_names
from ..ir.registry import get_op
from .manager import register_pass
from .concurrent_groups import group_mark
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


def _depends_on(body: Graph, value, k: int) -> bool:
    """Whether `value` of `body` is computed from body input k."""
    source = body.inputs[k]
    seen, stack = set(), [value]
    while stack:
        v = stack.pop()
        if v is source:
            return True
        if v in seen or v.producer is None:
            continue
        seen.add(v)
        stack.extend(v.producer.inputs)
    return False


def inplace_candidates(node: Node, output: int = 0) -> list[int]:
    """Operand positions whose buffer the node's result `output` may overwrite: every backend runs
    the node in place there (the plan is authoritative), so only where each output element reads
    the operand at its own position. An elementwise kernel with several results computes them
    one after another (in result order, each from the operands): result k may overwrite an
    operand that no later result is computed from."""
    out = node.outputs[output].type
    if node.regions:   # an elementwise kernel reads each element before writing it; control flow may not
        if node.op != "fused" or node.attrs.get("kind") != "elementwise":
            return []
        body = node.regions[0]
        positions = [k for k in range(len(node.inputs)) if _read_in_step(body, k)
                     and not any(_depends_on(body, v, k) for v in body.outputs[output + 1:])]
    elif len(node.outputs) != 1:
        return []
    else:
        positions = [0] if node.inputs and get_op(node.op).inplace else []
    return [k for k in positions if node.inputs[k].type == out]


def _inplace_chains(graph: Graph, live: dict) -> dict:
    """result key -> the key of the dying operand whose memory it takes (stage 2)."""
    where = {graph.nodes[i].outputs[k]: (i, k) for (i, k) in live}
    donors: dict = {}
    for i, node in enumerate(graph.nodes):
        taken = set()
        for o in range(len(node.outputs)):
            for p in inplace_candidates(node, o):
                key = where.get(node.inputs[p])
                if key is not None and live[key][1] == i and key not in taken:
                    donors[(i, o)] = key
                    taken.add(key)
                    break
    return donors


def concurrent_liveness(graph: Graph, live: dict) -> tuple[dict, dict]:
    """Stage 1b: (live with each result a region shares extended over the region, result key -> its
    group (region, group) when only that group writes and reads it)."""
    marks = [group_mark(node) for node in graph.nodes]
    span: dict = {}
    for i, mark in enumerate(marks):
        if mark is not None:
            lo, hi = span.get(mark.region, (i, i))
            span[mark.region] = (min(lo, i), max(hi, i))
    if not span:
        return live, {}
    readers: dict = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            readers.setdefault(v, set()).add(i)
    extended, private = {}, {}
    for (i, k), (start, end) in live.items():
        users = {i} | readers.get(graph.nodes[i].outputs[k], set())
        groups = {(marks[u].region, marks[u].group) if marks[u] is not None else None for u in users}
        if len(groups) == 1 and None not in groups and end < len(graph.nodes):
            private[(i, k)] = groups.pop()
        else:
            for r in {g[0] for g in groups if g is not None}:
                start, end = min(start, span[r][0]), max(end, span[r][1])
        extended[(i, k)] = (start, end)
    return extended, private


def _apart(tag, other) -> bool:
    """Whether two blocks' groups may run at the same time: different groups of one region."""
    return tag is not None and other is not None and tag[0] == other[0] and tag[1] != other[1]


def _place(blocks: list) -> tuple[dict, int]:
    """Offsets for blocks (id, start, end, bytes, group tag or None): largest first, best-fitting gap
    (stage 4)."""
    offsets: dict = {}
    placed: list = []                                  # (start, end, offset, size, tag)
    arena = 0
    for bid, start, end, size, tag in sorted(blocks, key=lambda b: (-b[3], b[1], b[0])):
        busy = sorted((o, o + sz) for s, e, o, sz, t in placed if s <= end and start <= e or _apart(tag, t))
        best, cursor = None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= size and (best is None or gap < best[1]):
                best = (cursor, gap)
            cursor = max(cursor, hi)
        offset = best[0] if best is not None else cursor
        offsets[bid] = offset
        placed.append((start, end, offset, size, tag))
        arena = max(arena, offset + size)
    return offsets, arena


Workspace = Callable[[Graph, Node], int]


def default_workspace(graph: Graph, node: Node) -> int:
    """Without a backend's word: a control-flow node needs its regions' layout, a kernel nothing."""
    return region_layout(node)[0] if node.regions and node.op != "fused" else 0


def carry_aliases(region: Graph, carried: int) -> dict:
    """result key (node, output) -> carried input k, for each loop-body result that may be written
    straight into the buffer of the carried state it replaces (no copy back after the body):
    it is the body's result k and no other carried result, the old value (input k) is not a
    result itself (it must survive to be copied), and nothing reads the old value after the
    result's node, which may read it only where it could run in place over it."""
    where = {v: (i, k) for i, node in enumerate(region.nodes) for k, v in enumerate(node.outputs)
             if node.op != "constant"}
    last_read = {v: -1 for v in region.inputs[:carried]}
    for i, node in enumerate(region.nodes):
        for v in node.inputs:
            if v in last_read:
                last_read[v] = i
    aliases = {}
    for k, v in enumerate(region.outputs[:carried]):
        old = region.inputs[k]
        if v not in where or region.outputs[:carried].count(v) != 1 or old in region.outputs:
            continue
        i, _ = where[v]
        node = region.nodes[i]
        if last_read[old] > i:
            continue
        if last_read[old] == i:
            positions = {p for p, u in enumerate(node.inputs) if u is old}
            if node.regions and node.op != "fused" or not positions <= set(inplace_candidates(node, where[v][1])):
                continue
        aliases[where[v]] = k
    return aliases


@register_pass("memory_plan")
def plan_memory(graph: Graph, workspace: Optional[Workspace] = None, carried: int = 0,
                workspace_rule: Optional[Callable[[Graph], Workspace]] = None, **context) -> Graph:
    """Give every node result an offset in one arena; see the module docstring. Each region gets
    a plan of its own (its values live in the node's workspace while the region runs); a fused
    kernel's body is planned without the backend's workspace (no backend runs it as a graph).
    workspace(graph, node) -> bytes: the backend's scratch need per node (default_workspace when
    None), or workspace_rule(top graph) -> workspace (codegen.workspace_rule(backend), given to
    passes.optimize); carried: the graph is a loop body whose first `carried` inputs are the loop state."""
    if workspace is None and workspace_rule is not None:
        workspace = workspace_rule(graph)
    for node in graph.nodes:
        node.regions = [plan_memory(region, None if node.op == "fused" else workspace, carried_inputs(node, r))
                        for r, region in enumerate(node.regions)]
    live, private = concurrent_liveness(graph, liveness(graph))
    names = value_names(graph)
    aliases = carry_aliases(graph, carried) if carried else {}
    donors = {key: donor for key, donor in _inplace_chains(graph, live).items()
              if key not in aliases and donor not in aliases}
    block_of: dict = {}
    for key in sorted(live):
        if key not in aliases:
            block_of[key] = block_of[donors[key]] if key in donors else key
    extent: dict = {}                                  # block -> [start, end, bytes]
    for key, (start, end) in live.items():
        if key in aliases:
            continue
        nbytes = _align(graph.nodes[key[0]].outputs[key[1]].type.nbytes)
        b = extent.setdefault(block_of[key], [start, end, nbytes])
        b[0], b[1], b[2] = min(b[0], start), max(b[1], end), max(b[2], nbytes)
    tags: dict = {}                                    # block -> its group, while every result in it has that one
    for key, bid in block_of.items():
        tags[bid] = private.get(key) if tags.get(bid, private.get(key)) == private.get(key) else None
    scratch = {}
    for i, node in enumerate(graph.nodes):
        nbytes = (workspace or default_workspace)(graph, node) if node.op != "constant" else 0
        if nbytes:
            scratch[(i, SCRATCH)] = nbytes
            extent[(i, SCRATCH)] = [i, i, _align(nbytes)]
            mark = group_mark(node)
            tags[(i, SCRATCH)] = (mark.region, mark.group) if mark is not None else None
    offsets, arena = _place([(bid, *e, tags.get(bid)) for bid, e in extent.items()])
    buffer_ids: dict = {}
    for bid in sorted(extent, key=lambda b: (offsets[b], b)):
        buffer_ids.setdefault(offsets[bid], len(buffer_ids))
    sizes = [0] * len(buffer_ids)
    for bid, (_, _, nbytes) in extent.items():
        sizes[buffer_ids[offsets[bid]]] = max(sizes[buffer_ids[offsets[bid]]], nbytes)
    slots = []
    for (i, k), (start, end) in sorted(live.items()):
        v = graph.nodes[i].outputs[k]
        if (i, k) in aliases:
            slots.append(Slot(i, k, "%" + names[v], v.type.nbytes, -1, -1, start, end, carry=aliases[(i, k)]))
            continue
        offset = offsets[block_of[(i, k)]]
        donor = donors.get((i, k))
        slots.append(Slot(i, k, "%" + names[v], v.type.nbytes, buffer_ids[offset], offset, start, end,
                          "%" + names[graph.nodes[donor[0]].outputs[donor[1]]] if donor else None))
    for (i, _), nbytes in sorted(scratch.items()):
        offset = offsets[(i, SCRATCH)]
        slots.append(Slot(i, SCRATCH, "scratch", nbytes, buffer_ids[offset], offset, i, i))
    slots.sort(key=lambda s: (s.node, s.output == SCRATCH, s.output))
    plan = MemoryPlan(arena, sum(s.nbytes for s in slots), sizes, sorted(buffer_ids), slots)
    for node in graph.nodes:
        node.meta.pop("plan", None)
    for s in slots:
        node = graph.nodes[s.node]
        text = note(s, "%" + names[graph.inputs[s.carry]] if s.carry is not None else "")
        node.meta["plan"] = f"{node.meta['plan']}; {text}" if "plan" in node.meta else text
    graph.memory_plan = plan
    return graph


def plan_matches(graph: Graph, workspace: Workspace) -> bool:
    """Whether graph's plan (and every region's) gives each node exactly the workspace that
    `workspace` asks for: a backend then places by it as it is, else it plans again with its
    own workspace rule (plan_for)."""
    plan = graph.memory_plan
    if plan is None:
        return False
    for i, node in enumerate(graph.nodes):
        if node.op != "fused" and not all(plan_matches(r, workspace) for r in node.regions):
            return False
        slot = plan.scratch(i)
        if (slot.nbytes if slot is not None else 0) != (workspace(graph, node) if node.op != "constant" else 0):
            return False
    return True


def plan_for(graph: Graph, workspace: Workspace) -> Graph:
    """`graph` when its plan fits a backend's workspace rule, else a copy planned with that rule:
    the one planner every backend places buffers by."""
    if plan_matches(graph, workspace):
        return graph
    log.log("compile", f"memory plan of @{graph.name} (re)made for the backend's workspace needs")
    return plan_memory(graph.copy(), workspace)


def check_memory_plan(graph: Graph, plan: Optional[MemoryPlan] = None, carried: int = 0) -> None:
    """Prove the plan safe for `graph`: every result has a slot of its size inside the arena,
    in-place results only overwrite operands that die there, results kept in a carried buffer
    are legal there (carry_aliases), each workspace lies inside the arena, and no two results
    (or workspaces) live at the same time share a byte. Raises MemoryPlanError naming the two."""
    if plan is None:
        for node in graph.nodes:
            for r, region in enumerate(node.regions):
                check_memory_plan(region, carried=carried_inputs(node, r))
    plan = plan or graph.memory_plan
    if plan is None:
        raise MemoryPlanError(f"graph @{graph.name} has no memory plan; run the memory_plan pass")
    live, private = concurrent_liveness(graph, liveness(graph))
    slots = {key: s for key, s in plan._index().items() if key[1] != SCRATCH}
    if set(slots) != set(live):
        raise MemoryPlanError(f"the plan covers results {sorted(set(slots) ^ set(live))} that the graph "
                              "does not have (or misses them): it is stale; re-run the memory_plan pass")
    names = value_names(graph)
    legal_carry = carry_aliases(graph, carried) if carried else {}
    intervals, grouped = [], []
    for key, (start, end) in live.items():
        s = slots[key]
        v = graph.nodes[key[0]].outputs[key[1]]
        if s.carry is not None:
            if legal_carry.get(key) != s.carry or s.nbytes != v.type.nbytes:
                raise MemoryPlanError(f"%{names[v]} may not be kept in the buffer of carried input {s.carry}: "
                                      "the loop body still reads the old value after writing it")
            continue
        if s.nbytes != v.type.nbytes or s.offset + s.nbytes > plan.arena_bytes or s.offset % plan.alignment:
            raise MemoryPlanError(f"%{names[v]} needs {v.type.nbytes} bytes but its slot is {s}")
        intervals.append((start, end, s.offset, s.offset + s.nbytes, "%" + names[v], s))
        if key in private:
            grouped.append((private[key], s.offset, s.offset + s.nbytes, "%" + names[v]))
    for s in plan.slots:
        if s.output == SCRATCH:
            if s.offset + s.nbytes > plan.arena_bytes or s.offset % plan.alignment:
                raise MemoryPlanError(f"the workspace of node {s.node} lies outside the arena: {s}")
            intervals.append((s.start, s.end, s.offset, s.offset + s.nbytes, f"scratch of node {s.node}", s))
            mark = group_mark(graph.nodes[s.node])
            if mark is not None:
                grouped.append(((mark.region, mark.group), s.offset, s.offset + s.nbytes, f"scratch of node {s.node}"))
    for a, (tag, lo, hi, name) in enumerate(grouped):
        for other, o_lo, o_hi, o_name in grouped[a + 1:]:
            if _apart(tag, other) and lo < o_hi and o_lo < hi:
                raise MemoryPlanError(f"{name} (group {tag[1]} of concurrent region {tag[0]}, bytes {lo}..{hi}) "
                                      f"overlaps {o_name} (group {other[1]}, bytes {o_lo}..{o_hi}); the groups "
                                      "may run at the same time")
    intervals.sort()
    active: list = []
    for interval in intervals:
        start, end, lo, hi, name, slot = interval
        active = [a for a in active if a[1] >= start]
        for a_start, a_end, a_lo, a_hi, a_name, a_slot in active:   # (an extended result may come first)
            if lo < a_hi and a_lo < hi and not _legal_inplace(graph, names, slot, a_name, a_end) \
                    and not _legal_inplace(graph, names, a_slot, name, end):
                raise MemoryPlanError(f"{name} (live {start}..{end}, bytes {lo}..{hi}) overlaps {a_name} "
                                      f"(live {a_start}..{a_end}, bytes {a_lo}..{a_hi})")
        active.append(interval)


def _legal_inplace(graph: Graph, names: dict, slot: Slot, other: str, other_end: int) -> bool:
    """Is `slot` an in-place overwrite of `other`, which dies at slot's node and is its operand?"""
    if slot.inplace_of != other or other_end != slot.node:
        return False
    node = graph.nodes[slot.node]
    return any("%" + names[node.inputs[p]] == other for p in inplace_candidates(node, slot.output))
