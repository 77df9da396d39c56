"""The random generator's state, shared by eager ops, traces and compiled calls.

The state is (seed, counter). Every random op draws with key (seed, counter) and advances the
counter by one; a compiled graph with k random ops receives (seed, counter) as `%rng.key`, uses
(seed, counter + i) for its i-th op and advances the counter by k (hb.np.random builds on this).
"""
from __future__ import annotations

import threading

import numpy

from .array import NDArray
from .tracing import current_trace

_lock = threading.Lock()
_state = {"seed": 0, "counter": 0}


def seed(value: int) -> None:
    """Reset the generator: the same seed gives the same draws, eager or compiled."""
    with _lock:
        _state["seed"] = int(value) & 0xFFFFFFFF
        _state["counter"] = 0


def get_state() -> dict:
    """The generator's (seed, counter), as NumPy's random.get_state() gives a restorable value."""
    with _lock:
        return dict(_state)


def set_state(state: dict) -> None:
    with _lock:
        _state.update(seed=int(state["seed"]) & 0xFFFFFFFF, counter=int(state["counter"]) & 0xFFFFFFFF)


def take_keys(count: int) -> numpy.ndarray:
    """The base key (seed, counter) for `count` consecutive draws; advances the counter."""
    with _lock:
        key = numpy.array([_state["seed"], _state["counter"]], numpy.uint32)
        _state["counter"] = (_state["counter"] + count) & 0xFFFFFFFF
    return key


def next_key():
    """The key of the next random op: traced in a trace, else drawn now."""
    trace = current_trace()
    return trace.rng_key() if trace is not None else NDArray(take_keys(1))
