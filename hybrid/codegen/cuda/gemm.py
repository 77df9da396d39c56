"""GEMM stages (matmul, convolution) as CUDA: a shared-memory tiled fp32 SIMT kernel (tile per
shape from SIMT_TILES, float4 loads where aligned) or WMMA tensor cores for f16 operands; the
epilogue runs on each element of the product before it is stored. Operands that one stage
computes for the GEMM alone (conv's padding + im2col) are evaluated while loading tiles:
implicit GEMM, no temp buffer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ...errors import HybridError
from ..kernel import E, GemmStage, Kernel, Stage, substitute, walk
from . import cexpr
from .body import Body, bind_flat, index_ctype, param_list
from .launch import Launch, param_names

MAX_GRID_Y = MAX_GRID_Z = 65535  # CUDA's limits on gridDim.y and gridDim.z


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


def implicit_operands(kernel: Kernel, stages: list, readers: dict) -> dict[str, _Implicit]:
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
        bind_flat(body, op.stage.vars[nb:nb + op.split], shape[nb:nb + op.split], stored_row)
        bind_flat(body, op.stage.vars[nb + op.split:], shape[nb + op.split:], stored_col)
        return body.expr(op.expr)
    strides = g.a_strides if which == "a" else g.b_strides
    ld = g.lda if which == "a" else g.ldb
    terms = [f"{c} * {st}" for c, st in zip(batch_names, strides) if st]
    terms.append(f"{col} * {ld} + {row}" if trans else f"{row} * {ld} + {col}")
    return cexpr.load(body.ptrs[name], " + ".join(terms), kernel.buffers[name].dtype)


def gemm_launch(kernel: Kernel, g: GemmStage, inline: dict, name: str, vector_loads: bool = True) -> Launch:
    """The launch of GEMM stage g; vector_loads: its operand buffers are 16-byte aligned."""
    extra_reads = [n for n in (g.a, g.b) if n not in inline]
    inlined = [Stage(n, inline[n].stage.vars, inline[n].expr) for n in (g.a, g.b) if n in inline]
    names = param_names(kernel, [g] + inlined, tuple(extra_reads))
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
    BM, BN, BK, TM, TN = (64, 64, 32, 0, 0) if wmma else pick_tile(g.M, g.N, batch)
    m_tiles, n_tiles = math.ceil(g.M / BM), math.ceil(g.N / BN)
    # n tiles on grid x (unlimited) and m tiles on y (65535 at most), or the other way round
    m_axis, n_axis = ("y", "x") if m_tiles <= MAX_GRID_Y else ("x", "y")
    if max(m_tiles, n_tiles) > MAX_GRID_Y and min(m_tiles, n_tiles) > MAX_GRID_Y:
        raise HybridError(f"cuda: GEMM {g.M}x{g.N} needs {m_tiles}x{n_tiles} tiles, beyond the launch grid")
    body.line(f"const int m0 = blockIdx.{m_axis} * {BM}, n0 = blockIdx.{n_axis} * {BN};")
    if wmma:
        threads = 128
        note = "WMMA 16x16x16 f16 tensor cores, f32 accumulate, tile 64x64x32"
        _wmma_body(body, kernel, g, inline, batch_names)
    else:
        threads = (BM // TM) * (BN // TN)
        note = f"SIMT fp32, tile {BM}x{BN}x{BK}, {TM}x{TN} per thread"
        _simt_body(body, kernel, g, inline, batch_names, BM, BN, BK, TM, TN, threads, vector_loads)
    body.close()
    if any(n in inline for n in (g.a, g.b)):
        note += ", implicit GEMM (operand computed while loading tiles)"
    if g.epilogue is not None:
        note += ", fused epilogue"
    src = (f'extern "C" __global__ void __launch_bounds__({threads}) {name}({param_list(kernel, names)}) {{\n'
           f"{body.text()}\n}}\n")
    grid = ((n_tiles, m_tiles) if m_axis == "y" else (m_tiles, n_tiles)) + (min(batch, MAX_GRID_Z),)
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
    body.line(f"auto value = {zero};")
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
    body.line(f"auto value = {zero};")
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


def _fragment(tile: str, T: int, B: int, t: str, name: str, float4: bool = True) -> tuple[str, Callable[[str], str]]:
    """Reads of one thread's T values of a shared tile row (kk) and the tile offset of value i.

    T a multiple of 4: groups of 4 adjacent values, read as float4 (8 threads of a quarter
    warp read 128 contiguous bytes: no bank conflicts), the groups B*4/T apart. Otherwise the
    values are strided by the thread grid (neighbouring threads, neighbouring addresses)."""
    if float4 and T % 4 == 0:
        gap = B * 4 // T
        return (f"for (int g = 0; g < {T // 4}; ++g) {{ const float4 v = *reinterpret_cast<const float4*>("
                f"&{tile}[kk][g * {gap} + {t} * 4]); {name}[g * 4] = v.x; {name}[g * 4 + 1] = v.y; "
                f"{name}[g * 4 + 2] = v.z; {name}[g * 4 + 3] = v.w; }}",
                lambda i: f"({i} / 4) * {gap} + {t} * 4 + {i} % 4")
    return (f"for (int i = 0; i < {T}; ++i) {name}[i] = {tile}[kk][{t} + i * {B // T}];",
            lambda i: f"{t} + {i} * {B // T}")


COMPUTE_TYPE = {"f64": "double", "i64": "long long", "i32": "int", "u32": "unsigned int", "i8": "int",
                "u8": "unsigned int"}


def _simt_body(body: Body, kernel: Kernel, g: GemmStage, inline: dict, batch_names: list[str], BM: int, BN: int,
               BK: int, TM: int, TN: int, threads: int, vector_loads: bool) -> None:
    # f32 and f16 compute in float; f64 and integer products in their own type (float would round them)
    ct = COMPUTE_TYPE.get(kernel.buffers[g.out].dtype, "float")
    body.line(f"__shared__ __align__(16) {ct} As[{BK}][{BM + 4}];")
    body.line(f"__shared__ __align__(16) {ct} Bs[{BK}][{BN + 4}];")
    body.line(f"const int tm = threadIdx.x / {BN // TN}, tn = threadIdx.x % {BN // TN};")
    read_a, row = _fragment("As", TM, BM, "tm", "a", float4=ct == "float")
    read_b, col = _fragment("Bs", TN, BN, "tn", "b", float4=ct == "float")
    body.line(f"{ct} acc[{TM}][{TN}];")
    body.line("#pragma unroll")
    body.open(f"for (int i = 0; i < {TM}; ++i)")
    body.line("#pragma unroll")
    body.line(f"for (int j = 0; j < {TN}; ++j) acc[i][j] = 0;")
    body.close()
    body.open(f"for (int k0 = 0; k0 < {g.K}; k0 += {BK})")
    _tile_loads(body, kernel, g, inline, batch_names, BM, BN, BK, threads,
                "As[kk][mm] = value;", "Bs[kk][nn] = value;", f"({ct})0", vector=vector_loads and ct == "float")
    body.line("__syncthreads();")
    body.line("#pragma unroll")
    body.open(f"for (int kk = 0; kk < {BK}; ++kk)")
    body.line(f"{ct} a[{TM}], b[{TN}];")
    for text in (read_a, read_b):
        body.line("#pragma unroll")
        body.line(text)
    body.line("#pragma unroll")
    body.open(f"for (int i = 0; i < {TM}; ++i)")
    body.line("#pragma unroll")
    madd = "fmaf(a[i], b[j], acc[i][j])" if ct == "float" else "acc[i][j] + a[i] * b[j]"
    body.line(f"for (int j = 0; j < {TN}; ++j) acc[i][j] = {madd};")
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
