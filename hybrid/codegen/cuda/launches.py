"""A kernel-description `Kernel` -> CUDA launches (source + launch configuration + buffer parameters).

Stages of `plan_kernel`:
  1. GEMM operands that a preceding stage only computes for the GEMM (conv's im2col, a
     transposed or broadcast operand) are read through that stage's expression instead:
     convolution becomes an implicit GEMM and the temp buffer disappears.
  2. Runs of stages that are reductions over rows plus stages that read those row results
     at the row index (softmax, layer_norm, log_softmax, plain sum/max/argmax) become one
     cooperative kernel: a warp (rows up to 1024 long) or a block per row, warp shuffles +
     shared memory, row results kept in registers.
  3. Every other stage: a grid-stride elementwise kernel, 128-bit loads/stores where the
     innermost axis allows; small reductions inside (pooling windows) run sequentially per
     thread. GEMM stages: a shared-memory tiled fp32 SIMT kernel, or WMMA tensor cores for
     f16 operands, the epilogue applied to the tile in registers. Sort stages: a merge sort per
     row (sort.py); svd/eigh (LapackStage): Jacobi rotations per matrix (jacobi.py), LAPACK's
     scratch buffers dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..kernel import GemmStage, Kernel, LapackStage, SortStage, Stage, walk
from . import cexpr
from .body import VECTOR_TYPE, Body, bind_flat, index_ctype, param_list
from .gemm import gemm_launch, implicit_operands
from .jacobi import jacobi_launch
from .launch import Launch, param_names
from .rows import row_group, row_kernel
from .sort import sort_launch


THREADS = 256
MAX_BLOCKS = 8192  # grid-stride: enough blocks to fill any current GPU many times over

__all__ = ["Launch", "Plan", "plan_kernel"]


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)   # temp buffers that need memory




def plan_kernel(kernel: Kernel, prefix: str, aligned: Callable[[str], bool] = lambda name: True) -> Plan:
    """Launches for `kernel`; `aligned(buffer)` says a buffer's address is 16-byte aligned."""
    stages = list(kernel.stages)
    readers = _readers(stages)
    inline = implicit_operands(kernel, stages, readers)
    skipped = set(inline) | {t for op in inline.values() for t in op.absorbed}
    stages = [s for s in stages if not (isinstance(s, Stage) and s.out in skipped)]
    plan = Plan()
    registers: set[str] = set()
    i = 0
    while i < len(stages):
        s = stages[i]
        name = f"{prefix}_{len(plan.launches)}" if len(stages) > 1 else prefix
        if isinstance(s, SortStage):
            plan.launches.append(sort_launch(kernel, s, name))
            i += 1
            continue
        if isinstance(s, LapackStage):
            plan.launches.append(jacobi_launch(kernel, s, name))
            skipped |= {b for b in (s.a, s.u, s.vt, s.work, s.iwork, s.rwork, s.values) if b}
            i += 1
            continue
        if isinstance(s, GemmStage):
            plan.launches.append(gemm_launch(kernel, s, inline, name, aligned(s.a) and aligned(s.b)))
            i += 1
            continue
        group = row_group(kernel, stages, i, readers)
        if group is not None:
            launch, kept = row_kernel(kernel, group, stages[i + len(group):], name)
            plan.launches.append(launch)
            registers |= kept
            i += len(group)
            continue
        group = _elementwise_group(kernel, stages, i)
        plan.launches.append(_elementwise(kernel, group, name, aligned))
        i += len(group)
    plan.scratch = [b.name for b in kernel.temps if b.name not in skipped and b.name not in registers]
    return plan


def _readers(stages: list) -> dict[str, list[int]]:
    """buffer name -> indices of the stages that read it."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(stages):
        if isinstance(s, (SortStage, LapackStage)):
            names = {s.src}
        elif isinstance(s, GemmStage):
            names = {s.a, s.b} | ({n.value for n in walk(s.epilogue) if n.op == "load"} if s.epilogue else set())
        else:
            names = {n.value for n in walk(s.expr) if n.op == "load"}
        for n in names:
            out.setdefault(n, []).append(i)
    return out



def _vector_ok(kernel: Kernel, s: Stage, aligned: Callable[[str], bool]) -> bool:
    out = kernel.buffers[s.out]
    if not out.shape or out.shape[-1] % 4 or out.dtype not in VECTOR_TYPE or not aligned(s.out):
        return False
    last = s.vars[-1]
    for n in walk(s.expr):
        if n.op == "reduce":
            return False
        if n.op != "load":
            continue
        uses = [any(x.op == "ivar" and x.value == last for x in walk(a)) for a in n.args]
        if not any(uses):
            continue
        buf = kernel.buffers[n.value]
        a = n.args[-1]
        if (any(uses[:-1]) or not (a.op == "ivar" and a.value == last) or buf.shape[-1] % 4
                or buf.dtype not in VECTOR_TYPE or not aligned(n.value)):
            return False
    return True


def _elementwise_group(kernel: Kernel, stages: list, start: int) -> list:
    """The stage at `start` and the elementwise stages after it over the same shape that read
    none of the group's results: one launch computes them all (a kernel's several outputs)."""
    shape = kernel.buffers[stages[start].out].shape
    group, written = [], set()
    for s in stages[start:]:
        if (not isinstance(s, Stage) or kernel.buffers[s.out].shape != shape
                or any(n.op == "load" and n.value in written for n in walk(s.expr))
                or (group and s.expr.op == "reduce")):
            break
        group.append(s)
        written.add(s.out)
    return group


def _elementwise(kernel: Kernel, group: list, name: str, aligned: Callable[[str], bool]) -> Launch:
    shape = kernel.buffers[group[0].out].shape
    total = math.prod(shape)
    names = param_names(kernel, group)
    ptrs = {n: f"p{i}" for i, n in enumerate(names)}
    body = Body(kernel, ptrs, index_ctype(kernel))
    it = body.itype
    vector = all(_vector_ok(kernel, s, aligned) for s in group)
    width = 4 if vector else 1
    count = total // width
    body.open(f"for ({it} t = ({it})blockIdx.x * blockDim.x + threadIdx.x; t < {count}; "
              f"t += ({it})gridDim.x * blockDim.x)")
    body.line(f"const {it} i = t{' * 4' if vector else ''};")
    for s in group:
        out = kernel.buffers[s.out]
        bind_flat(body, s.vars, shape, "i")
        if vector:
            body.set_lane_var(s.vars[-1])
            lanes = [body.expr(s.expr, lane) for lane in range(4)]
            vtype = VECTOR_TYPE[out.dtype]
            body.line(f"*reinterpret_cast<{vtype}*>({ptrs[s.out]} + i) = make_{vtype}({', '.join(lanes)});")
        else:
            value = body.expr(s.expr)
            body.line(f"{ptrs[s.out]}[i] = {cexpr.store_value(value, out.dtype)};")
    body.close()
    src = (f'extern "C" __global__ void __launch_bounds__({THREADS}) {name}({param_list(kernel, names)}) {{\n'
           f"{body.text()}\n}}\n")
    blocks = max(1, min(MAX_BLOCKS, math.ceil(count / THREADS)))
    has_reduce = any(n.op == "reduce" for s in group for n in walk(s.expr))
    note = ("128-bit vector loads/stores" if vector else "scalar") + (", window reductions per thread"
                                                                      if has_reduce else "")
    if len(group) > 1:
        note += f", {len(group)} outputs"
    return Launch(name, src, (blocks, 1, 1), (THREADS, 1, 1), names, "elementwise", f"{total} elements, {note}")
