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


def _optimizer_model():
    """Adagrad, Momentum (standard and Nesterov) and Adam on two tensors each, at update count T."""
    domain = "ai.onnx.preview.training"
    nodes = [
        helper.make_node("Adagrad", ["r", "t", "x1", "x2", "g1", "g2", "h1", "h2"], ["ax1", "ax2", "ah1", "ah2"],
                         domain=domain, decay_factor=0.1, epsilon=1e-3, norm_coefficient=0.01),
        helper.make_node("Momentum", ["r", "t", "x1", "g1", "v1"], ["mx1", "mv1"], domain=domain, alpha=0.9,
                         beta=0.5, mode="standard", norm_coefficient=0.02),
        helper.make_node("Momentum", ["r", "t", "x2", "g2", "v2"], ["nx2", "nv2"], domain=domain, alpha=0.8,
                         beta=0.7, mode="nesterov", norm_coefficient=0.0),
        helper.make_node("Adam", ["r", "t", "x1", "x2", "g1", "g2", "v1", "v2", "h1", "h2"],
                         ["dx1", "dx2", "dv1", "dv2", "dh1", "dh2"], domain=domain, alpha=0.85, beta=0.95,
                         epsilon=1e-4, norm_coefficient=0.01, norm_coefficient_post=0.02),
    ]
    shapes = {"x1": (2, 3), "x2": (4,), "g1": (2, 3), "g2": (4,), "v1": (2, 3), "v2": (4,), "h1": (2, 3), "h2": (4,)}
    inputs = [helper.make_tensor_value_info("r", F, []), helper.make_tensor_value_info("t", TensorProto.INT64, [])]
    inputs += [helper.make_tensor_value_info(n, F, s) for n, s in shapes.items()]
    outputs = [o for n in nodes for o in n.output]
    graph = helper.make_graph(nodes, "optimizers", inputs, [helper.make_tensor_value_info(o, F, None) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, 1)])
    values = {"r": numpy.array(0.1, "float32")}
    values.update({n: rng.normal(size=s).astype("float32") for n, s in shapes.items()})
    for n in ("h1", "h2"):
        values[n] = numpy.abs(values[n])
    return model, values


@pytest.mark.parametrize("step", [0, 3])
@pytest.mark.parametrize("backend", [None, "interp", "llvm",
                                     pytest.param("cuda", marks=pytest.mark.slow)])
def test_optimizer_updates_match_the_reference(backend, step):
    """T = 0 takes the first-step branches (Momentum's beta is 1, Adam has no bias correction)."""
    from onnx.reference import ReferenceEvaluator
    model, values = _optimizer_model()
    values = {"r": values.pop("r"), "t": numpy.array(step, "int64"), **values}
    want = ReferenceEvaluator(model).run(None, values)
    block = OnnxBlock(model)
    if backend:
        block.hybridize(backend=backend, **({"runtime": "emulator"} if backend == "cuda" else {}))
    for got, w in zip(block(*values.values()), want):
        numpy.testing.assert_allclose(numpy.asarray(got), w, rtol=1e-5, atol=1e-6)
