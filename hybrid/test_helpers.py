"""More of MXNet's test helpers (re-exported by `hb.test_utils`): statistical checks of random
generators, test matrices with real eigenvalues, broadcast-gradient reduction and finite-difference
gradient checks of functions and blocks. Written from MXNet's documented behaviour."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy

from .core.array import NDArray


def gen_buckets_probs_with_ppf(ppf: Callable[[float], float], nbuckets: int) -> tuple[list, list]:
    """`nbuckets` equally likely intervals of a continuous distribution, cut at its quantiles (`ppf`,
    the inverse CDF): ([(low, high), ...], [1/nbuckets, ...])."""
    edges = [ppf(i / nbuckets) for i in range(nbuckets + 1)]
    return [(edges[i], edges[i + 1]) for i in range(nbuckets)], [1.0 / nbuckets] * nbuckets


def _bucket_counts(samples: numpy.ndarray, buckets: Sequence) -> numpy.ndarray:
    """How many samples fall in each bucket: a (low, high) interval, or one discrete value."""
    if isinstance(buckets[0], (tuple, list)):
        return numpy.array([numpy.count_nonzero((samples >= lo) & (samples < hi)) for lo, hi in buckets])
    return numpy.array([numpy.count_nonzero(samples == value) for value in buckets])


def verify_generator(generator: Callable[[int], object], buckets: Sequence, probs: Sequence[float],
                     nsamples: int = 1000000, nrepeat: int = 5, success_rate: float = 0.2,
                     alpha: float = 0.05) -> list[float]:
    """Chi-square goodness of fit of `generator(n)` (n samples, an array or a list) against the
    expected bucket probabilities, `nrepeat` times; raises AssertionError unless at least
    `success_rate` of the runs keep the null hypothesis at level `alpha`. Returns the p-values."""
    from scipy import stats

    probs = numpy.asarray(probs, dtype=numpy.float64)
    p_values = []
    for _ in range(nrepeat):
        samples = generator(nsamples)
        samples = (samples.asnumpy() if isinstance(samples, NDArray) else numpy.asarray(samples)).reshape(-1)
        counts = _bucket_counts(samples, buckets).astype(numpy.float64)
        # samples outside every bucket form one more category, expected as often as the buckets leave
        # room for (almost never when they cover the whole support); chisquare needs positive
        # expectations with the observations' total
        observed = numpy.append(counts, samples.size - counts.sum())
        expected = numpy.maximum(numpy.append(probs, max(1.0 - probs.sum(), 0.0)) * samples.size, 1e-9)
        p_values.append(float(stats.chisquare(observed, expected * observed.sum() / expected.sum())[1]))
    passed = sum(p > alpha for p in p_values)
    if passed < success_rate * nrepeat:
        raise AssertionError(f"verify_generator: {passed} of {nrepeat} chi-square runs kept the null hypothesis "
                             f"at alpha={alpha} (p-values {p_values}); the samples do not follow the "
                             "expected distribution")
    return p_values


def collapse_sum_like(a, shape: Sequence[int]) -> numpy.ndarray:
    """Sum `a` down to `shape` over the axes broadcasting added or stretched (the gradient of a
    broadcast operand)."""
    a = a.asnumpy() if isinstance(a, NDArray) else numpy.asarray(a)
    shape = tuple(shape)
    lead = a.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"collapse_sum_like: shape {shape} has more axes than the array's {a.shape}")
    out = a.sum(axis=tuple(range(lead))) if lead else a
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    out = out.sum(axis=stretched, keepdims=True) if stretched else out
    if out.shape != shape:
        raise ValueError(f"collapse_sum_like: {a.shape} does not broadcast from {shape}")
    return out


def effective_dtype(array) -> numpy.dtype:
    """The dtype a computation on `array` really uses. MXNet reports float16 for float32 on GPUs whose
    tensor cores round inputs; hybrid computes in the array's own dtype on every backend."""
    return numpy.dtype(array.dtype)


def is_op_runnable() -> bool:
    """MXNet: whether the GPU is recent enough for its TVM-generated operators; hybrid's operators run on
    every device it offers."""
    return True


def has_tvm_ops() -> bool:
    """MXNet: whether it was built with TVM operators; hybrid compiles its own (no TVM)."""
    return False


def _orthonormal(n: int) -> numpy.ndarray:
    return numpy.linalg.qr(numpy.random.randn(n, n))[0]


def _batched(shape: Sequence[int], one: Callable[[int], numpy.ndarray]) -> numpy.ndarray:
    shape = tuple(shape)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"a batch of square matrices needs a shape (..., n, n), got {shape}")
    count = int(numpy.prod(shape[:-2])) if len(shape) > 2 else 1
    return numpy.stack([one(shape[-1]) for _ in range(count)]).reshape(shape) if count else numpy.zeros(shape)


def new_matrix_with_real_eigvals_nd(shape: Sequence[int]) -> numpy.ndarray:
    """Random (..., n, n) float64 matrices P D P^-1 with real eigenvalues D in [-10, 10); P is an
    orthonormal matrix times a small unit upper-triangular shear (well conditioned, not orthogonal, so
    the matrices are not symmetric)."""
    def one(n: int) -> numpy.ndarray:
        p = _orthonormal(n) @ (numpy.eye(n) + numpy.triu(numpy.random.uniform(-0.1, 0.1, (n, n)), 1))
        return p @ numpy.diag(numpy.random.uniform(-10.0, 10.0, n)) @ numpy.linalg.inv(p)
    return _batched(shape, one)


def new_sym_matrix_with_real_eigvals_nd(shape: Sequence[int]) -> numpy.ndarray:
    """Random symmetric (..., n, n) float64 matrices Q D Q^T, eigenvalues D in [-10, 10)."""
    def one(n: int) -> numpy.ndarray:
        q = _orthonormal(n)
        return q @ numpy.diag(numpy.random.uniform(-10.0, 10.0, n)) @ q.T
    return _batched(shape, one)


def check_numeric_gradient(fn: Callable, location, numeric_eps: Optional[float] = None, rtol: Optional[float] = None,
                           atol: Optional[float] = None, grad_nodes: Optional[Sequence[int]] = None,
                           dtype=numpy.float64, **_ignored) -> None:
    """The autograd gradient of sum(fn(*inputs) * w) (w a fixed random weight) against central finite
    differences, for every input (or those in `grad_nodes`, by position). `fn` is a function of arrays
    or a block; `location` the inputs (a list, or a dict passed by keyword). MXNet's version takes a
    legacy Symbol, which hybrid does not offer (docs/semantics.md): pass a function instead."""
    from .core import autograd

    if not callable(fn):
        raise TypeError(f"check_numeric_gradient: got a {type(fn).__name__}; hybrid checks functions and blocks "
                        "(MXNet's legacy Symbol is not offered): pass a function of the input arrays")
    names = list(location) if isinstance(location, dict) else None
    values = [numpy.asarray(v.asnumpy() if isinstance(v, NDArray) else v, dtype=dtype)
              for v in (location.values() if names else location)]
    eps = numeric_eps if numeric_eps is not None else 1e-4
    chosen = range(len(values)) if grad_nodes is None else grad_nodes

    def call(arrays):
        return fn(**dict(zip(names, arrays))) if names else fn(*arrays)

    inputs = [NDArray(v.copy()) for v in values]
    for a in inputs:
        a.attach_grad()
    with autograd.record():
        out = call(inputs)
        weight = numpy.random.uniform(-1.0, 1.0, out.shape)
        head = (out * NDArray(weight.astype(out.dtype))).sum()
    head.backward()
    for i in chosen:
        numeric = numpy.zeros_like(values[i])
        for index in numpy.ndindex(values[i].shape):
            total = []
            for step in (eps, -eps):
                shifted = [v.copy() for v in values]
                shifted[i][index] += step
                total.append(float((call([NDArray(v) for v in shifted]).asnumpy() * weight).sum()))
            numeric[index] = (total[0] - total[1]) / (2 * eps)
        numpy.testing.assert_allclose(inputs[i].grad.asnumpy(), numeric, rtol=rtol if rtol is not None else 1e-2,
                                      atol=atol if atol is not None else 1e-4,
                                      err_msg=f"autograd and numeric gradients of input {i} differ")


def _legacy_symbol_check(name: str) -> Callable:
    def check(*_args, **_kwargs):
        raise NotImplementedError(
            f"test_utils.{name} checks a legacy MXNet Symbol, which hybrid does not offer (docs/semantics.md): "
            "compute the result eagerly (or with a hybridized block) and compare it with assert_almost_equal; for "
            "gradients, record with hb.autograd.record(), call .backward() and compare each input's .grad "
            "(check_numeric_gradient checks a function against finite differences)")
    check.__name__ = check.__qualname__ = name
    check.__doc__ = f"MXNet's {name} takes a legacy Symbol; here it raises NotImplementedError saying what to use."
    return check


# Importable so that test files naming them load; calling one says how to check with autograd instead.
check_symbolic_forward = _legacy_symbol_check("check_symbolic_forward")
check_symbolic_backward = _legacy_symbol_check("check_symbolic_backward")


__all__ = ["gen_buckets_probs_with_ppf", "check_symbolic_forward", "check_symbolic_backward", "verify_generator", "collapse_sum_like", "effective_dtype", "is_op_runnable",
           "has_tvm_ops", "new_matrix_with_real_eigvals_nd", "new_sym_matrix_with_real_eigvals_nd",
           "check_numeric_gradient"]
