"""The narrow GEMM: C = A @ W^T for outputs only a few columns wide (a classifier's last dense layer: 256 x 10
from 1024 inputs), with A row-major and W stored as a dense layer keeps it (N x K, row-major). Every output is
the dot product of an A row and a W row, both contiguous along K, so neither operand is packed: a tile of RB rows
x J columns keeps RB x J vector accumulators, multiplies W vectors of K into them, and sums each one's lanes at
the end. The blocked kernel (gemm.py) instead pads such a B to a whole vector of columns (10 of 16 lanes used
with AVX-512) and, reading A in place there, issues one broadcast per row and k: it ran 256 x 10 x 1024 at about
a fifth of the FMA peak.

    void hybrid_gemm_dot(<hybrid_gemm_generated's arguments>)    (hybrid_sgemm calls it when `takes_dot`)

Stages:
  1. rows of the thread's rectangle in blocks of EPILOGUE_ROWS; in each, columns in groups of at most DOT_COLS;
  2. a group runs the tile variant with the fewest columns J >= its width (columns past the group reread its last
     column; their sums are never stored), RB rows at a time (`column_variants`; rows past the block likewise);
  3. K in whole vectors, then the tail with masked loads; each accumulator summed by halving shuffles;
  4. the block's epilogue call once its groups are stored (while the block is still in cache).
"""
from __future__ import annotations

from llvmlite import ir

from .irbuild import F32, FP, I1, I32, I64, IRFunction, const, declaration, splat

with open(__file__, "rb") as _source:   # as imported: part of the sgemm objects' cache key (module.sgemm_source_key)
    SOURCE_TEXT = _source.read()

DOT_COLS = 6            # the widest tile; wider outputs are cut into groups of this many columns
EPILOGUE_ROWS = 48      # rows per epilogue call (a multiple of every tile's RB)
TILE_TYPE = ir.FunctionType(ir.VoidType(), [I64, FP, I64, FP, I64, FP, I64, I64, I64, I64, I64])
TILE_ARGS = ("K", "A", "lda", "W", "ldw", "C", "ldc", "m0", "m1", "n0", "n1")


def column_variants(width: int) -> list[tuple[int, int]]:
    """(RB rows, J columns) of each tile variant, narrowest first: at most 24 accumulators with AVX-512's 32
    registers, 12 with AVX2's 16, and room left for the held operand vectors (min(RB, J)), the streamed one and
    the K tail's mask, so that no accumulator is ever spilled."""
    registers, most = (32, 24) if width >= 16 else (16, 12)

    def rows(cols: int) -> int:
        rb = max(1, most // cols)
        while rb > 1 and rb * cols + min(rb, cols) + 2 > registers:
            rb -= 1
        return rb
    return [(rows(cols), cols) for cols in (2, 4, DOT_COLS)]


def dot_applies(N: int, K: int, trans_a: bool, trans_b: bool, width: int, max_n: int) -> bool:
    """Whether hybrid_sgemm runs C = op(A) @ op(B) as dot products (`takes_dot`, for the passes that plan around
    it): A row-major, B given transposed (W row-major, N x K), at most `max_n` columns (GemmConfig.dot_max_n) and
    K at least two vectors (below that the lanes' sums and the masked tail outweigh the products: at K = 17 the
    dot kernel took 1.3x the blocked kernel's time, at K = 32 about the same)."""
    return not trans_a and trans_b and N <= max_n and K >= 2 * width


def takes_dot(b: ir.IRBuilder, N, K, trans_a, trans_b, width: int, max_n: int) -> ir.Value:
    """`dot_applies` in the IR, on hybrid_sgemm's arguments (transB = 1: B is stored transposed)."""
    layout = b.and_(b.icmp_signed("==", trans_a, const(0, I32)), b.icmp_signed("==", trans_b, const(1, I32)))
    size = b.and_(b.icmp_signed("<=", N, const(max_n)), b.icmp_signed(">=", K, const(2 * width)))
    return b.and_(layout, size)


def _hsum(b: ir.IRBuilder, vec: ir.Value, width: int) -> ir.Value:
    """The sum of a vector's lanes: halves added until one lane is left."""
    while width > 1:
        half = width // 2
        lo = b.shuffle_vector(vec, ir.Constant(vec.type, ir.Undefined), ir.Constant(ir.VectorType(I32, half),
                                                                                    list(range(half))))
        hi = b.shuffle_vector(vec, ir.Constant(vec.type, ir.Undefined), ir.Constant(ir.VectorType(I32, half),
                                                                                    list(range(half, width))))
        vec, width = b.fadd(lo, hi), half
    return b.extract_element(vec, const(0, I32))


def _emit_tile(module: ir.Module, width: int, rows: int, cols: int) -> ir.Function:
    """C[m0:m1, n0:n1] = A[m0:m1, :K] @ W[n0:n1, :K]^T with n1 - n0 <= cols, `rows` rows at a time."""
    f = IRFunction(module, f"hybrid_gemm_dot_{rows}x{cols}", TILE_TYPE, TILE_ARGS)
    b, W = f.b, width
    vty = ir.VectorType(F32, W)
    fma = declaration(module, f"llvm.fma.v{W}f32", ir.FunctionType(vty, [vty] * 3))
    mask_ty = ir.VectorType(I1, W)
    masked_load = declaration(module, f"llvm.masked.load.v{W}f32.p0",
                              ir.FunctionType(vty, [vty.as_pointer(), I32, mask_ty, vty]))
    zero = ir.Constant(vty, [0.0] * W)
    K = f["K"]
    full_k = b.mul(b.sdiv(K, const(W)), const(W))
    last_row, last_col = b.sub(f["m1"], const(1)), b.sub(f["n1"], const(1))
    w_rows = [b.gep(f["W"], [b.mul(f.min(b.add(f["n0"], const(j)), last_col), f["ldw"])]) for j in range(cols)]
    accs = [[f.var(zero, f"acc{r}_{j}") for j in range(cols)] for r in range(rows)]

    with f.loop(f["m0"], f["m1"], rows, "i") as i:
        a_rows = [b.gep(f["A"], [b.mul(f.min(b.add(i, const(r)), last_row), f["lda"])]) for r in range(rows)]
        for row in accs:
            for acc in row:
                b.store(zero, acc)

        def step(k, load):
            # hold the fewer of the two operands' vectors and stream the other: accumulators + min(rows, cols) + 1
            # registers, which fits every variant (12 x 2 holding its A rows would need 24 + 12 of 32)
            if rows <= cols:
                a = [load(b.gep(p, [k])) for p in a_rows]
                for j in range(cols):
                    w = load(b.gep(w_rows[j], [k]))
                    for r in range(rows):
                        b.store(b.call(fma, [a[r], w, b.load(accs[r][j])]), accs[r][j])
            else:
                w = [load(b.gep(p, [k])) for p in w_rows]
                for r in range(rows):
                    a = load(b.gep(a_rows[r], [k]))
                    for j in range(cols):
                        b.store(b.call(fma, [a, w[j], b.load(accs[r][j])]), accs[r][j])

        with f.loop(0, full_k, W, "k") as k:
            step(k, lambda p: b.load(b.bitcast(p, vty.as_pointer()), align=4))
        with b.if_then(b.icmp_signed("<", full_k, K)):
            # lanes k < K of the last partial vector (built here: AVX2 holds a mask in a vector register)
            tail = splat(b, b.trunc(b.sub(K, full_k), I32), W)
            tail_mask = b.icmp_signed("<", ir.Constant(ir.VectorType(I32, W), list(range(W))), tail)
            step(full_k, lambda p: b.call(masked_load, [b.bitcast(p, vty.as_pointer()), const(4, I32), tail_mask,
                                                         zero]))
        for r in range(rows):
            row = b.add(i, const(r))
            with b.if_then(b.icmp_signed("<", row, f["m1"])):
                c_row = b.gep(f["C"], [b.add(b.mul(row, f["ldc"]), f["n0"])])
                for j in range(cols):
                    with b.if_then(b.icmp_signed("<", b.add(f["n0"], const(j)), f["n1"])):
                        b.store(_hsum(b, b.load(accs[r][j]), W), b.gep(c_row, [const(j)]))
    f.finish()
    return f.fn


def _call_tile(b: ir.IRBuilder, tiles: list, group: ir.Value, args: list) -> None:
    """Call the narrowest tile variant whose columns cover the group's."""
    (cols, tile), *wider = tiles
    if not wider:
        b.call(tile, args)
        return
    with b.if_else(b.icmp_signed("<=", group, const(cols))) as (then, otherwise):
        with then:
            b.call(tile, args)
        with otherwise:
            _call_tile(b, wider, group, args)


def emit_dot(module: ir.Module, width: int, fnty: ir.FunctionType, arg_names) -> ir.Function:
    """hybrid_gemm_dot, with the blocked kernel's type and argument names (`fnty`, `arg_names`)."""
    tiles = [(cols, _emit_tile(module, width, rows, cols)) for rows, cols in column_variants(width)]
    f = IRFunction(module, "hybrid_gemm_dot", fnty, arg_names)
    b = f.b
    has_epilogue = b.icmp_unsigned("!=", b.ptrtoint(f["epilogue"], I64), const(0))
    with f.loop(f["m_lo"], f["m_hi"], EPILOGUE_ROWS, "mb") as mb:
        m_end = f.min(b.add(mb, const(EPILOGUE_ROWS)), f["m_hi"])
        with f.loop(f["n_lo"], f["n_hi"], DOT_COLS, "jg") as jg:
            j_end = f.min(b.add(jg, const(DOT_COLS)), f["n_hi"])
            args = [f["K"], f["A"], f["lda"], f["B"], f["ldb"], f["C"], f["ldc"], mb, m_end, jg, j_end]
            _call_tile(b, tiles, b.sub(j_end, jg), args)
        with b.if_then(has_epilogue):
            b.call(f["epilogue"], [mb, m_end, f["n_lo"], f["n_hi"], f["C"], f["ldc"], f["ctx"]])
    f.finish()
    return f.fn
