"""Trim control-flow nodes to what is used: constants move into regions, unread operands and
results go, and loop-carried state that nothing outside reads (and that feeds only itself), or
that the body passes through unchanged, stops being carried.

Stages, per cond / while_loop / scan node (regions first):
  1. sink: a loop-invariant operand (any operand but a cond's index) that is a small `constant`
     becomes a constant inside every region, so folding and simplification see it there
  2. unread invariant operands (no region reads their input) are dropped
  3. scan: per-step results no one reads are no longer stacked
  4. loops: a carried value passed through unchanged by the body is loop-invariant: its result
     is its initial operand; a carried value whose result is unread and that feeds only its own
     next value is dropped (repeated until nothing changes)
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from .manager import register_pass
from .dce import dce
from .regions import rebuild, used_values
from .rewrite import Rewriter, in_regions

SINK_LIMIT = 64   # elements: larger constants stay operands (one copy, not one per region)


def _reaches(region: Graph, source: Value) -> set[int]:
    """Indices of the region's results that depend on `source`."""
    tainted = {source}
    for node in region.nodes:
        if any(v in tainted for v in node.inputs):
            tainted.update(node.outputs)
    return {k for k, v in enumerate(region.outputs) if v in tainted}


class _Loop:
    """A control-flow node being trimmed: operands, region inputs and results, edited in step."""

    def __init__(self, node: Node):
        self.node = node
        self.offset = 1 if node.op == "cond" else 0     # operand index - region input index
        self.operands = list(node.inputs)
        self.attrs = dict(node.attrs)
        self.keep = list(range(len(node.outputs)))   # which original results the new node has
        self.forward: dict[int, Value] = {}           # original result index -> value that replaces it

    @property
    def regions(self) -> list[Graph]:
        return self.node.regions

    def start(self) -> int:
        """Region input index of the first loop-invariant value (every cond input is one)."""
        return 0 if self.node.op == "cond" else self.attrs["num_carry"] + self.attrs.get("num_xs", 0)

    def drop_input(self, j: int) -> None:
        del self.operands[j + self.offset]
        for region in self.regions:
            del region.inputs[j]

    def sink_constants(self) -> None:
        for j in range(self.start(), len(self.regions[0].inputs)):
            operand = self.operands[j + self.offset]
            producer = operand.producer
            if producer is None or producer.op != "constant" or operand.type.size > SINK_LIMIT:
                continue
            for region in self.regions:
                const = Node("constant", [], producer.attrs, [operand.type], producer.loc)
                region.nodes.insert(0, const)
                region.replace_uses(region.inputs[j], const.output)

    def drop_unread_inputs(self) -> None:
        for j in reversed(range(self.start(), len(self.regions[0].inputs))):
            if not any(region.inputs[j] in used_values(region) for region in self.regions):
                self.drop_input(j)
        self.rename()

    def rename(self) -> None:
        """Invariant region inputs are named k0, k1, ... in order."""
        for region in self.regions:
            for i, v in enumerate(region.inputs[self.start():]):
                v.name = f"k{i}"

    def drop_unread_steps(self, used: set[Value]) -> None:
        body, n = self.regions[0], self.attrs["num_carry"]
        for k in reversed(range(n, len(body.outputs))):
            if self.node.outputs[self.keep[k]] not in used:
                del body.outputs[k]
                del self.keep[k]

    def uncarry(self, used: set[Value]) -> bool:
        body, n = self.regions[-1], self.attrs["num_carry"]
        for k in range(n):
            original = self.keep[k]
            if body.outputs[k] is body.inputs[k]:          # passed through: loop-invariant
                self.forward[original] = self.operands[k]
                self._remove_carry(k, as_invariant=True)
                return True
            reads = set().union(*(_reaches(region, region.inputs[k]) for region in self.regions[:-1])) \
                if len(self.regions) > 1 else set()
            if (self.node.outputs[original] not in used and not reads
                    and _reaches(body, body.inputs[k]) <= {k}):
                self._remove_carry(k, as_invariant=False)
                return True
        return False

    def _remove_carry(self, k: int, as_invariant: bool) -> None:
        body = self.regions[-1]
        del body.outputs[k]
        del self.keep[k]
        self.attrs["num_carry"] -= 1
        operand = self.operands.pop(k)
        for region in self.regions:
            v = region.inputs.pop(k)
            if as_invariant:
                region.inputs.append(v)
        if as_invariant:
            self.operands.append(operand)
        self.rename()

    def build(self) -> Node:
        return rebuild(self.node, self.operands, self.attrs, self.keep)


@register_pass("prune_regions")
def prune_regions(graph: Graph, **context) -> Graph:
    in_regions(graph, prune_regions)
    used = used_values(graph)
    rw = Rewriter(graph)
    for node in rw.sweep():
        if node.op not in ("cond", "while_loop", "scan"):
            rw.keep(node)
            continue
        loop = _Loop(node)
        loop.sink_constants()
        if node.op == "scan":
            loop.drop_unread_steps(used)
        if node.op != "cond":
            while loop.uncarry(used):
                pass
        for region in node.regions:   # what the trimming left unread inside
            dce(region)
        loop.drop_unread_inputs()
        new = loop.build()
        rw.keep(new)
        for position, original in enumerate(loop.keep):
            rw.replace(node.outputs[original], new.outputs[position])
        for original, value in loop.forward.items():
            rw.replace(node.outputs[original], value)
    return rw.finish()
