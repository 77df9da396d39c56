"""The memory plan as part of the IR: where every node result lives in one arena.

passes/memory_plan.py computes it; backends place every buffer exactly where it says (there is
no other planner). The printer writes each node's slots as a trailing comment and the parser
rebuilds the plan from those comments, so a printed graph parses back with its plan, and two
graphs are equal only if their plans are. The notes:
  %v -> b<N> @<offset> (<size>)[ in place of %u]   a result at an arena offset
  %v -> carry %h (<size>)                          a loop body's result written straight into the
                                                   buffer of the carried state %h it replaces
  scratch -> b<N> @<offset> (<bytes> B)            the node's workspace while it runs (a kernel's
                                                   im2col/packing buffers; a loop's region arenas)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ..errors import FormatError
from .graph import Graph

ALIGNMENT = 64


@dataclass(frozen=True)
class Slot:
    """Where one node result lives."""
    node: int                 # index of the producing node in graph.nodes
    output: int               # which result of that node; SCRATCH for the node's workspace
    value: str                # its printed name, e.g. "%12" ("scratch" for a workspace)
    nbytes: int
    buffer: int               # buffer id: results placed at the same offset share it
    offset: int               # byte offset of the buffer (so of the value) in the arena
    start: int                # node index that writes it
    end: int                  # last node index that reads it; len(graph.nodes) for graph outputs
    inplace_of: Optional[str] = None   # printed name of the dying operand it overwrites
    carry: Optional[int] = None        # a loop body's result kept in the buffer of carried input `carry`
                                       # (buffer and offset are then -1: it is not in this arena)


SCRATCH = -1


@dataclass
class MemoryPlan:
    arena_bytes: int                   # planned peak: the whole arena
    naive_bytes: int                   # one buffer per result, never reused
    buffer_sizes: list[int]            # bytes of each buffer id (the largest block placed there)
    buffer_offsets: list[int]          # arena offset of each buffer id
    slots: list[Slot] = field(default_factory=list)
    alignment: int = ALIGNMENT
    _by_key: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def slot(self, node: int, output: int = 0) -> Optional[Slot]:
        """The slot of result `output` of graph.nodes[node]; None for constants."""
        return self._index().get((node, output))

    def scratch(self, node: int) -> Optional[Slot]:
        """The workspace of graph.nodes[node] while it runs; None when it needs none."""
        return self._index().get((node, SCRATCH))

    def _index(self) -> dict:
        if len(self._by_key) != len(self.slots):
            self._by_key = {(s.node, s.output): s for s in self.slots}
        return self._by_key

    def summary(self) -> str:
        return (f"naive {format_bytes(self.naive_bytes)} -> planned {format_bytes(self.arena_bytes)} "
                f"({len(self.slots)} -> {len(self.buffer_sizes)} buffers)")

    def table(self) -> str:
        lines = [self.summary(), "", f"{'value':<8}{'node':>6}{'live':>12}{'buffer':>8}{'offset':>12}{'bytes':>12}  "
                 "in place of"]
        for s in self.slots:
            where = (f"{'b' + str(s.buffer):>8}{s.offset:>12}" if s.carry is None else f"{'carry':>8}{s.carry:>12}")
            lines.append(f"{s.value:<8}{s.node:>6}{f'{s.start}..{s.end}':>12}{where}{s.nbytes:>12}  {s.inplace_of or ''}")
        return "\n".join(lines)


def format_bytes(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.1f} KB"
    return f"{n} B"


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


def note(s: Slot, carried_name: str = "") -> str:
    """The slot's comment in the text form (carried_name: the printed name of the carried input)."""
    if s.output == SCRATCH:
        return f"scratch -> b{s.buffer} @{s.offset} ({s.nbytes} B)"
    if s.carry is not None:
        return f"{s.value} -> carry {carried_name} ({format_bytes(s.nbytes)})"
    text = f"{s.value} -> b{s.buffer} @{s.offset} ({format_bytes(s.nbytes)})"
    return text + (f" in place of {s.inplace_of}" if s.inplace_of else "")


_NOTE = re.compile(r"(%[\w.]+) -> b(\d+) @(\d+) \([^)]*\)(?: in place of (%[\w.]+))?$")
_CARRY_NOTE = re.compile(r"(%[\w.]+) -> carry (%[\w.]+) \([^)]*\)$")
_SCRATCH_NOTE = re.compile(r"scratch -> b(\d+) @(\d+) \((\d+) B\)$")


def carried_inputs(node, region: int) -> int:
    """How many leading inputs of node.regions[region] are loop-carried state that the region's
    results of the same positions replace (a while_loop's body, a scan's body); 0 otherwise."""
    if (node.op, region) in (("while_loop", 1), ("scan", 0)):
        return node.attrs["num_carry"]
    return 0


def region_layout(node) -> tuple[int, dict[int, int]]:
    """The workspace of a control-flow node, laid out the same by every backend: its regions'
    arenas all start at offset 0 (one region runs at a time and no region value outlives its
    run: a branch's or a loop cond's results are read before the next region starts), then one
    staging buffer per carried value whose next value is another carried value (a swap: the old
    value must survive until every copy has read it). Returns (bytes, {carried k: offset})."""
    top = max((_aligned(r.memory_plan.arena_bytes) for r in node.regions if r.memory_plan is not None), default=0)
    staging = {}
    n = carried_inputs(node, len(node.regions) - 1)
    if n:
        body = node.regions[-1]
        for k, v in enumerate(body.outputs[:n]):
            if v in body.inputs[:n] and v is not body.inputs[k]:
                staging[k] = top
                top += _aligned(v.type.nbytes)
    return top, staging


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan_from_notes(graph: Graph) -> Optional[MemoryPlan]:
    """The plan written in the nodes' `plan` comments (None when there are none)."""
    if not any("plan" in node.meta for node in graph.nodes):
        return None
    live = liveness(graph)
    inputs = {"%" + v.name: k for k, v in enumerate(graph.inputs)}
    slots = []
    for i, node in enumerate(graph.nodes):
        notes = [part.strip() for part in node.meta.get("plan", "").split(";") if part.strip()]
        scratch = [text for text in notes if text.startswith("scratch ")]
        notes = [text for text in notes if not text.startswith("scratch ")]
        if len(notes) != (len(node.outputs) if node.op != "constant" else 0) or len(scratch) > 1:
            raise FormatError(f"IR parse error: node {i} ({node.op}) has {len(notes)} memory-plan notes for "
                              f"{len(node.outputs)} results (and {len(scratch)} scratch notes, at most 1)")
        for k, text in enumerate(notes):
            start, end = live[(i, k)]
            carry = _CARRY_NOTE.match(text)
            if carry is not None and carry.group(2) in inputs:
                slots.append(Slot(i, k, carry.group(1), node.outputs[k].type.nbytes, -1, -1, start, end,
                                  carry=inputs[carry.group(2)]))
                continue
            match = _NOTE.match(text)
            if match is None:
                raise FormatError(f"IR parse error: memory-plan note {text!r} of node {i} is not "
                                  "'%v -> b<N> @<offset> (<size>)[ in place of %u]' nor '%v -> carry %input (<size>)'")
            value, buffer, offset, inplace_of = match.groups()
            slots.append(Slot(i, k, value, node.outputs[k].type.nbytes, int(buffer), int(offset), start, end,
                              inplace_of))
        for text in scratch:
            match = _SCRATCH_NOTE.match(text)
            if match is None:
                raise FormatError(f"IR parse error: memory-plan note {text!r} of node {i} is not "
                                  "'scratch -> b<N> @<offset> (<bytes> B)'")
            buffer, offset, nbytes = (int(x) for x in match.groups())
            slots.append(Slot(i, SCRATCH, "scratch", nbytes, buffer, offset, i, i))
    sizes: dict[int, int] = {}
    offsets: dict[int, int] = {}
    for s in slots:
        if s.carry is None:
            sizes[s.buffer] = max(sizes.get(s.buffer, 0), _aligned(s.nbytes))
            offsets[s.buffer] = s.offset
    buffers = sorted(sizes)
    if buffers != list(range(len(buffers))):
        raise FormatError(f"IR parse error: memory-plan buffers must be numbered b0..b{len(buffers) - 1}")
    arena = max((offsets[b] + sizes[b] for b in buffers), default=0)
    return MemoryPlan(arena, sum(s.nbytes for s in slots), [sizes[b] for b in buffers], [offsets[b] for b in buffers],
                      slots)
