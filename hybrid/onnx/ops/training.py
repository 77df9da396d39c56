"""ai.onnx.preview.training's Gradient: the vector-Jacobian product of a sub-graph of the model.

The nodes that compute `y` from the `xs` are traced into a hybrid graph of their own (the values
they read from elsewhere in the model become extra inputs, so the sub-graph can be traced inside
an enclosing trace), differentiated by graph autodiff (core/ad.py, seeded with ones: the gradient
of sum(y)), and the joint graph is replayed on the node's inputs, so the gradients are computed
eagerly or emitted into the model's compiled graph like any other op."""
from __future__ import annotations

import onnx

from ...core.ad import autodiff
from ...core.array import Tracer
from ...core.replay import replay
from ...core.tracing import trace_function
from .base import OnnxNode, converts


def _sub_graph(graph: onnx.GraphProto, xs: list[str], y: str) -> list[onnx.NodeProto]:
    """The nodes of `graph` that y depends on, stopping at the xs, in graph order."""
    producer = {out: n for n in graph.node for out in n.output if out}
    needed, stack = set(), [y]
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if name in xs or node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(i for i in node.input if i)
    return [n for n in graph.node if id(n) in needed]


@converts("Gradient")
def _gradient(node: OnnxNode):
    xs, y = list(node.attr("xs")), node.attr("y")
    if node.num_outputs != len(xs):
        raise node.fail(f"Gradient has {node.num_outputs} outputs for {len(xs)} xs; it needs one per x")
    missing = [x for x in xs if x not in node.env]
    if missing:
        raise node.fail(f"xs {missing} are not values of the graph (inputs, initializers or node outputs)")
    nodes = _sub_graph(node.graph, xs, y)
    produced = {out for n in nodes for out in n.output}
    if y not in produced and y not in xs:
        raise node.fail(f"y {y!r} is not computed by any node of the graph")
    reads = [name for n in nodes for name in n.input if name and name not in produced and name not in xs]
    # traced values from elsewhere in the model enter as inputs; eager ones (constants) stay constants
    free = list(dict.fromkeys(name for name in reads if isinstance(node.env[name], Tracer)))
    sub = onnx.helper.make_graph(nodes, f"{node.name or 'gradient'}_of_{y}", [],
                                 [onnx.helper.make_empty_tensor_value_info(y)])

    def forward(*values):
        env = dict(node.env)
        env.update(zip(xs + free, values))
        return node.runner.fork().run(sub, env)[0]

    values = [node.env[name] for name in xs + free]
    names = [f"x{i}" for i in range(len(xs))] + [f"free{i}" for i in range(len(free))]
    graph, _, _ = trace_function(forward, values, sub.name, arg_names=names)
    joint = autodiff(graph, wrt=names[:len(xs)], seed="ones", outputs=[0])
    return tuple(replay(joint, values, {})[1:])
