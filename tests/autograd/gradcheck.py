"""Central finite differences (float64) for gradient checks."""
from __future__ import annotations

from typing import Callable

import numpy


def numeric_grad(f: Callable[[], float], x: numpy.ndarray, eps: float = 1e-6, entries=None) -> numpy.ndarray:
    """d f / d x by central differences, perturbing `x` in place (all entries, or the flat
    indices in `entries`; the others are left NaN)."""
    grad = numpy.full(x.shape, numpy.nan)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in (range(flat.size) if entries is None else entries):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        out[i] = (up - down) / (2 * eps)
    return grad
