"""Small ONNX models built with onnx.helper, shared by the ONNX tests."""
from __future__ import annotations

import numpy
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp_model(opset: int = 17, batch=None, seed: int = 0, dtype: str = "float32"):
    """Gemm -> Relu -> MatMul + Add -> Softmax, with a symbolic batch dimension by default.
    Returns (model, initializer values)."""
    rng = numpy.random.default_rng(seed)
    weights = {"fc1.w": rng.normal(0, 0.5, (6, 8)).astype(dtype), "fc1.b": rng.normal(0, 0.1, 8).astype(dtype),
               "fc2.w": rng.normal(0, 0.5, (8, 3)).astype(dtype), "fc2.b": rng.normal(0, 0.1, 3).astype(dtype)}
    elem = helper.np_dtype_to_tensor_dtype(numpy.dtype(dtype))
    nodes = [helper.make_node("Gemm", ["x", "fc1.w", "fc1.b"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "fc2.w"], ["m"], name="fc2"),
             helper.make_node("Add", ["m", "fc2.b"], ["logits"], name="bias"),
             helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", elem, [batch or "N", 6])],
                              [helper.make_tensor_value_info("y", elem, [batch or "N", 3])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model, weights


def reference(model: onnx.ModelProto, *inputs: numpy.ndarray) -> list[numpy.ndarray]:
    """ONNX Runtime's outputs for the model (the peer every test compares with)."""
    import onnxruntime
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return session.run(None, feed)


def zoo_model(name: str):
    """A hybrid.model_zoo network, initialized with fixed seeds and non-trivial BatchNorm statistics,
    and an example input."""
    import hybrid as hb
    from hybrid.model_zoo import ZOO

    ctor, shape = ZOO[name]
    hb.np.random.seed(123)
    net = ctor()
    net.initialize(hb.init.Xavier())
    rng = numpy.random.default_rng(5)
    x = rng.normal(size=shape).astype("float32")
    net(hb.np.array(x))   # resolve deferred shapes
    for pname, p in net.collect_params().items():
        if pname.endswith("running_var"):
            p.set_data(rng.uniform(0.5, 2.0, size=p.shape).astype("float32"))
        elif pname.endswith(("running_mean", "beta", "bias")):
            p.set_data(rng.normal(0, 0.3, size=p.shape).astype("float32"))
    return net, x
