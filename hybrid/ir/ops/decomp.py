"""Matrix decompositions that native code computes by calling LAPACK: svd and eigh.

Each op has one output, the factors packed along a last axis (the lowering keeps one result
buffer per node), row-major, in NumPy's order; the frontend slices them apart:
  svd  (..., m, n) -> (..., m*mu + k + nv*n): U (m, mu), s (k,), Vh (nv, n); k = min(m, n),
       mu = m and nv = n with full_matrices, else k (numpy.linalg.svd, LAPACK ?gesdd);
       with compute_uv=False only s (..., k), and LAPACK computes no vectors
  eigh (..., n, n) -> (..., n + n*n): w (n,) ascending, V (n, n) with the eigenvectors as
       columns, reading the triangle `uplo` ("L" or "U": numpy.linalg.eigh's UPLO, LAPACK ?syevd)
Complex matrices (c64, c128) pack complex factors, the real singular values / eigenvalues stored
with a zero imaginary part (s alone, with compute_uv=False, is real). With `pairs` the complex
matrix arrives as (re, im) pairs along a last axis of 2 and the factors leave the same way: the
form passes/lower_complex.py gives compiled code. The references are NumPy's (the same LAPACK
routines: ?gesdd and ?syevd / ?heevd), so interp and eager agree with it; the LLVM backend calls
the routines of scipy-openblas32 (codegen/lapack.py). Gradients are the
standard matrix-calculus results for distinct singular values / eigenvalues (Townsend 2016;
Giles 2008; for complex matrices with conjugate transposes, as PyTorch's, for losses invariant to
the vectors' phases); the columns that only complete U or V to a square basis (full_matrices) are
arbitrary, so no gradient flows through them.
"""
from __future__ import annotations

import math

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import COMPLEX_OF, COMPLEX_PART, TensorType, is_complex
from .gradkit import apply, lax, where

LAPACK_DTYPES = ("f32", "f64", "c64", "c128")


def svd_sizes(m: int, n: int, full_matrices: bool) -> tuple[int, int, int]:
    """(k, mu, nv): singular values, columns of U, rows of Vh."""
    k = min(m, n)
    return (k, m, n) if full_matrices else (k, k, k)


def _matrix(t: TensorType, op: str, square: bool, pairs: bool) -> TensorType:
    """The matrix type (complex for (re, im) pairs), checked."""
    if pairs:
        if t.dtype not in COMPLEX_OF or t.dtype in COMPLEX_PART or not t.shape or t.shape[-1] != 2:
            raise ShapeError(f"{op} with pairs=True reads a complex matrix as f32/f64 (re, im) pairs along a last "
                             f"axis of 2, got {t}")
        t = TensorType(t.shape[:-1], COMPLEX_OF[t.dtype])
    if t.dtype not in LAPACK_DTYPES:
        raise ShapeError(f"{op} computes in f32, f64, c64 or c128, got {t.dtype}; cast the matrix with "
                         "astype('float32') first")
    if t.ndim < 2:
        raise ShapeError(f"{op} needs a matrix (or a stack of them), got {t.ndim}-d")
    if square and t.shape[-1] != t.shape[-2]:
        raise ShapeError(f"{op}: the last 2 dimensions must be square, got {t.shape[-2:]}")
    return t


def _packed(t: TensorType, batch: tuple[int, ...], size: int, pairs: bool, real: bool = False) -> TensorType:
    """The packed result type; the (re, im) pair axis of a complex result with `pairs`."""
    dtype = COMPLEX_PART[t.dtype] if real and is_complex(t.dtype) else t.dtype
    if pairs and is_complex(dtype):
        return TensorType(batch + (size, 2), COMPLEX_PART[dtype])
    return TensorType(batch + (size,), dtype)


def _svd_infer(types, full_matrices=False, compute_uv=True, pairs=False):
    t = _matrix(types[0], "svd", False, pairs)
    m, n = t.shape[-2:]
    k, mu, nv = svd_sizes(m, n, full_matrices)
    return _packed(t, t.shape[:-2], (m * mu + k + nv * n) if compute_uv else k, pairs, real=not compute_uv)


def _pairs_in(reference):
    """A reference of complex matrices run on (re, im) pairs: read as complex, written as pairs."""
    def run(a, pairs=False, **attrs):
        if not pairs:
            return reference(a, **attrs)
        out = numpy.ascontiguousarray(reference(numpy.ascontiguousarray(a).view(COMPLEX_DTYPES[a.dtype])[..., 0],
                                                **attrs))
        return out.view(a.dtype).reshape(out.shape + (2,)) if out.dtype.kind == "c" else out
    return run


COMPLEX_DTYPES = {numpy.dtype(numpy.float32): numpy.complex64, numpy.dtype(numpy.float64): numpy.complex128}


def _svd_reference(a, full_matrices=False, compute_uv=True):
    batch = a.shape[:-2]
    if not compute_uv:
        return numpy.linalg.svd(a, compute_uv=False).astype(a.real.dtype)
    parts = numpy.linalg.svd(a, full_matrices=full_matrices)
    # explicit sizes: a -1 cannot be solved for when the batch is empty
    return numpy.concatenate([p.reshape(batch + (math.prod(p.shape[len(batch):]),)).astype(a.dtype) for p in parts],
                             axis=-1)


def _eigh_infer(types, uplo="L", pairs=False):
    if uplo not in ("L", "U"):
        raise ShapeError(f"eigh: uplo must be 'L' or 'U', got {uplo!r}")
    t = _matrix(types[0], "eigh", True, pairs)
    n = t.shape[-1]
    return _packed(t, t.shape[:-2], n + n * n, pairs)


def _eigh_reference(a, uplo="L"):
    batch, n = a.shape[:-2], a.shape[-1]
    w, v = numpy.linalg.eigh(a, UPLO=uplo)
    return numpy.concatenate([w.astype(a.dtype), v.reshape(batch + (n * n,)).astype(a.dtype)], axis=-1)


# -- gradient helpers (core arrays, eager or traced) ---------------------------------------------
def _part(packed, start: int, shape: tuple[int, ...]):
    """packed[..., start:start + prod(shape)] reshaped to (..., *shape)."""
    size = int(numpy.prod(shape, dtype=numpy.int64))
    batch = tuple(packed.shape[:-1])
    nd = packed.ndim
    flat = apply("slice", packed, begin=(0,) * (nd - 1) + (start,), end=batch + (start + size,), step=(1,) * nd)
    return apply("reshape", flat, shape=batch + shape)


def _mT(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return apply("transpose", x, perm=perm)


def _mH(x):
    """The conjugate transpose (the transpose of a real matrix)."""
    return _mT(apply("conj", x) if is_complex(x.type.dtype) else x)


def _like(x, ref):
    """Real x in ref's dtype (complex with a zero imaginary part), so matrix products agree."""
    return apply("cast", x, dtype=ref.type.dtype) if x.type.dtype != ref.type.dtype else x


def _real(x):
    return apply("real", x) if is_complex(x.type.dtype) else x


def _diagonal(x, k: int):
    """The diagonals (..., k) of a stack of (k, k) matrices."""
    return apply("sum", where(_eye_mask(k), x, lax().zeros_like(x)), axes=(x.ndim - 1,), keepdims=False)


def _mm(a, b, ta=False, tb=False):
    return apply("matmul", a, b, transpose_a=ta, transpose_b=tb)


def _cols(x, count: int):
    """The first `count` columns of a stack of matrices."""
    nd = x.ndim
    return apply("slice", x, begin=(0,) * nd, end=tuple(x.shape[:-1]) + (count,), step=(1,) * nd)


def _rows(x, count: int):
    nd = x.ndim
    return apply("slice", x, begin=(0,) * nd, end=tuple(x.shape[:-2]) + (count, x.shape[-1]), step=(1,) * nd)


def _eye_mask(k: int):
    """A bool (k, k) identity mask (iota compares: a constant in a trace)."""
    rows = apply("iota", shape=(k, k), axis=0, dtype="i32")
    cols = apply("iota", shape=(k, k), axis=1, dtype="i32")
    return apply("eq", rows, cols)


def _diag(vec, k: int):
    """A stack of diagonal matrices from a stack of vectors (..., k)."""
    col = apply("reshape", vec, shape=tuple(vec.shape) + (1,))
    full = apply("broadcast_to", col, shape=tuple(vec.shape) + (k,))
    return where(_eye_mask(k), full, lax().zeros_like(full))


def _pair_factor(w, k: int, square: bool):
    """F_ij = 1 / (w_j - w_i) (of squares when `square`) off the diagonal, 0 on it."""
    v = w * w if square else w
    batch = tuple(w.shape[:-1])
    row = apply("broadcast_to", apply("reshape", v, shape=batch + (1, k)), shape=batch + (k, k))
    col = apply("broadcast_to", apply("reshape", v, shape=batch + (k, 1)), shape=batch + (k, k))
    diff = row - col
    off = apply("logical_not", _eye_mask(k))
    safe = where(off, diff, lax().full_like(diff, 1))
    return where(off, lax().full_like(diff, 1) / safe, lax().zeros_like(diff))


def _triangle_read(g, uplo: str):
    """Cotangent of a function that reads a symmetric (Hermitian) matrix from one triangle, from the
    cotangent G of the same function of the full matrix: tril(G + G^H, -1) + Re diag(G) for "L"
    (the imaginary parts of a Hermitian matrix's diagonal are not read)."""
    n = g.shape[-1]
    rows = apply("iota", shape=(n, n), axis=0, dtype="i32")
    cols = apply("iota", shape=(n, n), axis=1, dtype="i32")
    sym = g + _mH(g)
    diag = (g + apply("conj", g)) * 0.5 if is_complex(g.type.dtype) else g
    return where(apply("gt" if uplo == "L" else "lt", rows, cols), sym,
                 where(apply("eq", rows, cols), diag, lax().zeros_like(g)))


def _svd_grad(g, inputs, outputs, full_matrices=False, compute_uv=True):
    """Townsend (2016) for A = U diag(s) Vh, reduced factors, distinct non-zero singular values;
    of the singular values alone, U diag(gs) Vh (with the vectors computed for it). Complex
    matrices (cotangents dL/d re + i dL/d im: hybrid/ir/ops/complex.py) take conjugate transposes
    and the diagonal term i Im(diag(U^H gU)) / s of a loss invariant to the vectors' phases."""
    (a,) = inputs
    m, n = a.shape[-2:]
    k, mu, nv = svd_sizes(m, n, full_matrices)
    if not compute_uv:
        out = apply("svd", a, full_matrices=False, compute_uv=True)
        u, vh = _part(out, 0, (m, k)), _part(out, m * k + k, (k, n))
        return [_mm(_mm(u, _like(_diag(g, k), u)), vh)]
    out = outputs[0]
    u, s, vh = _cols(_part(out, 0, (m, mu)), k), _part(out, m * mu, (k,)), _rows(_part(out, m * mu + k, (nv, n)), k)
    gu, gs, gvh = _cols(_part(g, 0, (m, mu)), k), _part(g, m * mu, (k,)), _rows(_part(g, m * mu + k, (nv, n)), k)
    f = _like(_pair_factor(_real(s), k, True), s)
    sm = _diag(s, k)
    ut_gu = _mm(_mH(u), gu)                         # U^H gU
    vt_gv = _mm(vh, _mH(gvh))                       # V^H gV = Vh gVh^H
    inner = _mm(f * (ut_gu - _mH(ut_gu)), sm) + _diag(gs, k) + _mm(sm, f * (vt_gv - _mH(vt_gv)))
    if is_complex(a.type.dtype):
        d = _diagonal(ut_gu, k)
        inner = inner + _diag((d - apply("conj", d)) / (s * 2.0), k)
    grad = _mm(u, _mm(inner, vh))
    batch = tuple(s.shape[:-1])
    inv_s = lax().full_like(s, 1) / s
    if m > k:      # U does not span the column space: the part of gU outside it
        scale = apply("broadcast_to", apply("reshape", inv_s, shape=batch + (1, k)), shape=batch + (m, k))
        grad = grad + _mm((gu - _mm(u, ut_gu)) * scale, vh)
    if n > k:
        scale = apply("broadcast_to", apply("reshape", inv_s, shape=batch + (1, k)), shape=batch + (m, k))
        gv_rest = gvh - _mm(_mH(vt_gv), vh)         # (gV - V V^H gV)^H
        grad = grad + _mm(u * scale, gv_rest)
    return [grad]


def _eigh_grad(g, inputs, outputs, uplo="L"):
    """gA = V (diag(gw) + F o (V^H gV)) V^H for distinct eigenvalues, made Hermitian and read from
    the triangle `uplo`."""
    (a,) = inputs
    n = a.shape[-1]
    w, v = _part(outputs[0], 0, (n,)), _part(outputs[0], n, (n, n))
    gw, gv = _part(g, 0, (n,)), _part(g, n, (n, n))
    inner = _like(_pair_factor(_real(w), n, False), v) * _mm(_mH(v), gv) + _diag(gw, n)
    full = _mm(v, _mm(inner, _mH(v)))
    return [_triangle_read((full + _mH(full)) * 0.5, uplo)]


register(OpDef("svd", _svd_infer, _pairs_in(_svd_reference), "other", attrs=("full_matrices", "compute_uv", "pairs"),
               grad=_svd_grad,
               doc="singular value decomposition, factors packed: U, s, Vh (LAPACK ?gesdd)"))
register(OpDef("eigh", _eigh_infer, _pairs_in(_eigh_reference), "other", attrs=("uplo", "pairs"), grad=_eigh_grad,
               doc="symmetric eigendecomposition of one triangle, packed: w, V (LAPACK ?syevd)"))
