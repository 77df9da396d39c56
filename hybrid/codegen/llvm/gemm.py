"""Single-precision GEMM for the LLVM backend: a generated BLIS-style kernel and an OpenBLAS lowering.

Contract (stable; the LLVM backend links `gemm_llvm_ir()` into each graph's module and calls):

    void hybrid_sgemm(i64 M, i64 N, i64 K,
                      const float* A, i64 lda, i32 transA,
                      const float* B, i64 ldb, i32 transB,
                      float* C, i64 ldc,
                      void (*epilogue)(i64 m0, i64 m1, i64 n0, i64 n1, float* C, i64 ldc, void* ctx),
                      void* ctx, i32 tid, i32 nthreads)

- Row-major: C[M,N] = op(A)[M,K] @ op(B)[K,N], op(X) = X^T when transX != 0. C is overwritten (beta = 0);
  K = 0 gives zeros. lda/ldb/ldc are the row strides, in floats, of the arrays as stored.
- Thread `tid` of `nthreads` computes its own rectangle of C (a 2-D split chosen from the shape so each thread
  packs as little as possible); calling it once for every tid covers C exactly once. Calls need no barrier and
  share nothing, so an executable may run several of them at once from different Python threads.
- `epilogue` (may be null) is called once for every finished tile [m0,m1) x [n0,n1) of the thread's rectangle,
  right after the tile's last K block, while it is still in cache: that is where a fused bias/activation/residual
  runs. The tiles of all threads partition C.
- transA / transB = PACKED (2): A / B points to op(A) / op(B) already packed by
  `hybrid_sgemm_pack_a(M, K, A, lda, transA, dst, tid, nthreads)` (`packed_a_floats(M, K)` floats) /
  `hybrid_sgemm_pack_b(N, K, B, ldb, transB, dst, tid, nthreads)` (`packed_b_floats(N, K)`); every thread packs
  its share of the panels, then the caller waits for all of them. A convolution packs its weights once per call
  instead of once per image, and a dense layer its weight matrix once per change of the parameter (prepack.py);
  the generated kernel reads the panels in place, and "auto" then never picks OpenBLAS.
- Pack buffers come from a small lock-free pool (one slot per tid, taken with cmpxchg, allocated once with
  malloc), so a steady loop allocates nothing; a call that finds its slot busy uses a temporary buffer.

Two implementations, chosen by `impl`:
- "generated": A and B are packed into micro-panels (KC x MR and KC x NR, zero-padded; row-major sources are
  transposed in registers) and an MR x NR register tile of vector accumulators is updated with FMAs
  (MR x NR = 6 x 16 with 8-wide AVX2 vectors, 6 x 64 with AVX-512), inside cache blocks KC (AVX2: L1 holds one
  B micro-panel), MC (L2: the packed A block), NC (L3: the packed B block). Where an operand is used by too few
  FMAs to pay for its packing it is read in place: A (row-major) when a thread has few columns (256 on AVX2,
  512 on AVX-512), B (row-major) when it has a single row panel. Edge tiles use masked vector stores. Generated
  for the host's vector width.
- "openblas": calls cblas_sgemm of the `scipy-openblas32` package (looked up at run time, single-threaded per
  call since we split the threads ourselves) on row panels of the thread's rectangle, calling the epilogue on
  each panel while it is in cache.
- "auto" (default): picks per shape class the one measured faster on this machine (see `_prefer_openblas`).

Python helpers: `gemm_llvm_ir(impl)` returns the module text, `extern_symbols(impl)` the addresses to give to
`llvmlite.binding.add_symbol` before compiling it, and `sgemm(a, b, ...)` compiles it standalone and runs it
(threads via a Python thread pool calling with each tid; ctypes releases the GIL), for tests and benchmarks.
"""
from __future__ import annotations

import ctypes
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import numpy
from llvmlite import ir

from ...config import config
from ... import log
from ...errors import HybridError, ShapeError
from .gemm_dot import dot_applies, emit_dot, takes_dot
from .irbuild import F32, FP, I1, I8P, I32, I64, VOID, IRFunction, const, declaration, splat

IMPLS = ("auto", "generated", "openblas")
# This file's text when it was imported: the disk cache keys sgemm objects by it (module.sgemm_source_key), so a
# key names the code that runs in this process even if the file changes on disk meanwhile (an upgrade or a
# checkout under a running process); read later, the new text's key would label an object the old code made.
with open(__file__, "rb") as _source:
    SOURCE_TEXT = _source.read()

EPILOGUE_TYPE = ir.FunctionType(VOID, [I64, I64, I64, I64, FP, I64, I8P])
SGEMM_TYPE = ir.FunctionType(VOID, [I64, I64, I64, FP, I64, I32, FP, I64, I32, FP, I64,
                                    EPILOGUE_TYPE.as_pointer(), I8P, I32, I32])
SGEMM_ARGS = ("M", "N", "K", "A", "lda", "transA", "B", "ldb", "transB", "C", "ldc", "epilogue", "ctx", "tid",
              "nthreads")
# one thread's rectangle [m_lo, m_hi) x [n_lo, n_hi): the type every implementation below hybrid_sgemm has
THREAD_ARGS = SGEMM_ARGS[:13] + ("tid", "m_lo", "m_hi", "n_lo", "n_hi")
THREAD_TYPE = ir.FunctionType(VOID, list(SGEMM_TYPE.args[:13]) + [I32, I64, I64, I64, I64])
BLAS_SYMBOL = "hybrid_openblas_sgemm"   # the IR's name for cblas_sgemm; extern_symbols() maps it
BLAS_TYPE = ir.FunctionType(VOID, [I32, I32, I32, I32, I32, I32, F32, FP, I32, FP, I32, F32, FP, I32])
TRANS, PACKED = 1, 2        # transA values besides 0: A is stored transposed / A is pre-packed (generated only)
PACK_TYPE = ir.FunctionType(VOID, [I64, I64, FP, I64, I32, FP, I32, I32])
PACK_ARGS = ("rows", "K", "src", "ld", "trans", "dst", "tid", "nthreads")   # rows: M for A, N for B
POOL_SLOTS = 64
EPILOGUE_COLS = 256       # columns per epilogue tile of the generated kernel (MC x 256 floats stay in L2)
# Rows per OpenBLAS call: about 4 MiB of C, still in L3 when the epilogue runs. Each call repacks B, so
# smaller panels cost more than they save (512 KiB panels: 4-16% slower on the zoo shapes).
BLAS_PANEL_FLOATS = 1 << 20


@dataclass(frozen=True)
class GemmConfig:
    """Register and cache blocking for one vector width."""
    width: int      # floats per vector register
    mr: int         # rows of the register tile
    nr: int         # columns of the register tile (a multiple of width)
    kc: int         # depth of a packed block (fewer passes over C; measured best with MC x KC just under L2)
    mc: int         # rows of the packed A block (MC x KC in L2)
    nc: int         # columns of the packed B block (KC x NC in L3)
    direct_a_cols: int = 256    # at most this many columns per thread: A (row-major) is read in place, not packed
    dot_max_n: int = 16         # C = A @ W^T with at most this many columns runs as dot products (gemm_dot.py)

    def runs_as_dot(self, N: int, K: int, trans_a: bool, trans_b: bool) -> bool:
        """Whether hybrid_sgemm takes the dot-product kernel for this GEMM (then B is read in place, never packed)."""
        return dot_applies(N, K, trans_a, trans_b, self.width, self.dot_max_n)
    unroll: int = 4


def host_config(features: Optional[str] = None) -> GemmConfig:
    """The blocking for the host CPU (or for an explicit LLVM feature string)."""
    return _config_for(features if features is not None else _host_features())


@functools.lru_cache(maxsize=None)
def _host_features() -> str:
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_features().flatten()


@functools.lru_cache(maxsize=None)
def _config_for(features: str) -> GemmConfig:
    flags = set(features.split(","))
    if "+avx512f" in flags:
        # 6 x 64: 24 zmm accumulators, 4 B vectors and a broadcast fit the 32 registers with no spill (14 x 32
        # spilled 3 accumulators); measured 1.0-1.2x 14 x 32 and 12 x 32 on the W1/W5 layer shapes (Sapphire Rapids).
        # A B micro-panel (KC x 64 floats) outgrows L1 at any useful KC and streams from L2 whatever KC is, so a deep
        # KC only saves C tile reloads: KC 1024 (MC x KC = 576 KiB, in L2) ran W1 3-4% faster than 256, 128 lost 6%.
        # A 512-column thread rectangle meets 8 B panels: reading A in place there beat packing it by 3% on W1.
        # C = A @ W^T as dot products (gemm_dot.py) up to 24 columns: 256 rows, K = 1024, one thread, vs the blocked
        # kernel: N = 10 0.52x the time, 16 0.67x, 24 0.85x, 32 1.06x, 48 1.0x; K = 64-512: 0.5-0.9x.
        return GemmConfig(width=16, mr=6, nr=64, kc=1024, mc=144, nc=2048, direct_a_cols=512, dot_max_n=24)
    if "+avx2" in flags and "+fma" in flags:
        return GemmConfig(width=8, mr=6, nr=16, kc=1024, mc=120, nc=2048)
    return GemmConfig(width=4, mr=4, nr=8, kc=256, mc=128, nc=2048)


def _kblock(f: IRFunction, K, cfg: GemmConfig):
    """The depth of each packed block: K split evenly (e.g. 1100 -> 550 + 550, not 1024 + 76)."""
    return f.ceil_div(K, f.ceil_div(K, const(cfg.kc)))


def slack_rows(R: int, cfg: GemmConfig) -> int:
    """Rows of R floats after each packed panel: room for the packers' full-vector stores to overrun."""
    return -(-cfg.width // R)


def _packed_layout(f: IRFunction, rows, kblock, cfg: GemmConfig, R: int):
    """(block stride, panel stride) of a pre-packed operand (see `_emit_pack_entry`) with `rows` panel rows (M for A,
    N for B) in panels of R, K in blocks of `kblock` (`_kblock`): K block j starts at j * block stride, and panel p of
    a block at p * (kblock + slack) * R, every block alike (the last, shallower one leaves rows unused), so that the
    layout is a dense array [block][panel][kblock + slack][R] that a convolution's im2col can also fill directly."""
    panel = f.b.mul(f.b.add(kblock, const(slack_rows(R, cfg))), const(R))
    return f.b.mul(f.ceil_div(rows, const(R)), panel), panel


def packed_shape(rows: int, K: int, R: int, cfg: Optional["GemmConfig"] = None) -> tuple[int, int, int, int]:
    """The pre-packed layout as a dense array: (K blocks, panels, kblock + slack rows, R)."""
    cfg = cfg or host_config()
    if K <= 0:
        return (0, -(-rows // R), 0, R)
    kblock = -(-K // -(-K // cfg.kc))
    return (-(-K // kblock), -(-rows // R), kblock + slack_rows(R, cfg), R)


def _packed_floats(rows: int, K: int, R: int, cfg: GemmConfig) -> int:
    return math.prod(packed_shape(rows, K, R, cfg))


def packed_a_floats(M: int, K: int, cfg: Optional["GemmConfig"] = None) -> int:
    """Floats of a pre-packed A for op(A) of M x K (the buffer `hybrid_sgemm_pack_a` fills)."""
    cfg = cfg or host_config()
    return _packed_floats(M, K, cfg.mr, cfg)


def packed_b_floats(N: int, K: int, cfg: Optional["GemmConfig"] = None) -> int:
    """Floats of a pre-packed B for op(B) of K x N (the buffer `hybrid_sgemm_pack_b` fills)."""
    cfg = cfg or host_config()
    return _packed_floats(N, K, cfg.nr, cfg)


def _ukernel_widths(cfg: GemmConfig) -> list[int]:
    """The micro-kernel variants, in vectors per row: every power of two below NR / W, then NR / W. A tile whose
    columns fit fewer vectors (N = 10 on a 64-wide tile, a ragged last panel) runs the narrowest that covers
    them instead of multiplying zero padding."""
    full = cfg.nr // cfg.width
    return [v for v in (1 << i for i in range(full.bit_length())) if v < full] + [full]


def _emit_ukernel(module: ir.Module, cfg: GemmConfig, nv: int) -> ir.Function:
    """C[mr, nr] (+)= packed A (kc x MR) @ B (kc x NR, rows `ldbk` floats apart: NR when packed, ldb when read
    in place) with an MR x (nv vectors) tile of vector accumulators, nr <= nv * W."""
    name = "hybrid_gemm_ukernel" if nv * cfg.width == cfg.nr else f"hybrid_gemm_ukernel_v{nv}"
    f = IRFunction(module, name,
                   ir.FunctionType(VOID, [I64, FP, I64, I64, FP, I64, FP, I64, I1, I64, I64]),
                   ("kc", "pa", "ars", "aks", "pb", "ldbk", "c", "ldc", "accum", "mr", "nr"))
    b, W, MR = f.b, cfg.width, cfg.mr
    NR = nv * W       # the columns this variant computes
    vty = ir.VectorType(F32, W)
    fma = declaration(module, f"llvm.fma.v{W}f32", ir.FunctionType(vty, [vty] * 3))
    zero = ir.Constant(vty, [0.0] * W)
    accs = [[f.var(zero, f"acc{r}_{v}") for v in range(nv)] for r in range(MR)]

    def step(k, ars, aks):
        pa_k = b.gep(f["pa"], [b.mul(k, aks)])
        pb_k = b.gep(f["pb"], [b.mul(k, f["ldbk"])])
        bvec = [b.load(b.bitcast(b.gep(pb_k, [const(v * W)]), vty.as_pointer()), align=4) for v in range(nv)]
        for r in range(MR):
            a = b.load(b.gep(pa_k, [b.mul(const(r), ars)]))
            a = splat(b, a, W)
            for v in range(nv):
                b.store(b.call(fma, [a, bvec[v], b.load(accs[r][v])]), accs[r][v])

    def k_loops(ars, aks):
        U = cfg.unroll
        main = b.mul(b.sdiv(f["kc"], const(U)), const(U))
        with f.loop(0, main, U, "k") as k:
            for u in range(U):
                step(b.add(k, const(u)), ars, aks)
        with f.loop(main, f["kc"], 1, "kr") as k:
            step(k, ars, aks)

    # A packed ([k][MR]) gets its own copy of the loops with constant offsets: with the strides unknown,
    # LLVM walks the MR row addresses with a chain of dependent adds (one per broadcast) in every step.
    a_is_packed = b.and_(b.icmp_signed("==", f["ars"], const(1)), b.icmp_signed("==", f["aks"], const(MR)))
    with b.if_else(a_is_packed) as (packed, in_place):
        with packed:
            k_loops(const(1), const(MR))
        with in_place:
            k_loops(f["ars"], f["aks"])

    def c_ptr(r, col):
        return b.gep(f["c"], [b.add(b.mul(const(r), f["ldc"]), col)])

    # Store: full tiles with plain vector stores; edge tiles row by row (rows < mr), the columns >= nr masked off.
    mask_ty = ir.VectorType(I1, W)
    masked_load = declaration(module, f"llvm.masked.load.v{W}f32.p0",
                             ir.FunctionType(vty, [vty.as_pointer(), I32, mask_ty, vty]))
    masked_store = declaration(module, f"llvm.masked.store.v{W}f32.p0",
                              ir.FunctionType(VOID, [vty, vty.as_pointer(), I32, mask_ty]))
    lanes = ir.Constant(ir.VectorType(I64, W), list(range(W)))
    zero_v = ir.Constant(vty, [0.0] * W)

    def store_rows(accumulate: bool, masked: bool, edge_rows: bool):
        masks = []
        if masked:
            limit = splat(b, f["nr"], W)
            masks = [b.icmp_signed("<", b.add(lanes, ir.Constant(ir.VectorType(I64, W), [v * W] * W)), limit)
                     for v in range(nv)]
        for r in range(MR):
            def one_row():
                for v in range(nv):
                    p = b.bitcast(c_ptr(r, const(v * W)), vty.as_pointer())
                    value = b.load(accs[r][v])
                    if masked:
                        if accumulate:
                            value = b.fadd(value, b.call(masked_load, [p, const(4, I32), masks[v], zero_v]))
                        b.call(masked_store, [value, p, const(4, I32), masks[v]])
                    else:
                        if accumulate:
                            value = b.fadd(value, b.load(p, align=4))
                        b.store(value, p, align=4)
            if edge_rows and r > 0:
                with b.if_then(b.icmp_signed("<", const(r), f["mr"])):
                    one_row()
            else:
                one_row()

    full_cols = b.icmp_signed("==", f["nr"], const(NR))
    full = b.and_(b.icmp_signed("==", f["mr"], const(MR)), full_cols)
    with b.if_else(f["accum"]) as (acc_then, acc_else):
        for accumulate, ctx in ((True, acc_then), (False, acc_else)):
            with ctx:
                with b.if_else(full) as (then, otherwise):
                    with then:
                        store_rows(accumulate, masked=False, edge_rows=False)
                    with otherwise:
                        with b.if_else(full_cols) as (cols_then, cols_else):
                            with cols_then:
                                store_rows(accumulate, masked=False, edge_rows=True)
                            with cols_else:
                                store_rows(accumulate, masked=True, edge_rows=True)
    f.finish()
    return f.fn


def _transpose(b: ir.IRBuilder, rows: list, W: int) -> list:
    """Transpose W vectors of W lanes (out[k][r] = rows[r][k]) by swapping off-diagonal blocks of halving size:
    W * log2(W) two-input shuffles instead of W * W scalar moves."""
    d = W // 2
    while d >= 1:
        lo = ir.Constant(ir.VectorType(I32, W), [l if l & d == 0 else W + l - d for l in range(W)])
        hi = ir.Constant(ir.VectorType(I32, W), [l + d if l & d == 0 else W + l for l in range(W)])
        out = list(rows)
        for i in range(W):
            if i & d == 0:
                out[i] = b.shuffle_vector(rows[i], rows[i + d], lo)
                out[i + d] = b.shuffle_vector(rows[i], rows[i + d], hi)
        rows, d = out, d // 2
    return rows


def _chunks(n: int, W: int) -> list[int]:
    """n as a sum of vector widths: W, then halving powers of two (6 -> [4, 2] for W = 8)."""
    out, width = [], W
    while n:
        if width <= n:
            out.append(width)
            n -= width
        else:
            width //= 2
    return out


def _emit_pack(module: ir.Module, name: str, R: int, W: int) -> ir.Function:
    """Pack an n x kc block (element (i, k) at src[i*si + k*sk]) into panels of R rows, laid out [panel][k][R],
    zero-padding the last panel. When rows are contiguous (sk == 1: A as stored, B transposed) W x W tiles are
    loaded as vectors and transposed in registers; when columns are (si == 1) LLVM vectorizes the plain copy.
    The transposed stores are full vectors that may run up to W floats past a panel: the buffers have slack."""
    f = IRFunction(module, name, ir.FunctionType(VOID, [FP, I64, I64, I64, I64, FP]),
                   ("src", "si", "sk", "n", "kc", "dst"))
    for arg in (f["src"], f["dst"]):
        arg.add_attribute("noalias")
    b = f.b
    vty = ir.VectorType(F32, W)

    def copy_panel(src, panel, si, sk, rows, k_start=const(0)):
        with f.loop(k_start, f["kc"], 1, "pk") as k:
            for r in range(R):
                row = const(r) if rows is None else f.min(const(r), b.sub(rows, const(1)))
                value = b.load(b.gep(src, [b.add(b.mul(row, si), b.mul(k, sk))]))
                if rows is not None:
                    value = b.select(b.icmp_signed("<", const(r), rows), value, ir.Constant(F32, 0.0))
                b.store(value, b.gep(panel, [b.add(b.mul(k, const(R)), const(r))]))

    def transpose_panel(src, panel):
        full = b.mul(b.sdiv(f["kc"], const(W)), const(W))
        with f.loop(0, full, W, "tk") as k0:
            for g in range(0, R, W):
                count = min(W, R - g)
                vecs = [b.load(b.bitcast(b.gep(src, [b.add(b.mul(const(g + r), f["si"]), k0)]), vty.as_pointer()),
                               align=4) for r in range(count)]
                vecs += [ir.Constant(vty, ir.Undefined)] * (W - count)
                for k, vec in enumerate(_transpose(b, vecs, W)):
                    dst = b.gep(panel, [b.add(b.mul(b.add(k0, const(k)), const(R)), const(g))])
                    b.store(vec, b.bitcast(dst, vty.as_pointer()), align=4)
        copy_panel(src, panel, f["si"], const(1), None, full)

    full_panels = b.mul(b.sdiv(f["n"], const(R)), const(R))
    with b.if_else(b.icmp_signed("==", f["si"], const(1))) as (unit_i, other):
        with unit_i:
            # Rows of the source run along the panels: read each row once, sequentially, into every panel.
            with f.loop(0, f["kc"], 1, "uk") as k:
                row = b.gep(f["src"], [b.mul(k, f["sk"])])
                dst_row = b.gep(f["dst"], [b.mul(k, const(R))])
                with f.loop(0, full_panels, R, "ui") as i:
                    src, dst = b.gep(row, [i]), b.gep(dst_row, [b.mul(i, f["kc"])])
                    offset = 0
                    for width in _chunks(R, W):       # exact-size vector moves: no overread, no overlap
                        cty = ir.VectorType(F32, width).as_pointer()
                        value = b.load(b.bitcast(b.gep(src, [const(offset)]), cty), align=4)
                        b.store(value, b.bitcast(b.gep(dst, [const(offset)]), cty), align=4)
                        offset += width
        with other:
            with f.loop(0, full_panels, R, "pi") as i:
                src = b.gep(f["src"], [b.mul(i, f["si"])])
                panel = b.gep(f["dst"], [b.mul(i, f["kc"])])
                with b.if_else(b.icmp_signed("==", f["sk"], const(1))) as (unit_k, general):
                    with unit_k:
                        transpose_panel(src, panel)
                    with general:
                        copy_panel(src, panel, f["si"], f["sk"], None)
    with b.if_then(b.icmp_signed("<", full_panels, f["n"])):
        copy_panel(b.gep(f["src"], [b.mul(full_panels, f["si"])]), b.gep(f["dst"], [b.mul(full_panels, f["kc"])]),
                   f["si"], f["sk"], b.sub(f["n"], full_panels))
    f.finish()
    return f.fn


def _emit_pack_entry(module: ir.Module, cfg: GemmConfig, operand: str) -> ir.Function:
    """hybrid_sgemm_pack_a / _pack_b: op(A) (M x K) or op(B) (K x N) into the pre-packed layout `hybrid_sgemm`
    reads when transA / transB = PACKED (`_packed_layout`). Each K block holds the panels (MR rows of A or NR
    columns of B, as [k][R], zero-padded) one after another, each followed by slack rows that the packer's
    full-vector stores may overrun, so threads packing neighbouring panels never write each other's floats.
    Thread `tid` of `nthreads` packs its share of the panels."""
    R = cfg.mr if operand == "a" else cfg.nr
    name = f"hybrid_gemm_pack_{operand}"
    pack = module.globals.get(name) or _emit_pack(module, name, R, cfg.width)
    f = IRFunction(module, f"hybrid_sgemm_pack_{operand}", PACK_TYPE, PACK_ARGS, internal=False)
    b = f.b
    rows, K = f["rows"], f["K"]
    # (stride between panel rows, stride along K) of the source: A's rows are op(A)'s rows, B's are op(B)'s columns
    trans = b.icmp_signed("==", f["trans"], const(TRANS, I32))
    if operand == "b":
        trans = b.not_(trans)
    si, sk = b.select(trans, const(1), f["ld"]), b.select(trans, f["ld"], const(1))
    kblock = _kblock(f, K, cfg)
    block_stride, panel_floats = _packed_layout(f, rows, kblock, cfg, R)
    panels = f.ceil_div(rows, const(R))
    nth = f.max(b.sext(f["nthreads"], I64), const(1))
    tid = b.sext(f["tid"], I64)
    p_lo = b.sdiv(b.mul(panels, tid), nth)
    p_hi = b.sdiv(b.mul(panels, b.add(tid, const(1))), nth)
    with f.loop(0, K, kblock, "pc") as pc:
        kc = f.min(kblock, b.sub(K, pc))
        block = b.gep(f["dst"], [b.mul(b.sdiv(pc, kblock), block_stride)])
        with f.loop(p_lo, p_hi, 1, "p") as p:
            row = b.mul(p, const(R))
            src = b.gep(f["src"], [b.add(b.mul(row, si), b.mul(pc, sk))])
            b.call(pack, [src, si, sk, f.min(const(R), b.sub(rows, row)), kc, b.gep(block, [b.mul(p, panel_floats)])])
    f.finish()
    return f.fn


def _emit_pool(module: ir.Module):
    busy = ir.GlobalVariable(module, ir.ArrayType(I32, POOL_SLOTS), "hybrid_gemm_pool_busy")
    busy.linkage = "internal"
    busy.initializer = ir.Constant(busy.type.pointee, None)
    bufs = ir.GlobalVariable(module, ir.ArrayType(I8P, POOL_SLOTS), "hybrid_gemm_pool_bufs")
    bufs.linkage = "internal"
    bufs.initializer = ir.Constant(bufs.type.pointee, None)
    return busy, bufs


def _call_ukernel(f: IRFunction, ukernels: list, cfg: GemmConfig, args: list) -> None:
    """Call the narrowest micro-kernel variant whose vectors cover the tile's nr columns (the last argument)."""
    b = f.b
    vectors = f.ceil_div(args[-1], const(cfg.width))
    *narrow, (_, full) = ukernels
    if not narrow:
        b.call(full, args)
        return
    nv, kernel = narrow[0]
    with b.if_else(b.icmp_signed("<=", vectors, const(nv))) as (then, otherwise):
        with then:
            b.call(kernel, args)
        with otherwise:
            _call_ukernel(f, ukernels[1:], cfg, args)


def _emit_generated(module: ir.Module, cfg: GemmConfig) -> ir.Function:
    """The blocked loops of one thread's rectangle: jc (NC) / pc (KC) / ic (MC) / column group / jr / ir."""
    ukernels = [(nv, _emit_ukernel(module, cfg, nv)) for nv in _ukernel_widths(cfg)]
    pack_a = module.globals.get("hybrid_gemm_pack_a") or _emit_pack(module, "hybrid_gemm_pack_a", cfg.mr, cfg.width)
    pack_b = module.globals.get("hybrid_gemm_pack_b") or _emit_pack(module, "hybrid_gemm_pack_b", cfg.nr, cfg.width)
    busy, bufs = _emit_pool(module)
    malloc = declaration(module, "malloc", ir.FunctionType(I8P, [I64]))
    free = declaration(module, "free", ir.FunctionType(VOID, [I8P]))
    f = IRFunction(module, "hybrid_gemm_generated", THREAD_TYPE, THREAD_ARGS)
    b = f.b
    MR, NR = cfg.mr, cfg.nr
    a_floats = cfg.mc * cfg.kc + 2 * cfg.width        # + slack for the packers' full-vector stores
    nbytes = (a_floats + cfg.kc * cfg.nc + 2 * cfg.width) * 4 + 64

    # Take this tid's pooled buffer (or a temporary one when another call holds it).
    slot = b.and_(b.zext(f["tid"], I64), const(POOL_SLOTS - 1))
    busy_ptr = b.gep(busy, [const(0), slot])
    buf_ptr = b.gep(bufs, [const(0), slot])
    owned = b.extract_value(b.cmpxchg(busy_ptr, const(0, I32), const(1, I32), "acquire", "monotonic"), 1)
    raw = f.var(ir.Constant(I8P, None), "raw")
    with b.if_else(owned) as (then, otherwise):
        with then:
            b.store(b.load(buf_ptr), raw)
            with b.if_then(b.icmp_unsigned("==", b.load(raw), ir.Constant(I8P, None))):
                b.store(b.call(malloc, [const(nbytes)]), raw)
                b.store(b.load(raw), buf_ptr)
        with otherwise:
            b.store(b.call(malloc, [const(nbytes)]), raw)
    aligned = b.and_(b.add(b.ptrtoint(b.load(raw), I64), const(63)), const(~63))
    abuf = b.inttoptr(aligned, FP)
    bbuf = b.gep(abuf, [const(a_floats)])

    one = const(1)
    trans_a = b.icmp_signed("==", f["transA"], const(TRANS, I32))
    a_packed = b.icmp_signed("==", f["transA"], const(PACKED, I32))
    b_packed = b.icmp_signed("==", f["transB"], const(PACKED, I32))
    trans_b = b.icmp_signed("==", f["transB"], const(TRANS, I32))
    rs_a, cs_a = b.select(trans_a, one, f["lda"]), b.select(trans_a, f["lda"], one)
    rs_b, cs_b = b.select(trans_b, one, f["ldb"]), b.select(trans_b, f["ldb"], one)
    K = f["K"]
    kblock = _kblock(f, K, cfg)
    a_block_stride, a_panel = _packed_layout(f, f["M"], kblock, cfg, cfg.mr)
    b_block_stride, b_panel = _packed_layout(f, f["N"], kblock, cfg, cfg.nr)
    has_epilogue = b.icmp_unsigned("!=", b.ptrtoint(f["epilogue"], I64), const(0))

    with f.loop(f["n_lo"], f["n_hi"], cfg.nc, "jc") as jc:
        nc = f.min(const(cfg.nc), b.sub(f["n_hi"], jc))
        with f.loop(0, K, kblock, "pc") as pc:
            kc = f.min(kblock, b.sub(K, pc))
            accum = b.icmp_signed(">", pc, const(0))
            last = b.icmp_signed(">=", b.add(pc, kc), K)
            # One row panel (M <= MR) and B row-major: each B element is used exactly once, so packing it
            # would cost as much as the math; full NR-wide panels are read in place, only the ragged last
            # columns are packed. (With more row panels the strided re-reads of B cost more than packing.)
            direct = b.and_(b.icmp_signed("==", f["transB"], const(0, I32)),
                            b.icmp_signed("<=", b.sub(f["m_hi"], f["m_lo"]), const(MR)))
            ncf = b.select(direct, b.mul(b.sdiv(nc, const(NR)), const(NR)), const(0))
            b_block = b.gep(f["B"], [b.add(b.mul(pc, rs_b), b.mul(jc, cs_b))])
            with b.if_then(b.not_(b_packed)):
                b.call(pack_b, [b.gep(b_block, [b.mul(ncf, cs_b)]), cs_b, rs_b, b.sub(nc, ncf), kc,
                                b.gep(bbuf, [b.mul(ncf, kc)])])
            b_prepacked = b.gep(f["B"], [b.mul(b.sdiv(pc, kblock), b_block_stride)])
            a_prepacked = b.gep(f["A"], [b.mul(b.sdiv(pc, kblock), a_block_stride)])
            with f.loop(f["m_lo"], f["m_hi"], cfg.mc, "ic") as ic:
                mc = f.min(const(cfg.mc), b.sub(f["m_hi"], ic))
                # Few columns (cfg.direct_a_cols) and A row-major: each A element meets few B panels, so full MR-row
                # panels are read in place (MR sequential row streams) and only the ragged last rows are packed.
                # Measured on AVX2: +10% at N = 64, +40% at N = 10, +2-4% up to 256, -2% beyond.
                direct_a = b.and_(b.icmp_signed("==", f["transA"], const(0, I32)),
                                  b.icmp_signed("<=", b.sub(f["n_hi"], f["n_lo"]), const(cfg.direct_a_cols)))
                mcf = b.select(direct_a, b.mul(b.sdiv(mc, const(MR)), const(MR)), const(0))
                a_block = b.gep(f["A"], [b.add(b.mul(ic, rs_a), b.mul(pc, cs_a))])
                with b.if_then(b.not_(a_packed)):
                    b.call(pack_a, [b.gep(a_block, [b.mul(mcf, rs_a)]), rs_a, cs_a, b.sub(mc, mcf), kc,
                                    b.gep(abuf, [b.mul(mcf, kc)])])
                with f.loop(0, nc, EPILOGUE_COLS, "jg") as jg:
                    jend = f.min(b.add(jg, const(EPILOGUE_COLS)), nc)
                    with f.loop(jg, jend, NR, "jr") as jr:
                        nr = f.min(const(NR), b.sub(nc, jr))
                        in_place = b.icmp_signed("<", jr, ncf)
                        pb = b.select(in_place, b.gep(b_block, [jr]), b.gep(bbuf, [b.mul(jr, kc)]))
                        pb = b.select(b_packed, b.gep(b_prepacked, [b.mul(b.sdiv(b.add(jc, jr), const(NR)), b_panel)]),
                                      pb)
                        ldbk = b.select(in_place, f["ldb"], const(NR))
                        c_col = b.gep(f["C"], [b.add(jc, jr)])
                        with f.loop(0, mc, MR, "ir") as i_r:
                            mr = f.min(const(MR), b.sub(mc, i_r))
                            c_tile = b.gep(c_col, [b.mul(b.add(ic, i_r), f["ldc"])])
                            a_in_place = b.icmp_signed("<", i_r, mcf)
                            pa = b.select(a_in_place, b.gep(a_block, [b.mul(i_r, f["lda"])]),
                                          b.gep(abuf, [b.mul(i_r, kc)]))
                            pa = b.select(a_packed, b.gep(a_prepacked, [b.mul(b.sdiv(b.add(ic, i_r), const(MR)),
                                                                              a_panel)]), pa)
                            ars = b.select(a_in_place, f["lda"], const(1))
                            aks = b.select(a_in_place, const(1), const(MR))
                            _call_ukernel(f, ukernels, cfg, [kc, pa, ars, aks, pb, ldbk, c_tile, f["ldc"], accum,
                                                             mr, nr])
                    with b.if_then(b.and_(last, has_epilogue)):
                        b.call(f["epilogue"], [ic, b.add(ic, mc), b.add(jc, jg), b.add(jc, jend), f["C"], f["ldc"],
                                               f["ctx"]])

    with b.if_else(owned) as (then, otherwise):
        with then:
            b.store_atomic(const(0, I32), busy_ptr, "release", 4)
        with otherwise:
            b.call(free, [b.load(raw)])
    f.finish()
    return f.fn


def _emit_openblas(module: ir.Module) -> ir.Function:
    """One thread's rectangle through cblas_sgemm, in row panels, each followed by its epilogue."""
    blas = ir.Function(module, BLAS_TYPE, BLAS_SYMBOL)
    f = IRFunction(module, "hybrid_gemm_openblas", THREAD_TYPE, THREAD_ARGS)
    b = f.b
    n = b.sub(f["n_hi"], f["n_lo"])
    rows = f.max(const(64), b.sdiv(const(BLAS_PANEL_FLOATS), n))
    trans_a = b.icmp_signed("!=", f["transA"], const(0, I32))
    trans_b = b.icmp_signed("!=", f["transB"], const(0, I32))
    b_ptr = b.gep(f["B"], [b.select(trans_b, b.mul(f["n_lo"], f["ldb"]), f["n_lo"])])
    has_epilogue = b.icmp_unsigned("!=", b.ptrtoint(f["epilogue"], I64), const(0))

    def i32(x):
        return b.trunc(x, I32)

    with f.loop(f["m_lo"], f["m_hi"], rows, "ib") as i:
        m = f.min(rows, b.sub(f["m_hi"], i))
        a_ptr = b.gep(f["A"], [b.select(trans_a, i, b.mul(i, f["lda"]))])
        c_ptr = b.gep(f["C"], [b.add(b.mul(i, f["ldc"]), f["n_lo"])])
        b.call(blas, [const(101, I32),                                                  # CblasRowMajor
                      b.select(trans_a, const(112, I32), const(111, I32)),                 # CblasTrans / NoTrans
                      b.select(trans_b, const(112, I32), const(111, I32)),
                      i32(m), i32(n), i32(f["K"]), ir.Constant(F32, 1.0), a_ptr, i32(f["lda"]), b_ptr,
                      i32(f["ldb"]), ir.Constant(F32, 0.0), c_ptr, i32(f["ldc"])])
        with b.if_then(has_epilogue):
            b.call(f["epilogue"], [i, b.add(i, m), f["n_lo"], f["n_hi"], f["C"], f["ldc"], f["ctx"]])
    f.finish()
    return f.fn


def _prefer_openblas(f: IRFunction, cfg: GemmConfig, rows, N, K):
    """The shape class where OpenBLAS is faster (bench/gemm_shapes.py, CPU time; `rows`: the height of each thread's
    rectangle, the same for all, so every thread picks alike):
    outputs narrower than the NR-wide register tile, where the generated kernel packs B zero-padded to NR columns
    for every call and runs its padded edge tile.
    AVX2 (6 x 16, znver1): N < 16 with K <= 512 (N = 6, K = 25: 0.6x; N = 8, K = 256: 0.7x); elsewhere the generated
    kernel is as fast or faster (0.97x-1.25x on the zoo's layer shapes, 1024^3 ~1.0x; N = 10 or 6 with K = 1024: 1.1x).
    AVX-512 (6 x 64, Sapphire Rapids; generated / OpenBLAS speed, one thread, K = 25-1024): up to 128 rows the
    padded B panel dominates (N = 6: 0.2-0.9x, N = 10-48: 0.2-0.99x); from 256 rows the generated kernel wins up to
    N = 32 (N = 6: 1.0-1.35x, N = 10: 1.0-1.4x, N = 32: 1.0-1.3x) but not at N = 48 (0.85-1.05x)."""
    b = f.b
    narrow = b.icmp_signed("<", N, const(cfg.nr))
    if cfg.width < 16:
        return b.and_(narrow, b.icmp_signed("<=", K, const(512)))
    few_rows = b.icmp_signed("<", rows, const(256))
    return b.and_(narrow, b.or_(few_rows, b.icmp_signed(">", N, const(cfg.nr // 2))))


def _emit_entry(module: ir.Module, impl: str, cfg: GemmConfig) -> ir.Function:
    """hybrid_sgemm: the thread split, the K = 0 case, and the choice of implementation."""
    generated = _emit_generated(module, cfg) if impl in ("auto", "generated") else None
    if generated is not None:
        for operand in ("a", "b"):
            _emit_pack_entry(module, cfg, operand)
    openblas = _emit_openblas(module) if impl in ("auto", "openblas") else None
    f = IRFunction(module, "hybrid_sgemm", SGEMM_TYPE, SGEMM_ARGS, internal=False)
    b = f.b
    M, N, K = f["M"], f["N"], f["K"]
    with b.if_then(b.or_(b.icmp_signed("<=", M, const(0)), b.icmp_signed("<=", N, const(0)))):
        b.ret_void()
    nth = f.max(b.sext(f["nthreads"], I64), const(1))
    tid = b.sext(f["tid"], I64)
    # Split C into tm x tn rectangles (tm * tn = nthreads) minimising per-thread work plus packing.
    mpanels, npanels = f.ceil_div(M, const(cfg.mr)), f.ceil_div(N, const(cfg.nr))
    best_cost = f.var(const(2 ** 62), "best_cost")
    best_tm = f.var(const(1), "best_tm")
    with f.loop(1, b.add(nth, const(1)), 1, "tm") as tm:
        with b.if_then(b.icmp_signed("==", b.srem(nth, tm), const(0))):
            tn = b.sdiv(nth, tm)
            mt = b.mul(f.ceil_div(mpanels, tm), const(cfg.mr))
            nt = b.mul(f.ceil_div(npanels, tn), const(cfg.nr))
            cost = b.add(b.sdiv(b.mul(mt, nt), const(16)), b.add(mt, nt))
            with b.if_then(b.icmp_signed("<", cost, b.load(best_cost))):
                b.store(cost, best_cost)
                b.store(tm, best_tm)
    tm = b.load(best_tm)
    tn = b.sdiv(nth, tm)
    mt = b.mul(f.ceil_div(mpanels, tm), const(cfg.mr))
    nt = b.mul(f.ceil_div(npanels, tn), const(cfg.nr))
    m_lo = b.mul(b.sdiv(tid, tn), mt)
    n_lo = b.mul(b.srem(tid, tn), nt)
    m_hi = f.min(b.add(m_lo, mt), M)
    n_hi = f.min(b.add(n_lo, nt), N)
    with b.if_then(b.or_(b.icmp_signed(">=", m_lo, m_hi), b.icmp_signed(">=", n_lo, n_hi))):
        b.ret_void()
    has_epilogue = b.icmp_unsigned("!=", b.ptrtoint(f["epilogue"], I64), const(0))
    with b.if_then(b.icmp_signed("<=", K, const(0))):
        with f.loop(m_lo, m_hi, 1, "zi") as i:
            with f.loop(n_lo, n_hi, 1, "zj") as j:
                b.store(ir.Constant(F32, 0.0), b.gep(f["C"], [b.add(b.mul(i, f["ldc"]), j)]))
        with b.if_then(has_epilogue):
            b.call(f["epilogue"], [m_lo, m_hi, n_lo, n_hi, f["C"], f["ldc"], f["ctx"]])
        b.ret_void()
    args = list(f.fn.args[:13]) + [f["tid"], m_lo, m_hi, n_lo, n_hi]

    def blocked_or_openblas():
        if generated is None or openblas is None:
            b.call(generated or openblas, args)
            return
        not_packed = b.and_(b.icmp_signed("!=", f["transA"], const(PACKED, I32)),
                            b.icmp_signed("!=", f["transB"], const(PACKED, I32)))
        with b.if_else(b.and_(not_packed, _prefer_openblas(f, cfg, mt, N, K))) as (then, otherwise):
            with then:
                b.call(openblas, args)
            with otherwise:
                b.call(generated, args)

    if generated is None:
        blocked_or_openblas()
    else:
        dot = emit_dot(module, cfg.width, THREAD_TYPE, THREAD_ARGS)
        with b.if_else(takes_dot(b, N, K, f["transA"], f["transB"], cfg.width, cfg.dot_max_n)) as (then, otherwise):
            with then:
                b.call(dot, args)
            with otherwise:
                blocked_or_openblas()
    f.finish()
    return f.fn


def resolve_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise HybridError(f"sgemm: unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    if impl == "generated" or _openblas_function() is not None:
        return impl
    if impl == "openblas":
        raise HybridError("sgemm impl='openblas' needs the scipy-openblas32 package "
                          "(pip install scipy-openblas32); use impl='generated' instead")
    log.log("gemm", "scipy-openblas32 is not installed: the generated GEMM runs every shape")
    return "generated"


def gemm_llvm_ir(impl: str = "auto", features: Optional[str] = None) -> str:
    """An LLVM IR module defining `hybrid_sgemm` (see the module docstring) for the host's vector width (or for
    an explicit LLVM feature string). impl="generated" needs no external symbol (use it for AOT libraries).
    Generated once per (impl, blocking) and process: it is part of every graph's compile-cache key."""
    return _module_text(resolve_impl(impl), host_config(features))


@functools.lru_cache(maxsize=None)
def _module_text(impl: str, cfg: GemmConfig) -> str:
    import llvmlite.binding as llvm
    module = ir.Module(name="hybrid_gemm")
    module.triple = llvm.get_process_triple()
    _emit_entry(module, impl, cfg)
    return str(module)


_blas_lock = threading.Lock()
_blas_cache: dict = {}


def _openblas_function():
    """ctypes handle of scipy-openblas32's cblas_sgemm, or None when the package is not installed."""
    with _blas_lock:
        if "fn" not in _blas_cache:
            _blas_cache["fn"] = None
            try:
                import scipy_openblas32
            except ImportError:
                return None
            lib_dir = scipy_openblas32.get_lib_dir()
            name = next(n for n in os.listdir(lib_dir) if n.startswith("lib" + scipy_openblas32.get_library()))
            lib = ctypes.CDLL(os.path.join(lib_dir, name))
            prefix = "scipy_" if hasattr(lib, "scipy_cblas_sgemm") else ""
            _blas_cache["fn"] = getattr(lib, prefix + "cblas_sgemm")
            _blas_cache["set_threads"] = getattr(lib, prefix + "openblas_set_num_threads", None)
        return _blas_cache["fn"]


def extern_symbols(impl: str = "auto") -> dict[str, int]:
    """Addresses the module of `gemm_llvm_ir(impl)` needs: pass each to llvmlite.binding.add_symbol. Also sets
    OpenBLAS to one thread per call (hybrid splits the threads itself; more would oversubscribe the cores)."""
    impl = resolve_impl(impl)
    if impl == "generated":
        return {}
    fn = _openblas_function()
    if _blas_cache.get("set_threads") is not None:
        _blas_cache["set_threads"](1)
    return {BLAS_SYMBOL: ctypes.cast(fn, ctypes.c_void_p).value}


_EPILOGUE_CTYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                   ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_SGEMM_CTYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32,
                                ctypes.c_void_p, ctypes.c_int64, _EPILOGUE_CTYPE, ctypes.c_void_p, ctypes.c_int32,
                                ctypes.c_int32)
_PACK_CTYPE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32)
_engines: dict = {}
_engines_lock = threading.Lock()
_executors: dict = {}


def compile_standalone(impl: str = "auto"):
    """(ctypes function, execution engine, target machine) of hybrid_sgemm compiled alone with MCJIT; cached."""
    impl = resolve_impl(impl)
    with _engines_lock:
        if impl not in _engines:
            import llvmlite.binding as llvm
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            for name, address in extern_symbols(impl).items():
                llvm.add_symbol(name, address)
            target = llvm.Target.from_default_triple()
            tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                              features=llvm.get_host_cpu_features().flatten(), opt=3)
            mod = llvm.parse_assembly(gemm_llvm_ir(impl))
            mod.triple = tm.triple
            mod.data_layout = str(tm.target_data)
            mod.verify()
            pto = llvm.PipelineTuningOptions(speed_level=3)
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
            engine = llvm.create_mcjit_compiler(mod, tm)
            engine.finalize_object()
            fn = _SGEMM_CTYPE(engine.get_function_address("hybrid_sgemm"))
            _engines[impl] = (fn, engine, tm, mod)
        fn, engine, tm, _ = _engines[impl]
        return fn, engine, tm


def gemm_asm(impl: str = "generated") -> str:
    """Host assembly of the compiled standalone module (for inspection and the vectorization test)."""
    _, _, tm = compile_standalone(impl)
    return tm.emit_assembly(_engines[resolve_impl(impl)][3])


def _forget_executors_in_child() -> None:
    """fork copies only the calling thread: a child would queue work to pools whose workers do not
    exist, and may inherit a lock another thread held. The child starts with fresh ones."""
    global _engines_lock, _blas_lock
    _engines_lock, _blas_lock = threading.Lock(), threading.Lock()
    _executors.clear()


os.register_at_fork(after_in_child=_forget_executors_in_child)


def _executor(threads: int) -> ThreadPoolExecutor:
    with _engines_lock:
        if threads not in _executors:
            _executors[threads] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="hybrid-sgemm")
        return _executors[threads]


def _run_threads(fn, args: tuple, threads: int) -> None:
    """fn(*args, tid, threads) for every tid, on the helper pool and the calling thread."""
    if threads == 1:
        fn(*args, 0, 1)
        return
    futures = [_executor(threads).submit(fn, *args, tid, threads) for tid in range(1, threads)]
    fn(*args, 0, threads)
    for fut in futures:
        fut.result()


def pack(x: numpy.ndarray, operand: str, trans: bool = False, threads: Optional[int] = None) -> numpy.ndarray:
    """op(x) in the pre-packed layout of `hybrid_sgemm_pack_<operand>` ("a": op(x) is M x K, "b": K x N); pass
    it to `sgemm` with `packed_a=(M, K)` / `packed_b=(K, N)`."""
    x = numpy.ascontiguousarray(x, dtype=numpy.float32)
    rows, K = x.shape[::-1] if trans else x.shape
    if operand == "b":
        rows, K = K, rows
    _, engine, _ = compile_standalone("generated")
    fn = _PACK_CTYPE(engine.get_function_address(f"hybrid_sgemm_pack_{operand}"))
    floats = packed_a_floats(rows, K) if operand == "a" else packed_b_floats(rows, K)
    packed = numpy.full(floats, numpy.nan, numpy.float32)   # NaN: any float the GEMM reads unwritten would show
    _run_threads(fn, (rows, K, x.ctypes.data, x.shape[1], TRANS if trans else 0, packed.ctypes.data),
                 threads or config.get("num_threads"))
    return packed


def _op_shape(x: numpy.ndarray, trans: bool, packed: Optional[tuple[int, int]], shapes: str) -> tuple[int, int]:
    if packed is not None:
        return packed
    if x.ndim != 2:
        raise ShapeError(f"sgemm: expected 2-D operands, got shapes {shapes}")
    return x.shape[::-1] if trans else x.shape


def sgemm(a, b, trans_a: bool = False, trans_b: bool = False, impl: str = "auto", threads: Optional[int] = None,
          out: Optional[numpy.ndarray] = None, packed_a: Optional[tuple[int, int]] = None,
          packed_b: Optional[tuple[int, int]] = None,
          epilogue: Optional[Callable[[int, int, int, int, numpy.ndarray], None]] = None) -> numpy.ndarray:
    """op(a) @ op(b) in float32 through hybrid_sgemm. `epilogue(m0, m1, n0, n1, c)` (Python, for tests) is called
    on each finished tile of the output `c`; `threads` defaults to HYBRID_NUM_THREADS or the core count.
    packed_a=(M, K) / packed_b=(K, N): that operand is the output of `pack` (read only by the generated kernel)."""
    a = numpy.ascontiguousarray(a, dtype=numpy.float32)
    b = numpy.ascontiguousarray(b, dtype=numpy.float32)
    if (packed_a or packed_b) and resolve_impl(impl) == "openblas":
        raise HybridError("sgemm: a pre-packed operand (packed_a/packed_b) is read only by the generated kernel; "
                          "use impl='generated' or 'auto'")
    shapes = f"{a.shape} and {b.shape}"
    M, K = _op_shape(a, trans_a, packed_a, shapes)
    Kb, N = _op_shape(b, trans_b, packed_b, shapes)
    if K != Kb:
        raise ShapeError(f"sgemm: op(a) is {M}x{K} but op(b) is {Kb}x{N} (trans_a={trans_a}, trans_b={trans_b}); "
                         "the inner dimensions must agree")
    if out is None:
        out = numpy.empty((M, N), numpy.float32)
    elif out.shape != (M, N) or out.dtype != numpy.float32 or not out.flags.c_contiguous:
        raise ShapeError(f"sgemm: out must be a C-contiguous float32 array of shape {(M, N)}, got "
                         f"{out.dtype} {out.shape}")
    fn, _, _ = compile_standalone(impl)
    threads = threads or config.get("num_threads")
    callback = _EPILOGUE_CTYPE(lambda m0, m1, n0, n1, c, ldc, ctx: epilogue(m0, m1, n0, n1, out)) \
        if epilogue is not None else _EPILOGUE_CTYPE()
    args = (M, N, K, a.ctypes.data, K if packed_a else a.shape[1], PACKED if packed_a else int(trans_a),
            b.ctypes.data, N if packed_b else b.shape[1], PACKED if packed_b else int(trans_b), out.ctypes.data, N,
            callback, None)
    _run_threads(fn, args, threads)
    return out
