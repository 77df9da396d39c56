"""A LapackStage (np.linalg.svd / eigh; hybrid/ir/ops/decomp.py) as a generated CUDA kernel: Jacobi
rotations instead of LAPACK, one thread per matrix of the batch (grid-stride), f32 and f64.

svd, one-sided Jacobi (Hestenes): the matrix, transposed when it is wide, is copied to a work
matrix W (R x k, R = max(m, n), k = min(m, n)); sweeps rotate every pair of columns (p, q) until
each pair is orthogonal to working precision (|w_p . w_q| <= eps ||w_p|| ||w_q||: no rotation in a
whole sweep), accumulating the rotations in V (k x k). Then A V = W = U_R diag(s): the singular
values are the column norms, the vectors on the long side the normalized columns, on the short side
V's columns. Columns the factors need beyond the non-zero singular values (full_matrices' square
completion, a zero singular value) are completed from the unit vectors: each time the one whose
residual after projecting out the columns so far is largest, Gram-Schmidt twice, normalized.

eigh, cyclic two-sided Jacobi: the triangle `uplo` is mirrored into a symmetric work matrix and
every off-diagonal (p, q) with |a_pq| > eps sqrt(|a_pp a_qq|) is zeroed by a rotation J
(A <- J^T A J, V <- V J), sweep after sweep until none is left; the eigenvalues are the diagonal.

Both sort as LAPACK/NumPy do (singular values descending, eigenvalues ascending; a stable insertion
sort of the order, so equal values keep their column order) and pack the factors like the LAPACK
path. Vectors are unique only up to sign, so they may differ from LAPACK's by one per vector.
Scratch (W or A, V, the values and their order) is laid out with the batch index innermost, so the
threads of a warp, each on its own matrix, touch adjacent addresses. At most MAX_SWEEPS sweeps run
(Jacobi converges quadratically: f64 matrices of size 100 take about 10).

Complex matrices (c64/c128, (re, im) pairs) have no kernel here: program.py refuses them, naming
the user's line and what to do instead.
"""
from __future__ import annotations

import math

from ...ir.ops.decomp import svd_sizes
from ..kernel import Buffer, Kernel, LapackStage
from . import cexpr
from .body import param_list
from .launch import Launch

THREADS = 64
MAX_BLOCKS = 8192
MAX_SWEEPS = 60
EPS = {"f32": 2.0 ** -24, "f64": 2.0 ** -53}     # unit roundoff of the dtype


class _C:
    """C spellings for the real type `dtype` (float or double math functions)."""
    def __init__(self, dtype: str):
        self.t = cexpr.CTYPE[dtype]
        self.f = "f" if dtype == "f32" else ""
        self.eps = cexpr.literal(EPS[dtype], dtype)

    def lit(self, v: float) -> str:
        return f"({self.t}){v!r}"

    def sqrt(self, x: str) -> str:
        return f"sqrt{self.f}({x})"

    def abs(self, x: str) -> str:
        return f"fabs{self.f}({x})"


def _at(ptr: str, batch: int, *index: str) -> str:
    """Element `index` (flat, times `batch`) of batch-interleaved scratch `ptr`, matrix b."""
    return f"{ptr}[({' + '.join(index)}) * {batch}LL + b]"


def _rotation(c: _C, theta: str) -> list[str]:
    """Statements computing the rotation (cs, sn) of the smaller angle for the 2 x 2 problem whose
    theta = (a_qq - a_pp) / (2 a_pq): tangent t = sign(theta) / (|theta| + sqrt(theta^2 + 1)),
    1 / (2 theta) once theta^2 would overflow."""
    big = "1e18" if c.f else "1e150"
    return [f"const {c.t} th = {theta};",
            f"const {c.t} tn = {c.abs('th')} > {c.lit(float(big))} ? {c.lit(0.5)} / th : "
            f"(th >= 0 ? {c.lit(1.0)} : {c.lit(-1.0)}) / ({c.abs('th')} + {c.sqrt('th * th + 1')});",
            f"const {c.t} cs = {c.lit(1.0)} / {c.sqrt('1 + tn * tn')}, sn = cs * tn;"]


def _rotate_columns(c: _C, ptr: str, batch: int, rows: int, stride: int) -> list[str]:
    """Columns p, q of the row-major (rows x stride) scratch `ptr` <- (c x_p - s x_q, s x_p + c x_q)."""
    xp, xq = _at(ptr, batch, f"i * {stride}", "p"), _at(ptr, batch, f"i * {stride}", "q")
    return [f"for (long long i = 0; i < {rows}; ++i) {{",
            f"  const {c.t} x = {xp}, y = {xq};",
            f"  {xp} = cs * x - sn * y; {xq} = sn * x + cs * y;",
            "}"]


def _identity(ptr: str, batch: int, n: int) -> list[str]:
    return [f"for (long long i = 0; i < {n}; ++i) for (long long j = 0; j < {n}; ++j) "
            f"{_at(ptr, batch, f'i * {n}', 'j')} = i == j;"]


def _order(c: _C, value, order: str, batch: int, k: int, descending: bool) -> list[str]:
    """order[0..k) = 0..k-1 sorted by value(j) (a C expression of index j; stable insertion sort)."""
    before = "<" if descending else ">"
    return [f"for (long long j = 0; j < {k}; ++j) {_at(order, batch, 'j')} = j;",
            f"for (long long j = 1; j < {k}; ++j) {{",
            f"  const long long o = {_at(order, batch, 'j')};",
            f"  const {c.t} key = {value('o')};",
            "  long long i = j;",
            f"  while (i > 0 && {value(_at(order, batch, 'i - 1'))} {before} key) {{",
            f"    {_at(order, batch, 'i')} = {_at(order, batch, 'i - 1')}; --i;",
            "  }",
            f"  {_at(order, batch, 'i')} = o;",
            "}"]


def _sweeps(body: list[str], pair_test: list[str], rotate: list[str], k: int) -> list[str]:
    """Cyclic sweeps over the pairs p < q < k until a sweep rotates nothing. `pair_test` ends in
    `skip` (bool: the pair needs no rotation) and `theta`; `rotate` applies the rotation (cs, sn)."""
    return [f"for (int sweep = 0; sweep < {MAX_SWEEPS}; ++sweep) {{",
            "  bool rotated = false;",
            f"  for (long long p = 0; p + 1 < {k}; ++p) for (long long q = p + 1; q < {k}; ++q) {{",
            *("    " + line for line in pair_test),
            "    if (skip) continue;",
            "    rotated = true;",
            *("    " + line for line in rotate),
            "  }",
            "  if (!rotated) break;",
            "}"] + body


def _svd_source(c: _C, s: LapackStage, batch: int, w: str, v: str, sv: str, order: str) -> list[str]:
    m, n = s.m, s.n
    k, rows, tall = min(m, n), max(m, n), m >= n
    k_, mu, nv = svd_sizes(m, n, s.full_matrices)
    size = m * mu + k + nv * n if s.compute_uv else k
    W = lambda i, j: _at(w, batch, f"({i}) * {k}", j)  # noqa: E731
    lines = ["const auto* x = p1 + b * %dLL;" % (m * n), "auto* o = p0 + b * %dLL;" % size,
             f"for (long long i = 0; i < {rows}; ++i) for (long long j = 0; j < {k}; ++j) "
             f"{W('i', 'j')} = x[{'i * %d + j' % n if tall else 'j * %d + i' % n}];"]
    if s.compute_uv:
        lines += _identity(v, batch, k)
    pair_test = [f"{c.t} al = 0, be = 0, ga = 0;",
                 f"for (long long i = 0; i < {rows}; ++i) {{",
                 f"  const {c.t} x = {W('i', 'p')}, y = {W('i', 'q')};",
                 "  al += x * x; be += y * y; ga += x * y;",
                 "}",
                 f"const bool skip = ga == 0 || {c.abs('ga')} <= {c.eps} * {c.sqrt('al')} * {c.sqrt('be')};",
                 "const auto theta = (be - al) / (2 * ga);"]
    rotate = _rotation(c, "theta") + _rotate_columns(c, w, batch, rows, k)
    if s.compute_uv:
        rotate += _rotate_columns(c, v, batch, k, k)
    norms = [f"for (long long j = 0; j < {k}; ++j) {{",
             f"  {c.t} sum = 0;",
             f"  for (long long i = 0; i < {rows}; ++i) sum += {W('i', 'j')} * {W('i', 'j')};",
             f"  {_at(sv, batch, 'j')} = {c.sqrt('sum')};",
             "}"]
    body = norms + _order(c, lambda j: _at(sv, batch, j), order, batch, k, descending=True)
    ordered = lambda j: f"{order}[({j}) * {batch}LL + b]"  # noqa: E731
    if not s.compute_uv:
        return lines + _sweeps(body + [f"for (long long j = 0; j < {k}; ++j) o[j] = {_at(sv, batch, ordered('j'))};"],
                               pair_test, rotate, k)
    # the long side's vectors: U (m x mu) when tall, Vh's rows (nv x n) when wide; ub(i, j)
    cols = mu if tall else nv
    base, rs, cs = ("o", mu, 1) if tall else (f"(o + {m * mu + k})", 1, n)
    ub = lambda i, j: f"{base}[({i}) * {rs}LL + ({j}) * {cs}LL]"  # noqa: E731
    body += [f"for (long long j = 0; j < {k}; ++j) o[{m * mu} + j] = {_at(sv, batch, ordered('j'))};",
             "long long filled = 0;",
             f"for (; filled < {k}; ++filled) {{",
             f"  const long long j = {ordered('filled')};",
             f"  const {c.t} norm = {_at(sv, batch, 'j')};",
             "  if (!(norm > 0)) break;",
             f"  for (long long i = 0; i < {rows}; ++i) {ub('i', 'filled')} = {W('i', 'j')} / norm;",
             "}",
             f"for (long long col = filled; col < {cols}; ++col) {{",
             f"  long long pick = 0; {c.t} best = -1;",
             f"  for (long long t = 0; t < {rows}; ++t) {{",
             f"    {c.t} rest = 1;",
             f"    for (long long j = 0; j < col; ++j) rest -= {ub('t', 'j')} * {ub('t', 'j')};",
             "    if (rest > best) { best = rest; pick = t; }",
             "  }",
             f"  for (long long i = 0; i < {rows}; ++i) {ub('i', 'col')} = i == pick;",
             "  for (int pass = 0; pass < 2; ++pass) for (long long j = 0; j < col; ++j) {",
             f"    {c.t} dot = 0;",
             f"    for (long long i = 0; i < {rows}; ++i) dot += {ub('i', 'j')} * {ub('i', 'col')};",
             f"    for (long long i = 0; i < {rows}; ++i) {ub('i', 'col')} -= dot * {ub('i', 'j')};",
             "  }",
             f"  {c.t} sum = 0;",
             f"  for (long long i = 0; i < {rows}; ++i) sum += {ub('i', 'col')} * {ub('i', 'col')};",
             f"  const {c.t} norm = {c.sqrt('sum')};",
             f"  for (long long i = 0; i < {rows}; ++i) {ub('i', 'col')} /= norm;",
             "}"]
    # the short side's vectors, V's columns in the singular values' order: Vh's rows, or U's columns
    small = (f"o[{m * mu + k} + c * {n} + i]" if tall else f"o[i * {mu} + c]")
    body += [f"for (long long c = 0; c < {k}; ++c) for (long long i = 0; i < {k}; ++i) "
             f"{small} = {_at(v, batch, f'i * {k}', ordered('c'))};"]
    return lines + _sweeps(body, pair_test, rotate, k)


def _eigh_source(c: _C, s: LapackStage, batch: int, a: str, v: str, order: str) -> list[str]:
    n = s.n
    A = lambda i, j: _at(a, batch, f"({i}) * {n}", j)  # noqa: E731
    inside = "i >= j" if s.uplo == "L" else "i <= j"
    lines = ["const auto* x = p1 + b * %dLL;" % (n * n), "auto* o = p0 + b * %dLL;" % (n + n * n),
             f"for (long long i = 0; i < {n}; ++i) for (long long j = 0; j < {n}; ++j) "
             f"{A('i', 'j')} = {inside} ? x[i * {n} + j] : x[j * {n} + i];"] + _identity(v, batch, n)
    pair_test = [f"const {c.t} apq = {A('p', 'q')};",
                 f"const bool skip = apq == 0 || {c.abs('apq')} <= {c.eps} * "
                 f"{c.sqrt(c.abs(A('p', 'p') + ' * ' + A('q', 'q')))};",
                 f"const auto theta = ({A('q', 'q')} - {A('p', 'p')}) / (2 * apq);"]
    rows = [f"for (long long i = 0; i < {n}; ++i) {{",      # A <- J^T A: rows p, q
            f"  const {c.t} x = {A('p', 'i')}, y = {A('q', 'i')};",
            f"  {A('p', 'i')} = cs * x - sn * y; {A('q', 'i')} = sn * x + cs * y;",
            "}"]
    rotate = (_rotation(c, "theta") + _rotate_columns(c, a, batch, n, n) + rows
              + [f"{A('p', 'q')} = 0; {A('q', 'p')} = 0;"] + _rotate_columns(c, v, batch, n, n))
    body = _order(c, lambda j: _at(a, batch, f"({j}) * {n + 1}"), order, batch, n, descending=False)
    ordered = lambda j: f"{order}[({j}) * {batch}LL + b]"  # noqa: E731
    body += [f"for (long long c = 0; c < {n}; ++c) o[c] = {A(ordered('c'), ordered('c'))};",
             f"for (long long i = 0; i < {n}; ++i) for (long long c = 0; c < {n}; ++c) "
             f"o[{n} + i * {n} + c] = {_at(v, batch, f'i * {n}', ordered('c'))};"]
    return lines + _sweeps(body, pair_test, rotate, n)


def jacobi_launch(kernel: Kernel, s: LapackStage, name: str) -> Launch:
    """The stage's launch; its scratch buffers are added to `kernel` as temps. (LAPACK's scratch
    buffers of the stage, its column-major copies and workspaces, are not used.)"""
    c = _C(s.dtype)
    m, n = s.m, s.n
    k, rows = min(m, n), max(m, n)
    batch = max(1, s.batch)

    def scratch(tag: str, size: int, dtype: str = s.dtype) -> str:
        buf = Buffer(f"{name}_{tag}", (batch * max(1, size),), dtype, "temp")
        kernel.buffers[buf.name] = buf
        return buf.name
    if s.op == "svd":
        w, sv, order = scratch("w", rows * k), scratch("s", k), scratch("o", k, "i64")
        v = scratch("v", k * k) if s.compute_uv else None
        temps = [t for t in (w, v, sv, order) if t]
        ptr = {t: f"p{i + 2}" for i, t in enumerate(temps)}
        body = _svd_source(c, s, batch, ptr[w], ptr.get(v, ""), ptr[sv], ptr[order])
        what = f"one-sided Jacobi svd{' (values only)' if not s.compute_uv else ''}"
    else:
        a, v, order = scratch("a", n * n), scratch("v", n * n), scratch("o", n, "i64")
        temps = [a, v, order]
        ptr = {t: f"p{i + 2}" for i, t in enumerate(temps)}
        body = _eigh_source(c, s, batch, ptr[a], ptr[v], ptr[order])
        what = "cyclic Jacobi eigh"
    names = [s.out, s.src] + temps
    inner = "\n".join("    " + line for line in body)
    src = (f'extern "C" __global__ void __launch_bounds__({THREADS}) {name}({param_list(kernel, names)}) {{\n'
           f"  for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < {s.batch}; "
           f"b += (long long)gridDim.x * blockDim.x) {{\n{inner}\n  }}\n}}\n")
    blocks = max(1, min(MAX_BLOCKS, math.ceil(s.batch / THREADS)))
    return Launch(name, src, (blocks, 1, 1), (THREADS, 1, 1), names, "jacobi",
                  f"{what}, a thread per {m}x{n} {s.dtype} matrix of {s.batch}")
