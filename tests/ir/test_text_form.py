"""The IR text form (printer + parser), the verifier and JSON serialization."""
import json

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import hybrid as hb
from hybrid import codegen, np, npx
from hybrid.ir import Graph, TensorType, parse, verify
from hybrid.ir.serialize import FORMAT_VERSION, dumps, graph_from_json, graph_to_json, loads
from hybrid.ir.verifier import VerifyError

MLP_TEXT = """graph @mlp(%x: f32[256,784], param %fc1.weight: f32[1024,784], param %fc1.bias: f32[1024]) -> f32[256,1024] {
  %0 = matmul(%x, %fc1.weight) {transpose_a=false, transpose_b=true} : f32[256,1024]  # model.py:12
  %1 = add(%0, %fc1.bias) : f32[256,1024]  # model.py:12
  %2 = relu(%1) : f32[256,1024]  # model.py:13
  return %2
}"""

FUSED_TEXT = """graph @f(%x: f32[8,128], %b: f32[128]) -> f32[8,128] {
  %0 = fused(%x, %b) {kind="elementwise", name="k2"} : f32[8,128] {  # f.py:3 | %0 -> b0 @0 (4.1 KB)
    graph @k2(%i0: f32[8,128], %i1: f32[128]) -> f32[8,128] {
      %0 = add(%i0, %i1) : f32[8,128]
      %1 = relu(%0) : f32[8,128]
      return %1
    }
  }
  %1 = sum(%0) {axes=[1], keepdims=false} : f32[8]  #  | %1 -> b1 @4096 (32 B)
  return %0, %1
}"""


def test_design_doc_example_round_trips():
    graph = parse(MLP_TEXT)
    verify(graph)
    assert str(graph) == MLP_TEXT
    assert [v.name for v in graph.params] == ["fc1.weight", "fc1.bias"]
    assert [v.name for v in graph.data_inputs] == ["x"]
    assert [n.loc for n in graph.nodes] == ["model.py:12", "model.py:12", "model.py:13"]
    assert graph.nodes[0].attrs == {"transpose_a": False, "transpose_b": True}


def test_fused_subgraph_and_plan_comment_round_trip():
    graph = parse(FUSED_TEXT.replace("#  | %1 -> b1", "# f.py:4 | %1 -> b1"))
    text = str(graph)
    assert parse(text) == graph and str(parse(text)) == text
    fused = graph.nodes[0]
    assert fused.op == "fused" and fused.attrs == {"kind": "elementwise", "name": "k2"}
    assert fused.loc == "f.py:3" and fused.meta["plan"] == "%0 -> b0 @0 (4.1 KB)"
    assert [(s.value, s.offset) for s in graph.memory_plan.slots] == [("%0", 0), ("%1", 4096)]
    assert [n.op for n in fused.regions[0].nodes] == ["add", "relu"]
    assert len(graph.outputs) == 2
    verify(graph)
    x, b = onp.random.default_rng(0).normal(size=(8, 128)).astype("float32"), onp.ones(128, "float32")
    out, total = codegen.build(graph, "interp")([x, b])
    onp.testing.assert_array_equal(out, onp.maximum(x + b, 0))
    onp.testing.assert_allclose(total, onp.maximum(x + b, 0).sum(axis=1), rtol=1e-6)


ATTR_VALUES = [None, True, False, 0, -7, 2**40, 0.1, -1e-30, 1e300, float("inf"), float("-inf"), "text",
               'quote " and \\ backslash', "unicode \u00e9", (), (1, 2, 3), (1.5, "a", None, (True, -2)), ((1, 2), (3,))]


@pytest.mark.parametrize("value", ATTR_VALUES, ids=[repr(v) for v in ATTR_VALUES])
def test_attribute_values_round_trip(value):
    g = Graph("attrs")
    x = g.add_input("x", TensorType((2,), "f32"))
    node = g.add_node("neg", [x])
    node.attrs["extra"] = value  # printer and parser handle any plain attribute value
    g.outputs = [node.output]
    back = parse(str(g)).nodes[0].attrs["extra"]
    assert back == value and type(back) is type(value)


def test_nan_attribute_round_trips():
    g = parse('graph @g(%x: f32[1]) -> f32[1] {\n  %0 = neg(%x) {v=nan} : f32[1]\n  return %0\n}')
    assert onp.isnan(g.nodes[0].attrs["v"])
    assert "{v=nan}" in str(g)


DTYPES = ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "uint32", "bool"]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_constants_round_trip_exactly(data):
    dtype = onp.dtype(data.draw(st.sampled_from(DTYPES)))
    shape = tuple(data.draw(st.lists(st.integers(0, 6), max_size=3)))
    value = data.draw(arrays(dtype, shape))  # includes nan, inf, -0.0, extremes; large ones print as base64
    g = Graph("c")
    node = g.add_node("constant", [], {"value": value})
    g.outputs = [node.output]
    back = parse(str(g))
    assert str(back) == str(g)
    got = back.nodes[0].attrs["value"]
    assert got.dtype == value.dtype and got.shape == value.shape
    assert got.tobytes() == value.tobytes() or onp.array_equal(got, value, equal_nan=dtype.kind == "f")


def test_traced_graphs_round_trip_and_keep_source_lines():
    def fn(x, w):
        h = npx.relu(x @ w + 1)  # LINE A
        return npx.softmax(h[:, ::2], axis=-1), np.argmax(h, 1)

    graph = hb.trace(fn, np.ones((3, 4)), np.ones((4, 6)))
    text = str(graph)
    assert parse(text) == graph
    assert "# test_text_form.py:" in text
    verify(parse(text))
    assert text.count("\n  %") == len(graph.nodes)


@pytest.mark.parametrize("text, fragment", [
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = neg(%y) : f32[2]\n  return %0\n}", "%y is used before it is defined"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = neg(%x) : f32[2]\n  %0 = neg(%x) : f32[2]\n  return %0\n}",
     "%0 is defined twice"),
    ("graph @g(%x: q32[2]) -> f32[2] {\n  return %x\n}", "unknown dtype 'q32'"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = neg(%x) : f32[2]\n  return %0\n", "end of text"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = neg(%x) ; f32[2]\n  return %0\n}", "line 2"),
    ("graph @g() -> f32[2] {\n  %0 = constant() {value=dense<f32[2]: [1.0]>} : f32[2]\n  return %0\n}",
     "has 1 values"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  return %x\n}\ngraph", "end of text"),
    ("graph @g(%x: f32[2], %x: f32[2]) -> f32[2] {\n  return %x\n}", "two inputs named %x"),
])
def test_parse_errors_name_the_problem(text, fragment):
    with pytest.raises(hb.FormatError) as info:
        parse(text)
    assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("graph @g(%x: f32[2]) -> f32[3] {\n  %0 = neg(%x) : f32[3]\n  return %0\n}", "shape rule gives"),
    ("graph @g(%x: f32[2], %y: f32[3]) -> f32[2] {\n  %0 = add(%x, %y) : f32[2]\n  return %0\n}", "do not broadcast"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = nosuchop(%x) : f32[2]\n  return %0\n}", "unknown op"),
    ("graph @g(%x: f32[2]) -> f32[2] {\n  %0 = fused(%x) {kind=\"elementwise\"} : f32[2] {\n"
     "    graph @k(%i0: f32[3]) -> f32[3] {\n      %0 = neg(%i0) : f32[3]\n      return %0\n    }\n  }\n"
     "  return %0\n}", "body's parameter list"),
])
def test_verifier_rejects_ill_typed_graphs(text, fragment):
    graph = parse(text)
    with pytest.raises((VerifyError, KeyError)) as info:
        verify(graph)
    assert fragment in str(info.value) and ("neg" in str(info.value) or "node 0" in str(info.value) or
                                            "nosuchop" in str(info.value))


def test_verifier_rejects_broken_ssa():
    g = Graph("g")
    x = g.add_input("x", TensorType((2,), "f32"))
    a = g.add_node("neg", [x])
    b = g.add_node("neg", [a.output])
    g.nodes = [b, a]  # out of topological order
    g.outputs = [b.output]
    with pytest.raises(VerifyError, match="not defined before"):
        verify(g)
    g.nodes = [a, b]
    g.outputs = [hb.ir.Value(TensorType((2,), "f32"))]
    with pytest.raises(VerifyError, match="undefined value"):
        verify(g)


def test_graph_copy_is_deep_and_prints_the_same():
    graph = parse(FUSED_TEXT)
    clone = graph.copy()
    assert clone == graph and clone.nodes[0] is not graph.nodes[0]
    assert clone.nodes[0].regions[0] is not graph.nodes[0].regions[0]
    clone.nodes[1].attrs["keepdims"] = True
    assert graph.nodes[1].attrs["keepdims"] is False


def test_json_serialization_round_trip_and_version():
    graph = parse(MLP_TEXT)
    doc = graph_to_json(graph)
    assert doc["format"] == "hybrid-ir" and doc["format_version"] == FORMAT_VERSION
    assert loads(dumps(graph)) == graph
    assert json.loads(dumps(graph))["ir"] == MLP_TEXT
    with pytest.raises(hb.FormatError, match="version 99 is not supported"):
        graph_from_json(dict(doc, format_version=99), "m.json")
    with pytest.raises(hb.FormatError, match="m.json: not a hybrid IR document"):
        graph_from_json({"ir": MLP_TEXT}, "m.json")
    with pytest.raises(hb.FormatError, match="m.json: not valid JSON"):
        loads(dumps(graph)[:-10], "m.json")
    with pytest.raises(hb.FormatError, match="m.json: node 2 \\(relu\\)"):
        graph_from_json(dict(doc, ir=MLP_TEXT.replace(": f32[256,1024]  # model.py:13", ": f32[1,1]")), "m.json")
    with pytest.raises(hb.FormatError, match="m.json: IR parse error at line 1"):
        graph_from_json(dict(doc, ir="graph @g("), "m.json")


def test_graph_names_are_printable():
    assert Graph("<lambda>").name == "_lambda_"
    g = hb.trace(lambda x: x * 2, np.ones((2,)))
    assert parse(str(g)) == g


def test_graph_without_results_round_trips():
    compiled = hb.hybridize(lambda x: (), backend="interp")
    assert compiled(np.ones((2,))) == ()
    text = compiled.ir()
    assert text.endswith("-> () {\n  return\n}")
    assert str(parse(text)) == text
