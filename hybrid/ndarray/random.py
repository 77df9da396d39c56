"""MXNet's `mx.nd.random` / `mx.random` samplers with their legacy signatures (shape=, dtype=, ctx=,
out=), drawn from hybrid's one counter-based generator (so `hb.random.seed` fixes them too)."""
from __future__ import annotations

from typing import Optional

from ..core.context import Context
from ..frontend import random as _np_random
from ..frontend.random import seed  # noqa: F401


def _size(shape, size):
    """Legacy `shape=` (MXNet) or NumPy's `size=`; a bare int is a 1-D shape."""
    chosen = size if shape is None else shape
    return (chosen,) if isinstance(chosen, int) else chosen


def uniform(low=0.0, high=1.0, shape=None, dtype=None, ctx: Optional[Context] = None, out=None, size=None,
            device: Optional[Context] = None, **kwargs):
    """Samples from [low, high) (float32 unless dtype says otherwise)."""
    return _np_random.uniform(low, high, _size(shape, size), dtype, ctx or device, out)


def normal(loc=0.0, scale=1.0, shape=None, dtype=None, ctx: Optional[Context] = None, out=None, size=None,
           device: Optional[Context] = None, **kwargs):
    """Gaussian samples with mean `loc` and standard deviation `scale`."""
    return _np_random.normal(loc, scale, _size(shape, size), dtype, ctx or device, out)


def randn(*shape, loc=0.0, scale=1.0, dtype=None, ctx: Optional[Context] = None, **kwargs):
    return normal(loc, scale, shape, dtype, ctx)


def rand(*shape, dtype=None, ctx: Optional[Context] = None):
    return uniform(0.0, 1.0, shape, dtype, ctx)


def randint(low, high=None, shape=None, dtype=None, ctx: Optional[Context] = None, out=None, size=None,
            device: Optional[Context] = None, **kwargs):
    """Integers in [low, high) (int32 unless dtype says otherwise)."""
    return _np_random.randint(low, high, _size(shape, size), dtype, ctx or device, out)


__all__ = ["seed", "uniform", "normal", "randn", "rand", "randint"]
