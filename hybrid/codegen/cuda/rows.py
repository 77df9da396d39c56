"""Cooperative row kernels: reductions over rows and the stages that read their results at the
row index (softmax, log_softmax, layer_norm, plain sum/max/min/prod/argmax) as one kernel.

A thread per row (rows shorter than 32), a warp per row (up to 1024, 4 rows per block) or a
block of 256/512 threads per row; warp shuffles + shared memory (prelude's hb_row_reduce); row
results stay in registers. Where the row fits in registers, buffers several passes read are
loaded once (a per-lane cache).
"""
from __future__ import annotations

import math
from typing import Optional

from ..kernel import GemmStage, Kernel, Stage, walk
from . import cexpr
from .body import COMBINE_OP, Body, bind_flat, combine_expr, index_ctype, param_list, reduce_identity
from .launch import Launch, param_names


def _is_row_reduce(s) -> bool:
    return isinstance(s, Stage) and s.expr.op == "reduce" and not any(
        n.op == "reduce" for n in walk(s.expr.args[0]))


def _row_pattern(kernel: Kernel, load, row_vars: dict[int, int], nrow: int) -> bool:
    """Is this load of a row result at the row index (row variable d at dim d, zeros after)?"""
    for d, a in enumerate(load.args):
        if d < nrow and not (a.op == "ivar" and row_vars.get(a.value) == d):
            if not (a.op == "const" and a.value == 0 and kernel.buffers[load.value].shape[d] == 1):
                return False
        if d >= nrow and not (a.op == "const" and a.value == 0):
            return False
    return True


def row_group(kernel: Kernel, stages: list, start: int, readers: dict) -> Optional[list]:
    """The stages from `start` that form one row kernel, or None."""
    first = stages[start]
    if not _is_row_reduce(first):
        return None
    R = kernel.buffers[first.out].shape
    nrow = len(R)
    while nrow and R[nrow - 1] == 1:
        nrow -= 1
    group, row_bufs, full_bufs = [], set(), set()
    for s in stages[start:]:
        if not isinstance(s, Stage):
            break
        shape = kernel.buffers[s.out].shape
        if _is_row_reduce(s) and shape == R:
            body = s.expr.args[0]
            row_vars = {v: d for d, v in enumerate(s.vars[:nrow])}
        elif not any(n.op == "reduce" for n in walk(s.expr)) and shape[:nrow] == R[:nrow] and row_bufs:
            body = s.expr
            row_vars = {v: d for d, v in enumerate(s.vars[:nrow])}
        else:
            break
        loads = [n for n in walk(body) if n.op == "load"]
        if any(n.value in full_bufs for n in loads):
            break
        if any(n.value in row_bufs and not _row_pattern(kernel, n, row_vars, nrow) for n in loads):
            break
        if s.expr.op == "reduce" and shape == R:
            row_bufs.add(s.out)
        else:
            full_bufs.add(s.out)
        group.append(s)
    # the group must end on what it writes: trailing reduces whose rows nobody reads in it are fine
    return group or None


def _bind_row(body: Body, R: tuple, nrow: int, row: str) -> list[str]:
    names = []
    inner = 1
    exprs = []
    for d in reversed(range(nrow)):
        exprs.append((d, inner))
        inner *= R[d]
    for d, stride in sorted(exprs):
        c = row if stride == 1 else f"({row} / {stride})"
        if d > 0:
            c = f"({c} % {R[d]})"
        names.append(body.local(body.itype, c, prefix="w"))
    return names


def row_kernel(kernel: Kernel, group: list, later: list, name: str) -> tuple[Launch, set[str]]:
    R = kernel.buffers[group[0].out].shape
    nrow = len(R)
    while nrow and R[nrow - 1] == 1:
        nrow -= 1
    rows = math.prod(R)
    lengths = [math.prod(s.expr.value.extents) if s.expr.op == "reduce" else
               math.prod(kernel.buffers[s.out].shape[nrow:]) for s in group]
    longest = max(lengths)
    # short rows: a thread per row (no lanes idle); up to 1024: a warp; longer: a block
    lanes = 1 if longest < 32 else 32 if longest <= 1024 else (512 if longest >= 8192 else 256)
    per_block = {1: 256, 32: 4}.get(lanes, 1)
    threads = lanes * per_block
    later_reads = {n.value for s in later for n in (walk(s.expr) if isinstance(s, Stage) else ())
                   if n.op == "load"} | {x for s in later if isinstance(s, GemmStage) for x in (s.a, s.b)}
    kept = {s.out for s in group if s.expr.op == "reduce" and kernel.buffers[s.out].role not in ("output", "check")
            and s.out not in later_reads}  # row results that live in registers only (checks are read after the call)
    names = [n for n in param_names(kernel, group) if n not in kept]
    ptrs = {n: f"p{i}" for i, n in enumerate(names)}
    body = Body(kernel, ptrs, index_ctype(kernel))
    it = body.itype
    body.line(f"const {it} row = ({it})blockIdx.x * {per_block} + threadIdx.x / {lanes};")
    body.line(f"const int lane = threadIdx.x % {lanes};")
    body.line(f"const bool live = row < {rows};")
    row_names = _bind_row(body, R, nrow, "row")
    # One pass over memory where the row fits in registers: buffers several passes read are
    # loaded once into per-lane arrays (softmax reads x once instead of three times).
    reads = [{n.value for n in walk(s.expr) if n.op == "load"} for s in group]
    shared = {b for b in set().union(*reads) if sum(b in r for r in reads) > 1} - {s.out for s in group}
    per_lane = math.ceil(lengths[0] / lanes)
    cache = bool(shared) and len(set(lengths)) == 1 and per_lane <= 32
    if cache:
        body.cache = (shared, per_lane, len(body.lines))

    def loop(length: int) -> None:
        if cache:
            body.line("#pragma unroll")
            body.open(f"for (int it = 0; it < {per_lane}; ++it)")
            body.line(f"const {it} j = lane + it * {lanes};")
            body.open(f"if (live && j < {length})")
        else:
            body.open(f"for ({it} j = lane; live && j < {length}; j += {lanes})")

    def end_loop() -> None:
        body.close()
        if cache:
            body.close()

    for s, length in zip(group, lengths):
        for d, v in enumerate(s.vars[:nrow]):
            body.vars[v] = row_names[d]
        for v in s.vars[nrow:]:
            body.vars[v] = "0"
        if s.expr.op == "reduce":
            red = s.expr.value
            src = s.expr.args[0]
            acc = body.fresh("acc")
            argmax = red.combine == "argmax"
            atype = cexpr.ACCTYPE[src.dtype]
            ident = reduce_identity(red, src.dtype)
            body.line(f"hb_argpair<{atype}> {acc} = {{{ident}, -1}};" if argmax else f"{atype} {acc} = {ident};")
            loop(length)
            bind_flat(body, red.vars, red.extents, "j")
            value = body.expr(src)
            if argmax:
                body.line(f"{acc} = hb_argbest({acc}, hb_argpair<{atype}>{{{value}, (int)j}});")
            else:
                body.line(f"{acc} = {combine_expr(red.combine, acc, value, atype)};")
            end_loop()
            if argmax:
                if lanes > 1:
                    body.line(f"{acc} = hb_row_argmax<{atype}>({acc}, {lanes});")
                result = f"{acc}.i"
            else:
                if lanes > 1:
                    body.line(f"{acc} = hb_row_reduce<{COMBINE_OP[red.combine]}>({acc}, {lanes}, ({atype}){ident});")
                result = acc
            reg = body.local(cexpr.RTYPE[s.expr.dtype], cexpr.rounded(f"({cexpr.RTYPE[s.expr.dtype]}){result}", s.expr.dtype),
                             prefix="row")
            _register_row_loads(body, kernel, group, s.out, nrow, reg)
            if s.out not in kept:
                body.line(f"if (live && lane == 0) {ptrs[s.out]}[row] = "
                          f"{cexpr.store_value(reg, kernel.buffers[s.out].dtype)};")
        else:
            out = kernel.buffers[s.out]
            loop(length)
            bind_flat(body, s.vars[nrow:], out.shape[nrow:], "j")
            value = body.expr(s.expr)
            body.line(f"{ptrs[s.out]}[row * {length} + j] = {cexpr.store_value(value, out.dtype)};")
            end_loop()
    body.finish_cache()
    src = (f'extern "C" __global__ void __launch_bounds__({threads}) {name}({param_list(kernel, names)}) {{\n'
           f"{body.text()}\n}}\n")
    grid = (math.ceil(rows / per_block), 1, 1)
    note = f"{rows} rows, {({1: 'a thread', 32: 'a warp'}).get(lanes, f'{lanes} threads')} per row"
    if cache:
        note += f", one read of {', '.join(sorted(shared))} (row cached in registers)"
    return Launch(name, src, grid, (threads, 1, 1), names, "row", note), kept


def _register_row_loads(body: Body, kernel: Kernel, group: list, buf: str, nrow: int, reg: str) -> None:
    """Loads of a row result at the row index read the register instead of memory."""
    for s in group:
        row_vars = {v: d for d, v in enumerate(s.vars[:nrow])}
        for n in walk(s.expr):
            if n.op == "load" and n.value == buf and _row_pattern(kernel, n, row_vars, nrow):
                body.regs[body.key(n)] = reg
