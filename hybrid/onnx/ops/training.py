"""ai.onnx.preview.training: Gradient, the vector-Jacobian product of a sub-graph of the model, and the
optimizer updates Adagrad, Momentum and Adam (elementwise formulas of the spec, so they compile).

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
from ...frontend import np
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


def _optimizer_inputs(node: OnnxNode, groups: int) -> tuple:
    """R (learning rate), T (update count) and `groups` runs of n tensors each (X..., G..., ...)."""
    if len(node.inputs) < 2 + groups or (len(node.inputs) - 2) % groups:
        raise node.fail(f"{node.op_type} takes R, T and {groups} groups of equally many tensors, got "
                        f"{len(node.inputs)} inputs")
    n = (len(node.inputs) - 2) // groups
    rest = node.inputs[2:]
    return node.input(0), node.input(1), [rest[k * n:(k + 1) * n] for k in range(groups)]


def _as(x, like):
    return np.asarray(x).astype(like.dtype)


@converts("Adagrad")
def _adagrad(node: OnnxNode):
    """X -= r * G' / (sqrt(H + G'^2) + epsilon), r = R / (1 + T * decay_factor), G' = G + norm_coefficient * X."""
    r, t, (xs, gs, hs) = _optimizer_inputs(node, 3)
    decay, eps, norm = (node.attr(a, 0.0) for a in ("decay_factor", "epsilon", "norm_coefficient"))
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        rate = _as(r / (_as(t, r) * decay + 1.0), x)
        g = g + x * norm
        h = h + g * g
        new_x.append(x - rate * g / (np.sqrt(h) + eps))
        new_h.append(h)
    return tuple(new_x + new_h)


@converts("Momentum")
def _momentum(node: OnnxNode):
    """V = alpha * V + beta' * G' (beta' = 1 at T = 0), then X -= R * V (standard) or R * (G' + alpha * V)
    (nesterov); G' = G + norm_coefficient * X."""
    r, t, (xs, gs, vs) = _optimizer_inputs(node, 3)
    alpha, beta, norm, mode = node.attr("alpha"), node.attr("beta"), node.attr("norm_coefficient"), node.attr("mode")
    if mode not in ("standard", "nesterov"):
        raise node.fail(f"mode must be 'standard' or 'nesterov', got {mode!r}")
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        beta_t = _as(np.where(t > 0, beta, 1.0), x)
        g = g + x * norm
        v = v * alpha + beta_t * g
        step = v if mode == "standard" else g + v * alpha
        new_x.append(x - _as(r, x) * step)
        new_v.append(v)
    return tuple(new_x + new_v)


@converts("Adam")
def _adam(node: OnnxNode):
    """V = alpha V + (1 - alpha) G', H = beta H + (1 - beta) G'^2, X -= R' V / (sqrt(H) + epsilon) with
    R' = R sqrt(1 - beta^T) / (1 - alpha^T) (R at T = 0), then X *= 1 - norm_coefficient_post."""
    r, t, (xs, gs, vs, hs) = _optimizer_inputs(node, 4)
    alpha, beta = node.attr("alpha", 0.9), node.attr("beta", 0.999)
    eps, norm, post = (node.attr(a, 0.0) for a in ("epsilon", "norm_coefficient", "norm_coefficient_post"))
    steps = _as(t, r)
    corrected = r * np.sqrt(1.0 - np.power(beta, steps)) / (1.0 - np.power(alpha, steps))
    rate = np.where(t > 0, corrected, r)
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        g = g + x * norm
        v = v * alpha + g * (1.0 - alpha)
        h = h * beta + g * g * (1.0 - beta)
        x = (x - _as(rate, x) * (v / (np.sqrt(h) + eps))) * (1.0 - post)
        new_x.append(x)
        new_v.append(v)
        new_h.append(h)
    return tuple(new_x + new_v + new_h)
