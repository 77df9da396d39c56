"""A whole graph as CUDA: every node's kernel description planned into launches, one source.

Stages of `build_program`:
  1. each node in schedule order (fused kernels and plain primitives alike) is described by
     hybrid.codegen.kernel.lower_node and planned into launches (launches.py); `constant`
     nodes need no launch (the executable uploads them once)
  2. every launch parameter is bound to where its memory lives: a graph value (input,
     parameter, constant or arena slot), the node's scratch slot of the memory plan (its temps
     one after another; `workspace` is this backend's workspace rule for the planner), a
     kernel constant, or a slot of the checks region (kernel.Check values: i64 each, read back
     after the call)
  3. the sources are concatenated after the prelude into one translation unit, which is
     compiled once (one cubin per graph) and dumped as NN-kernels.cu
A node holding control-flow regions (cond, while_loop, scan) becomes a Control entry whose
regions are programs of their own (their kernels in the same source); the executable runs
the loop or branch on the host and launches each region's kernels (see __init__.py). Its
scratch slot holds the regions' arenas and staging buffers (ir.memory_plan.region_layout),
then, for a scan, one buffer per sequence for the row a step reads.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy

from ...ir.graph import Graph, Node, Value
from ...ir.memory_plan import ALIGNMENT, region_layout
from ...config import config
from ..kernel import Kernel, lower_node
from ..kernel.winograd import use_winograd
from ...passes.memory_plan import plan_for
from .launches import Launch, plan_kernel
from .prelude import PRELUDE

SCRATCH_ALIGN = 256


@dataclass
class Ref:
    """Where a launch parameter points: kind "value" (a graph Value), "scratch" (byte offset in
    the scratch slot of `node`), "check" (byte offset in the checks region) or "const" (an array
    uploaded once)."""
    kind: str
    value: Optional[Value] = None
    offset: int = 0
    array: Optional[numpy.ndarray] = None
    node: Optional[Node] = None


@dataclass
class Control:
    """A cond / while_loop / scan node: the host runs it, launching its regions' programs."""
    node: object                      # ir Node
    regions: list = field(default_factory=list)   # one Program per region


@dataclass
class Program:
    graph: Graph
    calls: list = field(default_factory=list)    # (Launch, [Ref]) or Control, in order
    # per kernel.Check: (check, byte offset of its low value or None, of its high value or None)
    checks: list = field(default_factory=list)
    check_bytes: int = 0

    def launches(self) -> list:
        """Every launch, regions' included, in source order."""
        result = []
        for call in self.calls:
            if isinstance(call, Control):
                for region in call.regions:
                    result += region.launches()
            else:
                result.append(call[0])
        return result

    @property
    def source(self) -> str:
        return PRELUDE + "\n" + "\n".join(launch.source for launch in self.launches())

    def dump_text(self) -> str:
        """The source with every launch's configuration above its kernel."""
        launches = self.launches()
        lines = [f"// graph @{self.graph.name}: {len(launches)} launches, arena {self.graph.memory_plan.arena_bytes} bytes",
                 PRELUDE]
        for launch in launches:
            lines += [launch.describe(), launch.source]
        return "\n".join(lines)

    @property
    def names(self) -> list[str]:
        return [launch.name for launch in self.launches()]


def _align(n: int, a: int = SCRATCH_ALIGN) -> int:
    return (n + a - 1) // a * a


def _temps(kernel, plan) -> tuple[dict, int]:
    """Offsets of the kernel's temporaries in its node's scratch slot, and the bytes they need."""
    offsets, used = {}, 0
    for name in plan.scratch:
        offsets[name] = used
        used = _align(used + kernel.buffers[name].nbytes)
    return offsets, used


def _aligner(alignment: int):
    """128-bit loads need 16-byte aligned buffers: inputs, constants and checks are allocated so,
    arena slots when the memory plan aligns them so."""
    return lambda buffer: alignment % 16 == 0


def workspace(graph: Graph, node: Node) -> int:
    """This backend's workspace rule for the memory planner: a kernel's temporaries; a
    control-flow node's region layout plus, for a scan, the row buffers of its sequences."""
    if node.regions and node.op != "fused":
        rows = 0
        if node.op == "scan":
            n, m = node.attrs["num_carry"], node.attrs["num_xs"]
            rows = sum(_align(v.type.nbytes, ALIGNMENT) for v in node.regions[0].inputs[n:n + m])
        return _align(region_layout(node)[0], ALIGNMENT) + rows
    kernel = lower(node)
    return _temps(kernel, plan_kernel(kernel, kernel.name, _aligner(ALIGNMENT)))[1]


def lower(node: Node, name: Optional[str] = None) -> Kernel:
    """The node's kernel description; with conv_impl winograd2/winograd4 its 3x3 stride-1 convolutions run
    Winograd F(m x m, 3x3) as kernel stages (kernel/winograd.py) instead of the implicit GEMM. (auto keeps the
    implicit GEMM: where Winograd wins on a GPU has not been measured.)"""
    kernel = lower_node(node, name)
    impl = config.get("conv_impl")
    if impl.startswith("winograd"):
        use_winograd(kernel, int(impl[len("winograd"):]))
    return kernel


def row_buffers(node: Node) -> list[int]:
    """Offsets in a scan's scratch slot of the buffers its body reads row t of each sequence from."""
    n, m = node.attrs["num_carry"], node.attrs["num_xs"]
    at, offsets = _align(region_layout(node)[0], ALIGNMENT), []
    for v in node.regions[0].inputs[n:n + m]:
        offsets.append(at)
        at += _align(v.type.nbytes, ALIGNMENT)
    return offsets


def build_program(graph: Graph, prefix: str = "", root: Optional[Program] = None) -> Program:
    """`prefix` makes kernel names unique when several programs share one source file. A region's
    program shares its root's checks region (`root`). A graph whose memory plan was not made with
    this backend's `workspace` rule is planned again (a copy: Program.graph) by the planner."""
    if root is None:
        graph = plan_for(graph, workspace)
    program = Program(graph)
    root = root or program
    for index, node in enumerate(graph.nodes):
        if node.op == "constant":
            continue
        if node.regions and node.op != "fused":
            program.calls.append(Control(node, [build_program(region, f"{prefix}r{index}_{k}_", root)
                                                for k, region in enumerate(node.regions)]))
            continue
        label = re.sub(r"\W", "_", str(node.attrs.get("name") or node.op))
        name = f"{prefix}k{index}_{label}"
        kernel = lower(node, name)
        plan = plan_kernel(kernel, name, _aligner(graph.memory_plan.alignment))
        offsets, _ = _temps(kernel, plan)
        check_at = {}
        for name, buf in kernel.buffers.items():
            if buf.role == "check":
                check_at[name] = root.check_bytes
                root.check_bytes += buf.nbytes
        root.checks += [(c, check_at.get(c.low_buf), check_at.get(c.high_buf)) for c in kernel.checks]
        for launch in plan.launches:
            if 0 in launch.grid:
                continue  # an empty tensor: nothing to compute
            refs = []
            for name in launch.buffers:
                buf = kernel.buffers[name]
                if buf.role == "input":
                    refs.append(Ref("value", node.inputs[buf.index]))
                elif buf.role == "output":
                    refs.append(Ref("value", node.outputs[buf.index]))
                elif buf.role == "temp":
                    refs.append(Ref("scratch", offset=offsets[name], node=node))
                elif buf.role == "check":
                    refs.append(Ref("check", offset=check_at[name]))
                else:
                    refs.append(Ref("const", array=numpy.ascontiguousarray(kernel.constants[name])))
            program.calls.append((launch, refs))
    return program


def write_dump(program: Program, folder: str) -> str:
    """Write NN-kernels.cu (NN after the files already there); returns its path."""
    os.makedirs(folder, exist_ok=True)
    numbers = [int(m.group(1)) for f in os.listdir(folder) if (m := re.match(r"(\d+)-", f))]
    path = os.path.join(folder, f"{max(numbers, default=-1) + 1:02d}-kernels.cu")
    with open(path, "w") as f:
        f.write(program.dump_text() + "\n")
    return path
