"""A kernel.py `Kernel` -> CUDA launches (source + launch configuration + buffer parameters).

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
     f16 operands, the epilogue applied to the tile in registers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..kernel import E, GemmStage, Kernel, Stage, substitute, walk
from . import cexpr
from .body import COMBINE_OP, VECTOR_TYPE, Body, combine_expr, index_ctype, param_list, reduce_identity

THREADS = 256
MAX_BLOCKS = 8192  # grid-stride: enough blocks to fill any current GPU many times over
MAX_GRID_Z = 65535  # CUDA's limit on gridDim.z


@dataclass
class Launch:
    """One __global__ function and how to launch it. `buffers`: kernel.py buffer names, in
    parameter order (p0, p1, ...)."""
    name: str
    source: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    buffers: list[str]
    kind: str
    note: str = ""

    def describe(self) -> str:
        return (f"// {self.name}: {self.kind}, grid={self.grid}, block={self.block}, "
                f"params=({', '.join(self.buffers)}){'; ' + self.note if self.note else ''}")


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)   # temp buffers that need memory


def plan_kernel(kernel: Kernel, prefix: str, aligned: Callable[[str], bool] = lambda name: True) -> Plan:
    """Launches for `kernel`; `aligned(buffer)` says a buffer's address is 16-byte aligned."""
    stages = list(kernel.stages)
    readers = _readers(stages)
    inline = _implicit_operands(kernel, stages, readers)
    skipped = set(inline) | {t for op in inline.values() for t in op.absorbed}
    stages = [s for s in stages if not (isinstance(s, Stage) and s.out in skipped)]
    plan = Plan()
    registers: set[str] = set()
    i = 0
    while i < len(stages):
        s = stages[i]
        name = f"{prefix}_{len(plan.launches)}" if len(stages) > 1 else prefix
        if isinstance(s, GemmStage):
            plan.launches.append(_gemm(kernel, s, inline, name))
            i += 1
            continue
        group = _row_group(kernel, stages, i, readers)
        if group is not None:
            launch, kept = _row_kernel(kernel, group, stages[i + len(group):], name)
            plan.launches.append(launch)
            registers |= kept
            i += len(group)
            continue
        plan.launches.append(_elementwise(kernel, s, name, aligned))
        i += 1
    plan.scratch = [b.name for b in kernel.temps if b.name not in skipped and b.name not in registers]
    return plan


def _readers(stages: list) -> dict[str, list[int]]:
    """buffer name -> indices of the stages that read it."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(stages):
        if isinstance(s, GemmStage):
            names = {s.a, s.b} | ({n.value for n in walk(s.epilogue) if n.op == "load"} if s.epilogue else set())
        else:
            names = {n.value for n in walk(s.expr) if n.op == "load"}
        for n in names:
            out.setdefault(n, []).append(i)
    return out


# -- 1. implicit GEMM operands -------------------------------------------------------------------
@dataclass
class _Implicit:
    """A GEMM operand computed while loading tiles instead of read from a buffer."""
    stage: Stage          # the stage that would have written the operand's temp buffer
    expr: E               # its expression, single-use temps before it substituted in (conv's padding)
    split: int            # buffer dims after the batch dims that index the stored matrix's rows
    absorbed: set         # those substituted temps: no stage, no memory


def _substitute_temps(expr: E, producers: dict, readers: dict, reader: int, absorbed: set) -> E:
    """Replace loads of temps that only `reader` reads and a reduce-free stage writes by that
    stage's expression at the load's index (recursively)."""
    def go(e: E) -> E:
        if e.op == "load" and e.value in producers and readers.get(e.value) == [reader]:
            p = producers[e.value]
            absorbed.add(e.value)
            inner = _substitute_temps(p.expr, producers, readers, readers[e.value][0], absorbed)
            return substitute(inner, dict(zip(p.vars, (go(a) for a in e.args))))
        if not e.args:
            return e
        args = tuple(go(a) for a in e.args)
        return e if args == e.args else E(e.op, args, e.dtype, e.value)
    return go(expr)


def _implicit_operands(kernel: Kernel, stages: list, readers: dict) -> dict[str, _Implicit]:
    """GEMM operands whose temp buffer one reduce-free stage writes for that GEMM alone, stored
    densely as batch + rows + cols (any refinement of those dims: conv's (Cg, KH, KW) x (OH, OW))."""
    producers = {s.out: s for s in stages if isinstance(s, Stage) and kernel.buffers[s.out].role == "temp"
                 and not any(n.op == "reduce" for n in walk(s.expr))}
    index = {id(s): i for i, s in enumerate(stages)}
    found: dict[str, _Implicit] = {}
    for j, g in enumerate(stages):
        if not isinstance(g, GemmStage):
            continue
        nb = len(g.batch_shape)
        for name, trans, strides, ld, rows, cols in ((g.a, g.trans_a, g.a_strides, g.lda, g.M, g.K),
                                                     (g.b, g.trans_b, g.b_strides, g.ldb, g.K, g.N)):
            s = producers.get(name)
            if s is None or readers.get(name) != [j]:
                continue
            buf = kernel.buffers[name]
            stored_rows, stored_cols = (cols, rows) if trans else (rows, cols)
            rest = buf.shape[nb:]
            split = next((k for k in range(len(rest) + 1) if math.prod(rest[:k]) == stored_rows
                          and math.prod(rest[k:]) == stored_cols), None)
            if (split is None or buf.shape[:nb] != tuple(g.batch_shape) or ld != stored_cols
                    or tuple(st for st, d in zip(strides, g.batch_shape) if d != 1)
                    != tuple(st for st, d in zip(buf.strides()[:nb], g.batch_shape) if d != 1)):
                continue
            absorbed: set = set()
            expr = _substitute_temps(s.expr, producers, readers, index[id(s)], absorbed)
            found[name] = _Implicit(s, expr, split, absorbed)
    return found


# -- 2. cooperative row kernels ------------------------------------------------------------------
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


def _row_group(kernel: Kernel, stages: list, start: int, readers: dict) -> Optional[list]:
    """The stages from `start` that form one row kernel, or None."""
    first = stages[start]
    if not _is_row_reduce(first):
        return None
    R = kernel.buffers[first.out].shape
    nrow = len(R)
    while nrow and R[nrow - 1] == 1:
        nrow -= 1
    if math.prod(first.expr.value.extents) < 32:
        return None  # short rows: a thread per row (sequential) wastes no lanes
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


def _bind_tail(body: Body, vars_: tuple, shape: tuple, j: str) -> None:
    inner = 1
    for v, d in reversed(list(zip(vars_, shape))):
        c = j if inner == 1 else f"({j} / {inner})"
        if inner * d < math.prod(shape):
            c = f"({c} % {d})"
        body.vars[v] = c if d != 1 else "0"
        inner *= d


def _row_kernel(kernel: Kernel, group: list, later: list, name: str) -> tuple[Launch, set[str]]:
    R = kernel.buffers[group[0].out].shape
    nrow = len(R)
    while nrow and R[nrow - 1] == 1:
        nrow -= 1
    rows = math.prod(R)
    lengths = [math.prod(s.expr.value.extents) if s.expr.op == "reduce" else
               math.prod(kernel.buffers[s.out].shape[nrow:]) for s in group]
    longest = max(lengths)
    lanes = 32 if longest <= 1024 else (512 if longest >= 8192 else 256)
    per_block = 4 if lanes == 32 else 1
    threads = lanes * per_block
    later_reads = {n.value for s in later for n in (walk(s.expr) if isinstance(s, Stage) else ())
                   if n.op == "load"} | {x for s in later if isinstance(s, GemmStage) for x in (s.a, s.b)}
    kept = {s.out for s in group if s.expr.op == "reduce" and kernel.buffers[s.out].role != "output"
            and s.out not in later_reads}  # row results that live in registers only
    names = [n for n in _param_names(kernel, group) if n not in kept]
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
            _bind_tail(body, red.vars, red.extents, "j")
            value = body.expr(src)
            if argmax:
                body.line(f"{acc} = hb_argbest({acc}, hb_argpair<{atype}>{{{value}, (int)j}});")
            else:
                body.line(f"{acc} = {combine_expr(red.combine, acc, value, atype)};")
            end_loop()
            if argmax:
                body.line(f"{acc} = hb_row_argmax<{atype}>({acc}, {lanes});")
                result = f"{acc}.i"
            else:
                body.line(f"{acc} = hb_row_reduce<{COMBINE_OP[red.combine]}>({acc}, {lanes}, ({atype}){ident});")
                result = acc
            reg = body.local(cexpr.RTYPE[s.expr.dtype], f"({cexpr.RTYPE[s.expr.dtype]}){result}", prefix="row")
            _register_row_loads(body, kernel, group, s.out, nrow, reg)
            if s.out not in kept:
                body.line(f"if (live && lane == 0) {ptrs[s.out]}[row] = "
                          f"{cexpr.store_value(reg, kernel.buffers[s.out].dtype)};")
        else:
            out = kernel.buffers[s.out]
            loop(length)
            _bind_tail(body, s.vars[nrow:], out.shape[nrow:], "j")
            value = body.expr(s.expr)
            body.line(f"{ptrs[s.out]}[row * {length} + j] = {cexpr.store_value(value, out.dtype)};")
            end_loop()
    body.finish_cache()
    src = (f'extern "C" __global__ void __launch_bounds__({threads}) {name}({param_list(kernel, names)}) {{\n'
           f"{body.text()}\n}}\n")
    grid = (math.ceil(rows / per_block), 1, 1)
    note = f"{rows} rows, {'a warp' if lanes == 32 else f'{lanes} threads'} per row"
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


def _param_names(kernel: Kernel, stages: list, extra: tuple = ()) -> list[str]:
    """Buffers a launch touches: what it writes first, then what it reads, in first-use order."""
    writes = [s.out for s in stages]
    reads = []
    for s in stages:
        exprs = [s.expr] if isinstance(s, Stage) else ([s.epilogue] if s.epilogue is not None else [])
        for e in exprs:
            for n in walk(e):
                if n.op == "load" and n.value not in reads:
                    reads.append(n.value)
    names = list(dict.fromkeys(writes))
    return names + [n for n in list(extra) + sorted(reads) if n not in names and n in kernel.buffers]


# -- 3a. elementwise ---------------------------------------------------------------------------
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


def _elementwise(kernel: Kernel, s: Stage, name: str, aligned: Callable[[str], bool]) -> Launch:
    out = kernel.buffers[s.out]
    total = out.size
    names = _param_names(kernel, [s])
    ptrs = {n: f"p{i}" for i, n in enumerate(names)}
    body = Body(kernel, ptrs, index_ctype(kernel))
    it = body.itype
    vector = _vector_ok(kernel, s, aligned)
    width = 4 if vector else 1
    count = total // width
    body.open(f"for ({it} t = ({it})blockIdx.x * blockDim.x + threadIdx.x; t < {count}; "
              f"t += ({it})gridDim.x * blockDim.x)")
    body.line(f"const {it} i = t{' * 4' if vector else ''};")
    _bind_tail(body, s.vars, out.shape, "i")
    if vector:
        body.lane_var = s.vars[-1]
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
    has_reduce = any(n.op == "reduce" for n in walk(s.expr))
    note = ("128-bit vector loads/stores" if vector else "scalar") + (", window reductions per thread"
                                                                      if has_reduce else "")
    return Launch(name, src, (blocks, 1, 1), (THREADS, 1, 1), names, "elementwise", f"{total} elements, {note}")


# -- 3b. GEMM ------------------------------------------------------------------------------------
# (BM, BN, BK, TM, TN): 256 threads each; the picker weighs padding waste against tile efficiency.
SIMT_TILES = [(128, 128, 8, 8, 8), (64, 64, 16, 4, 4), (32, 128, 16, 2, 8), (128, 32, 16, 8, 2),
              (16, 128, 16, 1, 8)]
_TILE_EFFICIENCY = {128 * 128: 1.0, 64 * 64: 0.7, 32 * 128: 0.65, 16 * 128: 0.55}


def pick_tile(M: int, N: int, batch: int, sms: int = 132) -> tuple:
    def cost(t):
        bm, bn = t[0], t[1]
        blocks = math.ceil(M / bm) * math.ceil(N / bn) * batch
        padded = blocks * bm * bn
        return padded / _TILE_EFFICIENCY[bm * bn] * max(1.0, sms / blocks) ** 0.5
    return min(SIMT_TILES, key=cost)


def _operand_loader(body: Body, kernel: Kernel, g: GemmStage, which: str, inline: dict, batch_names: list[str],
                    row: str, col: str) -> str:
    """C expression of operand element (row, col) of the current batch (A: m,k; B: k,n)."""
    name = g.a if which == "a" else g.b
    trans = g.trans_a if which == "a" else g.trans_b
    if name in inline:
        op = inline[name]
        nb = len(g.batch_shape)
        shape = kernel.buffers[name].shape
        for v, c in zip(op.stage.vars[:nb], batch_names):
            body.vars[v] = c
        stored_row, stored_col = (col, row) if trans else (row, col)
        _bind_tail(body, op.stage.vars[nb:nb + op.split], shape[nb:nb + op.split], stored_row)
        _bind_tail(body, op.stage.vars[nb + op.split:], shape[nb + op.split:], stored_col)
        return body.expr(op.expr)
    strides = g.a_strides if which == "a" else g.b_strides
    ld = g.lda if which == "a" else g.ldb
    terms = [f"{c} * {st}" for c, st in zip(batch_names, strides) if st]
    terms.append(f"{col} * {ld} + {row}" if trans else f"{row} * {ld} + {col}")
    return cexpr.load(body.ptrs[name], " + ".join(terms), kernel.buffers[name].dtype)


def _gemm(kernel: Kernel, g: GemmStage, inline: dict, name: str) -> Launch:
    extra_reads = [n for n in (g.a, g.b) if n not in inline]
    inlined = [Stage(n, inline[n].stage.vars, inline[n].expr) for n in (g.a, g.b) if n in inline]
    names = _param_names(kernel, [g] + inlined, tuple(extra_reads))
    names = [g.out] + [n for n in names if n != g.out and n not in inline]
    ptrs = {n: f"p{i}" for i, n in enumerate(names)}
    body = Body(kernel, ptrs, index_ctype(kernel))
    wmma = kernel.buffers[g.a].dtype == "f16" and kernel.buffers[g.b].dtype == "f16"
    batch = math.prod(g.batch_shape)
    it = body.itype
    # batches beyond the grid's z limit loop (uniformly: __syncthreads stays legal inside)
    body.open(f"for ({it} bz = blockIdx.z; bz < {batch}; bz += gridDim.z)")
    batch_names = []
    inner = 1
    for d in reversed(g.batch_shape):
        c = "bz" if inner == 1 else f"(bz / {inner})"
        batch_names.append(body.local(it, f"({c} % {d})" if inner * d < batch else c, prefix="b"))
        inner *= d
    batch_names.reverse()
    for v, c in zip(g.batch_vars, batch_names):
        body.vars[v] = c
    if wmma:
        BM = BN = 64
        BK, threads = 32, 128
        note = "WMMA 16x16x16 f16 tensor cores, f32 accumulate, tile 64x64x32"
        _wmma_body(body, kernel, g, inline, batch_names)
    else:
        BM, BN, BK, TM, TN = pick_tile(g.M, g.N, batch)
        threads = (BM // TM) * (BN // TN)
        note = f"SIMT fp32, tile {BM}x{BN}x{BK}, {TM}x{TN} per thread"
        _simt_body(body, kernel, g, inline, batch_names, BM, BN, BK, TM, TN, threads)
    body.close()
    if any(n in inline for n in (g.a, g.b)):
        note += ", implicit GEMM (operand computed while loading tiles)"
    if g.epilogue is not None:
        note += ", fused epilogue"
    src = (f'extern "C" __global__ void __launch_bounds__({threads}) {name}({param_list(kernel, names)}) {{\n'
           f"{body.text()}\n}}\n")
    grid = (math.ceil(g.N / BN), math.ceil(g.M / BM), min(batch, MAX_GRID_Z))
    note = f"M={g.M} N={g.N} K={g.K} batch={batch}, " + note
    return Launch(name, src, grid, (threads, 1, 1), names, "gemm", note)


def _vector_tile(body: Body, kernel: Kernel, g: GemmStage, which: str, inline: dict, batch_names: list[str],
                 B: int, BK: int, threads: int) -> bool:
    """Fill tile `which` (As: BK x BM, Bs: BK x BN, in smem as [k][m|n]) with float4 loads along
    the operand's contiguous axis, when every 4-group is aligned and wholly in or out of range."""
    name = g.a if which == "a" else g.b
    trans = g.trans_a if which == "a" else g.trans_b
    ld = g.lda if which == "a" else g.ldb
    strides = g.a_strides if which == "a" else g.b_strides
    other = g.M if which == "a" else g.N          # the m (or n) extent
    k_contig = trans if which == "b" else not trans  # is k the contiguous axis in memory?
    contig_extent = g.K if k_contig else other
    if (name in inline or kernel.buffers[name].dtype != "f32" or contig_extent % 4 or ld % 4
            or any(st % 4 for st in strides)):
        return False
    tile, ptr = ("As" if which == "a" else "Bs"), body.ptrs[name]
    span = BK if k_contig else B
    body.open(f"for (int e = threadIdx.x; e < {B * BK // 4}; e += {threads})")
    body.line(f"const int c = (e % {span // 4}) * 4, r = e / {span // 4};")
    kk, mn = ("c", "r") if k_contig else ("r", "c")
    origin = "m0" if which == "a" else "n0"
    body.line(f"const int gk = k0 + {kk}, gx = {origin} + {mn};")
    body.line("float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);")
    # stored matrix: A is M x K (K x M transposed), B is K x N (N x K transposed)
    row, col = ("gx", "gk") if (which == "a") != trans else ("gk", "gx")
    terms = [f"{c} * {st}" for c, st in zip(batch_names, strides) if st] + [f"{row} * {ld} + {col}"]
    body.open(f"if (gk < {g.K} && gx < {other})")
    body.line(f"v = *reinterpret_cast<const float4*>({ptr} + {' + '.join(terms)});")
    body.close()
    if k_contig:
        body.line(f"{tile}[c][r] = v.x; {tile}[c + 1][r] = v.y; {tile}[c + 2][r] = v.z; {tile}[c + 3][r] = v.w;")
    else:
        body.line(f"*reinterpret_cast<float4*>(&{tile}[r][c]) = v;")
    body.close()
    return True


def _tile_loads(body: Body, kernel: Kernel, g: GemmStage, inline: dict, batch_names: list[str], BM: int, BN: int,
                BK: int, threads: int, store_a: str, store_b: str, zero: str, vector: bool = False) -> None:
    """Fill the A (BM x BK) and B (BK x BN) tiles; the fastest-varying index follows memory."""
    a_m_fast = g.trans_a
    b_n_fast = not g.trans_b or g.b in inline
    if vector and _vector_tile(body, kernel, g, "a", inline, batch_names, BM, BK, threads):
        pass
    else:
        _scalar_tile_a(body, kernel, g, inline, batch_names, BM, BK, threads, store_a, zero, a_m_fast)
    if vector and _vector_tile(body, kernel, g, "b", inline, batch_names, BN, BK, threads):
        return
    _scalar_tile_b(body, kernel, g, inline, batch_names, BN, BK, threads, store_b, zero, b_n_fast)


def _scalar_tile_a(body, kernel, g, inline, batch_names, BM, BK, threads, store_a, zero, a_m_fast) -> None:
    body.open(f"for (int e = threadIdx.x; e < {BM * BK}; e += {threads})")
    body.line(f"const int mm = e {'%' if a_m_fast else '/'} {BM if a_m_fast else BK}, "
              f"kk = e {'/' if a_m_fast else '%'} {BM if a_m_fast else BK};")
    body.line("const int gm = m0 + mm, gk = k0 + kk;")
    body.line(f"float value = {zero};")
    body.open(f"if (gm < {g.M} && gk < {g.K})")
    body.line(f"value = {_operand_loader(body, kernel, g, 'a', inline, batch_names, 'gm', 'gk')};")
    body.close()
    body.line(store_a)
    body.close()


def _scalar_tile_b(body, kernel, g, inline, batch_names, BN, BK, threads, store_b, zero, b_n_fast) -> None:
    body.open(f"for (int e = threadIdx.x; e < {BK * BN}; e += {threads})")
    body.line(f"const int kk = e {'/' if b_n_fast else '%'} {BN if b_n_fast else BK}, "
              f"nn = e {'%' if b_n_fast else '/'} {BN if b_n_fast else BK};")
    body.line("const int gk = k0 + kk, gn = n0 + nn;")
    body.line(f"float value = {zero};")
    body.open(f"if (gk < {g.K} && gn < {g.N})")
    body.line(f"value = {_operand_loader(body, kernel, g, 'b', inline, batch_names, 'gk', 'gn')};")
    body.close()
    body.line(store_b)
    body.close()


def _epilogue_store(body: Body, kernel: Kernel, g: GemmStage, batch_names: list[str], product: str) -> None:
    """Element (gm, gn) of the product through the epilogue into C; C's address comes from
    c_strides/ldc, which stay valid when the epilogue was folded through a reshape."""
    body.vars[g.m_var], body.vars[g.n_var] = "gm", "gn"
    body.acc = product
    value = body.expr(g.epilogue) if g.epilogue is not None else product
    out = kernel.buffers[g.out]
    terms = [f"{c} * {st}" for c, st in zip(batch_names, g.c_strides) if st] + [f"gm * {g.ldc} + gn"]
    body.line(f"{body.ptrs[g.out]}[{' + '.join(terms)}] = {cexpr.store_value(value, out.dtype)};")


def _fragment(tile: str, T: int, B: int, t: str, name: str) -> tuple[str, Callable[[str], str]]:
    """Reads of one thread's T values of a shared tile row (kk) and the tile offset of value i.

    T a multiple of 4: groups of 4 adjacent values, read as float4 (8 threads of a quarter
    warp read 128 contiguous bytes: no bank conflicts), the groups B*4/T apart. Otherwise the
    values are strided by the thread grid (neighbouring threads, neighbouring addresses)."""
    if T % 4 == 0:
        gap = B * 4 // T
        return (f"for (int g = 0; g < {T // 4}; ++g) {{ const float4 v = *reinterpret_cast<const float4*>("
                f"&{tile}[kk][g * {gap} + {t} * 4]); {name}[g * 4] = v.x; {name}[g * 4 + 1] = v.y; "
                f"{name}[g * 4 + 2] = v.z; {name}[g * 4 + 3] = v.w; }}",
                lambda i: f"({i} / 4) * {gap} + {t} * 4 + {i} % 4")
    return (f"for (int i = 0; i < {T}; ++i) {name}[i] = {tile}[kk][{t} + i * {B // T}];",
            lambda i: f"{t} + {i} * {B // T}")


def _simt_body(body: Body, kernel: Kernel, g: GemmStage, inline: dict, batch_names: list[str], BM: int, BN: int,
               BK: int, TM: int, TN: int, threads: int) -> None:
    body.line(f"__shared__ __align__(16) float As[{BK}][{BM + 4}];")
    body.line(f"__shared__ __align__(16) float Bs[{BK}][{BN + 4}];")
    body.line(f"const int m0 = blockIdx.y * {BM}, n0 = blockIdx.x * {BN};")
    body.line(f"const int tm = threadIdx.x / {BN // TN}, tn = threadIdx.x % {BN // TN};")
    read_a, row = _fragment("As", TM, BM, "tm", "a")
    read_b, col = _fragment("Bs", TN, BN, "tn", "b")
    body.line(f"float acc[{TM}][{TN}];")
    body.line("#pragma unroll")
    body.open(f"for (int i = 0; i < {TM}; ++i)")
    body.line("#pragma unroll")
    body.line(f"for (int j = 0; j < {TN}; ++j) acc[i][j] = 0.0f;")
    body.close()
    body.open(f"for (int k0 = 0; k0 < {g.K}; k0 += {BK})")
    _tile_loads(body, kernel, g, inline, batch_names, BM, BN, BK, threads,
                "As[kk][mm] = value;", "Bs[kk][nn] = value;", "0.0f", vector=True)
    body.line("__syncthreads();")
    body.line("#pragma unroll")
    body.open(f"for (int kk = 0; kk < {BK}; ++kk)")
    body.line(f"float a[{TM}], b[{TN}];")
    for text in (read_a, read_b):
        body.line("#pragma unroll")
        body.line(text)
    body.line("#pragma unroll")
    body.open(f"for (int i = 0; i < {TM}; ++i)")
    body.line("#pragma unroll")
    body.line(f"for (int j = 0; j < {TN}; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);")
    body.close()
    body.close()
    body.line("__syncthreads();")
    body.close()
    body.line("#pragma unroll")
    body.open(f"for (int i = 0; i < {TM}; ++i)")
    body.line("#pragma unroll")
    body.open(f"for (int j = 0; j < {TN}; ++j)")
    body.line(f"const int gm = m0 + {row('i')}, gn = n0 + {col('j')};")
    body.open(f"if (gm < {g.M} && gn < {g.N})")
    _epilogue_store(body, kernel, g, batch_names, "acc[i][j]")
    body.close()
    body.close()
    body.close()


def _wmma_body(body: Body, kernel: Kernel, g: GemmStage, inline: dict, batch_names: list[str]) -> None:
    """4 warps, each a 32x32 sub-tile of 2x2 16x16 fragments; the product goes through shared
    memory so the epilogue runs per element like the SIMT kernel's."""
    BM = BN = 64
    BK = 32
    body.line(f"__shared__ __align__(32) __half As[{BM}][{BK + 8}];")
    body.line(f"__shared__ __align__(32) __half Bs[{BK}][{BN + 8}];")
    body.line(f"__shared__ __align__(32) float Cs[{BM}][{BN + 4}];")
    body.line(f"const int m0 = blockIdx.y * {BM}, n0 = blockIdx.x * {BN};")
    body.line("const int warp = threadIdx.x / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;")
    body.line("nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> fc[2][2];")
    body.line("for (int i = 0; i < 2; ++i) for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(fc[i][j], 0.0f);")
    body.open(f"for (int k0 = 0; k0 < {g.K}; k0 += {BK})")
    _tile_loads(body, kernel, g, inline, batch_names, BM, BN, BK, 128,
                "As[mm][kk] = __float2half(value);", "Bs[kk][nn] = __float2half(value);", "0.0f")
    body.line("__syncthreads();")
    body.open(f"for (int kk = 0; kk < {BK}; kk += 16)")
    body.line("nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half, nvcuda::wmma::row_major> fa[2];")
    body.line("nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __half, nvcuda::wmma::row_major> fb[2];")
    body.line(f"for (int i = 0; i < 2; ++i) nvcuda::wmma::load_matrix_sync(fa[i], &As[wm + 16 * i][kk], {BK + 8});")
    body.line(f"for (int j = 0; j < 2; ++j) nvcuda::wmma::load_matrix_sync(fb[j], &Bs[kk][wn + 16 * j], {BN + 8});")
    body.line("for (int i = 0; i < 2; ++i) for (int j = 0; j < 2; ++j) "
              "nvcuda::wmma::mma_sync(fc[i][j], fa[i], fb[j], fc[i][j]);")
    body.close()
    body.line("__syncthreads();")
    body.close()
    body.line("for (int i = 0; i < 2; ++i) for (int j = 0; j < 2; ++j) nvcuda::wmma::store_matrix_sync("
              f"&Cs[wm + 16 * i][wn + 16 * j], fc[i][j], {BN + 4}, nvcuda::wmma::mem_row_major);")
    body.line("__syncthreads();")
    body.open(f"for (int e = threadIdx.x; e < {BM * BN}; e += 128)")
    body.line(f"const int gm = m0 + e / {BN}, gn = n0 + e % {BN};")
    body.open(f"if (gm < {g.M} && gn < {g.N})")
    _epilogue_store(body, kernel, g, batch_names, f"Cs[e / {BN}][e % {BN}]")
    body.close()
    body.close()
