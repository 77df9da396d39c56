"""Shared helpers of the autograd tests: central finite differences (float64), backends to run."""
from __future__ import annotations

from typing import Callable

import numpy


def numeric_grad(f: Callable[[], float], x: numpy.ndarray, eps: float = 1e-6, entries=None) -> numpy.ndarray:
    """d f / d x by central differences, perturbing `x` in place (all entries, or the flat
    indices in `entries`; the others are left NaN). For complex x: d f / d re + i d f / d im
    (hybrid's convention for complex gradients, PyTorch's)."""
    directions = (1.0, 1j) if numpy.iscomplexobj(x) else (1.0,)
    grad = numpy.full(x.shape, numpy.nan, dtype=complex if len(directions) == 2 else float)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in (range(flat.size) if entries is None else entries):
        old = flat[i]
        out[i] = 0
        for d in directions:
            flat[i] = old + eps * d
            up = f()
            flat[i] = old - eps * d
            down = f()
            flat[i] = old
            out[i] += d * (up - down) / (2 * eps)
    return grad


def backends() -> list:
    """interp always; llvm as a parameter skipped (saying why) until its backend module has `build`."""
    import importlib

    import pytest
    try:
        ready = hasattr(importlib.import_module("hybrid.codegen.llvm"), "build")
    except ImportError:
        ready = False
    return ["interp", pytest.param("llvm", marks=pytest.mark.skipif(not ready, reason="LLVM backend not built yet"))]


def assert_scalar_grad(fn: Callable, data: numpy.ndarray, mode: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """The gradient of the scalar `fn(x)` at float64 `data`, taped eagerly (mode "eager") or through
    hb.hybridize(fn, backend=mode), equals central differences of `fn`."""
    import hybrid as hb
    from hybrid import autograd, np

    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode)
    x = np.array(data)
    x.attach_grad()
    with autograd.record():
        loss = run(x)
    loss.backward()
    want = numeric_grad(lambda: float(fn(np.array(data))), data)
    numpy.testing.assert_allclose(x.grad.asnumpy(), want, rtol=rtol, atol=atol)
