"""The graph autodiff pass: text in, text out; the forward/backward split saves only what the
backward reads; joint graphs go through the normal pipeline and every backend."""
from __future__ import annotations

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, codegen, np, passes
from hybrid.errors import HybridError
from hybrid.ir.parser import parse
from hybrid.model_zoo import ZOO
from hybrid.core.ad import autodiff, forward_backward

from gradcheck import backends

SOURCE = """graph @f(%x: f32[2,3], param %w: f32[3,4]) -> f32[] {
  %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[2,4]
  %1 = tanh(%0) : f32[2,4]
  %2 = sum(%1) {axes=[0, 1], keepdims=false} : f32[]
  return %2
}"""


def _strip_locations(text: str) -> str:
    return "\n".join(line.split("  #")[0] for line in text.splitlines())


def test_joint_graph_text():
    """Seeded with ones (the loss is summed); the dead gradient of %x is removed by DCE."""
    joint = passes.run(parse(SOURCE), ["autodiff", "dce"])
    assert _strip_locations(str(joint)) == """graph @f(%x: f32[2,3], param %w: f32[3,4]) -> (f32[], f32[3,4]) {
  %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[2,4]
  %1 = tanh(%0) : f32[2,4]
  %2 = sum(%1) {axes=[0, 1], keepdims=false} : f32[]
  %3 = constant() {value=dense<f32[]: 1.0>} : f32[]
  %4 = reshape(%3) {shape=[1, 1]} : f32[1,1]
  %5 = broadcast_to(%4) {shape=[2, 4]} : f32[2,4]
  %6 = mul(%1, %1) : f32[2,4]
  %7 = constant() {value=dense<f32[]: 1.0>} : f32[]
  %8 = sub(%7, %6) : f32[2,4]
  %9 = mul(%5, %8) : f32[2,4]
  %10 = matmul(%x, %9) {transpose_a=true, transpose_b=false} : f32[3,4]
  return %2, %10
}"""


def test_forward_saves_only_what_backward_reads():
    pair = forward_backward(parse(SOURCE), ["w"])
    # dW = x^T (g * (1 - tanh^2)): the backward needs tanh's output and x (read directly, not saved);
    # the matmul result and w are not kept.
    assert [str(v.type) for v in pair.forward.outputs] == ["f32[]", "f32[2,4]"]
    assert [v.name for v in pair.backward.inputs] == ["saved.0", "x", "grad.0"]
    assert pair.saved == [1]
    assert "%w" not in str(pair.backward) and "matmul(%saved.0" not in str(pair.backward)


def test_joint_graph_values_match_the_tape():
    rng = onp.random.default_rng(0)
    x, w = rng.standard_normal((2, 3)).astype(onp.float32), rng.standard_normal((3, 4)).astype(onp.float32)
    out, grad = codegen.build(autodiff(parse(SOURCE)), "interp")([x, w])
    xa, wa = np.array(x), np.array(w)
    wa.attach_grad()
    with autograd.record():
        y = np.tanh(xa @ wa).sum()
    y.backward()
    onp.testing.assert_allclose(out, y.asnumpy(), rtol=1e-6)
    onp.testing.assert_allclose(grad, wa.grad.asnumpy(), rtol=1e-5, atol=1e-6)


def test_unknown_wrt_is_a_clear_error():
    with pytest.raises(HybridError, match=r"no inputs \['v'\]"):
        autodiff(parse(SOURCE), ["v"])


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("name", ["mlp", "lenet", "transformer"])
def test_joint_graph_through_the_pipeline_matches_eager(name, backend):
    """d(sum(out^2))/d(params) from the optimized joint graph equals the eager tape's."""
    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    x = np.array(onp.random.default_rng(1).standard_normal(shape).astype(onp.float32))
    with autograd.pause():
        net(x)
    graph = hb.trace(net, x)
    with autograd.record():
        (net(x) ** 2).sum().backward()
    squared = graph.copy()
    out = squared.outputs[0]
    squared.outputs = [squared.add_node("sum", [squared.add_node("mul", [out, out]).output],
                                        {"axes": tuple(range(len(out.shape))), "keepdims": False}).output]
    joint = passes.optimize(autodiff(squared)).graph
    params = net.collect_params()
    inputs = [x.asnumpy() if v.name not in joint.param_names else params[v.name].data().asnumpy()
              for v in joint.inputs]
    outputs = codegen.build(joint, backend)(inputs)
    for v, grad in zip(squared.params, outputs[1:]):
        onp.testing.assert_allclose(grad, params[v.name].grad().asnumpy(), rtol=2e-4, atol=2e-5, err_msg=v.name)
