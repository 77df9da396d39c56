# Graph-level reverse-mode autodiff.
#
# Stages:
#   1. emit: copy the forward graph's inputs and nodes into a trace, noting the nodes
#      whose float outputs depend on the requested inputs ("active" nodes)
#   2. seed: one cotangent per differentiated output, either ones (a loss summed) or a new
#      graph input `grad.<i>` (a compiled backward called with the caller's cotangents)
#   3. sweep: the registry's gradient rules run backward over the active nodes on traced values
#      (the same `propagate` as the eager tape), emitting the backward nodes
#   4. outputs: the original outputs, then one gradient per requested input
# `forward_backward` splits a joint graph into a forward graph that also returns the values the
# backward reads ("saved"), and a backward graph of (saved values, cotangents) -> gradients.
# The rules are written with core arrays and hybrid.core.lax, so tracing them emits the backward.
"""Graph autodiff: forward graph -> joint forward+backward graph, or a forward/backward pair."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..errors import HybridError
from ..ir.graph import Graph, Node, Value
from ..ir.registry import get_op
from ..ir.ops.complex import DIRECT_COMPLEX_GRAD, HOLOMORPHIC_GRAD
from ..ir.types import is_complex, is_float, is_inexact, is_integer
from . import lax
from .array import Tracer
from .tape import TapeNode, complex_gradient_error, propagate
from .tracing import TraceContext


@dataclass
class Emitted:
    """A graph emitted into a trace, with gradients: its inputs' and outputs' Tracers, and one
    gradient per requested input."""
    inputs: dict[str, Tracer]
    outputs: list[Tracer]
    grads: list[Tracer]


def emit_with_grads(ctx: TraceContext, graph: Graph, wrt: Sequence[str], outputs: Sequence[int],
                    cotangent: Callable[[int, Tracer], Tracer]) -> Emitted:
    """Emit `graph` into the trace `ctx` (its inputs become new inputs of the same names), then
    the gradient of sum(cotangent(i, out_i) * out_i) over `outputs` for each input named in `wrt`."""
    missing = [name for name in wrt if name not in {v.name for v in graph.inputs}]
    if missing:
        raise HybridError(f"autodiff: graph @{graph.name} has no inputs {missing}; its inputs are "
                          f"{[v.name for v in graph.inputs]}")
    live = active_values(graph, wrt)
    env: dict[Value, Tracer] = {}
    for v in graph.inputs:
        env[v] = Tracer(ctx, ctx.graph.add_input(v.name, v.type, param=v.name in graph.param_names))
    tape = []
    for node in graph.nodes:
        operands = [env[v] for v in node.inputs]
        rule = None
        if node.regions:   # control flow: its own forward (saving per-step residuals) and reverse rule
            from .control_ad import emit_forward
            outs, rule = emit_forward(ctx, node, operands)
        else:
            new = ctx.graph.add_node(node.op, [x.value for x in operands], node.attrs, node.loc,
                                     [v.type for v in node.outputs])
            outs = [Tracer(ctx, v) for v in new.outputs]
        env.update(zip(node.outputs, outs))
        if any(v in live for v in node.outputs):
            tape.append(TapeNode(node.op, node.attrs, operands, outs, rule))
    active = {id(env[v]) for v in live}     # the Tracers that gradients flow into
    cotangents: dict[int, Tracer] = {}
    for i in outputs:
        out = env[graph.outputs[i]]
        seed = cotangent(i, out)
        if id(out) in active:
            previous = cotangents.get(id(out))
            cotangents[id(out)] = seed if previous is None else previous + seed
    by_name = {v.name: env[v] for v in graph.inputs}
    targets = [by_name[name] for name in wrt]
    propagate(reversed(tape), cotangents, lambda x: id(x) in active, {id(t) for t in targets})
    grads = [cotangents[id(t)] if id(t) in cotangents else lax.zeros_like(t) for t in targets]
    return Emitted(by_name, [env[v] for v in graph.outputs], grads)


def active_values(graph: Graph, wrt: Sequence[str]) -> set[Value]:
    """The values of `graph` that depend on the inputs named in `wrt` through differentiable ops:
    the only ones a gradient flows into (stop_gradient and comparisons cut it). Float and complex
    values; integer ones only on a path from an integer input in `wrt` (the eager tape's rule,
    hybrid.core.tape.carries_gradient: integer math on float values cuts the path)."""
    active = {v for v in graph.inputs if v.name in wrt and (is_inexact(v.dtype) or is_integer(v.dtype))}
    for node in graph.nodes:
        if get_op(node.op).differentiable and any(v in active for v in node.inputs):
            complex_value = next((v for v in list(node.inputs) + list(node.outputs) if is_complex(v.dtype)), None)
            if complex_value is not None and node.op not in HOLOMORPHIC_GRAD | DIRECT_COMPLEX_GRAD:
                raise complex_gradient_error(node.op, complex_value.dtype, node.loc)
            integer_path = any(v in active and is_integer(v.dtype) for v in node.inputs)
            active.update(o for o in node.outputs if is_inexact(o.dtype) or (integer_path and is_integer(o.dtype)))
    return active


def _differentiable_outputs(graph: Graph, outputs: Optional[Sequence[int]], live: frozenset = frozenset()) -> list[int]:
    """The outputs a cotangent is seeded for: float ones, and integer ones in `live` (on an integer
    gradient path: active_values)."""
    chosen = range(len(graph.outputs)) if outputs is None else outputs
    return [i for i in chosen if is_float(graph.outputs[i].dtype)
            or (is_integer(graph.outputs[i].dtype) and graph.outputs[i] in live)]


def autodiff(graph: Graph, wrt: Optional[Sequence[str]] = None, seed: str = "ones",
             outputs: Optional[Sequence[int]] = None, **_) -> Graph:
    """The joint graph: `graph`'s outputs, then d(sum of seeded outputs)/d(input) for each input
    named in `wrt` (default: every parameter). `seed`: "ones", or "inputs" for cotangent inputs
    `grad.<i>` appended after the original inputs. `outputs`: which outputs to differentiate."""
    if seed not in ("ones", "inputs"):
        raise HybridError(f"autodiff: seed must be 'ones' or 'inputs', got {seed!r}")
    wrt = [v.name for v in graph.params] if wrt is None else list(wrt)

    def cotangent(i: int, out: Tracer) -> Tracer:
        return ctx.input(f"grad.{i}", out.type) if seed == "inputs" else lax.full_like(out, 1)

    ctx = TraceContext(graph.name)
    with ctx:
        emitted = emit_with_grads(ctx, graph, wrt, _differentiable_outputs(graph, outputs, active_values(graph, wrt)),
                                  cotangent)
        ctx.graph.outputs = [ctx.value_of(x) for x in emitted.outputs + emitted.grads]
    return ctx.graph


@dataclass
class ForwardBackward:
    """A compiled-training pair.
    forward:  the original inputs -> the original outputs, then the saved values
    backward: (saved.<k> values, the forward inputs it reads, by their names, and `grad.<i>`
              cotangents of the `differentiated` outputs) -> the gradients of `wrt`
    `saved[k]` is the forward output position that feeds the backward input `saved.<k>`."""
    forward: Graph
    backward: Graph
    saved: list[int]
    differentiated: list[int]


def forward_backward(graph: Graph, wrt: Sequence[str], outputs: Optional[Sequence[int]] = None) -> ForwardBackward:
    """Split the joint graph so that the forward saves only the values the backward reads:
    forward intermediates (an output already returned is not returned twice); the backward
    reads forward inputs directly and rebuilds constants instead of saving them."""
    joint = autodiff(graph, wrt, seed="inputs", outputs=outputs)
    differentiated = _differentiable_outputs(graph, outputs, active_values(graph, wrt))
    n_out, n_fwd, n_in = len(graph.outputs), len(graph.nodes), len(graph.inputs)
    forward_nodes, backward_nodes = joint.nodes[:n_fwd], joint.nodes[n_fwd:]
    forward_inputs, cotangent_inputs = joint.inputs[:n_in], joint.inputs[n_in:]
    grads = joint.outputs[n_out:]
    constants = [node for node in forward_nodes if node.op == "constant"]
    live = _live(constants + backward_nodes, grads)
    defined = {v for node in live for v in node.outputs} | set(cotangent_inputs) | set(forward_inputs)
    crossing: list[Value] = []
    for v in [v for node in live for v in node.inputs] + grads:
        if v not in defined and v not in crossing:
            crossing.append(v)
    returned = list(joint.outputs[:n_out])
    extra = [v for v in crossing if v not in returned]
    positions = {v: i for i, v in reversed(list(enumerate(returned + extra)))}  # first occurrence
    read_inputs = [v for v in forward_inputs if any(v in node.inputs for node in live) or v in grads]
    forward = _build(graph.name + ".forward", [(v, v.name, v.name in joint.param_names) for v in forward_inputs],
                     forward_nodes, returned + extra)
    backward = _build(graph.name + ".backward",
                      [(v, f"saved.{k}", False) for k, v in enumerate(crossing)] +
                      [(v, v.name, v.name in joint.param_names) for v in read_inputs] +
                      [(v, v.name, False) for v in cotangent_inputs], live, grads)
    return ForwardBackward(forward, backward, [positions[v] for v in crossing], differentiated)


def _live(nodes: list[Node], outputs: list[Value]) -> list[Node]:
    """The nodes some output depends on, in their original order."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if any(v in needed for v in node.outputs):
            live.append(node)
            needed.update(node.inputs)
    return live[::-1]


def _build(name: str, inputs: list[tuple[Value, str, bool]], nodes: list[Node], outputs: list[Value]) -> Graph:
    g = Graph(name)
    mapping = {v: g.add_input(label, v.type, param) for v, label, param in inputs}
    for node in nodes:
        new = g.add_node(node.op, [mapping[v] for v in node.inputs], node.attrs, node.loc,
                         [v.type for v in node.outputs], node.regions)
        mapping.update(zip(node.outputs, new.outputs))
    g.outputs = [mapping[v] for v in outputs]
    return g
