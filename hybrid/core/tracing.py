"""Tracing: run Python code on Tracer arrays and record every op into an ir.Graph.

A TraceContext owns the graph being built. Data inputs become graph inputs; parameters
become `param` inputs the first time `Parameter.data()` is read; eager NDArrays that meet a
tracer become `constant` nodes; random ops read one key input (`%rng.key`).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

import numpy

from ..errors import HybridError
from ..ir.graph import Graph, Value
from ..ir.types import TensorType
from .array import NDArray, Tracer
from .dispatch import infer_or_raise
from .source import user_line

_state = threading.local()


def current_trace() -> Optional["TraceContext"]:
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


class TraceContext:
    RNG_KEY = "rng.key"

    def __init__(self, name: str, param_names: Optional[dict[int, str]] = None):
        self.graph = Graph(name)
        self.param_names = param_names or {}  # id(Parameter) -> graph input name
        self.param_values: dict[int, Tracer] = {}
        self.params_used: list[Any] = []      # the Parameter objects, in graph-input order
        self.random_ops = 0
        self.side_outputs: list[tuple[Any, Tracer]] = []  # (target, value) state updates (e.g. BN stats)

    def __enter__(self) -> "TraceContext":
        if not hasattr(_state, "stack"):
            _state.stack = []
        _state.stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _state.stack.pop()

    # -- values ---------------------------------------------------------------------------
    def input(self, name: str, type: TensorType) -> Tracer:
        return Tracer(self, self.graph.add_input(name, type))

    def param(self, parameter) -> Tracer:
        key = id(parameter)
        if key not in self.param_values:
            name = self.param_names.get(key, parameter.name)
            data = parameter._data_eager()
            self.param_values[key] = Tracer(self, self.graph.add_input(name, data.type, param=True))
            self.params_used.append(parameter)
        return self.param_values[key]

    def lift(self, x: Tracer) -> Tracer:
        """`x` as a value of this trace (a region trace captures its enclosing traces' values)."""
        if x.trace is not self:
            raise HybridError("a traced value from another trace was used here; a tracer leaked out of "
                              "its hybridized function (do not store traced values on self or in globals)")
        return x

    def value_of(self, x) -> Value:
        if isinstance(x, Tracer):
            return self.lift(x).value
        if isinstance(x, NDArray):
            return self.graph.add_node("constant", [], {"value": x._data}, loc=self._loc()).output
        raise TypeError(f"expected an array, got {type(x).__name__}")

    def rng_key(self, count: int = 1) -> Tracer:
        """The key for the next random op: (seed, counter + k) for the k-th random op of this graph,
        the same sequence eager execution draws. count > 1 reserves that many consecutive keys
        (a loop drawing them one after another) and returns the first."""
        try:
            base = self.graph.input(self.RNG_KEY)
        except KeyError:
            base = self.graph.add_input(self.RNG_KEY, TensorType((2,), "u32"))
        offset = numpy.array([0, self.random_ops], numpy.uint32)
        self.random_ops += count
        step = self.graph.add_node("constant", [], {"value": offset}).output
        return Tracer(self, self.graph.add_node("add", [base, step], loc=self._loc()).output)

    # -- ops ------------------------------------------------------------------------------
    @staticmethod
    def _loc() -> Optional[str]:
        line = user_line()
        return line.short if line else None

    def emit(self, op: str, inputs, attrs: dict, regions=()):
        values = [self.value_of(x) for x in inputs]
        types = infer_or_raise(op, [v.type for v in values], attrs, regions)
        node = self.graph.add_node(op, values, attrs, loc=self._loc(), output_types=types, regions=regions)
        outs = [Tracer(self, v) for v in node.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def flatten(tree) -> tuple[list, Any]:
    """Flatten nested tuples/lists of leaves into (leaves, structure)."""
    if isinstance(tree, (tuple, list)):
        leaves, shapes = [], []
        for item in tree:
            sub, shape = flatten(item)
            leaves.extend(sub)
            shapes.append((len(sub), shape))
        return leaves, (type(tree), shapes)
    return [tree], None


def unflatten(leaves: list, structure):
    if structure is None:
        return leaves[0]
    kind, shapes = structure
    items, i = [], 0
    for count, shape in shapes:
        items.append(unflatten(leaves[i:i + count], shape))
        i += count
    return kind(*items) if hasattr(kind, "_fields") else kind(items)    # a namedtuple takes its fields


def has_arrays(a) -> bool:
    """Whether `a` is a list/tuple holding arrays (at any depth)."""
    from .array import Array
    return isinstance(a, (list, tuple)) and any(isinstance(x, Array) or has_arrays(x) for x in a)


def array_leaves(args) -> list:
    """The arrays among `args`, lists and tuples entered depth first (the graph-input order)."""
    from .array import Array
    out = []
    for a in args:
        if isinstance(a, Array):
            out.append(a)
        elif has_arrays(a):
            out += array_leaves(a)
    return out


def trace_function(fn: Callable, args: list, name: str, param_names: Optional[dict[int, str]] = None,
                   arg_names: Optional[list[str]] = None) -> tuple[Graph, TraceContext, Any]:
    """Trace `fn(*args)`; array args become graph inputs, other args are static Python values.
    Returns (graph, context, output structure)."""
    from .array import Array

    def lift(a, label: str):
        """Array args (also inside lists/tuples, as MXNet passes RNN states) become graph inputs,
        depth first, in the order array_leaves lists them."""
        if isinstance(a, Array):
            return ctx.input(label, a.type)
        if has_arrays(a):
            return type(a)(lift(x, f"{label}_{j}") for j, x in enumerate(a))
        return a

    ctx = TraceContext(name, param_names)
    with ctx:
        traced_args = [lift(a, arg_names[i] if arg_names and i < len(arg_names) else f"data{i}")
                       for i, a in enumerate(args)]
        result = fn(*traced_args)
        leaves, structure = flatten(result)
        for leaf in leaves:
            if not isinstance(leaf, (Tracer, NDArray)):
                raise HybridError(f"{name} returned {type(leaf).__name__}; hybridized code must return arrays "
                                  f"(or tuples/lists of arrays)")
        ctx.graph.outputs = [ctx.value_of(leaf) for leaf in leaves]
        for _, value in ctx.side_outputs:
            ctx.graph.outputs.append(ctx.value_of(value))
    return ctx.graph, ctx, structure
