"""String tensors run eagerly with NumPy (hybrid/onnx/ops/strings.py): StringNormalizer, StringConcat,
StringSplit, RegexFullMatch and Equal of strings, next to numeric ops, compared with onnx's
ReferenceEvaluator; compiling such a model is refused with an error naming where it holds strings, and the
ONNX backend runs it eagerly and logs why."""
import logging

import numpy
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import hybrid as hb
from hybrid.onnx import OnnxImportError
from hybrid.onnx.backend import HybridBackend
from hybrid.onnx.importer import OnnxBlock

S, F = TensorProto.STRING, TensorProto.FLOAT
WORDS = numpy.array(["Monday", "tuesday", "WEDNESDAY", "monday", "wed-nes day"], object)


def _model():
    nodes = [
        helper.make_node("StringNormalizer", ["words"], ["normal"], case_change_action="LOWER", is_case_sensitive=0,
                         stopwords=["MONDAY"]),
        helper.make_node("Constant", [], ["suffix"], value=helper.make_tensor("suffix", S, [], [b"!"])),
        helper.make_node("StringConcat", ["normal", "suffix"], ["shouted"]),
        helper.make_node("StringSplit", ["words"], ["pieces", "counts"], delimiter="-", maxsplit=1),
        helper.make_node("RegexFullMatch", ["words"], ["capital"], pattern=r"[A-Z][a-z]*"),
        helper.make_node("Equal", ["words", "probe"], ["same"]),
        helper.make_node("Cast", ["capital"], ["capital_f"], to=F),
        helper.make_node("Mul", ["capital_f", "scale"], ["scored"]),   # numbers computed from strings
    ]
    graph = helper.make_graph(
        nodes, "strings", [helper.make_tensor_value_info("words", S, [5]), helper.make_tensor_value_info("probe", S, [1]),
                           helper.make_tensor_value_info("scale", F, [5])],
        [helper.make_tensor_value_info(n, t, shape) for n, t, shape in (
            ("shouted", S, [3]), ("pieces", S, [5, 2]), ("counts", TensorProto.INT64, [5]), ("same", TensorProto.BOOL, [5]),
            ("scored", F, [5]))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def _inputs():
    return [WORDS, numpy.array(["tuesday"], object), numpy.arange(5, dtype="float32")]


def test_string_ops_match_the_reference():
    model = _model()
    want = ReferenceEvaluator(model).run(None, dict(zip(["words", "probe", "scale"], _inputs())))
    got = OnnxBlock(model)(*_inputs())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = numpy.asarray(g)
        if w.dtype == object:
            assert g.dtype == object and g.tolist() == w.tolist()
        else:
            assert g.dtype == w.dtype
            numpy.testing.assert_array_equal(g, w)


def test_compiling_a_string_model_is_refused():
    block = OnnxBlock(_model())
    with pytest.raises(OnnxImportError, match=r"holds string tensors \(input 'words', input 'probe', "
                                              r"StringNormalizer node .*runs eagerly with NumPy"):
        block.hybridize(backend="llvm")


def test_backend_runs_string_models_eagerly_and_logs_why(caplog):
    with hb.config(log="onnx"), caplog.at_level(logging.INFO, logger="hybrid"):
        rep = HybridBackend.prepare(_model(), backend="llvm")
    assert rep.block._compiled is None
    assert any("runs eagerly, not on llvm: it holds string tensors" in r.getMessage() for r in caplog.records)
    shouted = rep.run(_inputs())[0]
    assert shouted.tolist() == ["tuesday!", "wednesday!", "wed-nes day!"]


def test_string_op_on_numbers_names_the_node():
    graph = helper.make_graph([helper.make_node("StringConcat", ["x", "x"], ["y"], name="cat")], "g",
                              [helper.make_tensor_value_info("x", F, [2])], [helper.make_tensor_value_info("y", S, None)])
    block = OnnxBlock(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]))
    with pytest.raises(OnnxImportError, match=r"StringConcat node 'cat' .*input 0 must be a string tensor"):
        block(numpy.zeros(2, "float32"))
