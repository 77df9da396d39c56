"""`hb.np.random`: samplers over the counter-based generator of hybrid.core.rng, shared by
eager and compiled code, so a model draws the same numbers (e.g. dropout masks) eagerly and
hybridized, given the same seed.
"""
from __future__ import annotations

import math

import numpy

from ..core.rng import next_key, seed  # noqa: F401  (hb.np.random.seed)
from ..ir.types import dtype_name, to_numpy_dtype

def _shape(size) -> tuple[int, ...]:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, numpy.integer)) else tuple(int(d) for d in size)


def _uniform01(shape, dtype):
    from ..core.dispatch import bind
    return bind("random_uniform", next_key(), shape=_shape(shape), dtype=dtype_name(dtype))


def uniform(low=0.0, high=1.0, size=None, dtype="float32"):
    """Samples from [low, high)."""
    return _uniform01(size, dtype) * (high - low) + low


def rand(*shape):
    return uniform(size=shape)


def normal(loc=0.0, scale=1.0, size=None, dtype="float32"):
    """Gaussian samples (Box-Muller on two uniform draws)."""
    from . import np
    u1 = _uniform01(size, dtype)
    u2 = _uniform01(size, dtype)
    radius = np.sqrt(np.log(1.0 - u1) * -2.0)
    return radius * np.cos(u2 * (2 * math.pi)) * scale + loc


def randn(*shape):
    return normal(size=shape)


def randint(low, high=None, size=None, dtype="int32"):
    """Integers in [low, high)."""
    from . import np
    if high is None:
        low, high = 0, low
    draws = np.floor(_uniform01(size, "float64") * float(high - low)) + float(low)
    return np.astype(draws, to_numpy_dtype(dtype_name(dtype)))
