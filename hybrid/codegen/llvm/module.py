"""A whole graph as one LLVM module with one entry point.

Stages of `build_module`:
  1. lower every node (fused or plain) to a kernel.Kernel
  2. place every buffer: graph inputs, outputs and constants in the pointer table `bufs`
     (inputs, then outputs, then constants); intermediates and kernel scratch exactly where
     graph.memory_plan says (the one planner: passes/memory_plan.py; a graph planned for other
     workspace sizes is planned again by it with this backend's rule), kernel checks after the
     plan's arena, so the entry point does no allocation
  3. render each kernel as a function, then
       void hybrid_entry(ptr bufs, ptr arena, ptr barrier, i32 tid, i32 nthreads)
     calls them in order with a barrier between dependent kernels; every thread runs the
     same entry point and each kernel splits its work by tid. It stamps the cycle counter
     after each kernel while a profile is recorded (profiling.py; ModulePlan.segments names them).
  4. concurrent regions (passes/concurrent_groups.py), when built for a team of `teams` > 1 threads:
     each region is emitted twice, in order (as above) and side by side: after a barrier of the
     whole team, the threads split into sub-teams (concurrent_groups.team_split over the groups'
     FLOPs + bytes), each running its groups' kernels with its own thread ids, thread count and
     barrier, then the whole team meets again. The side-by-side path runs when the call's schedule
     word says so (the runtime's measured choice, codegen/schedule_choice.py), the call runs on
     exactly `teams` threads (a call that found the team busy runs alone) and no profile is recorded
     (kernel stamps need the order); the memory plan keeps the groups' buffers apart either way.
     The barrier block the runtime passes as %bar: the team's barrier (support.BARRIER_BYTES, its
     bytes 8-15 holding the schedule word, an i64), then sub-team t's barrier at +64 * (t + 1) (a
     cache line each).
  5. a large module is also split into parts compiled on several cores (partition.py; ModulePlan.parts)
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
from .conv_rewrite import ConvWeightPack, ParamWeightPack, conv_kinds, keep_packed, use_direct_convolutions
from .prepack import pack_im2col, prepack_params, prepack_weights
from .emit import Fn
from .control import ControlStep, KernelStep, Pointers, RegionCode, render_steps, walk_steps
from ...ir.memory_plan import region_layout
from ...passes.concurrent_groups import group_weight, regions, team_split
from ...passes.memory_plan import plan_matches, plan_memory
from . import profiling
from .mathlib import INTRINSICS, math_module
from .dedup import merge_identical
from .partition import split
from .support import BARRIER_DECLARATION, barrier_ir, ipow_ir, truncsfbf2_ir

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
    uses_lapack: bool = False       # its code calls LAPACK (codegen/lapack.py): the library must be loaded/linked
    links_runtime: bool = False     # its helpers are support.runtime_ir's module (JIT), not its own (AOT)
    gemm_impl: str = "auto"
    # per kernel.Check: (check, arena offset of its low value or None, of its high value or None);
    # the kernels write them every call, the runtime tests them after it
    checks: list = field(default_factory=list)
    # parameters the runtime keeps pre-packed: (graph input, N, K, ldb, trans, floats) for GEMM panels
    # (prepack.py), conv_rewrite.ParamWeightPack for direct convolutions; the pointer table holds after the
    # constants one buffer pointer per entry, then one "repack now" flag each
    packs: list = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)   # in entry order; timestamps bound each
    # concurrent regions the entry point can run side by side, and the team size it was built for (0: none)
    concurrent_regions: int = 0
    teams: int = 0
    # what was placed, for inspection: the planned graph compiled (a re-planned copy when the given
    # one was planned for other workspace sizes), each value's location, the steps of the entry point
    graph: Optional[Graph] = None
    where: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    # the module split to compile on several cores (partition.py): (IR text, estimated cost) per part, the
    # entry point's first; empty when `ir` is compiled whole
    parts: list = field(default_factory=list)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _inplace_ok(k: Kernel, operand: int, output: int) -> bool:
    """Whether the kernel may write output `output` over input `operand`: the loop-nest stage
    writing it reads that input only at the element it writes, and no later stage reads it."""
    src = next(b.name for b in k.inputs if b.index == operand)
    dst = next(b.name for b in k.outputs if b.index == output)
    at = [i for i, s in enumerate(k.stages) if isinstance(s, Stage) and s.out == dst]
    if len(at) != 1 or not all(isinstance(s, Stage) for s in k.stages[at[0]:]):
        return False
    stage = k.stages[at[0]]
    if any(n.op == "load" and n.value == src for s in k.stages[at[0] + 1:] for n in walk(s.expr)):
        return False
    own = tuple(ivar(v).key() for v in stage.vars)
    shape = k.buffers[src].shape   # along a dimension of extent 1 every index is 0, however written
    return all(len(n.args) == len(own) and all(a.key() == o or extent == 1 for a, o, extent in zip(n.args, own, shape))
               for n in walk(stage.expr) if n.op == "load" and n.value == src)


class _Placer:
    """Lowers nodes to kernels and places every buffer exactly where the graph's memory plan
    says: node results at their slots (or in the carried buffer a loop-body result replaces),
    a kernel's temporaries one after another in its node's scratch slot, a control-flow node's
    regions and staging buffers by `region_layout` inside its scratch slot. Only the kernels'
    check values, which the runtime reads after the call, lie outside the plan: after its arena,
    one after another. Nodes holding control-flow regions become ControlSteps."""

    def __init__(self, where: dict, constants: list, n_in: int, params: set, bound: set, gemm_impl: str):
        self.where, self.constants = where, constants
        self.n_in, self.params, self.bound, self.gemm_impl = n_in, params, bound, gemm_impl
        self.top: Optional[Graph] = None
        self.checks: list = []
        self.check_base = 0          # the checks lie from here (the plan's arena size) on
        self.check_bytes = 0
        self.packs: list = []
        self.lowered: dict = {}      # id(node) -> (node, kernel, pre-packed parameters)
        self.count = 0

    def is_param(self, graph: Graph, v: Value) -> bool:
        """Whether `v` is a parameter of the top graph passed by pointer (so kept pre-packed)."""
        return (graph is self.top and v.name in self.params and v in graph.inputs
                and graph.inputs.index(v) not in self.bound)

    def lower(self, graph: Graph, node: Node) -> tuple:
        """The node's kernel after the CPU rewrites, and the parameters it keeps pre-packed."""
        if id(node) not in self.lowered:
            k = lower_node(node, node.attrs.get("name", node.op))
            conv_packs = [keep_packed(k, wpack) for wpack in use_direct_convolutions(k)
                          if k.buffers[wpack.source].role == "input"
                          and self.is_param(graph, node.inputs[k.buffers[wpack.source].index])]
            pack_im2col(k, self.gemm_impl)
            chunk_convolutions(k)
            prepack_weights(k, render.stage_parallel, self.gemm_impl)
            packs = conv_packs + prepack_params(k, lambda x: self.is_param(graph, node.inputs[x]), self.gemm_impl)
            self.lowered[id(node)] = (node, k, packs)
        return self.lowered[id(node)][1:]

    def workspace(self, graph: Graph, node: Node) -> int:
        """The scratch bytes the node needs while it runs (the memory plan's workspace rule)."""
        if node.regions and node.op != "fused":
            return region_layout(node)[0]
        k, _ = self.lower(graph, node)
        return sum(_align(b.nbytes) for b in k.buffers.values() if b.role == "temp")

    def check_slot(self, nbytes: int) -> tuple[str, int]:
        offset = self.check_base + self.check_bytes
        self.check_bytes += _align(nbytes)
        return ("arena", offset)

    def place_nodes(self, graph: Graph, origin: int) -> list:
        """Steps for graph's nodes, its memory plan's offsets counted from arena offset `origin`."""
        where, steps, mplan = self.where, [], graph.memory_plan
        for i, node in enumerate(graph.nodes):
            if node.op == "constant" and node.outputs[0] not in where:
                where[node.outputs[0]] = ("const", len(self.constants))
                self.constants.append(numpy.ascontiguousarray(node.attrs["value"]))
                continue   # (a returned constant is a kernel that writes it into the caller's buffer)
            for o, v in enumerate(node.outputs):
                if v not in where:   # a graph output already has its caller's buffer
                    slot = mplan.slot(i, o)
                    where[v] = where[graph.inputs[slot.carry]] if slot.carry is not None else \
                        ("arena", origin + slot.offset)
            scratch = mplan.scratch(i)
            scratch_at = origin + scratch.offset if scratch is not None else origin   # (no bytes needed)
            if node.regions and node.op != "fused":
                steps.append(self.place_control(node, scratch_at))
            else:
                steps.append(self.place_kernel(graph, node, i, scratch_at))
            steps[-1].node = node
        return steps

    def place_region(self, region: Graph, input_locs: list, origin: int) -> RegionCode:
        for v, loc in zip(region.inputs, input_locs):
            self.where[v] = loc
        steps = self.place_nodes(region, origin)
        return RegionCode(steps, [self.where[v] for v in region.outputs], [v.type.nbytes for v in region.outputs])

    def place_control(self, node: Node, scratch_at: int) -> ControlStep:
        ins = [self.where[v] for v in node.inputs]
        outs = [self.where[v] for v in node.outputs]
        if node.op == "cond":
            region_inputs = [ins[1:]] * len(node.regions)
        elif node.op == "while_loop":
            n = node.attrs["num_carry"]
            region_inputs = [outs + ins[n:]] * 2
        elif node.op == "scan":
            n, m = node.attrs["num_carry"], node.attrs["num_xs"]
            region_inputs = [outs[:n] + [("dyn", (id(node), k)) for k in range(m)] + ins[n + m:]]
        else:
            raise HybridError(f"llvm: no code generation for the region op {node.op}")
        regions = [self.place_region(r, locs, scratch_at) for r, locs in zip(node.regions, region_inputs)]
        step = ControlStep(node.op, dict(node.attrs), ins, outs, [v.type.nbytes for v in node.inputs],
                           [v.type.nbytes for v in node.outputs], regions, id(node))
        step.staging = {k: ("arena", scratch_at + offset) for k, offset in region_layout(node)[1].items()}
        return step

    def place_kernel(self, graph: Graph, node: Node, i: int, scratch_at: int) -> KernelStep:
        where = self.where
        k, packs = self.lower(graph, node)
        k.name = f"k{self.count}_{k.name}"
        self.count += 1
        pack_slot = {}
        for pack in packs:
            pack_slot[pack.buffer] = len(self.packs)
            graph_input = graph.inputs.index(node.inputs[pack.input_index])
            if isinstance(pack, ConvWeightPack):
                self.packs.append(ParamWeightPack(graph_input, pack.kernel, f"repack{len(self.packs)}",
                                                  k.buffers[pack.buffer].size))
            else:
                self.packs.append((graph_input, pack.N, pack.K, pack.ldb, pack.trans, k.buffers[pack.buffer].size))
        noalias = True
        for o, v in enumerate(node.outputs):
            operands = [x for x, u in enumerate(node.inputs) if where.get(u) == where[v] and u.type.nbytes and v.type.nbytes]
            if operands:
                if not all(_inplace_ok(k, x, o) for x in operands):
                    raise HybridError(f"llvm: the memory plan runs node {i} ({node.op}) in place over its operand "
                                      f"{operands[0]}, which its kernel reads at other elements than it writes: "
                                      "the plan's in-place rule (passes/memory_plan.inplace_candidates) is wrong here")
                noalias = False
        ptrs, check_at, temp_at = [], {}, scratch_at
        for name, buf in k.buffers.items():
            if buf.role == "input":
                ptrs.append(where[node.inputs[buf.index]])
            elif buf.role == "output":
                ptrs.append(where[node.outputs[buf.index]])
            elif buf.role == "temp":
                ptrs.append(("arena", temp_at))
                temp_at += _align(buf.nbytes)
            elif buf.role == "view":     # a byte range of another buffer (chunking.py)
                continue
            elif buf.role == "prepacked":    # the runtime's buffer for a pre-packed parameter
                ptrs.append(("prepacked", pack_slot[name]))
            elif buf.role == "check":    # read after the call
                ptrs.append(self.check_slot(buf.nbytes))
                check_at[name] = ptrs[-1][1]
            else:
                ptrs.append(("const", len(self.constants)))
                self.constants.append(k.constants[name])
        self.checks += [(c, check_at.get(c.low_buf), check_at.get(c.high_buf)) for c in k.checks]
        return KernelStep(k, ptrs, noalias)


def workspace_rule(top: Graph):
    """This backend's workspace rule for the memory planner (codegen.Backend.workspace): what
    build_module(top, ...) will ask the plan for, so a graph planned with it is placed as it is."""
    placer = _Placer({}, [], len(top.inputs), set(top.param_names), set(), "auto")
    placer.top = top
    return placer.workspace


def build_module(graph: Graph, triple: str, constant_symbols: Optional[str] = None,
                 bound_inputs: Optional[dict[int, numpy.ndarray]] = None, gemm_impl: str = "auto",
                 teams: int = 0) -> ModulePlan:
    """teams: the thread count whose split into sub-teams the concurrent regions are built for (stage 4;
    0 or 1: in order only, as an AOT library runs them).
    bound_inputs: graph inputs whose values are fixed (AOT parameters): stored like constants.
    constant_symbols: a prefix P; constant i is then the external symbol P_const<i> (AOT: the
    library links them from a data object) instead of a pointer-table entry. A graph without a
    memory plan, or planned for other workspace sizes than this module's kernels need, is planned
    (a copy) by the memory_plan pass with this backend's workspace rule."""
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    constants: list[numpy.ndarray] = []
    params = set(graph.param_names) if constant_symbols is None else set()   # AOT binds its parameters
    placer = _Placer({}, constants, n_in, params, set(bound_inputs or {}), gemm_impl)
    placer.top = graph
    if not plan_matches(graph, placer.workspace):
        log.log("compile", f"llvm: planning the memory of @{graph.name} for its kernels' workspace")
        graph = graph.copy()
        placer.top = graph
        plan_memory(graph, placer.workspace)
    mplan = graph.memory_plan

    # -- placement: every buffer where the memory plan says ----------------------------------
    where = placer.where
    where.update({v: ("arg", i) for i, v in enumerate(graph.inputs)})
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
    placer.check_base = _align(mplan.arena_bytes)
    steps = placer.place_nodes(graph, 0)
    checks, packs = placer.checks, placer.packs
    segments = [Segment.of_node(step.kernel.name, step.node, step.kernel) if isinstance(step, KernelStep)
                else Segment.of_node(f"{step.op}{i}", step.node) for i, step in enumerate(steps)]
    # -- rendering ------------------------------------------------------------------------
    mod = render.ModuleState()
    # optnone: the entry point only loads pointers, calls kernels and meets barriers, so LLVM's O3 gains nothing
    # on it, yet on a large graph's entry (ResNet-50's training step: 15.7k lines) costs more than all kernels
    entry = Fn(f"define void @{ENTRY}(ptr %bufs, ptr %arena, ptr %bar, i32 %tid, i32 %nt) noinline optnone nounwind")
    globals_: list[str] = []
    stamps = profiling.EntryStamps(entry)
    mod.declares.update(profiling.DECLARES)
    if _render_repacks(entry, mod, packs, n_in + n_out + len(constants)):
        stamps.after_segment()
        floats = sum(p[-1] for p in packs)
        segments.insert(0, Segment("repack", "repack_params", 0, 8 * floats, f"{len(packs)} parameters", None))
    pointers = Pointers(entry, n_in, n_out, len(constants), constant_symbols)
    concurrent = _concurrent_groups(graph, steps) if teams > 1 else []
    side_by_side = _side_by_side_flag(entry, stamps, teams) if concurrent else None
    starts = {region[0][0]: region for region in concurrent}
    last_parallel, i = None, 0
    while i < len(steps):   # one timed segment per top-level step (a whole loop counts as one)
        region = starts.get(i)
        members = [steps[s] for group in region for s in group] if region else [steps[i]]
        if region:
            with entry.when(entry.op(f"xor i1 {side_by_side}, true"), "in_order"):
                last_parallel = _render_in_order(entry, mod, members, pointers, last_parallel, stamps)
            with entry.when(side_by_side, "side_by_side"):
                _render_side_by_side(entry, mod, [[steps[s] for s in group] for group in region], pointers, teams)
        else:
            last_parallel = _render_in_order(entry, mod, members, pointers, last_parallel, stamps)
        i += len(members)
    entry.do("ret void")
    if constant_symbols:
        for x, value in enumerate(constants):
            globals_.append(f"@{constant_symbols}_const{x} = external hidden constant [{value.nbytes} x i8], align 64")

    helpers = [INTRINSICS, math_module(mod.math)] + [ipow_ir(t) for t in sorted(mod.ipow)] + mod.metadata
    if constant_symbols:   # an AOT library holds its own runtime helpers; the JIT links support.runtime_ir's
        helpers += [truncsfbf2_ir(), barrier_ir(triple)]
    else:
        helpers.append(BARRIER_DECLARATION)
    data = globals_ + [profiling.DEFINITION]
    functions, (entry_text,) = merge_identical(mod.functions, [entry.text()])
    kernels = [step.kernel for step in walk_steps(steps) if isinstance(step, KernelStep)]
    # an AOT library links several graphs' objects: their functions must stay internal, so it is never split
    parts = [] if constant_symbols else split(helpers, data, functions, entry_text)
    return ModulePlan(_assemble(helpers + data + functions + [entry_text], mod.declares, triple),
                      placer.check_base + placer.check_bytes, n_in, n_out,
                      constants, output_sources, kernels,
                      parallel=mod.any_parallel,
                      uses_sgemm=mod.uses_sgemm, uses_lapack=mod.uses_lapack, gemm_impl=gemm_impl, checks=checks, packs=packs,
                      segments=segments, graph=graph, where=where, steps=steps,
                      concurrent_regions=len(concurrent), teams=teams if concurrent else 0,
                      links_runtime=not constant_symbols,
                      parts=[(_assemble(p.pieces, mod.declares, triple), p.cost) for p in parts] if len(parts) > 1 else [])


def _concurrent_groups(graph: Graph, steps: list) -> list[list[list[int]]]:
    """Per concurrent region, per group, the positions in `steps` of its kernels (consecutive: the pass
    scheduled each region as one block)."""
    position = {id(step.node): i for i, step in enumerate(steps)}
    found = []
    for groups in regions(graph):
        found.append([[position[id(graph.nodes[n])] for n in group] for group in groups])
        flat = [i for group in found[-1] for i in group]
        if flat != list(range(flat[0], flat[0] + len(flat))):
            raise HybridError(f"llvm: concurrent region {len(found) - 1} of @{graph.name} is not one block of "
                              "consecutive kernels; run the concurrent_groups pass after any reordering")
    return found


def _side_by_side_flag(entry: Fn, stamps: profiling.EntryStamps, teams: int) -> str:
    """i1: this call runs the concurrent regions side by side (stage 4's three conditions)."""
    word = entry.op(f"load i64, ptr {entry.op('getelementptr inbounds i8, ptr %bar, i64 8')}")
    wanted = entry.op(f"and i1 {entry.op(f'icmp ne i64 {word}, 0')}, {entry.op(f'icmp eq i32 %nt, {teams}')}")
    return entry.op(f"and i1 {wanted}, {entry.op(f'xor i1 {stamps.on}, true')}")


def _render_in_order(entry: Fn, mod: render.ModuleState, steps: list, pointers: Pointers,
                     last_parallel: Optional[bool], stamps: profiling.EntryStamps) -> Optional[bool]:
    for step in steps:
        last_parallel = render_steps(entry, mod, [step], pointers, last_parallel)
        stamps.after_segment()
    return last_parallel


def _render_side_by_side(entry: Fn, mod: render.ModuleState, groups: list, pointers: Pointers, teams: int) -> None:
    """Stage 4: the whole team meets, each sub-team runs its groups with its own ids and barrier, all meet."""
    team_of, sizes = team_split([group_weight([step.node for step in group]) for group in groups], teams)
    entry.do("call void @hb_barrier(ptr %bar, i32 %nt)")
    base = 0
    for t, size in enumerate(sizes):
        inside = entry.op(f"and i1 {entry.op(f'icmp sge i32 %tid, {base}')}, {entry.op(f'icmp slt i32 %tid, {base + size}')}")
        with entry.when(inside, f"team{t}_"):
            sub = (entry.op(f"sub i32 %tid, {base}"), str(size),
                   entry.op(f"getelementptr inbounds i8, ptr %bar, i64 {64 * (t + 1)}"))
            for g, group in enumerate(groups):
                if team_of[g] == t:
                    render_steps(entry, mod, group, pointers, None, sub)
        base += size
    entry.do("call void @hb_barrier(ptr %bar, i32 %nt)")


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
                render.render_kernel(mod, pack.kernel, pack.function)
                entry.do(f"call void @{pack.function}(ptr {src}, ptr {dst}, i32 %tid, i32 %nt, ptr %bar)")
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

    from . import gemm, gemm_dot, irbuild, support

    h = hashlib.sha256(gemm.resolve_impl(impl).encode())
    # the texts this process imported, not today's files
    for source in (gemm.SOURCE_TEXT, gemm_dot.SOURCE_TEXT, irbuild.SOURCE_TEXT, support.SOURCE_TEXT):
        h.update(source)
    return "hybrid_sgemm:" + h.hexdigest()


def sgemm_ir(impl: str = "auto") -> str:
    """The module defining hybrid_sgemm (gemm.py: generated kernel or OpenBLAS)."""
    from . import gemm
    return gemm.gemm_llvm_ir(impl)
