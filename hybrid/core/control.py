"""Structured control flow, JAX `lax` style: `switch`, `cond`, `while_loop`, `scan`, `fori_loop`.

Eagerly each is a plain Python loop or branch over arrays, so the autograd tape records every
step and a debugger stops inside the body. While tracing, each body is traced once into a
region (a closed Graph) of a `cond` / `while_loop` / `scan` node (ir/control.py): the graph's
size does not grow with the trip count and the count may depend on data.

Bodies may read any array in scope (block parameters, values computed before the loop): the
region trace captures them as explicit region inputs, which the node receives as operands.
Loop-carried values and branch results must keep their shapes and dtypes.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy

from ..errors import HybridError
from ..ir.control import branch_index
from ..ir.graph import Graph, Value
from ..ir.types import TensorType
from ..ir.types import to_numpy_dtype
from .array import Array, NDArray, Tracer
from .dispatch import bind
from .tracing import TraceContext, current_trace, flatten, unflatten


class RegionTrace(TraceContext):
    """The trace of one region. Values of enclosing traces it reads become region inputs
    (`captured` lists the enclosing tracers, in input order, after the explicit inputs).
    Random keys (`random`): "outer" takes them from the enclosing trace (a branch runs once),
    "carried" from a key input of its own that the loop carries (a loop body: its k-th random op
    draws with that key + (0, k), and the loop passes key + (0, random_ops) to the next
    iteration), "none" refuses them (a while loop's condition)."""

    def __init__(self, parent: TraceContext, name: str, random: str):
        super().__init__(name, parent.param_names)
        self.parent = parent
        self.random = random
        self.captured: list[Tracer] = []
        self._capture_of: dict[Value, Tracer] = {}

    def lift(self, x: Tracer) -> Tracer:
        if x.trace is self:
            return x
        outer = self.parent.lift(x)
        inner = self._capture_of.get(outer.value)
        if inner is None:
            inner = self.input(f"k{len(self.captured)}", outer.type)
            self._capture_of[outer.value] = inner
            self.captured.append(outer)
        return inner

    def param(self, parameter) -> Tracer:
        return self.lift(self.parent.param(parameter))

    def rng_key(self, count: int = 1) -> Tracer:
        if self.random == "carried":
            return super().rng_key(count)
        if self.random == "none":
            raise HybridError("a random op (dropout, random.*) runs in a hybridized while_loop's condition; draw "
                              "it in the body (carried in the loop variables) instead")
        return self.lift(self.parent.rng_key(count))


def _is_traced() -> bool:
    return current_trace() is not None


def _as_array(x) -> Array:
    if isinstance(x, Array):
        return x
    if isinstance(x, numpy.ndarray):
        return NDArray(x)
    return NDArray(numpy.asarray(x, numpy.float32 if isinstance(x, float) else None))


def _zeros(t: TensorType) -> NDArray:
    return NDArray(numpy.zeros(t.shape, to_numpy_dtype(t.dtype)))


def _stack(arrays: list) -> Array:
    """The arrays stacked along a new leading axis (the registry's reshape + concat)."""
    rows = [bind("reshape", a, shape=(1,) + tuple(a.shape)) for a in arrays]
    return rows[0] if len(rows) == 1 else bind("concat", *rows, axis=0)


def _int32(x: Array) -> Array:
    return x if x.type.dtype == "i32" else bind("cast", x, dtype="i32")


def _leaves(tree, what: str) -> tuple[list[Array], Any]:
    leaves, structure = flatten(tree)
    for leaf in leaves:
        if not isinstance(leaf, (Array, numpy.ndarray, int, float, bool)):
            raise HybridError(f"{what} must be arrays (or tuples/lists of arrays), got {type(leaf).__name__}")
    return [_as_array(x) for x in leaves], structure


def trace_region(name: str, fn: Callable, types: Sequence[TensorType], random: str = "outer"
                 ) -> tuple[Graph, list[Tracer], Any]:
    """Trace `fn(*inputs)` (inputs of `types`) into a closed region graph under the current trace.
    Returns (graph, captured enclosing tracers, result structure)."""
    graph, captured, structure, _ = _trace(name, fn, types, random)
    return graph, captured, structure


def _trace(name: str, fn: Callable, types: Sequence[TensorType], random: str):
    ctx = RegionTrace(current_trace(), name, random)
    with ctx:
        inputs = [ctx.input(f"a{i}", t) for i, t in enumerate(types)]
        leaves, structure = _leaves(fn(*inputs), f"the results of {name}")
        ctx.graph.outputs = [ctx.value_of(leaf) for leaf in leaves]
    if ctx.side_outputs:
        raise HybridError(f"{name} updates state (e.g. BatchNorm running statistics) inside a hybridized "
                          "loop body or branch; keep such layers outside the control flow")
    return ctx.graph, ctx.captured, structure, ctx.random_ops


KEY_TYPE = TensorType((2,), "u32")


def _trace_loop_body(name: str, fn: Callable, types: Sequence[TensorType], num_carry: int):
    """Trace a loop body whose random ops draw from a carried key. Returns (graph, captured,
    structure, draws per iteration); with draws, the graph's input and result `num_carry` are the
    key (the loop's carried state grows by it) and each iteration passes key + (0, draws) on."""
    graph, captured, structure, draws = _trace(name, fn, types, "carried")
    if draws:
        key = graph.input(TraceContext.RNG_KEY)
        key.name = "rng"   # carried state, not the generator's key of a top-level graph (replay tells them apart)
        graph.inputs.remove(key)
        graph.inputs.insert(num_carry, key)
        step = graph.add_node("constant", [], {"value": numpy.array([0, draws], numpy.uint32)}).output
        graph.outputs.insert(num_carry, graph.add_node("add", [key, step]).output)
    return graph, captured, structure, draws


def _mix32(h: Array) -> Array:
    """MurmurHash3's 32-bit finalizer: every input bit changes each output bit with probability 1/2."""
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, None)):
        h = bind("bitwise_xor", h, bind("right_shift", h, _u32(shift)))
        if factor is not None:
            h = bind("mul", h, _u32(factor))
    return h


def _u32(x: int) -> NDArray:
    return NDArray(numpy.array(x, numpy.uint32))


def _new_stream(key: Array) -> Array:
    """(seed, counter) -> (hash(seed, counter), 0): the first key of a stream of draws that no other
    draw of the generator uses (but for 32-bit hash collisions), for a loop whose trip count, so
    the count of keys it draws, is unknown when traced (JAX splits its keys so)."""
    seed = bind("slice", key, begin=(0,), end=(1,), step=(1,))
    counter = bind("slice", key, begin=(1,), end=(2,), step=(1,))
    mixed = _mix32(bind("bitwise_xor", seed, _mix32(bind("add", counter, _u32(0x9E3779B9)))))
    return bind("concat", mixed, NDArray(numpy.zeros(1, numpy.uint32)), axis=0)


def close_regions(regions: list[tuple[Graph, list[Tracer]]], explicit: int) -> tuple[list[Graph], list[Tracer]]:
    """Give regions traced separately one signature: their `explicit` inputs, then every value any
    of them captured (a region that does not read one gets an unused input for it)."""
    consts: list[Tracer] = []
    index: dict[Value, int] = {}
    for _, captured in regions:
        for c in captured:
            if c.value not in index:
                index[c.value] = len(consts)
                consts.append(c)
    graphs = []
    for graph, captured in regions:
        own = dict(zip((c.value for c in captured), graph.inputs[explicit:]))
        extra = []
        for k, c in enumerate(consts):
            v = own.get(c.value) or Value(c.type, None, "")
            v.name = f"k{k}"
            extra.append(v)
        graph.inputs = graph.inputs[:explicit] + extra
        graphs.append(graph)
    return graphs, consts


def _emit(op: str, operands: list, attrs: dict, regions: list[Graph]) -> list[Tracer]:
    outs = current_trace().emit(op, operands, attrs, regions)
    return list(outs) if isinstance(outs, tuple) else [outs]


def _check_same(what: str, got: Sequence[TensorType], want: Sequence[TensorType]) -> None:
    if list(got) != list(want):
        fmt = lambda ts: "(" + ", ".join(str(t) for t in ts) + ")"  # noqa: E731
        raise HybridError(f"{what}: {fmt(got)} but must be {fmt(want)} (shapes and dtypes stay fixed)")


def _scalar_index(index, what: str) -> Array:
    index = _as_array(index)
    if index.size != 1:
        raise HybridError(f"{what} must be a single value, got shape {index.shape}")
    if index.ndim:
        index = bind("reshape", index, shape=())
    return index


# -- switch / cond -------------------------------------------------------------------------------
def switch(index, branches: Sequence[Callable], *operands):
    """`branches[clip(index, 0, len-1)](*operands)` (lax.switch). Every branch returns the same
    structure of arrays with the same types."""
    if len(branches) < 2:
        raise HybridError(f"switch needs at least two branches, got {len(branches)}")
    index = _scalar_index(index, "the branch index")
    if not _is_traced():
        return branches[branch_index(index._data, len(branches))](*operands)
    flat, structure = _leaves(operands, "the operands of cond")
    traced, results = [], None
    for k, branch in enumerate(branches):
        graph, captured, out = trace_region(f"branch{k}", lambda *xs: branch(*unflatten(xs, structure)),
                                            [x.type for x in flat])
        types = [v.type for v in graph.outputs]
        if results is None:
            results = (out, types)
        elif out != results[0] or types != results[1]:
            _check_same(f"branch {k} of cond returns", types, results[1])
            raise HybridError("the branches of cond return differently nested results; return the same structure")
        traced.append((graph, captured))
    graphs, consts = close_regions(traced, len(flat))
    outs = _emit("cond", [_int32(index)] + flat + consts, {}, graphs)
    return unflatten(outs, results[0])


def cond(pred, true_fn: Callable, false_fn: Callable, *operands):
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)` (lax.cond)."""
    pred = _scalar_index(pred, "cond's predicate")
    return switch(pred != 0, [false_fn, true_fn], *operands)


# -- while_loop -----------------------------------------------------------------------------------
def while_loop(cond_fn: Callable, body_fn: Callable, init_val):
    """`val = init_val; while cond_fn(val): val = body_fn(val); return val` (lax.while_loop). The
    trip count may depend on data. Not differentiable (bound it: fori_loop or scan)."""
    flat, structure = _leaves(init_val, "while_loop's loop variables")
    if not _is_traced():
        val = init_val
        while bool(_scalar_index(cond_fn(val), "while_loop's condition")):
            val = body_fn(val)
        return val
    types = [x.type for x in flat]

    def cond_region(*xs):
        return _scalar_index(cond_fn(unflatten(xs, structure)), "while_loop's condition") != 0

    n = len(flat)
    cond_graph, cond_captured, _ = trace_region("cond", cond_region, types, random="none")
    body_graph, body_captured, out, draws = _trace_loop_body("body", lambda *xs: body_fn(unflatten(xs, structure)),
                                                             types, n)
    carried = list(flat)
    if draws:   # the key is carried state too; its first value starts a stream of its own
        carried.append(_new_stream(current_trace().rng_key()))
        cond_graph.inputs.insert(n, Value(KEY_TYPE, None, "rng"))
    _check_same("while_loop's body returns", [v.type for v in body_graph.outputs], [x.type for x in carried])
    if out != structure:
        raise HybridError("while_loop's body must return its loop variables in the structure it received")
    graphs, consts = close_regions([(cond_graph, cond_captured), (body_graph, body_captured)], len(carried))
    outs = _emit("while_loop", carried + consts, {"num_carry": len(carried)}, graphs)
    return unflatten(outs[:n], structure)


# -- scan -------------------------------------------------------------------------------------------
def _step_types(fn: Callable, types: Sequence[TensorType]) -> tuple[list[TensorType], Any]:
    """The result types of `fn` on inputs of `types`, by tracing it aside (nothing is emitted)."""
    if _is_traced():
        graph, _, structure = trace_region("shape", fn, types)
    else:
        with TraceContext("shape"):
            graph, _, structure = trace_region("shape", fn, types)
    return [v.type for v in graph.outputs], structure


def scan(f: Callable, init, xs=None, length: Optional[int] = None, reverse: bool = False):
    """`carry, y_t = f(carry, x_t)` for each step t of `xs` (along its leading axis); returns
    (final carry, the y_t stacked along a new leading axis) (lax.scan; MXNet's foreach)."""
    carry_flat, carry_structure = _leaves(init, "scan's carried state")
    x_flat, x_structure = _leaves(xs, "scan's sequences") if xs is not None else ([], None)
    lengths = {x.shape[0] if x.ndim else None for x in x_flat}
    if length is not None:
        lengths.add(length)
    if len(lengths) != 1 or None in lengths:
        raise HybridError(f"scan's sequences must share one leading axis (and `length` agree with it); got shapes "
                          f"{[x.shape for x in x_flat]} and length={length}")
    length = lengths.pop()
    x_types = [TensorType(x.shape[1:], x.type.dtype) for x in x_flat]
    carry_types = [x.type for x in carry_flat]
    n_carry = len(carry_flat)

    def step(*args):
        carry = unflatten(list(args[:n_carry]), carry_structure)
        x = unflatten(list(args[n_carry:]), x_structure) if xs is not None else None
        new_carry, y = f(carry, x)
        new_flat, new_structure = _leaves(new_carry, "scan's carried state")
        if new_structure != carry_structure:
            raise HybridError("scan's body must return its carried state in the structure it received")
        _check_same("scan's body returns the carried state as", [v.type for v in new_flat], carry_types)
        y_flat, y_structure = _leaves(y, "scan's per-step results") if y is not None else ([], None)
        step.y_structure = y_structure
        return new_flat + y_flat

    if not _is_traced():
        return _scan_eager(step, carry_flat, carry_structure, x_flat, x_types, length, reverse)
    graph, captured, _, draws = _trace_loop_body("body", step, carry_types + x_types, n_carry)
    # a body drawing `draws` times per step takes length * draws consecutive keys of the enclosing
    # trace, in the order eager steps draw them: compiled and eager loops draw the same numbers
    key = [current_trace().rng_key(length * draws)] if draws else []
    outs = _emit("scan", carry_flat + key + x_flat + captured,
                 {"num_carry": n_carry + len(key), "num_xs": len(x_flat), "length": length, "reverse": reverse},
                 [graph])
    ys = outs[n_carry + len(key):]
    return (unflatten(outs[:n_carry], carry_structure),
            unflatten(ys, step.y_structure) if step.y_structure is not None or ys else None)


def _scan_eager(step, carry_flat, carry_structure, x_flat, x_types, length, reverse):
    carry, per_step = list(carry_flat), []
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = step(*carry, *[x[t] for x in x_flat])
        carry, y = outs[:len(carry)], outs[len(carry):]
        per_step.append(y)
    if reverse:
        per_step.reverse()
    if length:
        ys = [_stack([s[k] for s in per_step]) for k in range(len(per_step[0]))]
    else:   # no step ran: the per-step types come from tracing the body aside
        types, _ = _step_types(step, [x.type for x in carry_flat] + list(x_types))
        ys = [_zeros(TensorType((0,) + t.shape, t.dtype)) for t in types[len(carry_flat):]]
    return (unflatten(carry, carry_structure),
            unflatten(ys, step.y_structure) if step.y_structure is not None or ys else None)


# -- fori_loop ------------------------------------------------------------------------------------
def fori_loop(lower, upper, body_fun: Callable, init_val):
    """`for i in range(lower, upper): val = body_fun(i, val)` (lax.fori_loop; i is an int32
    array). Static bounds make a scan (differentiable); traced bounds a while_loop."""
    if isinstance(lower, int) and isinstance(upper, int):
        start = NDArray(numpy.array(lower, numpy.int32))

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (start, init_val), None, length=max(upper - lower, 0))
        return val
    upper = _int32(_as_array(upper))
    (_, val) = while_loop(lambda c: c[0] < upper, lambda c: (c[0] + 1, body_fun(c[0], c[1])),
                          (_int32(_as_array(lower)), init_val))
    return val


__all__ = ["switch", "cond", "while_loop", "scan", "fori_loop"]
