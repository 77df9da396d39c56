"""Eager fast paths of hb.np functions that, when traced, are composed from primitives: sort,
argsort, cumsum, cumprod, and the linear-algebra decompositions (inv, solve, slogdet,
cholesky, qr); `untaped` says when a function may call NumPy outright (quantiles,
nansum, roll, isclose, advanced indexing).

Eagerly each is one NumPy/LAPACK call (as fast as NumPy), taped with its gradient rule (the
standard matrix-calculus results, written with hb.np functions). They are not registry ops:
a compiled graph never holds them, because the traced path (np_sort, np_reduce, np_linalg)
builds them from primitives that every backend compiles, and the decompositions that have
no traced form say so with a TracingError (svd and eigh are registry ops: ir/ops/decomp.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy

from ..core import autograd
from ..core.array import NDArray, Tracer, _tracing_error
from ..core.tape import record_custom, tracked


def _np():
    from . import np
    return np


def untaped(*values) -> bool:
    """Whether a NumPy call may compute a function of `values` outright: nothing is traced and no
    gradient is being recorded for them (NumPy's result then needs no tape entry). The composite
    from primitives stays the path for tracing and for autograd."""
    if any(isinstance(v, Tracer) for v in values):
        return False
    return not (autograd.is_recording() and any(tracked(v) for v in values))


def run(name: str, inputs: Sequence[NDArray], compute: Callable, vjp=None):
    """outputs = compute(*numpy inputs), as NDArrays; taped with `vjp(cotangents, inputs, outputs)`."""
    for x in inputs:
        if isinstance(x, Tracer):
            raise _tracing_error(f"np.{name} was called", f"{name} has no compiled form in hybrid yet; call it "
                                 "outside the hybridized code and pass the result in.")
    result = compute(*[x._data for x in inputs])
    results = [numpy.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]
    outputs = [NDArray(r if r.flags.c_contiguous else r.copy()) for r in results]   # 0-d stays 0-d
    if vjp is not None and autograd.is_recording() and any(tracked(x) for x in inputs):
        record_custom(name, list(inputs), outputs, lambda cts: list(vjp(cts, list(inputs), outputs)))
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _mT(x):
    return _np().swapaxes(x, -1, -2)


def _mm(a, b):
    return _np().matmul(a, b)


def _lower_read(g):
    """The gradient of a function reading a symmetric matrix from its lower triangle (as LAPACK
    does), from the gradient G of the same function of the full matrix."""
    n = _np()
    return n.tril(g + _mT(g), -1) + n.tril(n.triu(g))


# -- sorting and scans -------------------------------------------------------------------------------
def sort(x: NDArray, axis: int):
    def vjp(cts, inputs, outputs):
        n = _np()
        order = n.argsort(inputs[0], axis=axis)
        return [n.take_along_axis(cts[0], n.argsort(order, axis=axis), axis=axis)]
    return run("sort", [x], lambda a: numpy.sort(a, axis=axis, kind="stable"), vjp)


def argsort(x: NDArray, axis: int):
    return run("argsort", [x], lambda a: numpy.argsort(a, axis=axis, kind="stable").astype(numpy.int64))


def cumsum(x: NDArray, axis: int):
    def vjp(cts, inputs, outputs):
        n = _np()
        return [n.flip(n.cumsum(n.flip(cts[0], axis), axis=axis), axis)]
    return run("cumsum", [x], lambda a: numpy.cumsum(a, axis=axis, dtype=a.dtype), vjp)


def cumprod(x: NDArray, axis: int):
    def vjp(cts, inputs, outputs):
        """d y_j / d x_i = y_j / x_i for j >= i (inputs without zeros)."""
        n = _np()
        return [n.flip(n.cumsum(n.flip(cts[0] * outputs[0], axis), axis=axis), axis) / inputs[0]]
    return run("cumprod", [x], lambda a: numpy.cumprod(a, axis=axis, dtype=a.dtype), vjp)


# -- linear algebra ----------------------------------------------------------------------------------
def _typed(fn):
    def compute(a, *rest):
        out = fn(a, *rest)
        return tuple(o.astype(a.dtype) for o in out) if isinstance(out, tuple) else out.astype(a.dtype)
    return compute


def inv(a: NDArray):
    def vjp(cts, inputs, outputs):
        y = outputs[0]
        return [-_mm(_mT(y), _mm(cts[0], _mT(y)))]
    return run("linalg.inv", [a], _typed(numpy.linalg.inv), vjp)


def _sum_to(g, shape):
    n = _np()
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return n.reshape(n.sum(g, axis=axes), shape) if axes else g


def solve(a: NDArray, b: NDArray):
    """X = A^-1 B for a matrix right-hand side (batched, broadcast)."""
    def compute(a_, b_):
        batch = numpy.broadcast_shapes(a_.shape[:-2], b_.shape[:-2])
        return numpy.linalg.solve(numpy.broadcast_to(a_, batch + a_.shape[-2:]),
                                  numpy.broadcast_to(b_, batch + b_.shape[-2:])).astype(a_.dtype)

    def vjp(cts, inputs, outputs):
        gb = _np().linalg.solve(_mT(inputs[0]), cts[0])
        return [_sum_to(-_mm(gb, _mT(outputs[0])), inputs[0].shape), _sum_to(gb, inputs[1].shape)]
    return run("linalg.solve", [a, b], compute, vjp)


def slogdet(a: NDArray):
    def vjp(cts, inputs, outputs):
        """d log|det A| / dA = A^-T; the sign is piecewise constant."""
        n = _np()
        return [n.expand_dims(n.expand_dims(cts[1], -1), -1) * _mT(n.linalg.inv(inputs[0]))]
    return run("linalg.slogdet", [a], _typed(lambda x: tuple(numpy.linalg.slogdet(x))), vjp)


def cholesky(a: NDArray):
    def vjp(cts, inputs, outputs):
        """Murray (2016): S = Phi(L^T gL) (lower triangle, diagonal halved); G = L^-T S L^-1."""
        n = _np()
        lower = outputs[0]
        phi = n.tril(_mm(_mT(lower), cts[0]))
        phi = phi - 0.5 * n.tril(n.triu(phi))
        inv_l = n.linalg.inv(lower)
        full = _mm(_mT(inv_l), _mm(phi, inv_l))
        return [_lower_read(0.5 * (full + _mT(full)))]
    return run("linalg.cholesky", [a], _typed(numpy.linalg.cholesky), vjp)


def _copyltu(m):
    n = _np()
    low = n.tril(m, -1)
    return low + _mT(low) + n.tril(n.triu(m))


def qr(a: NDArray):
    def vjp(cts, inputs, outputs):
        """Reduced QR, m >= n: gA = (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q."""
        (q, r), (gq, gr) = outputs, cts
        if inputs[0].shape[-2] < inputs[0].shape[-1]:
            raise ValueError(f"np.linalg.qr: the gradient is defined here for m >= n, got {inputs[0].shape}")
        m = _mm(r, _mT(gr)) - _mm(_mT(gq), q)
        return [_mT(_np().linalg.solve(r, _mT(gq + _mm(q, _copyltu(m)))))]
    return run("linalg.qr", [a], _typed(lambda x: tuple(numpy.linalg.qr(x, mode="reduced"))), vjp)


