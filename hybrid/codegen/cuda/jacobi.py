"""A LapackStage (np.linalg.svd / eigh; hybrid/ir/ops/decomp.py) as a generated CUDA kernel: Jacobi
rotations instead of LAPACK, one thread per matrix of the batch (grid-stride); f32, f64 and complex
matrices (c64, c128: (re, im) pairs).

svd, one-sided Jacobi (Hestenes): the matrix, conjugate-transposed when it is wide, is copied to a
work matrix W (R x k, R = max(m, n), k = min(m, n)); sweeps rotate every pair of columns (p, q)
until each pair is orthogonal to working precision (|w_p^H w_q| <= eps ||w_p|| ||w_q||: no rotation
in a whole sweep), accumulating the rotations in V (k x k). Then A V = W = U_R diag(s): the singular
values are the column norms, the vectors on the long side the normalized columns, on the short side
V's columns. Columns the factors need beyond the non-zero singular values (full_matrices' square
completion, a zero singular value) are completed from the unit vectors: each time the one whose
residual after projecting out the columns so far is largest, Gram-Schmidt twice, normalized.

eigh, cyclic two-sided Jacobi: the triangle `uplo` is mirrored (conjugated) into a Hermitian work
matrix and every off-diagonal (p, q) with |a_pq| > eps sqrt(|a_pp a_qq|) is zeroed by a rotation J
(A <- J^H A J, V <- V J), sweep after sweep until none is left; the eigenvalues are the diagonal.

A complex pair (p, q) first turns column q by the conjugate of the phase of w_p^H w_q (of a_pq, and
row q by the phase, for eigh), which makes that product real; the real rotation of the smaller angle
follows. Results sort as LAPACK/NumPy's (singular values descending, eigenvalues ascending; a stable
insertion sort of the order, so equal values keep their column order) and pack like the LAPACK path.
Vectors are unique only up to sign (complex: a unit phase), so they may differ from LAPACK's by one
per vector. Scratch (W or A, V, the values and their order; a complex matrix's real parts, then its
imaginary parts) is laid out with the batch index innermost, so the threads of a warp, each on its
own matrix, touch adjacent addresses. At most MAX_SWEEPS sweeps run (Jacobi converges
quadratically: f64 matrices of size 100 take about 10).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from ...ir.ops.decomp import svd_sizes
from ...ir.types import COMPLEX_PART
from ..kernel import Buffer, Kernel, LapackStage
from . import cexpr
from .body import param_list
from .launch import Launch

THREADS = 64
MAX_BLOCKS = 8192
MAX_SWEEPS = 60
EPS = {"f32": 2.0 ** -24, "f64": 2.0 ** -53}     # unit roundoff of the real dtype

Ref = tuple[str, Optional[str]]       # an element's (re, im) C lvalues; im None for a real matrix


class _C:
    """C spellings for the real type `dtype` (float or double math functions)."""
    def __init__(self, dtype: str, cx: bool):
        self.t = cexpr.CTYPE[dtype]
        self.f = "f" if dtype == "f32" else ""
        self.eps = cexpr.literal(EPS[dtype], dtype)
        self.cx = cx

    def lit(self, v: float) -> str:
        return f"({self.t}){v!r}"

    def sqrt(self, x: str) -> str:
        return f"sqrt{self.f}({x})"

    def abs(self, x: str) -> str:
        return f"fabs{self.f}({x})"

    # -- statements on complex (or real) elements ------------------------------------------------
    def let(self, name: str, ref: Ref, conj: bool = False) -> str:
        """Locals name_r (and name_i) holding the element (conjugated)."""
        line = f"const {self.t} {name}_r = {ref[0]};"
        if self.cx:
            line += f" const {self.t} {name}_i = {'-' if conj else ''}{ref[1] if ref[1] else '0'};"
        return line

    def set(self, ref: Ref, re: str, im: str = "0") -> str:
        return f"{ref[0]} = {re};" + (f" {ref[1]} = {im};" if self.cx else "")

    def norm2(self, name: str) -> str:
        return f"{name}_r * {name}_r" + (f" + {name}_i * {name}_i" if self.cx else "")


def _at(ptr: str, batch: int, *index: str) -> str:
    """Element `index` (flat, times `batch`) of batch-interleaved scratch `ptr`, matrix b."""
    return f"{ptr}[({' + '.join(index)}) * {batch}LL + b]"


def _scratch(c: _C, ptr: str, batch: int, count: int) -> Callable[[str], Ref]:
    """Element `flat` of a scratch matrix of `count` elements: real parts, then imaginary parts."""
    return lambda flat: (_at(ptr, batch, f"({flat})"), _at(ptr, batch, f"{count} + ({flat})") if c.cx else None)


def _pairs(c: _C, ptr: str) -> Callable[[str], Ref]:
    """Element `flat` of a packed input/output row: (re, im) pairs when complex."""
    if c.cx:
        return lambda flat: (f"{ptr}[2 * ({flat})]", f"{ptr}[2 * ({flat}) + 1]")
    return lambda flat: (f"{ptr}[{flat}]", None)


def _rotation(c: _C, theta: str) -> list[str]:
    """Statements computing the rotation (cs, sn) of the smaller angle for the real 2 x 2 problem whose
    theta = (a_qq - a_pp) / (2 a_pq): tangent t = sign(theta) / (|theta| + sqrt(theta^2 + 1)),
    1 / (2 theta) once theta^2 would overflow."""
    big = 1e18 if c.f else 1e150
    return [f"const {c.t} th = {theta};",
            f"const {c.t} tn = {c.abs('th')} > {c.lit(big)} ? {c.lit(0.5)} / th : "
            f"(th >= 0 ? {c.lit(1.0)} : {c.lit(-1.0)}) / ({c.abs('th')} + {c.sqrt('th * th + 1')});",
            f"const {c.t} cs = {c.lit(1.0)} / {c.sqrt('1 + tn * tn')}, sn = cs * tn;"]


def _turn(c: _C, el: Callable[[str], Ref], count: int, at: Callable[[str], str], conj: bool) -> list[str]:
    """Elements at(i), i < count, times the phase (ph_r, ph_i) (conjugated: `conj`); nothing when real."""
    if not c.cx:
        return []
    s = "-" if conj else "+"
    t = "+" if conj else "-"
    ref = el(at("i"))
    return [f"for (long long i = 0; i < {count}; ++i) {{",
            "  " + c.let("z", ref),
            "  " + c.set(ref, f"z_r * ph_r {t} z_i * ph_i", f"z_i * ph_r {s} z_r * ph_i"),
            "}"]


def _rotate(c: _C, el: Callable[[str], Ref], count: int, at_p: Callable[[str], str],
            at_q: Callable[[str], str]) -> list[str]:
    """Elements (x, y) = (at_p(i), at_q(i)), i < count, <- (cs x - sn y, sn x + cs y)."""
    xp, xq = el(at_p("i")), el(at_q("i"))
    parts = [("_r", 0)] + ([("_i", 1)] if c.cx else [])
    return ([f"for (long long i = 0; i < {count}; ++i) {{", "  " + c.let("x", xp) + " " + c.let("y", xq)]
            + [f"  {xp[k]} = cs * x{s} - sn * y{s}; {xq[k]} = sn * x{s} + cs * y{s};" for s, k in parts] + ["}"])


def _identity(c: _C, el: Callable[[str], Ref], n: int) -> list[str]:
    return [f"for (long long i = 0; i < {n}; ++i) for (long long j = 0; j < {n}; ++j) {{ "
            + c.set(el(f"i * {n} + j"), "i == j") + " }"]


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


def _sweeps(c: _C, pair_test: list[str], rotate: list[str], k: int) -> list[str]:
    """Cyclic sweeps over the pairs p < q < k until a sweep rotates nothing. `pair_test` defines `g`
    (|a_pq| or |w_p^H w_q|, signed when real), its parts g_r (g_i), `skip` (the pair needs no
    rotation) and `theta`; `rotate` applies the rotation (cs, sn) after the phase (ph_r, ph_i)."""
    phase = [f"const {c.t} ph_r = g_r / g, ph_i = g_i / g;"] if c.cx else []
    return [f"for (int sweep = 0; sweep < {MAX_SWEEPS}; ++sweep) {{",
            "  bool rotated = false;",
            f"  for (long long p = 0; p + 1 < {k}; ++p) for (long long q = p + 1; q < {k}; ++q) {{",
            *("    " + line for line in pair_test),
            "    if (skip) continue;",
            "    rotated = true;",
            *("    " + line for line in phase + rotate),
            "  }",
            "  if (!rotated) break;",
            "}"]


def _magnitude(c: _C) -> str:
    """g from its parts: |g_r + i g_i| for complex pairs, g_r itself (signed) when real."""
    return f"const {c.t} g = {c.sqrt('g_r * g_r + g_i * g_i') if c.cx else 'g_r'};"


def _svd_source(c: _C, s: LapackStage, batch: int, w: str, v: str, sv: str, order: str) -> list[str]:
    m, n = s.m, s.n
    k, rows, tall = min(m, n), max(m, n), m >= n
    _, mu, nv = svd_sizes(m, n, s.full_matrices)
    width = 2 if c.cx and s.compute_uv else 1
    W, V = _scratch(c, w, batch, rows * k), _scratch(c, v, batch, k * k)
    x, o = _pairs(c, "x"), _pairs(c, "o")
    size = m * mu + k + nv * n if s.compute_uv else k
    lines = [f"const auto* x = p1 + b * {m * n * (2 if c.cx else 1)}LL;", f"auto* o = p0 + b * {size * width}LL;",
             f"for (long long i = 0; i < {rows}; ++i) for (long long j = 0; j < {k}; ++j) {{",
             "  " + c.let("a", x(f"i * {n} + j" if tall else f"j * {n} + i"), conj=not tall),   # A or A^H
             "  " + c.set(W(f"i * {k} + j"), "a_r", "a_i"), "}"]
    if s.compute_uv:
        lines += _identity(c, V, k)
    col = lambda j: lambda i: f"{i} * {k} + {j}"  # noqa: E731  (element (i, j) of a row-major k-column matrix)
    pair_test = [f"{c.t} al = 0, be = 0, g_r = 0{', g_i = 0' if c.cx else ''};",
                 f"for (long long i = 0; i < {rows}; ++i) {{",
                 "  " + c.let("x", W(col("p")("i"))) + " " + c.let("y", W(col("q")("i"))),
                 f"  al += {c.norm2('x')}; be += {c.norm2('y')}; g_r += x_r * y_r"
                 + (" + x_i * y_i; g_i += x_r * y_i - x_i * y_r;" if c.cx else ";"),
                 "}", _magnitude(c),
                 f"const bool skip = g == 0 || {c.abs('g')} <= {c.eps} * {c.sqrt('al')} * {c.sqrt('be')};",
                 "const auto theta = (be - al) / (2 * g);"]
    rotate = _turn(c, W, rows, col("q"), conj=True) + _rotation(c, "theta") + _rotate(c, W, rows, col("p"), col("q"))
    if s.compute_uv:
        rotate = (_turn(c, V, k, lambda i: f"{i} * {k} + q", conj=True) + rotate
                  + _rotate(c, V, k, lambda i: f"{i} * {k} + p", lambda i: f"{i} * {k} + q"))
    norms = [f"for (long long j = 0; j < {k}; ++j) {{",
             f"  {c.t} sum = 0;",
             f"  for (long long i = 0; i < {rows}; ++i) {{ {c.let('z', W(f'i * {k} + j'))} sum += {c.norm2('z')}; }}",
             f"  {_at(sv, batch, 'j')} = {c.sqrt('sum')};",
             "}"]
    body = norms + _order(c, lambda j: _at(sv, batch, j), order, batch, k, descending=True)
    ordered = lambda j: f"{order}[({j}) * {batch}LL + b]"  # noqa: E731
    value = lambda j: _at(sv, batch, ordered(j))  # noqa: E731
    if not s.compute_uv:
        return lines + _sweeps(c, pair_test, rotate, k) + body + [
            f"for (long long j = 0; j < {k}; ++j) o[j] = {value('j')};"]
    # the long side's vectors: U (m x mu) when tall, Vh's rows (nv x n, conjugated at the end) when wide
    cols = mu if tall else nv
    ub = (lambda i, j: o(f"({i}) * {mu} + ({j})")) if tall else (lambda i, j: o(f"{m * mu + k} + ({j}) * {n} + ({i})"))
    body += [f"for (long long j = 0; j < {k}; ++j) {{ {c.set(o(f'{m * mu} + j'), value('j'))} }}",
             "long long filled = 0;",
             f"for (; filled < {k}; ++filled) {{",
             f"  const long long j = {ordered('filled')};",
             f"  const {c.t} norm = {_at(sv, batch, 'j')};",
             "  if (!(norm > 0)) break;",
             f"  for (long long i = 0; i < {rows}; ++i) {{ {c.let('z', W(f'i * {k} + j'))} "
             f"{c.set(ub('i', 'filled'), 'z_r / norm', 'z_i / norm')} }}",
             "}",
             f"for (long long col = filled; col < {cols}; ++col) {{",
             f"  long long pick = 0; {c.t} best = -1;",
             f"  for (long long t = 0; t < {rows}; ++t) {{",
             f"    {c.t} rest = 1;",
             f"    for (long long j = 0; j < col; ++j) {{ {c.let('z', ub('t', 'j'))} rest -= {c.norm2('z')}; }}",
             "    if (rest > best) { best = rest; pick = t; }",
             "  }",
             f"  for (long long i = 0; i < {rows}; ++i) {{ {c.set(ub('i', 'col'), 'i == pick')} }}",
             "  for (int pass = 0; pass < 2; ++pass) for (long long j = 0; j < col; ++j) {",
             f"    {c.t} d_r = 0, d_i = 0;",      # d = u_j^H u_col
             f"    for (long long i = 0; i < {rows}; ++i) {{",
             "      " + c.let("u", ub("i", "j")) + " " + c.let("z", ub("i", "col")),
             "      d_r += u_r * z_r" + (" + u_i * z_i; d_i += u_r * z_i - u_i * z_r;" if c.cx else ";"),
             "    }",
             f"    for (long long i = 0; i < {rows}; ++i) {{",
             "      " + c.let("u", ub("i", "j")) + " " + c.let("z", ub("i", "col")),
             "      " + c.set(ub("i", "col"), "z_r - (d_r * u_r" + (" - d_i * u_i)" if c.cx else ")"),
                              "z_i - (d_r * u_i + d_i * u_r)"),
             "    }",
             "  }",
             f"  {c.t} sum = 0;",
             f"  for (long long i = 0; i < {rows}; ++i) {{ {c.let('z', ub('i', 'col'))} sum += {c.norm2('z')}; }}",
             f"  const {c.t} norm = {c.sqrt('sum')};",
             f"  for (long long i = 0; i < {rows}; ++i) {{ {c.let('z', ub('i', 'col'))} "
             f"{c.set(ub('i', 'col'), 'z_r / norm', 'z_i / norm')} }}",
             "}"]
    if c.cx and not tall:        # Vh = U_R^H
        body += [f"for (long long e = 0; e < {nv * n}; ++e) {o(f'{m * mu + k} + e')[1]} *= -1;"]
    # the short side's vectors, V's columns in the singular values' order: Vh = V^H's rows, or U's columns
    small = (lambda i, j: o(f"{m * mu + k} + ({j}) * {n} + ({i})")) if tall else (lambda i, j: o(f"({i}) * {mu} + ({j})"))
    body += [f"for (long long c = 0; c < {k}; ++c) for (long long i = 0; i < {k}; ++i) {{",
             "  " + c.let("z", V(f"i * {k} + {ordered('c')}"), conj=tall),
             "  " + c.set(small("i", "c"), "z_r", "z_i"), "}"]
    return lines + _sweeps(c, pair_test, rotate, k) + body


def _eigh_source(c: _C, s: LapackStage, batch: int, a: str, v: str, order: str) -> list[str]:
    n = s.n
    A, V = _scratch(c, a, batch, n * n), _scratch(c, v, batch, n * n)
    x, o = _pairs(c, "x"), _pairs(c, "o")
    el = lambda i, j: A(f"({i}) * {n} + ({j})")  # noqa: E731
    inside = "i >= j" if s.uplo == "L" else "i <= j"
    lines = [f"const auto* x = p1 + b * {n * n * (2 if c.cx else 1)}LL;",
             f"auto* o = p0 + b * {(n + n * n) * (2 if c.cx else 1)}LL;",
             f"for (long long i = 0; i < {n}; ++i) for (long long j = 0; j < {n}; ++j) {{",
             f"  const bool mine = {inside};",       # the triangle read; the other mirrors it (conjugated)
             f"  {c.t} z_r = mine ? {x(f'i * {n} + j')[0]} : {x(f'j * {n} + i')[0]};"]
    if c.cx:     # a Hermitian matrix's diagonal is real: its imaginary parts are not read (as LAPACK)
        lines += [f"  {c.t} z_i = i == j ? 0 : mine ? {x(f'i * {n} + j')[1]} : -{x(f'j * {n} + i')[1]};"]
    lines += ["  " + c.set(el("i", "j"), "z_r", "z_i"), "}"] + _identity(c, V, n)
    pair_test = [c.let("g", el("p", "q")), _magnitude(c),
                 f"const bool skip = g == 0 || {c.abs('g')} <= {c.eps} * "
                 f"{c.sqrt(c.abs(el('p', 'p')[0] + ' * ' + el('q', 'q')[0]))};",
                 f"const auto theta = ({el('q', 'q')[0]} - {el('p', 'p')[0]}) / (2 * g);"]
    rotate = (_turn(c, A, n, lambda i: f"{i} * {n} + q", conj=True)        # A <- D^H A D: a_pq real
              + _turn(c, A, n, lambda i: f"q * {n} + {i}", conj=False)
              + _turn(c, V, n, lambda i: f"{i} * {n} + q", conj=True)
              + _rotation(c, "theta")
              + _rotate(c, A, n, lambda i: f"{i} * {n} + p", lambda i: f"{i} * {n} + q")      # A J
              + _rotate(c, A, n, lambda i: f"p * {n} + {i}", lambda i: f"q * {n} + {i}")      # J^T (A J)
              + [c.set(el("p", "q"), "0"), c.set(el("q", "p"), "0")]
              + _rotate(c, V, n, lambda i: f"{i} * {n} + p", lambda i: f"{i} * {n} + q"))
    body = _order(c, lambda j: el(j, j)[0], order, batch, n, descending=False)
    ordered = lambda j: f"{order}[({j}) * {batch}LL + b]"  # noqa: E731
    body += [f"for (long long c = 0; c < {n}; ++c) {{ {c.set(o('c'), el(ordered('c'), ordered('c'))[0])} }}",
             f"for (long long i = 0; i < {n}; ++i) for (long long c = 0; c < {n}; ++c) {{",
             "  " + c.let("z", V(f"i * {n} + {ordered('c')}")),
             "  " + c.set(o(f"{n} + i * {n} + c"), "z_r", "z_i"), "}"]
    return lines + _sweeps(c, pair_test, rotate, n) + body


def jacobi_launch(kernel: Kernel, s: LapackStage, name: str) -> Launch:
    """The stage's launch; its scratch buffers are added to `kernel` as temps. (LAPACK's scratch
    buffers of the stage, its column-major copies and workspaces, are not used.)"""
    part = COMPLEX_PART.get(s.dtype, s.dtype)
    c = _C(part, s.dtype in COMPLEX_PART)
    width = 2 if c.cx else 1
    m, n = s.m, s.n
    k, rows = min(m, n), max(m, n)
    batch = max(1, s.batch)

    def scratch(tag: str, size: int, dtype: str = part) -> str:
        buf = Buffer(f"{name}_{tag}", (batch * max(1, size),), dtype, "temp")
        kernel.buffers[buf.name] = buf
        return buf.name
    if s.op == "svd":
        w, sv, order = scratch("w", rows * k * width), scratch("s", k), scratch("o", k, "i64")
        v = scratch("v", k * k * width) if s.compute_uv else None
        temps = [t for t in (w, v, sv, order) if t]
        ptr = {t: f"p{i + 2}" for i, t in enumerate(temps)}
        body = _svd_source(c, s, batch, ptr[w], ptr.get(v, ""), ptr[sv], ptr[order])
        what = f"one-sided Jacobi svd{' (values only)' if not s.compute_uv else ''}"
    else:
        a, v, order = scratch("a", n * n * width), scratch("v", n * n * width), scratch("o", n, "i64")
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
