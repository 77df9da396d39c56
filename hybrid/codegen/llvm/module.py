"""A whole graph as one LLVM module with one entry point.

Stages of `build_module`:
  1. lower every node (fused or plain) to a kernel.Kernel
  2. place every buffer: graph inputs, outputs and constants in the pointer table `bufs`
     (inputs, then outputs, then constants); intermediates and kernel scratch at fixed
     arena offsets (graph.memory_plan when the passes supplied one, else a first-fit
     liveness plan here), so the entry point does no allocation
  3. render each kernel as a function, then
       void hybrid_entry(ptr bufs, ptr arena, ptr barrier, i32 tid, i32 nthreads)
     calls them in order with a barrier between dependent kernels; every thread runs the
     same entry point and each kernel splits its work by tid. It stamps the cycle counter
     after each kernel while a profile is recorded (profiling.py; ModulePlan.segments names them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy

from ...ir import cost
from ...ir.graph import Graph, Node, Value
from ... import log
from ...errors import HybridError
from ..kernel import Kernel, Stage, ivar, lower_node, walk
from . import render
from .chunking import chunk_convolutions
from .conv_rewrite import ParamWeightPack, conv_kinds, keep_packed, use_direct_convolutions
from .prepack import pack_im2col, prepack_params, prepack_weights
from .emit import Fn
from .control import ControlStep, KernelStep, Pointers, RegionCode, render_steps, walk_steps
from . import profiling
from .mathlib import INTRINSICS, math_module
from .support import barrier_ir, ipow_ir

ALIGN = 64
ENTRY = "hybrid_entry"


@dataclass(frozen=True)
class Segment:
    """A timed piece of the entry point, for the profiler: a kernel (one graph node) or the repacking of
    pre-packed parameters."""
    name: str            # the kernel's function name, e.g. k3_conv2d
    label: str           # its ops, e.g. conv2d+add+relu
    flops: int
    bytes: int
    shapes: str          # operand types
    loc: Optional[str]   # the user's source line of the node

    @classmethod
    def of_node(cls, name: str, node: Node, kernel: Optional[Kernel] = None) -> "Segment":
        label = cost.node_label(node)
        kinds = conv_kinds(kernel) if kernel is not None else ""
        if kinds:
            label += f"[{kinds}]"      # which convolution kernel was chosen (no space: tables split on it)
        return cls(name, label, cost.node_flops(node), cost.node_bytes(node),
                   cost.describe_shapes([v.type for v in node.inputs]), node.loc)


@dataclass
class ModulePlan:
    ir: str
    arena_bytes: int
    num_inputs: int
    num_outputs: int
    constants: list[numpy.ndarray]
    # per graph output: None (written by a kernel), ("input", i) or ("output", j): copy from there
    output_sources: list[Optional[tuple[str, int]]]
    kernels: list[Kernel] = field(default_factory=list)
    parallel: bool = False          # whether any kernel has work worth splitting across threads
    uses_sgemm: bool = False
    gemm_impl: str = "auto"
    # per kernel.Check: (check, arena offset of its low value or None, of its high value or None);
    # the kernels write them every call, the runtime tests them after it
    checks: list = field(default_factory=list)
    # parameters the runtime keeps pre-packed: (graph input, N, K, ldb, trans, floats) for GEMM panels
    # (prepack.py), conv_rewrite.ParamWeightPack for direct convolutions; the pointer table holds after the
    # constants one buffer pointer per entry, then one "repack now" flag each
    packs: list = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)   # in entry order; timestamps bound each


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class ArenaPlanner:
    """First-fit allocation over the node order with frees at last use."""

    def __init__(self):
        self.free: list[tuple[int, int]] = []   # (offset, size), sorted by offset
        self.top = 0

    def alloc(self, nbytes: int) -> int:
        size = _align(max(nbytes, 1))
        for i, (off, sz) in enumerate(self.free):
            if sz >= size:
                if sz == size:
                    self.free.pop(i)
                else:
                    self.free[i] = (off + size, sz - size)
                return off
        if self.free and self.free[-1][0] + self.free[-1][1] == self.top:
            off, sz = self.free.pop()
            self.top = off + size
            return off
        off = self.top
        self.top += size
        return off

    def release(self, off: int, nbytes: int) -> None:
        size = _align(max(nbytes, 1))
        self.free.append((off, size))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for o, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        self.free = merged


def _inplace_ok(k: Kernel, operand: int, output: int) -> bool:
    """Whether the kernel may write output `output` over input `operand`: one stage, which
    reads that input only at the element it writes."""
    if len(k.stages) != 1 or not isinstance(k.stages[0], Stage):
        return False
    stage = k.stages[0]
    src = next(b.name for b in k.inputs if b.index == operand)
    if stage.out != next(b.name for b in k.outputs if b.index == output):
        return False
    own = tuple(ivar(v).key() for v in stage.vars)
    return all(tuple(a.key() for a in n.args) == own for n in walk(stage.expr) if n.op == "load" and n.value == src)


class _Placer:
    """Places every node result (and each kernel's scratch) and lowers nodes to kernels; nodes
    holding control-flow regions become ControlSteps whose regions are placed recursively, each
    region's values in an arena block of its own memory plan's size."""

    def __init__(self, where: dict, constants: list, planner: ArenaPlanner, base: int, n_in: int, params: set,
                 gemm_impl: str):
        self.where, self.constants, self.planner, self.base = where, constants, planner, base
        self.n_in, self.params, self.gemm_impl = n_in, params, gemm_impl
        self.checks: list = []
        self.packs: list = []
        self.mine: set[Value] = set()
        self.count = 0

    def graph_param(self, v: Value) -> Optional[int]:
        """The graph input index of `v` when it is a parameter passed by pointer."""
        kind, index = self.where.get(v, ("", 0))
        return index if kind == "arg" and index < self.n_in and v.name in self.params else None

    def alloc(self, nbytes: int) -> tuple[str, int]:
        return ("arena", self.base + self.planner.alloc(nbytes))

    def place_nodes(self, graph: Graph, mplan, origin: Optional[int], last_use: Optional[dict]) -> list:
        """Steps for graph's nodes. origin: the arena offset its memory plan's offsets count from
        (None: no plan, the planner places everything); last_use: free values after their last
        reader (top level only: a region's values must survive every iteration)."""
        where, steps = self.where, []
        for i, node in enumerate(graph.nodes):
            if node.op == "constant" and node.outputs[0] not in where:
                where[node.outputs[0]] = ("const", len(self.constants))
                self.constants.append(numpy.ascontiguousarray(node.attrs["value"]))
                continue
            if node.regions and node.op != "fused":
                for o, v in enumerate(node.outputs):
                    if v not in where:
                        slot = mplan.slot(i, o) if mplan is not None else None
                        where[v] = ("arena", origin + slot.offset) if slot is not None else self.alloc(v.type.nbytes)
                        if slot is None:
                            self.mine.add(v)
                steps.append(self.place_control(node))
            else:
                steps.append(self.place_kernel(node, i, mplan, origin))
            steps[-1].node = node
            if last_use is not None:
                for v in set(node.inputs) | {v for v in node.outputs if v not in last_use}:
                    if v in self.mine and last_use.get(v, i) == i:
                        self.planner.release(where[v][1] - self.base, v.type.nbytes)
                        self.mine.discard(v)
        return steps

    def place_region(self, region: Graph, input_locs: list) -> RegionCode:
        for v, loc in zip(region.inputs, input_locs):
            self.where[v] = loc
        plan = region.memory_plan
        origin = self.alloc(plan.arena_bytes)[1] if plan is not None else None
        steps = self.place_nodes(region, plan, origin, None)
        return RegionCode(steps, [self.where[v] for v in region.outputs], [v.type.nbytes for v in region.outputs])

    def place_control(self, node: Node) -> ControlStep:
        ins = [self.where[v] for v in node.inputs]
        outs = [self.where[v] for v in node.outputs]
        if node.op == "cond":
            regions = [self.place_region(r, ins[1:]) for r in node.regions]
        elif node.op == "while_loop":
            n = node.attrs["num_carry"]
            regions = [self.place_region(r, outs + ins[n:]) for r in node.regions]
        elif node.op == "scan":
            n, m = node.attrs["num_carry"], node.attrs["num_xs"]
            steps_in = [("dyn", (id(node), k)) for k in range(m)]
            regions = [self.place_region(node.regions[0], outs[:n] + steps_in + ins[n + m:])]
        else:
            raise HybridError(f"llvm: no code generation for the region op {node.op}")
        step = ControlStep(node.op, dict(node.attrs), ins, outs, [v.type.nbytes for v in node.inputs],
                           [v.type.nbytes for v in node.outputs], regions, id(node))
        if node.op in ("while_loop", "scan"):
            body = regions[-1]
            carried = outs[:node.attrs["num_carry"]]
            for k, src in enumerate(body.outputs[:len(carried)]):
                if src in carried and src != carried[k]:
                    step.staging[k] = self.alloc(node.outputs[k].type.nbytes)
        return step

    def place_kernel(self, node: Node, i: int, mplan, origin: Optional[int]) -> KernelStep:
        where, planner, base = self.where, self.planner, self.base
        gemm_impl = self.gemm_impl
        k = lower_node(node, f"k{self.count}_{node.attrs.get('name', node.op)}")
        self.count += 1
        pack_slot = {}
        for wpack in use_direct_convolutions(k):
            source = k.buffers[wpack.source]
            param = self.graph_param(node.inputs[source.index]) if source.role == "input" else None
            if param is not None:
                pack_slot[wpack.stage.out] = len(self.packs)
                self.packs.append(keep_packed(k, wpack, param, len(self.packs)))
        pack_im2col(k, gemm_impl)
        chunk_convolutions(k)
        prepack_weights(k, render.stage_parallel, gemm_impl)
        for pack in prepack_params(k, lambda x: self.graph_param(node.inputs[x]) is not None, gemm_impl):
            pack_slot[pack.buffer] = len(self.packs)
            self.packs.append((self.graph_param(node.inputs[pack.input_index]), pack.N, pack.K, pack.ldb, pack.trans,
                               k.buffers[pack.buffer].size))
        noalias = True
        for o, v in enumerate(node.outputs):
            if v in where:
                continue
            slot = mplan.slot(i, o) if mplan is not None else None
            if slot is not None and slot.inplace_of is not None:
                operands = [x for x, u in enumerate(node.inputs) if where.get(u) == ("arena", origin + slot.offset)]
                if not operands or not all(_inplace_ok(k, x, o) for x in operands):
                    log.log("compile", f"llvm: node {i} ({node.op}) cannot run in place over {slot.inplace_of}; "
                                       "giving its result its own buffer")
                    slot = None
                else:
                    noalias = False
            if slot is not None:
                where[v] = ("arena", origin + slot.offset)
            else:
                where[v] = self.alloc(v.type.nbytes)
                self.mine.add(v)
        ptrs, temps, check_at = [], [], {}
        for name, buf in k.buffers.items():
            if buf.role == "input":
                ptrs.append(where[node.inputs[buf.index]])
            elif buf.role == "output":
                ptrs.append(where[node.outputs[buf.index]])
            elif buf.role == "temp":
                off = planner.alloc(buf.nbytes)
                temps.append((off, buf.nbytes))
                ptrs.append(("arena", base + off))
            elif buf.role == "view":     # a byte range of another buffer (chunking.py)
                continue
            elif buf.role == "prepacked":    # the runtime's buffer for a pre-packed parameter
                ptrs.append(("prepacked", pack_slot[name]))
            elif buf.role == "check":    # read after the call: never released
                ptrs.append(self.alloc(buf.nbytes))
                check_at[name] = ptrs[-1][1]
            else:
                ptrs.append(("const", len(self.constants)))
                self.constants.append(k.constants[name])
        self.checks += [(c, check_at.get(c.low_buf), check_at.get(c.high_buf)) for c in k.checks]
        for off, nbytes in temps:
            planner.release(off, nbytes)
        return KernelStep(k, ptrs, noalias)


def build_module(graph: Graph, triple: str, constant_symbols: Optional[str] = None,
                 bound_inputs: Optional[dict[int, numpy.ndarray]] = None, gemm_impl: str = "auto") -> ModulePlan:
    """bound_inputs: graph inputs whose values are fixed (AOT parameters): stored like constants.
    constant_symbols: a prefix P; constant i is then the external symbol P_const<i> (AOT: the
    library links them from a data object) instead of a pointer-table entry."""
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    mplan = getattr(graph, "memory_plan", None)
    constants: list[numpy.ndarray] = []

    # -- placement ------------------------------------------------------------------------
    where: dict[Value, tuple[str, int]] = {v: ("arg", i) for i, v in enumerate(graph.inputs)}
    for i, value in (bound_inputs or {}).items():
        where[graph.inputs[i]] = ("const", len(constants))
        constants.append(numpy.ascontiguousarray(value))
    output_sources: list[Optional[tuple[str, int]]] = []
    for j, v in enumerate(graph.outputs):
        if v in where:
            if where[v][0] != "arg":
                raise HybridError(f"graph @{graph.name} returns a bound parameter directly; "
                                  "return a computation of it")
            output_sources.append(("input", where[v][1]) if where[v][1] < n_in else ("output", where[v][1] - n_in))
        else:
            where[v] = ("arg", n_in + j)
            output_sources.append(None)
    last_use: dict[Value, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[v] = i
    # Values the memory plan places live in [0, plan.arena_bytes); this planner places the rest
    # (kernel scratch, region arenas, and everything when there is no plan) above it.
    base = _align(mplan.arena_bytes) if mplan is not None else 0
    planner = ArenaPlanner()
    params = set(graph.param_names) if constant_symbols is None else set()   # AOT binds its parameters
    placer = _Placer(where, constants, planner, base, n_in, params, gemm_impl)
    steps = placer.place_nodes(graph, mplan, 0, last_use)
    checks, packs = placer.checks, placer.packs
    segments = [Segment.of_node(step.kernel.name, step.node, step.kernel) if isinstance(step, KernelStep)
                else Segment.of_node(f"{step.op}{i}", step.node) for i, step in enumerate(steps)]

    # -- rendering ------------------------------------------------------------------------
    mod = render.ModuleState()
    entry = Fn(f"define void @{ENTRY}(ptr %bufs, ptr %arena, ptr %bar, i32 %tid, i32 %nt) nounwind")
    globals_: list[str] = []
    stamps = profiling.EntryStamps(entry)
    mod.declares.update(profiling.DECLARES)
    if _render_repacks(entry, mod, packs, n_in + n_out + len(constants)):
        stamps.after_segment()
        floats = sum(p[-1] for p in packs)
        segments.insert(0, Segment("repack", "repack_params", 0, 8 * floats, f"{len(packs)} parameters", None))
    pointers = Pointers(entry, n_in, n_out, len(constants), constant_symbols)
    last_parallel = None
    for step in steps:   # one timed segment per top-level step (a whole loop counts as one)
        last_parallel = render_steps(entry, mod, [step], pointers, last_parallel)
        stamps.after_segment()
    entry.do("ret void")
    if constant_symbols:
        for x, value in enumerate(constants):
            globals_.append(f"@{constant_symbols}_const{x} = external hidden constant [{value.nbytes} x i8], align 64")

    pieces = [INTRINSICS, barrier_ir(triple.startswith(("x86_64", "i686", "i386")))]
    pieces += globals_ + [profiling.DEFINITION]
    pieces += [math_module(mod.math)] + [ipow_ir(t) for t in sorted(mod.ipow)]
    pieces += mod.functions + [entry.text()]
    kernels = [step.kernel for step in walk_steps(steps) if isinstance(step, KernelStep)]
    return ModulePlan(_assemble(pieces, mod.declares, triple), base + planner.top, n_in, n_out,
                      constants, output_sources, kernels,
                      parallel=mod.any_parallel,
                      uses_sgemm=mod.uses_sgemm, gemm_impl=gemm_impl, checks=checks, packs=packs,
                      segments=segments)


def _render_repacks(entry: Fn, mod: render.ModuleState, packs: list, first_slot: int) -> bool:
    """At the top of the entry point: every parameter whose "repack now" flag the runtime set is packed into
    its buffer by all threads together, then they wait for each other (all threads read the same flags).
    Whether there is any."""
    if not packs:
        return False
    any_dirty = "0"
    for j, pack in enumerate(packs):
        flag = entry.op(f"getelementptr i64, ptr %bufs, i64 {first_slot + len(packs) + j}")
        flag = entry.op(f"load i64, ptr {flag}")
        any_dirty = entry.op(f"or i64 {any_dirty}, {flag}")
        with entry.when(entry.op(f"icmp ne i64 {flag}, 0"), "repack"):
            src = entry.op(f"getelementptr ptr, ptr %bufs, i64 {pack[0]}")
            src = entry.op(f"load ptr, ptr {src}")
            dst = entry.op(f"getelementptr ptr, ptr %bufs, i64 {first_slot + j}")
            dst = entry.op(f"load ptr, ptr {dst}")
            if isinstance(pack, ParamWeightPack):
                render.render_kernel(mod, pack.kernel, pack.kernel.name)
                entry.do(f"call void @{pack.kernel.name}(ptr {src}, ptr {dst}, i32 %tid, i32 %nt, ptr %bar)")
            else:
                _, N, K, ldb, trans, _ = pack
                mod.declares.add("declare void @hybrid_sgemm_pack_b(i64, i64, ptr, i64, i32, ptr, i32, i32)")
                mod.uses_sgemm = True
                entry.do(f"call void @hybrid_sgemm_pack_b(i64 {N}, i64 {K}, ptr {src}, i64 {ldb}, "
                         f"i32 {int(trans)}, ptr {dst}, i32 %tid, i32 %nt)")
    with entry.when(entry.op(f"icmp ne i64 {any_dirty}, 0"), "repacked"):
        entry.do("call void @hb_barrier(ptr %bar, i32 %nt)")
    return True


def _assemble(pieces: list[str], declares: set[str], triple: str) -> str:
    """Join IR pieces, declaring each external function once."""
    decl = set(declares)
    body = []
    for piece in pieces:
        for line in piece.splitlines():
            if line.startswith("declare "):
                decl.add(line)
            else:
                body.append(line)
    return "\n".join([f'target triple = "{triple}"', ""] + sorted(decl) + [""] + body) + "\n"


def sgemm_source_key(impl: str) -> str:
    """Stands for sgemm_ir(impl) in cache keys: the generating source and the resolved choice
    ("auto" means OpenBLAS only where scipy-openblas32 is installed; an object that calls it
    must never be loaded where it is not)."""
    import hashlib
    import os

    from . import gemm

    folder = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256(gemm.resolve_impl(impl).encode())
    for name in ("gemm.py", "support.py"):
        try:
            with open(os.path.join(folder, name), "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(b"absent")
    return "hybrid_sgemm:" + h.hexdigest()


def sgemm_ir(impl: str = "auto") -> str:
    """The module defining hybrid_sgemm (gemm.py: generated kernel or OpenBLAS)."""
    from . import gemm
    return gemm.gemm_llvm_ir(impl)
