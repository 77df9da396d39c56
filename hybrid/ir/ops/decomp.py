"""Matrix decompositions and solves on the last two axes (batched): inv, solve, slogdet,
cholesky, qr (reduced), svd (reduced), eigh. References are NumPy's LAPACK calls; the gradient
rules are the standard matrix-calculus results, written with hb.np functions so the eager
tape and graph autodiff share them. Symmetric inputs (cholesky, eigh) are read from their
lower triangle, as LAPACK does, so the gradients are too.
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType, is_float
from .gradkit import np


def _square(types, what):
    t = types[0]
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise ShapeError(f"{what} needs square matrices in the last two axes, got {t.shape}")
    if not is_float(t.dtype):
        raise ShapeError(f"{what} needs floating-point matrices, got {t.dtype}; cast with astype('float32')")
    return t


def _mT(x):
    return np().swapaxes(x, -1, -2)


def _mm(a, b):
    return np().matmul(a, b)


def _lower_read(g):
    """The gradient of a function reading a symmetric matrix from its lower triangle, from the
    gradient G of the same function of the full matrix: G + G^T below the diagonal, G on it."""
    n = np()
    both = g + _mT(g)
    return n.tril(both, -1) + n.tril(n.triu(g))


# -- inv, solve, slogdet ------------------------------------------------------------------------
def _inv_grad(g, inputs, outputs):
    (y,) = outputs
    return [-_mm(_mT(y), _mm(g, _mT(y)))]


def _solve_infer(types):
    a, b = types
    _square([a], "solve")
    if b.ndim < 2 or b.shape[-2] != a.shape[-1] or b.dtype != a.dtype:
        raise ShapeError(f"solve: right-hand side {b} does not match the matrix {a}")
    batch = numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return TensorType(tuple(batch) + b.shape[-2:], a.dtype)


def _solve_ref(a, b):
    batch = numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return numpy.linalg.solve(numpy.broadcast_to(a, batch + a.shape[-2:]),
                              numpy.broadcast_to(b, batch + b.shape[-2:])).astype(a.dtype)


def _sum_to(g, shape):
    n = np()
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return n.reshape(n.sum(g, axis=axes), shape) if axes else g


def _solve_grad(g, inputs, outputs):
    (a, b), (x,) = inputs, outputs
    gb = np().linalg.solve(_mT(a), g)
    return [_sum_to(-_mm(gb, _mT(x)), a.shape), _sum_to(gb, b.shape)]


def _slogdet_infer(types):
    t = _square(types, "slogdet")
    return [TensorType(t.shape[:-2], t.dtype), TensorType(t.shape[:-2], t.dtype)]


def _slogdet_ref(a):
    sign, logabs = numpy.linalg.slogdet(a)
    return sign.astype(a.dtype), logabs.astype(a.dtype)


def _slogdet_grad(g, inputs, outputs):
    """d log|det A| / dA = A^-T; the sign is piecewise constant."""
    (a,), (gsign, glog) = inputs, g
    n = np()
    return [n.expand_dims(n.expand_dims(glog, -1), -1) * _mT(n.linalg.inv(a))]


# -- cholesky, qr, svd, eigh ---------------------------------------------------------------------
def _cholesky_grad(g, inputs, outputs):
    """Murray (2016): S = Phi(L^T gL) (lower triangle, diagonal halved); G = L^-T S L^-1."""
    (lower,) = outputs
    n = np()
    phi = n.tril(_mm(_mT(lower), g))
    phi = phi - 0.5 * n.tril(n.triu(phi))
    inv_l = n.linalg.inv(lower)
    full = _mm(_mT(inv_l), _mm(phi, inv_l))
    return [_lower_read(0.5 * (full + _mT(full)))]


def _qr_infer(types):
    t = types[0]
    if t.ndim < 2 or not is_float(t.dtype):
        raise ShapeError(f"qr needs floating-point matrices, got {t}")
    m, n = t.shape[-2:]
    k = min(m, n)
    return [TensorType(t.shape[:-2] + (m, k), t.dtype), TensorType(t.shape[:-2] + (k, n), t.dtype)]


def _qr_ref(a):
    q, r = numpy.linalg.qr(a, mode="reduced")
    return q.astype(a.dtype), r.astype(a.dtype)


def _copyltu(m):
    n = np()
    low = n.tril(m, -1)
    return low + _mT(low) + n.tril(n.triu(m))


def _qr_grad(g, inputs, outputs):
    """Reduced QR of a tall (m >= n) matrix: gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q."""
    (a,), (q, r), (gq, gr) = inputs, outputs, g
    if a.shape[-2] < a.shape[-1]:
        raise ShapeError(f"qr: the gradient is defined here for m >= n, got {a.shape}")
    n = np()
    gq = n.zeros_like(q) if gq is None else gq
    gr = n.zeros_like(r) if gr is None else gr
    m = _mm(r, _mT(gr)) - _mm(_mT(gq), q)
    b = gq + _mm(q, _copyltu(m))
    return [_mT(n.linalg.solve(r, _mT(b)))]


def _svd_infer(types):
    t = types[0]
    if t.ndim < 2 or not is_float(t.dtype):
        raise ShapeError(f"svd needs floating-point matrices, got {t}")
    m, n = t.shape[-2:]
    k = min(m, n)
    b = t.shape[:-2]
    return [TensorType(b + (m, k), t.dtype), TensorType(b + (k,), t.dtype), TensorType(b + (k, n), t.dtype)]


def _svd_ref(a):
    u, s, vh = numpy.linalg.svd(a, full_matrices=False)
    return u.astype(a.dtype), s.astype(a.dtype), vh.astype(a.dtype)


def _pair_factor(w, square: bool):
    """F_ij = 1 / (w_j - w_i) (of squares when `square`) off the diagonal, 0 on it."""
    n = np()
    v = w * w if square else w
    diff = n.expand_dims(v, -2) - n.expand_dims(v, -1)
    eye = n.eye(w.shape[-1], dtype=w.dtype)
    return n.where(eye > 0, 0.0, 1.0 / n.where(eye > 0, 1.0, diff))


def _svd_grad(g, inputs, outputs):
    """Townsend (2016), reduced SVD A = U diag(s) Vh of distinct singular values."""
    (a,), (u, s, vh), (gu, gs, gvh) = inputs, outputs, g
    n = np()
    v = _mT(vh)
    gu = n.zeros_like(u) if gu is None else gu
    gs = n.zeros_like(s) if gs is None else gs
    gv = n.zeros_like(v) if gvh is None else _mT(gvh)
    f = _pair_factor(s, True)
    sm = n.expand_dims(s, -1) * n.eye(s.shape[-1], dtype=s.dtype)
    inv_s = 1.0 / n.expand_dims(s, -2)
    ut_gu, vt_gv = _mm(_mT(u), gu), _mm(_mT(v), gv)
    inner = _mm(f * (ut_gu - _mT(ut_gu)), sm) + n.expand_dims(gs, -1) * n.eye(s.shape[-1], dtype=s.dtype) \
        + _mm(sm, f * (vt_gv - _mT(vt_gv)))
    out = _mm(u, _mm(inner, vh))
    m_, k = u.shape[-2], s.shape[-1]
    if m_ > k:
        out = out + _mm(gu - _mm(u, ut_gu), inv_s * vh)
    if v.shape[-2] > k:
        out = out + _mm(u * inv_s, _mT(gv - _mm(v, vt_gv)))
    return [out]


def _eigh_infer(types):
    t = _square(types, "eigh")
    return [TensorType(t.shape[:-1], t.dtype), t]


def _eigh_ref(a):
    w, v = numpy.linalg.eigh(a)
    return w.astype(a.dtype), v.astype(a.dtype)


def _eigh_grad(g, inputs, outputs):
    """gA = V (diag(gw) + F o (V^T gV)) V^T for distinct eigenvalues, read from the lower triangle."""
    (w, v), (gw, gv) = outputs, g
    n = np()
    inner = n.zeros_like(v) if gv is None else _pair_factor(w, False) * _mm(_mT(v), gv)
    if gw is not None:
        inner = inner + n.expand_dims(gw, -1) * n.eye(w.shape[-1], dtype=w.dtype)
    full = _mm(v, _mm(inner, _mT(v)))
    return [_lower_read(0.5 * (full + _mT(full)))]


def _cast_ref(fn):
    def ref(a):
        return fn(a).astype(a.dtype)
    return ref


register(OpDef("inv", lambda types: _square(types, "inv"), _cast_ref(numpy.linalg.inv), "other", grad=_inv_grad))
register(OpDef("solve", _solve_infer, _solve_ref, "other", grad=_solve_grad))
register(OpDef("slogdet", _slogdet_infer, _slogdet_ref, "other", num_outputs=2, grad=_slogdet_grad))
register(OpDef("cholesky", lambda types: _square(types, "cholesky"), _cast_ref(numpy.linalg.cholesky), "other",
               grad=_cholesky_grad))
register(OpDef("qr", _qr_infer, _qr_ref, "other", num_outputs=2, grad=_qr_grad))
register(OpDef("svd", _svd_infer, _svd_ref, "other", num_outputs=3, grad=_svd_grad))
register(OpDef("eigh", _eigh_infer, _eigh_ref, "other", num_outputs=2, grad=_eigh_grad))
