"""A LapackStage as LLVM IR: one function per (op, dtype, m, n, full_matrices), defined once per
module, that runs the stage's matrices one after another through a LAPACK routine of
scipy-openblas32 (codegen/lapack.py), called by its Fortran name (every argument by reference,
then the hidden lengths of the character arguments).

For each matrix, as NumPy's umath_linalg does, so the factors (and their signs) are NumPy's:
copy the row-major matrix transposed into the column-major scratch `a`, call the routine with
the true m, n, then copy the column-major factors transposed into the packed output row
(singular values and eigenvalues are written there by the routine directly). When the routine
reports failure (info != 0: no convergence, NaN input) the matrix's factors are NaN.
"""
from __future__ import annotations

from .. import lapack
from ...ir.ops.decomp import svd_sizes
from ...ir.types import COMPLEX_PART
from ..kernel import LapackStage
from .emit import MEM, Fn, lit

_I32 = "i32"


def _copy_transposed(fn: Fn, ty: str, dst: str, dst_at: str, src: str, rows: int, cols: int, src_cm: bool) -> None:
    """dst[dst_at + i*cols + j] = src[j*rows + i] (src column-major: src_cm) for i < rows, j < cols,
    or the reverse direction (row-major dst -> column-major src) when not src_cm."""
    li = fn.begin_loop("0", str(rows))
    lj = fn.begin_loop("0", str(cols))
    rm = fn.op(f"mul nsw i64 {li.index}, {cols}")
    rm = fn.op(f"add nsw i64 {rm}, {lj.index}")
    rm = fn.op(f"add nsw i64 {rm}, {dst_at}")
    cm = fn.op(f"mul nsw i64 {lj.index}, {rows}")
    cm = fn.op(f"add nsw i64 {cm}, {li.index}")
    p_rm = fn.op(f"getelementptr inbounds {ty}, ptr {dst}, i64 {rm}")
    p_cm = fn.op(f"getelementptr inbounds {ty}, ptr {src}, i64 {cm}")
    frm, to = (p_cm, p_rm) if src_cm else (p_rm, p_cm)
    v = fn.op(f"load {ty}, ptr {frm}")
    fn.do(f"store {ty} {v}, ptr {to}")
    fn.end_loop(lj)
    fn.end_loop(li)


def _fill(fn: Fn, ty: str, dst: str, count: int, value: str) -> None:
    loop = fn.begin_loop("0", str(count))
    p = fn.op(f"getelementptr inbounds {ty}, ptr {dst}, i64 {loop.index}")
    fn.do(f"store {ty} {value}, ptr {p}")
    fn.end_loop(loop)


def _identity(fn: Fn, ty: str, dst: str, rows: int, cols: int, dtype: str, width: int) -> None:
    """A column-major rows x cols identity in dst, of `width` reals per element (LAPACK leaves the
    factors of an empty matrix unset; NumPy's are identities)."""
    _fill(fn, ty, dst, rows * cols * width, lit(0.0, dtype))
    for d in range(min(rows, cols)):
        p = fn.op(f"getelementptr inbounds {ty}, ptr {dst}, i64 {(d * rows + d) * width}")
        fn.do(f"store {ty} {lit(1.0, dtype)}, ptr {p}")


def _store_real(fn: Fn, ty: str, dst: str, at: int, src: str, count: int, dtype: str) -> None:
    """dst's complex elements at..at+count = (src[i], 0): real values packed as complex."""
    loop = fn.begin_loop("0", str(count))
    v = fn.op(f"load {ty}, ptr {fn.op(f'getelementptr inbounds {ty}, ptr {src}, i64 {loop.index}')}")
    re = fn.op(f"mul nsw i64 {fn.op(f'add nsw i64 {loop.index}, {at}')}, 2")
    fn.do(f"store {ty} {v}, ptr {fn.op(f'getelementptr inbounds {ty}, ptr {dst}, i64 {re}')}")
    im = fn.op(f"add nsw i64 {re}, 1")
    fn.do(f"store {ty} {lit(0.0, dtype)}, ptr {fn.op(f'getelementptr inbounds {ty}, ptr {dst}, i64 {im}')}")
    fn.end_loop(loop)


def lapack_function(mod, s: LapackStage) -> str:
    """Define the stage's function in `mod` (once) and return its name."""
    full = lapack.svd_job(s.full_matrices, s.compute_uv).lower()
    name = f"hb_{s.op}_{s.dtype}_{s.m}x{s.n}{full if s.op == 'svd' else s.uplo.lower()}"
    if name in mod.defined:
        return name
    mod.defined.add(name)
    mod.uses_lapack = True
    routine = lapack.symbol(s.op, s.dtype)
    cplx = s.dtype in COMPLEX_PART
    part = COMPLEX_PART.get(s.dtype, s.dtype)
    real = MEM[part]
    ty = f"[2 x {real}]" if cplx else real     # a complex element: its (re, im) pair
    m, n = s.m, s.n
    fn = Fn(f"define internal void @{name}(ptr noalias %src, ptr noalias %out, ptr noalias %a, ptr noalias %u, "
            f"ptr noalias %vt, ptr noalias %work, ptr noalias %iwork, ptr noalias %rwork, ptr noalias %values, "
            f"i64 %batch) nounwind")
    ints = {}
    for key, value in {"m": m, "n": n, "lda": max(1, m), "lwork": s.lwork, "liwork": s.liwork,
                       "lrwork": s.lrwork}.items():
        ints[key] = fn.alloca(_I32)
        fn.do(f"store i32 {value}, ptr {ints[key]}")
    info = fn.alloca(_I32)
    chars = {}
    for c in "VLUSAN":
        chars[c] = fn.alloca("i8")
        fn.do(f"store i8 {ord(c)}, ptr {chars[c]}")
    rwork = "ptr %rwork, " if cplx else ""
    if s.op == "svd":
        k, mu, nv = svd_sizes(m, n, s.full_matrices)
        size = m * mu + k + nv * n if s.compute_uv else k
        mod.declares.add(f"declare void @{routine}(ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, "
                         f"{'ptr, ' if cplx else ''}ptr, i64)")
        ldu, ldvt = fn.alloca(_I32), fn.alloca(_I32)
        fn.do(f"store i32 {max(1, m)}, ptr {ldu}")
        fn.do(f"store i32 {max(1, nv)}, ptr {ldvt}")
    else:
        k = mu = nv = 0
        size = n + n * n
        mod.declares.add(f"declare void @{routine}(ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, "
                         f"{'ptr, ptr, ' if cplx else ''}i64, i64)")
    out_ty = ty if s.op == "eigh" or s.compute_uv else real     # svd's values alone are real
    width = 2 if out_ty != real else 1
    loop = fn.begin_loop("0", "%batch")
    src = fn.op(f"getelementptr inbounds {ty}, ptr %src, i64 {fn.op(f'mul nsw i64 {loop.index}, {m * n}')}")
    out = fn.op(f"getelementptr inbounds {out_ty}, ptr %out, i64 {fn.op(f'mul nsw i64 {loop.index}, {size}')}")
    _copy_transposed(fn, ty, src, "0", "%a", m, n, src_cm=False)
    # the real values go into the output directly, or first to `values` when it packs complex factors
    values = "%values" if cplx and out_ty != real else None
    if s.op == "svd":
        if k == 0 and s.compute_uv:
            _identity(fn, real, "%u", m, mu, part, width)
            _identity(fn, real, "%vt", nv, n, part, width)
        sv = values or fn.op(f"getelementptr inbounds {ty}, ptr {out}, i64 {m * mu if s.compute_uv else 0}")
        job = chars[lapack.svd_job(s.full_matrices, s.compute_uv)]
        fn.do(f"call void @{routine}(ptr {job}, ptr {ints['m']}, ptr {ints['n']}, ptr %a, ptr {ints['lda']}, "
              f"ptr {sv}, ptr %u, ptr {ldu}, ptr %vt, ptr {ldvt}, ptr %work, ptr {ints['lwork']}, {rwork}ptr %iwork, "
              f"ptr {info}, i64 1)")
    else:
        lrwork = f"ptr {ints['lrwork']}, " if cplx else ""
        fn.do(f"call void @{routine}(ptr {chars['V']}, ptr {chars[s.uplo]}, ptr {ints['n']}, ptr %a, "
              f"ptr {ints['lda']}, ptr {values or out}, ptr %work, ptr {ints['lwork']}, {rwork}{lrwork}ptr %iwork, "
              f"ptr {ints['liwork']}, ptr {info}, i64 1, i64 1)")
    failed = fn.op(f"icmp ne i32 {fn.op(f'load i32, ptr {info}')}, 0")
    if s.op == "svd" and s.compute_uv:
        _copy_transposed(fn, ty, out, "0", "%u", m, mu, src_cm=True)
        _copy_transposed(fn, ty, out, str(m * mu + k), "%vt", nv, n, src_cm=True)
        if values:
            _store_real(fn, real, out, m * mu, values, k, part)
    elif s.op == "eigh":
        _copy_transposed(fn, ty, out, str(n), "%a", n, n, src_cm=True)
        if values:
            _store_real(fn, real, out, 0, values, n, part)
    with fn.when(failed, "failed"):
        _fill(fn, real, out, size * width, lit(float("nan"), part))
    fn.end_loop(loop)
    fn.do("ret void")
    mod.functions.append(fn.text())
    return name


def render_lapack(fn: Fn, mod, s: LapackStage, ptrs: dict[str, str]) -> None:
    """Call the stage's function on all its matrices (thread 0 runs the stage alone)."""
    name = lapack_function(mod, s)
    u, vt, rwork, values = (ptrs[b] if b else "null" for b in (s.u, s.vt, s.rwork, s.values))
    fn.do(f"call void @{name}(ptr {ptrs[s.src]}, ptr {ptrs[s.out]}, ptr {ptrs[s.a]}, ptr {u}, ptr {vt}, "
          f"ptr {ptrs[s.work]}, ptr {ptrs[s.iwork]}, ptr {rwork}, ptr {values}, i64 {s.batch})")
