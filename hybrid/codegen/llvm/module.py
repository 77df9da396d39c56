"""A whole graph as one LLVM module with one entry point.

Stages of `build_module`:
  1. lower every node (fused or plain) to a kernel.Kernel
  2. place every buffer: graph inputs, outputs and constants in the pointer table `bufs`
     (inputs, then outputs, then constants); intermediates at the arena offsets of the graph's
     memory plan (passes/memory_plan.py; run here when the graph has none), the one plan every
     backend places buffers by; above the plan's bytes, each kernel's scratch (reused by the next
     kernel) and then the input checks' slots. The entry point does no allocation
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
from ...errors import HybridError
from ...passes.memory_plan import plan_memory
from ..kernel import Kernel, lower_node
from . import render
from .chunking import chunk_convolutions
from .prepack import pack_im2col, prepack_params, prepack_weights
from .emit import Fn
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
    def of_node(cls, name: str, node: Node) -> "Segment":
        return cls(name, cost.node_label(node), cost.node_flops(node), cost.node_bytes(node),
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
    # parameters the runtime keeps pre-packed (prepack.py): (graph input, N, K, ldb, trans, floats); the
    # pointer table holds after the constants one buffer pointer per entry, then one "repack now" flag each
    packs: list = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)   # in entry order; timestamps bound each


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def build_module(graph: Graph, triple: str, constant_symbols: Optional[str] = None,
                 bound_inputs: Optional[dict[int, numpy.ndarray]] = None, gemm_impl: str = "auto") -> ModulePlan:
    """bound_inputs: graph inputs whose values are fixed (AOT parameters): stored like constants.
    constant_symbols: a prefix P; constant i is then the external symbol P_const<i> (AOT: the
    library links them from a data object) instead of a pointer-table entry."""
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    if graph.memory_plan is None:
        graph = plan_memory(graph.copy())
    mplan = graph.memory_plan
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
    # The plan's values live in [0, plan.arena_bytes); one kernel's scratch at a time above them,
    # then the check slots, read after the call (their offsets are final once scratch is sized).
    scratch_base = _align(mplan.arena_bytes)
    scratch_bytes = 0
    check_bytes = 0
    steps: list[tuple[Kernel, list[tuple[str, int]], bool]] = []
    segments: list[Segment] = []
    checks: list = []
    packs: list = []
    params = set(graph.param_names) if constant_symbols is None else set()   # AOT binds its parameters

    def graph_param(v: Value) -> Optional[int]:
        """The graph input index of `v` when it is a parameter passed by pointer."""
        kind, index = where.get(v, ("", 0))
        return index if kind == "arg" and index < n_in and v.name in params else None

    for i, node in enumerate(graph.nodes):
        if node.op == "constant" and node.outputs[0] not in where:
            where[node.outputs[0]] = ("const", len(constants))
            constants.append(numpy.ascontiguousarray(node.attrs["value"]))
            continue
        k = lower_node(node, f"k{i}_{node.attrs.get('name', node.op)}")
        pack_im2col(k, gemm_impl)
        chunk_convolutions(k)
        prepack_weights(k, render.stage_parallel, gemm_impl)
        pack_slot = {}
        for pack in prepack_params(k, lambda x: graph_param(node.inputs[x]) is not None, gemm_impl):
            pack_slot[pack.buffer] = len(packs)
            packs.append((graph_param(node.inputs[pack.input_index]), pack.N, pack.K, pack.ldb, pack.trans,
                          k.buffers[pack.buffer].size))
        noalias = True
        for o, v in enumerate(node.outputs):
            if v in where:
                continue
            slot = mplan.slot(i, o)
            if slot is None:
                raise HybridError(f"graph @{graph.name}: the memory plan has no slot for result {o} of node {i} "
                                  f"({node.op}); run memory planning again after changing the graph")
            if slot.inplace_of is not None:
                # the plan only overwrites an elementwise op's same-typed operand, which the kernel
                # reads at the element it writes; the buffers alias, so no noalias
                noalias = False
            where[v] = ("arena", slot.offset)
        ptrs, check_at = [], {}
        scratch = 0
        for name, buf in k.buffers.items():
            if buf.role == "input":
                ptrs.append(where[node.inputs[buf.index]])
            elif buf.role == "output":
                ptrs.append(where[node.outputs[buf.index]])
            elif buf.role == "temp":
                ptrs.append(("arena", scratch_base + scratch))
                scratch += _align(max(buf.nbytes, 1))
            elif buf.role == "view":     # a byte range of another buffer (chunking.py)
                continue
            elif buf.role == "prepacked":    # the runtime's buffer for a pre-packed parameter
                ptrs.append(("prepacked", pack_slot[name]))
            elif buf.role == "check":    # read after the call: never reused
                ptrs.append(("check", check_bytes))
                check_at[name] = check_bytes
                check_bytes += _align(max(buf.nbytes, 1))
            else:
                ptrs.append(("const", len(constants)))
                constants.append(k.constants[name])
        checks += [(c, check_at.get(c.low_buf), check_at.get(c.high_buf)) for c in k.checks]
        steps.append((k, ptrs, noalias))
        segments.append(Segment.of_node(k.name, node))
        scratch_bytes = max(scratch_bytes, scratch)
    check_base = scratch_base + scratch_bytes
    checks = [(c, None if low is None else check_base + low, None if high is None else check_base + high)
              for c, low, high in checks]

    # -- rendering ------------------------------------------------------------------------
    mod = render.ModuleState()
    entry = Fn(f"define void @{ENTRY}(ptr %bufs, ptr %arena, ptr %bar, i32 %tid, i32 %nt) nounwind")
    globals_: list[str] = []
    last_parallel = None
    stamps = profiling.EntryStamps(entry)
    mod.declares.update(profiling.DECLARES)
    if _render_repacks(entry, mod, packs, n_in + n_out + len(constants)):
        stamps.after_segment()
        floats = sum(p[-1] for p in packs)
        segments.insert(0, Segment("repack", "repack_params", 0, 8 * floats, f"{len(packs)} parameters", None))
    for i, (k, ptrs, noalias) in enumerate(steps):
        fname = f"kern{i}"
        _, last_parallel = render.render_kernel(mod, k, fname, noalias, last_parallel)
        args = []
        for kind, x in ptrs:
            if kind in ("arena", "check"):
                offset = x if kind == "arena" else check_base + x
                args.append(entry.op(f"getelementptr inbounds i8, ptr %arena, i64 {offset}"))
            elif kind == "const" and constant_symbols:
                args.append(f"@{constant_symbols}_const{x}")
            else:
                slot = x if kind == "arg" else n_in + n_out + x + (len(constants) if kind == "prepacked" else 0)
                p = entry.op(f"getelementptr ptr, ptr %bufs, i64 {slot}")
                args.append(entry.op(f"load ptr, ptr {p}"))
        entry.do(f"call void @{fname}({', '.join('ptr ' + a for a in args)}, i32 %tid, i32 %nt, ptr %bar)")
        stamps.after_segment()
    entry.do("ret void")
    if constant_symbols:
        for x, value in enumerate(constants):
            globals_.append(f"@{constant_symbols}_const{x} = external hidden constant [{value.nbytes} x i8], align 64")

    pieces = [INTRINSICS, barrier_ir(triple.startswith(("x86_64", "i686", "i386")))]
    pieces += globals_ + [profiling.DEFINITION]
    pieces += [math_module(mod.math)] + [ipow_ir(t) for t in sorted(mod.ipow)]
    pieces += mod.functions + [entry.text()]
    kernels = [k for k, _, _ in steps]
    return ModulePlan(_assemble(pieces, mod.declares, triple), check_base + check_bytes, n_in, n_out,
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
    mod.declares.add("declare void @hybrid_sgemm_pack_b(i64, i64, ptr, i64, i32, ptr, i32, i32)")
    mod.uses_sgemm = True
    any_dirty = "0"
    for j, (graph_input, N, K, ldb, trans, _) in enumerate(packs):
        flag = entry.op(f"getelementptr i64, ptr %bufs, i64 {first_slot + len(packs) + j}")
        flag = entry.op(f"load i64, ptr {flag}")
        any_dirty = entry.op(f"or i64 {any_dirty}, {flag}")
        with entry.when(entry.op(f"icmp ne i64 {flag}, 0"), "repack"):
            src = entry.op(f"getelementptr ptr, ptr %bufs, i64 {graph_input}")
            src = entry.op(f"load ptr, ptr {src}")
            dst = entry.op(f"getelementptr ptr, ptr %bufs, i64 {first_slot + j}")
            dst = entry.op(f"load ptr, ptr {dst}")
            entry.do(f"call void @hybrid_sgemm_pack_b(i64 {N}, i64 {K}, ptr {src}, i64 {ldb}, i32 {int(trans)}, "
                     f"ptr {dst}, i32 %tid, i32 %nt)")
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
