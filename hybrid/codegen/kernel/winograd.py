"""Winograd F(m x m, 3 x 3) as kernel stages any backend renders (the CUDA backend runs it; the LLVM backend
has its own fused loop nest, llvm/conv_winograd.py, and shares the transforms defined here).

Each m x m output tile is Y = A^T [ (G g G^T) (*) (B^T d B) ] A over the (m+2) x (m+2) input tile d (Lavin &
Gray, "Fast Algorithms for Convolutional Neural Networks", 2016; a = m + 2 "frequencies" per axis). Summed
over the input channels, each frequency f is one matrix product, so `winograd_stages` replaces a
convolution's im2col + GEMM with:
  1. U (a*a, O, C): the transformed weights (a Stage over the weights);
  2. V (a*a, C, tiles): the transformed input tiles (a Stage over the input, zeros outside it);
  3. M (a*a, O, tiles) = U[f] @ V[f]: one batched GemmStage;
  4. the output Stage: A^T M A at each output element, then the convolution's epilogue.
The transforms' coefficients are constants chosen by select chains on the frequency index.
"""
from __future__ import annotations

import math
from fractions import Fraction as F
from typing import Callable

from .describe import GemmStage, Kernel, Stage, fresh_var, stage_over, stage_reads, temp_buffer
from .expr import E, both, clamp, const, iadd, iconst_op, imul, in_range, ivar, load, rewrite, select, substitute

# (B^T, G, A^T) per output tile size m (Lavin & Gray; F(4x4) with the interpolation points 0, +-1, +-2)
TRANSFORMS = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [F(1, 2), F(1, 2), F(1, 2)], [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[F(1, 4), 0, 0], [F(-1, 6), F(-1, 6), F(-1, 6)], [F(-1, 6), F(1, 6), F(-1, 6)],
         [F(1, 24), F(1, 12), F(1, 6)], [F(1, 24), F(-1, 12), F(1, 6)], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}


def coefficient(matrix: list, row: E, column: int) -> E:
    """matrix[row][column] for an index expression `row`: a chain of selects over the constants."""
    value = const(float(matrix[-1][column]), "f32")
    for r in range(len(matrix) - 2, -1, -1):
        value = select(in_range(row, r, r + 1), const(float(matrix[r][column]), "f32"), value)
    return value


def _fmul(a: E, b: E) -> E:
    return E("mul", (a, b), "f32")


def _sum(terms: list[E]) -> E:
    total = terms[0]
    for t in terms[1:]:
        total = E("add", (total, t), "f32")
    return total


def transform_2d(matrix: list, rows: E, cols: E, value: Callable[[int, int], E]) -> E:
    """sum_ij matrix[rows][i] * matrix[cols][j] * value(i, j) for index expressions rows, cols: one element of
    matrix . X . matrix^T (the weights: G, the input tile: B^T, the output tile: A^T)."""
    n = len(matrix[0])
    return _sum([_fmul(_fmul(coefficient(matrix, rows, i), coefficient(matrix, cols, j)), value(i, j))
                 for i in range(n) for j in range(n)])


def weight_expr(m: int, xi: E, nu: E, tap: Callable[[int, int], E]) -> E:
    """U[xi, nu] = (G g G^T)[xi, nu] for the frequency index expressions (xi, nu); tap(i, j): the weight g[i, j]."""
    return transform_2d(TRANSFORMS[m][1], xi, nu, tap)


def winograd_fits(g: GemmStage) -> bool:
    """Whether the GemmStage is a convolution these stages compute: 3x3, stride 1, no dilation, ungrouped, NCHW."""
    c = g.conv
    return c is not None and tuple(c.w_shape[2:]) == (3, 3) and tuple(c.stride) == (1, 1) \
        and tuple(c.dilation) == (1, 1) and c.groups == 1 and not c.block


def use_winograd(k: Kernel, m: int) -> None:
    """winograd_stages with F(m x m, 3x3) for every convolution of `k` that fits."""
    done: set = set()
    while True:     # each rewrite changes the stage list: look again from the start
        i = next((i for i, s in enumerate(k.stages) if isinstance(s, GemmStage) and s.out not in done
                  and winograd_fits(s)), None)
        if i is None:
            return
        done.add(k.stages[i].out)
        winograd_stages(k, i, m)


def winograd_stages(k: Kernel, i: int, m: int) -> bool:
    """Replace the convolution GemmStage k.stages[i] (winograd_fits) and the stages that only fed it with the
    four Winograd stages (module docstring); False (k unchanged) when its result is a reshape of the NCHW
    convolution or its input copies are read elsewhere."""
    g: GemmStage = k.stages[i]
    geo = g.conv
    N, C, H, W = geo.in_shape
    O = geo.w_shape[0]
    ph, pw = geo.padding
    OH, OW = H + 2 * ph - 2, W + 2 * pw - 2
    out = k.buffers[g.out]
    fed = {n for n in (geo.padded, geo.cols) if n is not None}
    if out.shape != (N, O, OH, OW) or any(stage_reads(s, n) for s in k.stages if s is not g
                                          and not (isinstance(s, Stage) and s.out in fed) for n in fed):
        return False
    a = m + 2
    th, tw = math.ceil(OH / m), math.ceil(OW / m)
    tiles = N * th * tw
    x, w = k.buffers[geo.x], k.buffers[geo.w]
    u = temp_buffer(k, f"{g.out}@wino_u", (a * a, O, C))
    v = temp_buffer(k, f"{g.out}@wino_v", (a * a, C, tiles))
    mm = temp_buffer(k, f"{g.out}@wino_m", (a * a, O, tiles))

    def weights(idx):
        f, o, c = idx
        return weight_expr(m, iconst_op("idiv", f, a), iconst_op("mod", f, a), lambda r, s: load(w, (o, c, const(r), const(s))))

    def inputs(idx):
        f, c, p = idx
        n, rest = iconst_op("idiv", p, th * tw), iconst_op("mod", p, th * tw)
        row0 = iadd(imul(iconst_op("idiv", rest, tw), const(m)), const(-ph))
        col0 = iadd(imul(iconst_op("mod", rest, tw), const(m)), const(-pw))

        def pixel(r, s):
            h, wi = iadd(row0, const(r)), iadd(col0, const(s))
            inside = both(in_range(h, 0, H), in_range(wi, 0, W))
            return select(inside, load(x, (n, c, clamp(h, H - 1), clamp(wi, W - 1))), const(0.0, "f32"))
        return transform_2d(TRANSFORMS[m][0], iconst_op("idiv", f, a), iconst_op("mod", f, a), pixel)

    def outputs(idx):
        n, o, h, wi = idx
        p = iadd(imul(iadd(imul(n, const(th)), iconst_op("idiv", h, m)), const(tw)), iconst_op("idiv", wi, m))
        value = transform_2d(TRANSFORMS[m][2], iconst_op("mod", h, m), iconst_op("mod", wi, m),
                             lambda r, s: load(mm, (const(r * a + s), o, p)))
        if g.epilogue is None:
            return value
        mapping = {g.batch_vars[0]: n, g.batch_vars[1]: const(0), g.m_var: o,
                   g.n_var: iadd(imul(h, const(OW)), wi)}
        return substitute(rewrite(g.epilogue, lambda e: value if e.op == "acc" else None), mapping)

    fb, fm, fp = fresh_var(k, a * a), fresh_var(k, O), fresh_var(k, tiles)
    product = GemmStage(mm.name, u.name, v.name, O, tiles, C, False, False, C, tiles, tiles, (a * a,), (O * C,),
                        (C * tiles,), (O * tiles,), (fb,), fm, fp,
                        out_index=(ivar(fb), ivar(fm), ivar(fp)))
    before = [s for s in k.stages[:i] if not (isinstance(s, Stage) and s.out in fed)]
    for name in fed:
        del k.buffers[name]
    k.stages[:i + 1] = before + [stage_over(k, u, weights), stage_over(k, v, inputs), product, stage_over(k, out, outputs)]
    return True
