"""The interp backend (the oracle): the executable contract, fused kernels, multiple outputs,
parameters and the random key in graph-input order, and its agreement with eager execution."""
import numpy as onp
import pytest

import hybrid as hb
from hybrid import codegen, np, npx, nn
from hybrid.ir import parse

GRAPH = """graph @g(%x: f32[2,3], param %w: f32[3,4], %rng.key: u32[2]) -> (f32[2,4], f32[2,4], f32[2]) {
  %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[2,4]
  %1 = fused(%0) {kind="elementwise", name="k0"} : f32[2,4] {
    graph @k0(%i0: f32[2,4]) -> f32[2,4] {
      %0 = neg(%i0) : f32[2,4]
      %1 = relu(%0) : f32[2,4]
      return %1
    }
  }
  %2 = random_uniform(%rng.key) {shape=[2, 4], dtype="f32"} : f32[2,4]
  %3 = sum(%1) {axes=[1], keepdims=false} : f32[2]
  return %1, %2, %3
}"""


def test_executable_contract():
    graph = parse(GRAPH)
    exe = codegen.build(graph, "interp")
    rng = onp.random.default_rng(0)
    x, w = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")
    key = onp.array([3, 9], "uint32")
    outputs = exe([x, w, key])
    assert isinstance(outputs, list) and len(outputs) == 3
    relu, draws, total = outputs
    onp.testing.assert_allclose(relu, onp.maximum(-(x @ w), 0), rtol=1e-6)
    onp.testing.assert_allclose(total, relu.sum(axis=1), rtol=1e-6)
    assert draws.shape == (2, 4) and draws.dtype == onp.float32
    onp.testing.assert_array_equal(exe([x, w, key])[1], draws)           # same key, same draws
    assert not onp.array_equal(exe([x, w, key + 1])[1], draws)           # another key, other draws
    assert all(isinstance(o, hb.NDArray) for o in outputs)   # executables return core arrays


def test_wrong_number_of_inputs():
    exe = codegen.build(parse(GRAPH), "interp")
    with pytest.raises(ValueError, match="takes 3 inputs, got 1"):
        exe([onp.zeros((2, 3), "float32")])


def test_unknown_backend():
    with pytest.raises(hb.HybridError, match="unknown backend 'tpu'"):
        codegen.build(parse(GRAPH), "tpu")


def test_inputs_are_not_modified():
    graph = parse("graph @g(%x: f32[4]) -> f32[4] {\n  %0 = relu(%x) : f32[4]\n  %1 = neg(%0) : f32[4]\n"
                  "  return %1\n}")
    x = onp.array([-1.0, 2.0, -3.0, 4.0], "float32")
    before = x.copy()
    codegen.build(graph, "interp")([x])
    onp.testing.assert_array_equal(x, before)


def test_graph_returning_an_input_and_a_constant():
    graph = parse("graph @g(%x: i32[2]) -> (i32[2], i32[2]) {\n  %0 = constant() {value=dense<i32[2]: [7, 8]>} : "
                  "i32[2]\n  return %x, %0\n}")
    x = onp.array([1, 2], "int32")
    a, b = codegen.build(graph, "interp")([x])
    onp.testing.assert_array_equal(a, x)
    onp.testing.assert_array_equal(b, [7, 8])


def test_every_optimization_level_matches_eager():
    """The interp backend runs the optimizer's output (fused kernels, folded constants) at each
    opt level and agrees with eager execution."""
    class Net(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(4, 3, padding=1, in_channels=2)
            self.bn = nn.BatchNorm(in_channels=4)
            self.fc = nn.Dense(5, in_units=4 * 6 * 6)

        def forward(self, x):
            h = npx.relu(self.bn(self.conv(x)))
            return npx.log_softmax(self.fc(h) * 2.0 + 1.0)

    np.random.seed(3)
    net = Net()
    net.initialize()
    x = np.random.normal(size=(3, 2, 6, 6))
    eager = net(x).asnumpy()
    levels = sorted(hb.passes.manager.PIPELINES) if hasattr(hb.passes.manager, "PIPELINES") else [0, 1, 2]
    for level in levels:
        net.hybridize(backend="interp", opt_level=level, freeze=level >= 3)
        onp.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-5, err_msg=f"opt_level={level}")
        hb.ir.verify(parse(net.ir()))
