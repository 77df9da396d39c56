"""`hb.np.random`: a seedable counter-based generator shared by eager and compiled code.

The state is (seed, counter). Every random op draws with key (seed, counter) and advances the
counter by one; a compiled graph with k random ops receives (seed, counter) as `%rng.key`, uses
(seed, counter + i) for its i-th op and advances the counter by k. So a model draws the same
numbers (e.g. dropout masks) eagerly and hybridized, given the same seed.
"""
from __future__ import annotations

import math
import threading

import numpy

from ..ir.types import dtype_name, to_numpy_dtype

_lock = threading.Lock()
_state = {"seed": 0, "counter": 0}


def seed(value: int) -> None:
    """Reset the generator: the same seed gives the same draws, eager or compiled."""
    with _lock:
        _state["seed"] = int(value) & 0xFFFFFFFF
        _state["counter"] = 0


def take_keys(count: int) -> numpy.ndarray:
    """The base key (seed, counter) for `count` consecutive draws; advances the counter."""
    with _lock:
        key = numpy.array([_state["seed"], _state["counter"]], numpy.uint32)
        _state["counter"] = (_state["counter"] + count) & 0xFFFFFFFF
    return key


def _key():
    from ..core.array import NDArray
    from ..core.tracing import current_trace

    trace = current_trace()
    return trace.rng_key() if trace is not None else NDArray(take_keys(1))


def _shape(size) -> tuple[int, ...]:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, numpy.integer)) else tuple(int(d) for d in size)


def _uniform01(shape, dtype):
    from ..core.dispatch import bind
    return bind("random_uniform", _key(), shape=_shape(shape), dtype=dtype_name(dtype))


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
