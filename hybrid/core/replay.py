"""Run a loaded graph node by node through `dispatch.bind`, so it works eagerly and when
traced again (e.g. by a hybridized SymbolBlock compiling it for another backend)."""
from __future__ import annotations

import numpy

from ..errors import HybridError
from ..ir.graph import Graph, Value
from . import rng
from .array import NDArray
from .dispatch import bind
from .tracing import TraceContext, current_trace


def count_random_ops(graph: Graph) -> int:
    """The keys one run of `graph` takes from the generator, as many as its trace reserved: one per
    random op; a scan's body draws `length` times what one step draws (its carried key walks
    through them, core/control.py); a while loop whose body draws takes one (it seeds a stream)."""
    count = 0
    for node in graph.nodes:
        if node.op == "random_uniform":
            count += 1
        elif node.op == "scan":
            count += node.attrs["length"] * count_random_ops(node.regions[0])
        elif node.op == "while_loop":
            count += 1 if count_random_ops(node.regions[1]) else 0
        else:   # a branch's or a fused kernel's random ops take keys of the enclosing graph
            count += sum(count_random_ops(region) for region in node.regions)
    return count


def _rng_base(count: int):
    """The key for a replayed graph that draws `count` times: the graph adds its own offsets
    0..count-1, so the generator (or the enclosing trace) advances by `count`, as it did when
    the graph was traced."""
    trace = current_trace()
    if trace is not None:
        return trace.rng_key(count)
    return NDArray(rng.take_keys(count))


def _replay_regions(node, args: list) -> list:
    """A node holding regions, through the control-flow layer (a kernel's body inline)."""
    from . import control

    run = lambda region, xs: replay(region, list(xs), {})  # noqa: E731
    if node.op == "fused":
        return run(node.regions[0], args)
    if node.op == "cond":
        outs = control.switch(args[0], [lambda *xs, g=g: tuple(run(g, xs)) for g in node.regions], *args[1:])
        return list(outs)
    n = node.attrs["num_carry"]
    if node.op == "while_loop":
        cond, body = node.regions
        consts = args[n:]
        return list(control.while_loop(lambda c: run(cond, [*c, *consts])[0],
                                       lambda c: tuple(run(body, [*c, *consts])), tuple(args[:n])))
    if node.op == "scan":
        num_xs = node.attrs["num_xs"]
        consts = args[n + num_xs:]

        def step(carry, x):
            outs = run(node.regions[0], [*carry, *x, *consts])
            return tuple(outs[:n]), tuple(outs[n:])

        carry, ys = control.scan(step, tuple(args[:n]), tuple(args[n:n + num_xs]), node.attrs["length"],
                                 node.attrs["reverse"])
        return list(carry) + list(ys)
    raise HybridError(f"replay: no rule for the region op {node.op}")


def replay(graph: Graph, inputs: list, params: dict, on_node=None) -> list:
    """The graph's outputs for `inputs` (data inputs in order) and `params` (by name);
    `on_node(node, input arrays, output arrays)` sees every top-level node (Block.register_op_hook)."""
    data_inputs = [v for v in graph.data_inputs if v.name != TraceContext.RNG_KEY]
    if len(inputs) != len(data_inputs):
        names = ", ".join(f"{v.name}: {v.type}" for v in data_inputs)
        raise HybridError(f"graph @{graph.name} takes {len(data_inputs)} inputs ({names}), got {len(inputs)}")
    env: dict[Value, object] = {}
    for value, x in zip(data_inputs, inputs):
        x = NDArray(numpy.asarray(x)) if isinstance(x, numpy.ndarray) else x
        if tuple(x.shape) != value.shape or x.type.dtype != value.dtype:
            raise HybridError(f"input {value.name} of graph @{graph.name} must be {value.type}, got "
                              f"{x.type}")
        env[value] = x
    for value in graph.params:
        env[value] = params[value.name]
    for value in graph.inputs:
        if value.name == TraceContext.RNG_KEY:
            env[value] = _rng_base(count_random_ops(graph))
    for node in graph.nodes:
        if node.regions:
            outs = _replay_regions(node, [env[v] for v in node.inputs])
        else:
            result = bind(node.op, *[env[v] for v in node.inputs], **node.attrs)
            outs = result if isinstance(result, tuple) else (result,)
        for value, out in zip(node.outputs, outs):
            env[value] = out
        if on_node is not None:
            on_node(node, [env[v] for v in node.inputs], list(outs))
    return [env[v] for v in graph.outputs]
