"""MXNet 2's control-flow operators (`npx.foreach`, `npx.while_loop`, `npx.cond`) with MXNet's
signatures and results, written on the lax-style layer (control.py): eagerly plain Python
loops, hybridized one region op whatever the trip count."""
from __future__ import annotations

from typing import Callable, Optional

from ..errors import HybridError
from ..core import control
from . import np
from ..core.array import Array


def _as_list(x) -> tuple[list, bool]:
    """(items, was a single array): MXNet accepts an array or a list of arrays."""
    return ([x], True) if isinstance(x, Array) else (list(x), False)


def foreach(body: Callable, data, init_states):
    """`outputs, states = body(data[t], states)` for each t along the leading axis of `data`;
    returns (the outputs stacked along a new leading axis, the final states). `data` and the
    states are an array or a list of arrays, passed to `body` in the form given."""
    def step(states, x):
        outputs, new_states = body(x, states)
        if isinstance(states, list) and isinstance(new_states, tuple):
            new_states = list(new_states)
        return new_states, outputs

    states, outputs = control.scan(step, init_states, data)
    return outputs, states


def while_loop(cond: Callable, func: Callable, loop_vars, max_iterations: Optional[int] = None):
    """`while cond(*loop_vars): step_output, loop_vars = func(*loop_vars)`, at most
    `max_iterations` times. Returns (the step outputs stacked along a new leading axis, padded
    with zeros to `max_iterations` rows when given, and the final loop variables). Hybridized
    code must give `max_iterations` (the stacked outputs need a static length)."""
    loop_vars, single = _as_list(loop_vars)
    unwrap = (lambda vs: vs[0]) if single else list

    def step(vs):
        out = func(*vs)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise HybridError("npx.while_loop's func must return (step_output, new_loop_vars)")
        outputs, new_vars = out
        new_vars, _ = _as_list(new_vars)
        outputs = [] if outputs is None else _as_list(outputs)[0]
        return outputs, new_vars

    if not control._is_traced():
        return _while_eager(cond, step, loop_vars, max_iterations, unwrap)
    if max_iterations is None:
        raise HybridError("npx.while_loop needs max_iterations in hybridized code: the stacked step outputs "
                          "have max_iterations rows (pass max_iterations=N)")
    out_types, _ = control._step_types(lambda *vs: step(list(vs))[0], [v.type for v in loop_vars])

    def bounded(carry, _):
        active, vs = carry
        go = np.logical_and(active, control._scalar_index(cond(*vs), "npx.while_loop's cond") != 0)
        skip = lambda vs: ([np.zeros(t.shape, dtype=t.dtype) for t in out_types], list(vs))  # noqa: E731
        outputs, new_vars = control.cond(go, lambda vs: step(list(vs)), skip, vs)
        return (go, new_vars), outputs

    start = np.array(True)
    (_, final), stacked = control.scan(bounded, (start, list(loop_vars)), None, length=max_iterations)
    return (stacked[0] if len(stacked) == 1 else list(stacked)), unwrap(final)


def _while_eager(cond, step, loop_vars, max_iterations, unwrap):
    rows = []
    steps = 0
    while (max_iterations is None or steps < max_iterations) and bool(
            control._scalar_index(cond(*loop_vars), "npx.while_loop's cond")):
        outputs, loop_vars = step(loop_vars)
        rows.append(outputs)
        steps += 1
    if rows:
        stacked = [np.stack([r[k] for r in rows]) for k in range(len(rows[0]))]
    else:
        types, _ = control._step_types(lambda *vs: step(list(vs))[0], [v.type for v in loop_vars])
        stacked = [np.zeros((0,) + t.shape, dtype=t.dtype) for t in types]
    if max_iterations is not None:   # as hybridized: padded to max_iterations rows
        stacked = [np.concatenate([s, np.zeros((max_iterations - s.shape[0],) + s.shape[1:], dtype=s.dtype)])
                   if s.shape[0] < max_iterations else s for s in stacked]
    return (stacked[0] if len(stacked) == 1 else stacked), unwrap(loop_vars)


def cond(pred, then_func: Callable, else_func: Callable, inputs):
    """`then_func(*inputs)` if `pred` else `else_func(*inputs)`. `pred` is a scalar array or, as in
    MXNet, a function of the inputs returning one."""
    inputs, _ = _as_list(inputs)
    if callable(pred):
        pred = pred(*inputs)
    return control.cond(pred, then_func, else_func, *inputs)


__all__ = ["foreach", "while_loop", "cond"]
