"""ai.onnx.preview.training's Gradient: the gradient of a sub-graph's output with respect to some of its
values, traced, differentiated by graph autodiff and replayed, so it runs eagerly and compiled. Compared
with the closed-form gradient in float64."""
import numpy
import pytest
from onnx import TensorProto, helper, numpy_helper

from hybrid.onnx import OnnxImportError
from hybrid.onnx.importer import OnnxBlock

F = TensorProto.FLOAT
rng = numpy.random.default_rng(0)
X = rng.normal(size=(2, 3)).astype("float32")
W = rng.normal(size=(3, 4)).astype("float32")
Z = rng.normal(size=(2, 4)).astype("float32")


def _model(y: str = "s"):
    """s = sum(tanh(x @ w) * z): w an initializer (a parameter), z a model input that the sub-graph reads
    without being differentiated (a free value of the traced sub-graph)."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Mul", ["t", "z"], ["p"]), helper.make_node("ReduceSum", ["p"], ["s"], keepdims=0),
             helper.make_node("Gradient", ["x", "w"], ["ds_dx", "ds_dw"], domain="ai.onnx.preview.training",
                              xs=["x", "w"], y=y)]
    graph = helper.make_graph(nodes, "gradient", [helper.make_tensor_value_info("x", F, X.shape),
                                                  helper.make_tensor_value_info("z", F, Z.shape)],
                              [helper.make_tensor_value_info(n, F, None) for n in ("s", "ds_dx", "ds_dw")],
                              [numpy_helper.from_array(W, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("ai.onnx.preview.training", 1)])


def _expected():
    x, w, z = (a.astype("float64") for a in (X, W, Z))
    back = z * (1 - numpy.tanh(x @ w) ** 2)
    return (numpy.tanh(x @ w) * z).sum(), back @ w.T, x.T @ back


@pytest.mark.parametrize("backend", [None, "interp", "llvm"])
def test_gradient_of_a_sub_graph(backend):
    block = OnnxBlock(_model())
    if backend:
        block.hybridize(backend=backend)
    for got, want in zip(block(X, Z), _expected()):
        numpy.testing.assert_allclose(numpy.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_gradient_of_an_unknown_value_is_refused():
    with pytest.raises(OnnxImportError, match=r"Gradient node .*y 'nowhere' is not computed"):
        OnnxBlock(_model("nowhere"))(X, Z)
