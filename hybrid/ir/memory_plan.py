"""The memory plan as part of the IR: where every node result lives in one arena.

passes/memory_plan.py computes it; backends place buffers by it. The printer writes each
node's slots as a trailing `| %v -> b<N> @<offset> (<size>)[ in place of %u]` comment and the
parser rebuilds the plan from those comments, so a printed graph parses back with its plan, and
two graphs are equal only if their plans are.
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
    output: int               # which result of that node
    value: str                # its printed name, e.g. "%12"
    nbytes: int
    buffer: int               # buffer id: results placed at the same offset share it
    offset: int               # byte offset of the buffer (so of the value) in the arena
    start: int                # node index that writes it
    end: int                  # last node index that reads it; len(graph.nodes) for graph outputs
    inplace_of: Optional[str] = None   # printed name of the dying operand it overwrites


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
            lines.append(f"{s.value:<8}{s.node:>6}{f'{s.start}..{s.end}':>12}{'b' + str(s.buffer):>8}{s.offset:>12}"
                         f"{s.nbytes:>12}  {s.inplace_of or ''}")
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


def note(s: Slot) -> str:
    """The slot's comment in the text form."""
    text = f"{s.value} -> b{s.buffer} @{s.offset} ({format_bytes(s.nbytes)})"
    return text + (f" in place of {s.inplace_of}" if s.inplace_of else "")


_NOTE = re.compile(r"(%[\w.]+) -> b(\d+) @(\d+) \([^)]*\)(?: in place of (%[\w.]+))?$")


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan_from_notes(graph: Graph) -> Optional[MemoryPlan]:
    """The plan written in the nodes' `plan` comments (None when there are none)."""
    if not any("plan" in node.meta for node in graph.nodes):
        return None
    live = liveness(graph)
    slots = []
    for i, node in enumerate(graph.nodes):
        notes = [part.strip() for part in node.meta.get("plan", "").split(";") if part.strip()]
        if len(notes) != (len(node.outputs) if node.op != "constant" else 0):
            raise FormatError(f"IR parse error: node {i} ({node.op}) has {len(notes)} memory-plan notes for "
                              f"{len(node.outputs)} results")
        for k, text in enumerate(notes):
            match = _NOTE.match(text)
            if match is None:
                raise FormatError(f"IR parse error: memory-plan note {text!r} of node {i} is not "
                                  "'%v -> b<N> @<offset> (<size>)[ in place of %u]'")
            value, buffer, offset, inplace_of = match.groups()
            start, end = live[(i, k)]
            slots.append(Slot(i, k, value, node.outputs[k].type.nbytes, int(buffer), int(offset), start, end,
                              inplace_of))
    sizes: dict[int, int] = {}
    offsets: dict[int, int] = {}
    for s in slots:
        sizes[s.buffer] = max(sizes.get(s.buffer, 0), _aligned(s.nbytes))
        offsets[s.buffer] = s.offset
    buffers = sorted(sizes)
    if buffers != list(range(len(buffers))):
        raise FormatError(f"IR parse error: memory-plan buffers must be numbered b0..b{len(buffers) - 1}")
    arena = max((offsets[b] + sizes[b] for b in buffers), default=0)
    return MemoryPlan(arena, sum(s.nbytes for s in slots), [sizes[b] for b in buffers], [offsets[b] for b in buffers],
                      slots)
