"""Sequence helpers shared by layers and cells: running a step function over time as one scan,
masking past each sequence's valid length, and reversing only the valid part of each sequence."""
from __future__ import annotations

from typing import Callable, Optional

from ...core import control
from ...frontend import np


def reverse_index(length: int, valid_length):
    """(T, N) int32 time indices that reverse each sequence's first valid_length[n] steps and leave
    the padding in place (MXNet's SequenceReverse)."""
    t = np.arange(length, dtype="int32").reshape(length, 1)
    n = valid_length.astype("int32").reshape(1, -1)
    return np.where(t < n, n - 1 - t, t + n * 0)


def gather_time(x, index):
    """x[index[t, n], n] for a time-major x (T, N, ...)."""
    T, N = x.shape[0], x.shape[1]
    flat = (index * N + np.arange(N, dtype="int32").reshape(1, N)).reshape(-1)
    rows = np.take(x.reshape((T * N,) + tuple(x.shape[2:])), flat, axis=0)
    return rows.reshape(x.shape)


def run(step: Callable, xs, states: list, valid_length=None, reverse: bool = False) -> tuple:
    """`out_t, states = step(x_t, states)` over time-major `xs` (one scan); returns (outputs stacked
    along time, final states). With valid_length, steps past a sequence's length keep its states
    and output zeros; `reverse` walks each sequence's valid part backwards."""
    if valid_length is None:
        def body(carry, x):
            out, new = step(x, list(carry))
            return list(new), out
        final, ys = control.scan(body, list(states), xs, reverse=reverse)
        return ys, final
    T = xs.shape[0]
    index: Optional[object] = None
    if reverse:
        index = reverse_index(T, valid_length)
        xs = gather_time(xs, index)
    lengths = valid_length.astype("int32")

    def masked(carry, inp):
        x, t = inp
        out, new = step(x, list(carry))
        keep = (t < lengths).reshape((-1,) + (1,) * (out.ndim - 1))
        new = [np.where(keep, a, b) for a, b in zip(new, carry)]
        return new, np.where(keep, out, 0.0)

    final, ys = control.scan(masked, list(states), (xs, np.arange(T, dtype="int32")))
    if reverse:
        ys = gather_time(ys, index)
    return ys, final
