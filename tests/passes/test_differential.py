"""Differential tests on interp: random graphs built from the registry's ops (random shapes that
broadcast) give the same results at opt levels 1, 2 and 3 (frozen parameters) as at level 0; and
random conv/dense + BatchNorm layers give the same results after BatchNorm folding and fusion."""
import numpy
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import hybrid as hb
from hybrid.codegen.interp import run_graph
from hybrid.errors import ShapeError
from hybrid.ir import Graph, TensorType, all_ops


def _ops_taking(arity: int) -> list[str]:
    """Elementwise ops of the registry that take `arity` f32 operands to an f32 result, no
    attributes (by their shape rule, and by their reference on a sample)."""
    t = TensorType((2,), "f32")
    sample = numpy.array([0.5, 1.5], numpy.float32)
    names = []
    for name, op in sorted(all_ops().items()):
        if op.kind != "elementwise" or op.attrs:
            continue
        try:
            out = op.infer([t] * arity)
        except (ShapeError, TypeError, ValueError):
            continue
        if out == t and numpy.asarray(op.ref(*[sample] * arity)).dtype == numpy.float32:
            names.append(name)
    return names


UNARY, BINARY = _ops_taking(1), _ops_taking(2)
CONSTANTS = [0.0, 1.0, 2.0, -0.5]


@st.composite
def graphs(draw):
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))

    def part_of_base():
        """A shape that broadcasts to `base`: some leading axes dropped, some sizes set to 1."""
        start = draw(st.integers(0, len(base) - 1))
        return tuple(1 if draw(st.booleans()) else d for d in base[start:])

    g = Graph("random")
    values = [g.add_input(f"x{i}", TensorType(part_of_base(), "f32")) for i in range(draw(st.integers(1, 3)))]
    values.append(g.add_input("p", TensorType(part_of_base(), "f32"), param=True))
    weights = 0
    for _ in range(draw(st.integers(1, 14))):
        step = draw(st.sampled_from(["unary", "binary", "binary", "constant", "reduce", "broadcast", "reshape",
                                     "transpose", "matmul", "where"]))
        v = draw(st.sampled_from(values))
        if step == "unary":
            out = g.add_node(draw(st.sampled_from(UNARY)), [v]).output
        elif step == "binary":
            w = draw(st.sampled_from(values))
            out = g.add_node(draw(st.sampled_from(BINARY)), [v, w] if draw(st.booleans()) else [w, v]).output
        elif step == "constant":
            value = numpy.full(part_of_base() if draw(st.booleans()) else (), draw(st.sampled_from(CONSTANTS)),
                               numpy.float32)
            c = g.add_node("constant", [], {"value": value}).output
            out = g.add_node(draw(st.sampled_from(["add", "mul", "sub", "div"])), [v, c]).output
        elif step == "reduce":
            axes = tuple(sorted(draw(st.sets(st.integers(0, v.type.ndim - 1), min_size=1))))
            out = g.add_node(draw(st.sampled_from(["sum", "max", "min"])), [v], {"axes": axes, "keepdims": True}).output
        elif step == "broadcast":
            out = g.add_node("broadcast_to", [v], {"shape": base}).output
        elif step == "reshape":
            lead = g.add_node("reshape", [v], {"shape": (1,) + v.shape}).output
            out = g.add_node("reshape", [lead], {"shape": v.shape}).output if draw(st.booleans()) else lead
            if out.type.ndim > len(base):
                out = g.add_node("reshape", [out], {"shape": v.shape}).output
        elif step == "transpose":
            perm = tuple(draw(st.permutations(range(v.type.ndim))))
            back = tuple(numpy.argsort(perm))
            out = g.add_node("transpose", [g.add_node("transpose", [v], {"perm": perm}).output], {"perm": back}).output
        elif step == "matmul":
            if v.type.ndim < 2:
                continue
            q = v.shape[-1]
            w = g.add_input(f"w{weights}", TensorType((q, q), "f32"), param=draw(st.booleans()))
            weights += 1
            if draw(st.booleans()):
                w = g.add_node("transpose", [w], {"perm": (1, 0)}).output
            out = g.add_node("matmul", [v, w], {"transpose_a": False, "transpose_b": draw(st.booleans())}).output
        else:
            w = draw(st.sampled_from(values))
            cond = g.add_node("gt", [v, w]).output
            out = g.add_node("where", [cond, v, w]).output
        values.append(out)
    g.outputs = [values[-1]] + ([draw(st.sampled_from(values[:-1]))] if draw(st.booleans()) else [])
    return g


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN inputs are part of the test
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs(), seed=st.integers(0, 2 ** 16))
def test_every_opt_level_matches_level_zero(graph, seed, arena_run):
    """Levels 2 and 3 also run from one arena laid out by their memory plan."""
    note(str(graph))
    rng = numpy.random.default_rng(seed)
    inputs = [rng.uniform(-2, 2, v.shape).astype(numpy.float32) for v in graph.inputs]
    frozen = {v.name: a for v, a in zip(graph.inputs, inputs) if v.name in graph.param_names}
    expected = run_graph(hb.passes.optimize(graph, 0).graph, inputs)
    for level in (1, 2, 3):
        optimized = hb.passes.optimize(graph, level, freeze=level == 3, frozen=frozen if level == 3 else None).graph
        outputs = arena_run(optimized, inputs) if level >= 2 else run_graph(optimized, inputs)
        for got, want in zip(outputs, expected):
            assert got.shape == want.shape and got.dtype == want.dtype
            numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True,
                                          err_msg=f"opt_level {level}\n{graph}\n{optimized}")


@st.composite
def conv_bn_graphs(draw):
    """conv2d or dense, optional bias, then a per-channel scale and shift (inference BatchNorm)
    and an activation: the pattern BatchNorm folding and epilogue fusion rewrite."""
    g = Graph("layer")
    channels = draw(st.integers(1, 4))
    if draw(st.booleans()):
        x = g.add_input("x", TensorType((draw(st.integers(1, 2)), draw(st.integers(1, 3)), 5, 5), "f32"))
        k = draw(st.integers(1, 3))
        w = g.add_input("w", TensorType((channels, x.shape[1], k, k), "f32"), param=True)
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
        out = g.add_node("conv2d", [x, w], {"stride": (stride, stride), "padding": (pad, pad), "dilation": (1, 1),
                                            "groups": 1}).output
        per_channel = (1, channels, 1, 1)
    else:
        x = g.add_input("x", TensorType((3, 4), "f32"))
        transpose_b = draw(st.booleans())
        w = g.add_input("w", TensorType((channels, 4) if transpose_b else (4, channels), "f32"), param=True)
        out = g.add_node("matmul", [x, w], {"transpose_a": False, "transpose_b": transpose_b}).output
        per_channel = (channels,)
    rng = numpy.random.default_rng(draw(st.integers(0, 100)))
    if draw(st.booleans()):
        bias = g.add_node("constant", [], {"value": rng.standard_normal(per_channel).astype(numpy.float32)}).output
        out = g.add_node("add", [out, bias]).output
    scale = g.add_node("constant", [], {"value": rng.standard_normal(per_channel).astype(numpy.float32)}).output
    out = g.add_node("mul", [scale, out] if draw(st.booleans()) else [out, scale]).output
    shift = g.add_input("shift", TensorType(per_channel, "f32"), param=True)
    out = g.add_node("add", [out, shift]).output
    g.outputs = [g.add_node(draw(st.sampled_from(["relu", "tanh", "neg"])), [out]).output]
    return g


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=conv_bn_graphs(), seed=st.integers(0, 2 ** 16))
def test_batchnorm_folding_and_epilogues_match_level_zero(graph, seed, arena_run):
    note(str(graph))
    rng = numpy.random.default_rng(seed)
    inputs = [rng.uniform(-2, 2, v.shape).astype(numpy.float32) for v in graph.inputs]
    frozen = {v.name: a for v, a in zip(graph.inputs, inputs) if v.name in graph.param_names}
    expected = run_graph(graph, inputs)
    result = hb.passes.optimize(graph, 3, freeze=True, frozen=frozen)
    scaled = [n for n in result.stage("fold_batchnorm").graph.nodes
              if n.op == "mul" and n.output.type == graph.outputs[0].type]
    assert not scaled, "the per-channel scale was not folded into the weights"
    for got, want in zip(arena_run(result.graph, inputs), expected):
        numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
