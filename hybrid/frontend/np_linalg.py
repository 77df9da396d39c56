"""`hb.np.linalg`: NumPy's linear algebra.

Products (matmul, tensordot, einsum, multi_dot, kron, outer, cross, matrix_power, vecdot) are
composed from matmul and layout primitives, so they compile everywhere and differentiate.
svd and eigh are registry ops (ir/ops/decomp.py: NumPy's LAPACK eagerly and on interp, LAPACK
called from the generated code on llvm), so pinv/lstsq/matrix_rank/cond/norms built on them compile
too. The other decompositions run eagerly as one LAPACK call through NumPy, taped with their
gradient rules (np_eager.py); traced, inv/solve/det/slogdet/cholesky/qr are composed from
primitives (Gauss-Jordan elimination with partial pivoting, the Cholesky-Banachiewicz recurrence,
Householder reflections, unrolled over the static size), so they compile on every backend and
differentiate. eig/eigvals (real or complex depending on the values) are eager-only.
"""
from __future__ import annotations

import builtins
import math
import string
from typing import NamedTuple, Optional

import numpy

from ..errors import ShapeError
from ..core.array import Array, NDArray, Tracer, write_out
from ..core import lax
from ..ir.ops.decomp import svd_sizes
from . import np_eager
from .np import (_asarray, _axes, _cast, abs, argmax, concatenate, equal, expand_dims, eye, full, is_float, log,
                 matmul, max as _max, min as _min, moveaxis, multiply, outer as _outer, power, promote, reshape,
                 sign, sqrt, stack, sum as _sum, swapaxes, transpose, where, zeros)
from .np_logic import conj, real
from .np_shape import diagonal as _diagonal, take_along_axis, trace as _trace

LinAlgError = numpy.linalg.LinAlgError


# NumPy's (and the Array API's) named results of the decompositions
class SlogdetResult(NamedTuple):
    sign: Array
    logabsdet: Array


class QRResult(NamedTuple):
    Q: Array
    R: Array


class SVDResult(NamedTuple):
    U: Array
    S: Array
    Vh: Array


class EighResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class EigResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


def _float(a) -> Array:
    (a,) = promote(a, to_float=True)
    return a


def _square(a, what: str) -> Array:
    a = _float(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"{what}: last 2 dimensions of the array must be square, got {a.shape}")
    return a


# -- elimination (traced path) -------------------------------------------------------------------
def _eliminate(a: Array, rhs: Array):
    """Gauss-Jordan with partial pivoting over the static size: (sign, log|det|, A^-1 rhs)."""
    from .np import prod
    n = a.shape[-1]
    if n == 0:   # 0x0 matrices: determinant 1 (sign 1, log 0), the solution is the empty rhs. Written with
        # sums over a's empty axes (0) so that the results depend on a and autograd records them (empty gradients)
        nothing = _sum(a, axis=(-2, -1))
        return nothing + 1.0, nothing, rhs + _sum(a, axis=-1, keepdims=True)
    m = concatenate([a, rhs], axis=-1)
    rows = NDArray(numpy.arange(n).reshape(n, 1))
    pivots, swaps = [], []
    for k in range(n):
        col = where(NDArray(numpy.arange(n) >= k), abs(m[..., :, k]), -1.0)
        p = argmax(col, axis=-1)                                               # (...,) int64
        p_idx = expand_dims(expand_dims(p, -1), -1)
        row_p = take_along_axis(m, p_idx + zeros(m.shape[:-2] + (1, m.shape[-1]), "i64"), axis=-2)
        row_k = m[..., k:k + 1, :]
        m = where(equal(rows, k), row_p, where(equal(rows, p_idx), row_k, m))
        swaps.append(equal(p, k))
        pivot = m[..., k, k]
        pivots.append(pivot)
        new_k = m[..., k:k + 1, :] / expand_dims(expand_dims(pivot, -1), -1)
        m = where(equal(rows, k), new_k, m - m[..., :, k:k + 1] * new_k)
    pivots = stack(pivots, axis=-1)
    logdet = _sum(log(abs(pivots)), axis=-1)
    parity = prod(where(stack(swaps, axis=-1), 1.0, -1.0) * sign(pivots), axis=-1)
    return parity, logdet, m[..., :, n:]


def _cholesky_traced(a: Array) -> Array:
    n = a.shape[-1]
    if n == 0:   # 0x0 matrices: the factor is empty too
        return a
    cols = []
    for j in range(n):
        prev = stack(cols, axis=-1) if cols else None                         # (..., n, j)
        s = a[..., :, j]
        if prev is not None:
            s = s - _sum(prev * expand_dims(prev[..., j, :], -2), axis=-1)
        d = sqrt(s[..., j:j + 1])
        col = where(NDArray(numpy.arange(n) >= j), s / d, 0.0)
        cols.append(col)
    return stack(cols, axis=-1)


def _householder_qr(a: Array):
    """(Q, R) of a traced (..., m, n) matrix, complete (Q is m x m), by Householder reflections
    unrolled over the min(m, n) static columns. The reflector of column j sends it to
    beta * e_j with beta = -sign(a_jj) * |column| (LAPACK's dlarfg convention, so the signs of R's
    diagonal match numpy.linalg.qr). Differentiates by graph autodiff (columns of full rank)."""
    m, n = a.shape[-2], a.shape[-1]
    r = a
    q = eye(m, dtype=a.dtype) + zeros(a.shape[:-2] + (m, m), a.dtype)
    for j in range(builtins.min(m - 1, n)):      # a last 1-element column is left as is (LAPACK's tau = 0)
        x = r[..., j:, j]                                                        # (..., m - j)
        tail = _sum(x[..., 1:] * x[..., 1:], axis=-1, keepdims=True)
        norm = sqrt(x[..., :1] * x[..., :1] + tail)
        beta = where(x[..., :1] < 0, norm, -norm)
        first = NDArray((numpy.arange(m - j) == 0).astype(a.dtype))
        v = x - beta * first
        v_norm = sqrt(_sum(v * v, axis=-1, keepdims=True))
        # a column already zero below the diagonal is not reflected (LAPACK's tau = 0 again)
        v = where(tail > 0, v / where(v_norm > 0, v_norm, 1.0), 0.0)
        below = r[..., j:, :]
        below = below - 2.0 * expand_dims(v, -1) * expand_dims(matmul(expand_dims(v, -2), below)[..., 0, :], -2)
        r = concatenate([r[..., :j, :], below], axis=-2) if j else below
        right = q[..., :, j:]
        right = right - 2.0 * expand_dims(matmul(right, expand_dims(v, -1))[..., 0], -1) * expand_dims(v, -2)
        q = concatenate([q[..., :, :j], right], axis=-1) if j else right
    return q, r


# -- decompositions and solves ---------------------------------------------------------------------
def inv(a) -> Array:
    a = _square(a, "inv")
    if isinstance(a, Tracer):
        eye_b = eye(a.shape[-1], dtype=a.dtype) + zeros(a.shape, a.dtype)
        return _eliminate(a, eye_b)[2]
    return np_eager.inv(a)


def solve(a, b) -> Array:
    a, b = promote(a, b, to_float=True)
    a = _square(a, "solve")
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector:
        b = expand_dims(b, -1)
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        batch = tuple(numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        from .np import broadcast_to
        x = _eliminate(broadcast_to(a, batch + a.shape[-2:]), broadcast_to(b, batch + b.shape[-2:]))[2]
    else:
        x = np_eager.solve(a, b)
    return x[..., 0] if vector else x


def slogdet(a):
    a = _square(a, "slogdet")
    if isinstance(a, Tracer):
        # the Gauss-Jordan path (with an empty right-hand side) also gives the pivots
        sgn, logdet, _ = _eliminate(a, zeros(a.shape[:-1] + (1,), a.dtype))
        return SlogdetResult(sgn, logdet)
    return SlogdetResult(*np_eager.slogdet(a))


def det(a) -> Array:
    from .np import exp
    sgn, logdet = slogdet(a)
    return sgn * exp(logdet)


def cholesky(a, upper: bool = False) -> Array:
    a = _square(a, "cholesky")
    lower = _cholesky_traced(a) if isinstance(a, Tracer) else np_eager.cholesky(a)
    return swapaxes(lower, -1, -2) if upper else lower


def qr(a, mode: str = "reduced"):
    a = _float(a)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr mode {mode!r} is not supported; use 'reduced', 'complete' or 'r'")
    if isinstance(a, Tracer):
        q, r = _householder_qr(a)
        k = builtins.min(a.shape[-2:])
        if mode == "r":
            return r[..., :k, :]
        return QRResult(q, r) if mode == "complete" else QRResult(q[..., :, :k], r[..., :k, :])
    if mode == "r":
        return np_eager.qr(a)[1]
    if mode == "complete" and a.shape[-2] > a.shape[-1]:
        # the extra columns of Q are any orthonormal completion: no gradient is defined through them
        return QRResult(*np_eager.run("linalg.qr", [a], lambda x: tuple(
            r.astype(x.dtype) for r in numpy.linalg.qr(x, mode="complete"))))
    return QRResult(*np_eager.qr(a))


def _lapack_operand(a: Array) -> Array:
    """The matrix in a dtype LAPACK computes in (f16/bf16 go through f32; results are cast back)."""
    return a if a.dtype in (numpy.float32, numpy.float64, numpy.complex64, numpy.complex128) else _cast(a, "float32")


def _real_dtype(a: Array) -> numpy.dtype:
    """The dtype of singular values / eigenvalues: real, of the matrix's precision."""
    return numpy.empty(0, a.dtype).real.dtype


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """One registry op (LAPACK ?gesdd; hybrid/ir/ops/decomp.py) eagerly and compiled; its factors
    come packed in one array, sliced apart here."""
    a = _float(a)
    if a.ndim < 2:
        raise LinAlgError(f"svd: {a.ndim}-dimensional array given; array must be at least two-dimensional")
    if not compute_uv:       # LAPACK computes no vectors
        return _cast(lax.bind("svd", _lapack_operand(a), full_matrices=False, compute_uv=False), _real_dtype(a))
    full = bool(full_matrices)
    m, n = a.shape[-2:]
    k, mu, nv = svd_sizes(m, n, full)
    packed = _cast(lax.bind("svd", _lapack_operand(a), full_matrices=full, compute_uv=True), a.dtype)
    batch = a.shape[:-2]
    s = real(packed[..., m * mu:m * mu + k])     # complex matrices pack s with a zero imaginary part
    u = reshape(packed[..., :m * mu], batch + (m, mu))
    vh = reshape(packed[..., m * mu + k:], batch + (nv, n))
    return SVDResult(u, s, vh)


def svdvals(x) -> Array:
    return svd(x, compute_uv=False)


def eigh(a, UPLO: str = "L"):
    """One registry op (LAPACK ?syevd on the triangle UPLO), eagerly and compiled."""
    a = _square(a, "eigh")
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    n = a.shape[-1]
    packed = _cast(lax.bind("eigh", _lapack_operand(a), uplo=UPLO), a.dtype)
    return EighResult(real(packed[..., :n]), reshape(packed[..., n:], a.shape))


def eigvalsh(a, UPLO: str = "L") -> Array:
    return eigh(a, UPLO)[0]


def _general_eig(fn, a):
    """NumPy's eig/eigvals eagerly: real arrays when every eigenvalue is real, else complex (the
    matrix's precision); under tracing the result dtype would depend on the values."""
    if isinstance(a, Tracer):
        from ..core.array import _tracing_error
        raise _tracing_error(f"np.linalg.{fn.__name__} was called", "Whether its result is real or complex depends "
                             "on the values; call it outside the hybridized code, or use np.linalg.eigh for "
                             "symmetric matrices.")
    x = numpy.asarray(a)
    out = fn(x)
    parts = out if isinstance(out, tuple) else (out,)
    dtype = numpy.result_type(x.dtype, numpy.complex64) if any(numpy.iscomplexobj(p) for p in parts) else x.dtype
    typed = tuple(NDArray(p.astype(dtype)) for p in parts)
    return typed if isinstance(out, tuple) else typed[0]


def eig(a):
    return EigResult(*_general_eig(numpy.linalg.eig, _square(a, "eig")))


def eigvals(a):
    return _general_eig(numpy.linalg.eigvals, _square(a, "eigvals"))


def pinv(a, rcond=None, hermitian: bool = False, *, rtol=None) -> Array:
    a = _float(a)
    if 0 in a.shape[-2:]:      # no singular values: the pseudo-inverse of an empty map is empty
        return zeros(a.shape[:-2] + (a.shape[-1], a.shape[-2]), a.dtype)
    u, s, vh = svd(a, full_matrices=False)
    cutoff = rtol if rtol is not None else (rcond if rcond is not None else
                                            builtins.max(a.shape[-2:]) * numpy.finfo(a.dtype).eps)
    if numpy.ndim(cutoff):      # one tolerance per matrix of the stack
        cutoff = expand_dims(_asarray(cutoff), -1)
    big = s > expand_dims(_max(s, axis=-1), -1) * cutoff
    inv_s = where(big, 1.0 / where(big, s, 1.0), 0.0)
    return matmul(swapaxes(vh, -1, -2) * expand_dims(inv_s, -2), swapaxes(u, -1, -2))


def lstsq(a, b, rcond=None):
    """Least squares through the pseudo-inverse: (x, residuals, rank, singular values)."""
    a, b = promote(a, b, to_float=True)
    x = matmul(pinv(a, rcond if rcond is not None else None), b)
    s = svdvals(a)
    rank = matrix_rank(a)
    m, n = a.shape
    if isinstance(a, Tracer) or int(numpy.asarray(rank)) < n or m <= n:
        residuals = zeros((0,), a.dtype)
    else:
        r = matmul(a, x) - b
        residuals = _sum(r * r, axis=0)
        residuals = reshape(residuals, (1,)) if b.ndim == 1 else residuals
    return x, residuals, rank, s


def matrix_rank(A, tol=None, hermitian: bool = False, *, rtol=None) -> Array:
    A = _float(A)
    if A.ndim < 2:
        return _cast(_max(abs(A)) != 0, "i64")
    s = svdvals(A)
    if tol is None:
        tol = expand_dims(_max(s, axis=-1), -1) * (rtol if rtol is not None else
                                                   builtins.max(A.shape[-2:]) * numpy.finfo(A.dtype).eps)
    return _sum(s > tol, axis=-1)


def cond(x, p=None) -> Array:
    if p is None or p == 2 or p == -2:
        s = svdvals(x)
        ratio = _max(s, axis=-1) / _min(s, axis=-1)
        return ratio if p != -2 else 1.0 / ratio
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# -- products ---------------------------------------------------------------------------------------
def matrix_power(a, n: int) -> Array:
    a = _asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"matrix_power: last 2 dimensions of the array must be square, got {a.shape}")
    if n == 0:
        return eye(a.shape[-1], dtype=a.dtype) + zeros(a.shape, a.dtype)
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def multi_dot(arrays, *, out=None) -> Array:
    arrays = [_asarray(a) for a in arrays]
    result = arrays[0]
    for a in arrays[1:]:
        result = matmul(result, a)
    return write_out(out, result)


def tensordot(a, b, axes=2) -> Array:
    a, b = promote(a, b)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                      [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    ax_a = [x % a.ndim for x in ax_a]
    ax_b = [x % b.ndim for x in ax_b]
    for i, j in zip(ax_a, ax_b):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: shape-mismatch for sum: {a.shape} axis {i} vs {b.shape} axis {j}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [j for j in range(b.ndim) if j not in ax_b]
    k = int(numpy.prod([a.shape[i] for i in ax_a])) if ax_a else 1
    # explicit sizes, no -1 (which an empty operand cannot resolve): empty operands stay connected to the result,
    # so backward gives them their (empty or zero) gradients
    rows = int(numpy.prod([a.shape[i] for i in free_a]))
    cols = int(numpy.prod([b.shape[j] for j in free_b]))
    left = reshape(transpose(a, free_a + ax_a), (rows, k))
    right = reshape(transpose(b, ax_b + free_b), (k, cols))
    # integers: summed in the operand dtype (NumPy's dot wraps there; a sum would widen to 64 bits)
    out = matmul(left, right) if is_float(a.type.dtype) else _sum(
        expand_dims(left, -1) * expand_dims(right, 0), 1, dtype=a.dtype)
    return reshape(out, tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b))


def outer(x1, x2) -> Array:
    return _outer(x1, x2)


def kron(a, b) -> Array:
    a, b = promote(a, b)
    nd = builtins.max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = reshape(b, (1,) * (nd - b.ndim) + b.shape)
    inter_a = [v for d in a.shape for v in (d, 1)]
    inter_b = [v for d in b.shape for v in (1, d)]
    prod = multiply(reshape(a, inter_a), reshape(b, inter_b))
    return reshape(prod, tuple(x * y for x, y in zip(a.shape, b.shape)))


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Optional[int] = None) -> Array:
    a, b = promote(a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(f"cross: incompatible vector dimensions {a.shape[-1]} and {b.shape[-1]} (need 2 or 3)")
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]

    def comp(v, i):
        return v[..., i] if i < v.shape[-1] else zeros(v.shape[:-1], v.dtype)
    c = stack([comp(a, 1) * comp(b, 2) - comp(a, 2) * comp(b, 1),
               comp(a, 2) * comp(b, 0) - comp(a, 0) * comp(b, 2),
               comp(a, 0) * comp(b, 1) - comp(a, 1) * comp(b, 0)], axis=-1)
    return moveaxis(c, -1, axisc)


def vecdot(x1, x2, /, *, axis: int = -1) -> Array:
    """sum(conj(x1) * x2, axis) in the inputs' dtype; the two vectors must have the same length (no broadcast)."""
    x1, x2 = promote(x1, x2)
    ndim = builtins.max(x1.ndim, x2.ndim)
    if not -ndim <= axis < ndim or builtins.min(x1.ndim, x2.ndim) < 1:
        raise ShapeError(f"vecdot: axis {axis} is out of range for shapes {x1.shape} and {x2.shape}")
    lengths = [x.shape[axis] if -x.ndim <= axis < x.ndim else None for x in (x1, x2)]
    if lengths[0] != lengths[1]:
        raise ShapeError(f"vecdot: the vectors along axis {axis} differ in length ({x1.shape} and {x2.shape}); "
                         "vecdot contracts without broadcasting that axis")
    return _sum(conj(x1) * x2, axis=axis, dtype=x1.dtype)


def diagonal(x, /, *, offset: int = 0) -> Array:
    return _diagonal(x, offset, -2, -1)


def trace(x, /, *, offset: int = 0, dtype=None) -> Array:
    return _trace(x, offset, -2, -1, dtype)


def matrix_transpose(x) -> Array:
    return swapaxes(_asarray(x), -1, -2)


# -- einsum -------------------------------------------------------------------------------------------
def _einsum_spec(subscripts: str, operands) -> tuple[list[str], str]:
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} subscripts for {len(operands)} operands")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_dims = builtins.max([op.ndim - len(t.replace("...", "")) for t, op in zip(terms, operands) if "..." in t],
                            default=0)
    ell = "".join(spare[:ell_dims])
    fixed = []
    for t, op in zip(terms, operands):
        if "..." in t:
            k = op.ndim - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_dims - k:])
        if len(t) != op.ndim:
            raise ValueError(f"einsum: subscripts {t!r} do not match an operand of {op.ndim} dimensions")
        fixed.append(t)
    if out is None:
        counts = {}
        for t in fixed:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return fixed, out


def _take_diagonals(x: Array, letters: str) -> tuple[Array, str]:
    """Repeated letters in one operand ('ii') read the diagonal."""
    while len(set(letters)) < len(letters):
        c = next(ch for ch in letters if letters.count(ch) > 1)
        i = letters.index(c)
        j = letters.index(c, i + 1)
        x = _diagonal(x, 0, i, j)                                  # the diagonal goes last
        letters = "".join(ch for k, ch in enumerate(letters) if k not in (i, j)) + c
    return x, letters


def einsum(subscripts: str, *operands, out=None, dtype=None, optimize=False, casting="safe", order="K") -> Array:
    """Einstein summation, contracted pairwise left to right with matmul (batch, free, summed)."""
    operands = list(promote(*operands))
    terms, output = _einsum_spec(subscripts, operands)
    items = [_take_diagonals(x, t) for x, t in zip(operands, terms)]
    sizes = {}
    for x, t in items:
        for c, d in zip(t, x.shape):
            if sizes.setdefault(c, d) != d and d != 1 and sizes[c] != 1:
                raise ShapeError(f"einsum: letter {c!r} has sizes {sizes[c]} and {d}")
            sizes[c] = builtins.max(sizes[c], d)

    def needed_after(k):
        return set(output).union(*[set(t) for _, t in items[k + 1:]])

    def sum_unneeded(x, t, keep):
        drop = [i for i, c in enumerate(t) if c not in keep]
        if drop:
            x = _sum(x, axis=tuple(drop))
            t = "".join(c for i, c in enumerate(t) if i not in drop)
        return x, t

    x, t = items[0]
    x, t = sum_unneeded(x, t, needed_after(0) | set(items[1][1] if len(items) > 1 else ""))
    for k in range(1, len(items)):
        y, u = items[k]
        later = needed_after(k)
        y, u = sum_unneeded(y, u, later | set(t))
        batch = [c for c in t if c in u and c in later]
        summed = [c for c in t if c in u and c not in later]
        free_x = [c for c in t if c not in u]
        free_y = [c for c in u if c not in t]
        from .np import broadcast_to
        xs = transpose(x, [t.index(c) for c in batch + free_x + summed])
        ys = transpose(y, [u.index(c) for c in batch + summed + free_y])
        bshape = tuple(sizes[c] for c in batch)
        xs = broadcast_to(xs, bshape + xs.shape[len(batch):])
        ys = broadcast_to(ys, bshape + ys.shape[len(batch):])
        fx = int(numpy.prod([sizes[c] for c in free_x]))
        fy = int(numpy.prod([sizes[c] for c in free_y]))
        ks = int(numpy.prod([sizes[c] for c in summed]))
        left = reshape(xs, bshape + (fx, ks))
        right = reshape(ys, bshape + (ks, fy))
        if is_float(left.type.dtype):
            prod = matmul(left, right)
        else:
            prod = _sum(expand_dims(left, -1) * expand_dims(right, -3), axis=-2)
        x = reshape(prod, bshape + tuple(sizes[c] for c in free_x) + tuple(sizes[c] for c in free_y))
        t = "".join(batch + free_x + free_y)
    x, t = sum_unneeded(x, t, set(output))
    result = transpose(x, [t.index(c) for c in output]) if t != output else x
    return write_out(out, _cast(result, dtype) if dtype is not None else result)


def einsum_path(subscripts: str, *operands, optimize="greedy"):
    return numpy.einsum_path(subscripts, *[numpy.asarray(o) for o in operands], optimize=optimize)


# -- norms --------------------------------------------------------------------------------------------
def _norm_order(ord):
    """MXNet also spells the infinite orders as the strings 'inf' and '-inf'."""
    return {"inf": math.inf, "-inf": -math.inf}.get(ord, ord) if isinstance(ord, str) else ord


def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2) -> Array:
    """The array API's vector norm: over every element (axis=None), one axis, or several axes at once
    (a tuple: the elements of those axes as one vector). ord=None is 2, as in np.linalg.norm."""
    x = _float(x)
    ord = 2 if ord is None else _norm_order(ord)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
        flat_keep = keepdims
        keepdims = False
    else:
        flat_keep = False
        axis = tuple(a % x.ndim for a in axis) if isinstance(axis, (tuple, list)) else axis
    ax = abs(x)
    if ord == 2:
        out = sqrt(_sum(x * x, axis=axis, keepdims=keepdims))
    elif ord == math.inf:
        out = _max(ax, axis=axis, keepdims=keepdims)
    elif ord == -math.inf:
        out = _min(ax, axis=axis, keepdims=keepdims)
    elif ord == 0:
        out = _sum(_cast(x != 0, x.type.dtype), axis=axis, keepdims=keepdims)
    elif ord == 1:
        out = _sum(ax, axis=axis, keepdims=keepdims)
    else:
        out = power(_sum(power(ax, float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)
    return reshape(out, (1,) * x.ndim) if flat_keep else out


def matrix_norm(x, /, ord="fro", axis=(-2, -1), keepdims: bool = False) -> Array:
    """The array API's matrix norm of the matrices in the last two axes, or in the two axes `axis`
    names (MXNet's extra argument, and its argument order). ord=None is 'fro'."""
    if not (isinstance(axis, (tuple, list)) and len(axis) == 2):
        raise ValueError(f"linalg.matrix_norm: axis must be a pair of axes (rows, columns), got {axis!r}; "
                         f"use linalg.vector_norm for a norm over one axis")
    return norm(x, "fro" if ord is None else _norm_order(ord), axis=tuple(axis), keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Array:
    x = _float(x)
    ord = _norm_order(ord)
    if axis is None and ord is None:
        out = sqrt(_sum(x * x))
        return reshape(out, (1,) * x.ndim) if keepdims else out
    if axis is None:
        axis = tuple(range(x.ndim))
    if isinstance(axis, int) or len(axis) == 1:
        return vector_norm(x, axis=axis if isinstance(axis, int) else axis[0], keepdims=keepdims,
                           ord=2 if ord is None else ord)
    r, c = (a % x.ndim for a in axis)
    if ord in (None, "fro"):
        return sqrt(_sum(x * x, axis=(r, c), keepdims=keepdims))
    if ord == "nuc" or ord in (2, -2):
        m = transpose(x, [i for i in range(x.ndim) if i not in (r, c)] + [r, c])
        s = svdvals(m)
        out = _sum(s, axis=-1) if ord == "nuc" else (_max(s, axis=-1) if ord == 2 else _min(s, axis=-1))
        if keepdims:
            out = expand_dims(expand_dims(out, r if r < c else c), r if r > c else c)
        return out
    ax = abs(x)
    if ord in (1, -1):
        col = _sum(ax, axis=r, keepdims=True)
        out = _max(col, axis=c, keepdims=True) if ord == 1 else _min(col, axis=c, keepdims=True)
    elif ord in (math.inf, -math.inf):
        row = _sum(ax, axis=c, keepdims=True)
        out = _max(row, axis=r, keepdims=True) if ord == math.inf else _min(row, axis=r, keepdims=True)
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return out if keepdims else reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in (r, c)))


def inner(a, b) -> Array:
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


def vdot(a, b) -> Array:
    """sum(conj(a) * b) over the flattened arrays (NumPy conjugates the first)."""
    a, b = promote(reshape(_asarray(a), (-1,)), reshape(_asarray(b), (-1,)))
    return _sum(multiply(conj(a), b))


def tensorinv(a, ind: int = 2) -> Array:
    a = _asarray(a)
    out_shape = a.shape[ind:] + a.shape[:ind]
    rows = int(numpy.prod(a.shape[:ind]))
    return reshape(inv(reshape(a, (rows, -1))), out_shape)


def tensorsolve(a, b, axes=None) -> Array:
    a, b = promote(a, b, to_float=True)
    if axes is not None:
        rest = [k for k in range(a.ndim) if k not in [x % a.ndim for x in axes]]
        a = transpose(a, rest + [x % a.ndim for x in axes])
    x_shape = a.shape[b.ndim:]
    n = int(numpy.prod(x_shape))
    return reshape(solve(reshape(a, (-1, n)), reshape(b, (-1,))), x_shape)
