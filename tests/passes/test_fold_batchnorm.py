import numpy
import pytest

import hybrid as hb
from hybrid.codegen.interp import run_graph

CONV_BN = """
    graph @f(%x: f32[1,1,3,3], param %w: f32[2,1,1,1]) -> f32[1,2,3,3] {
      %0 = conv2d(%x, %w) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1,2,3,3]
      %1 = constant() {value=dense<f32[1,2,1,1]: [2.0, -0.5]>} : f32[1,2,1,1]
      %2 = mul(%0, %1) : f32[1,2,3,3]
      %3 = constant() {value=dense<f32[1,2,1,1]: [0.25, 1.0]>} : f32[1,2,1,1]
      %4 = add(%2, %3) : f32[1,2,3,3]
      return %4
    }
"""
FROZEN = {"w": numpy.array([3.0, 4.0], numpy.float32).reshape(2, 1, 1, 1)}


def test_per_channel_scale_folds_into_frozen_conv_weights(rewrite):
    rewrite(["fold_batchnorm", "dce"], CONV_BN, """
        graph @f(%x: f32[1,1,3,3], param %w: f32[2,1,1,1]) -> f32[1,2,3,3] {
          %0 = constant() {value=dense<f32[2,1,1,1]: [6.0, -2.0]>} : f32[2,1,1,1]
          %1 = conv2d(%x, %0) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1,2,3,3]
          %2 = constant() {value=dense<f32[1,2,1,1]: [0.25, 1.0]>} : f32[1,2,1,1]
          %3 = add(%1, %2) : f32[1,2,3,3]
          return %3
        }
    """, frozen=FROZEN)


def test_nothing_folds_without_frozen_weights(rewrite):
    rewrite(["fold_batchnorm"], CONV_BN, CONV_BN)


def test_scale_varying_over_space_does_not_fold(rewrite):
    text = """
        graph @f(%x: f32[1,1,1,2], param %w: f32[2,1,1,1]) -> f32[1,2,1,2] {
          %0 = conv2d(%x, %w) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1,2,1,2]
          %1 = constant() {value=dense<f32[1,1,1,2]: [2.0, 3.0]>} : f32[1,1,1,2]
          %2 = mul(%0, %1) : f32[1,2,1,2]
          return %2
        }
    """
    rewrite(["fold_batchnorm"], text, text, frozen=FROZEN)


def test_conv_result_read_elsewhere_does_not_fold(rewrite):
    text = """
        graph @f(%x: f32[1,1,3,3], param %w: f32[2,1,1,1]) -> (f32[1,2,3,3], f32[1,2,3,3]) {
          %0 = conv2d(%x, %w) {stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1} : f32[1,2,3,3]
          %1 = constant() {value=dense<f32[1,2,1,1]: [2.0, -0.5]>} : f32[1,2,1,1]
          %2 = mul(%0, %1) : f32[1,2,3,3]
          return %2, %0
        }
    """
    rewrite(["fold_batchnorm"], text, text, frozen=FROZEN)


def test_dense_with_bias_then_scale_folds(rewrite):
    frozen = {"w": numpy.array([[1.0, 2.0], [3.0, 4.0]], numpy.float32)}
    rewrite(["fold_batchnorm", "dce"], """
        graph @f(%x: f32[4,2], param %w: f32[2,2]) -> f32[4,2] {
          %0 = matmul(%x, %w) {transpose_a=false, transpose_b=true} : f32[4,2]
          %1 = constant() {value=dense<f32[2]: [1.0, -1.0]>} : f32[2]
          %2 = add(%0, %1) : f32[4,2]
          %3 = constant() {value=dense<f32[2]: [0.5, 2.0]>} : f32[2]
          %4 = mul(%2, %3) : f32[4,2]
          return %4
        }
    """, """
        graph @f(%x: f32[4,2], param %w: f32[2,2]) -> f32[4,2] {
          %0 = constant() {value=dense<f32[2,2]: [0.5, 1.0, 6.0, 8.0]>} : f32[2,2]
          %1 = matmul(%x, %0) {transpose_a=false, transpose_b=true} : f32[4,2]
          %2 = constant() {value=dense<f32[2]: [0.5, -2.0]>} : f32[2]
          %3 = add(%1, %2) : f32[4,2]
          return %3
        }
    """, frozen=frozen)


@pytest.mark.parametrize("name", ["resnet_block", "lenet"])
def test_frozen_models_lose_their_batchnorm_multiplies(name):
    from hybrid.model_zoo import ZOO

    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    x = numpy.random.default_rng(1).standard_normal(shape).astype(numpy.float32)
    graph = hb.trace(net, x)
    params = net.collect_params()
    for p in params.values():  # non-trivial statistics, so the fold has something to do
        p.set_data(p.data().asnumpy() + numpy.float32(0.1))
    frozen = {v.name: params[v.name].data().asnumpy() for v in graph.params}
    level0 = hb.passes.optimize(graph, 0).graph
    level3 = hb.passes.optimize(graph, 3, freeze=True, frozen=frozen).graph
    inputs = [x] + [frozen[v.name] for v in graph.params]
    for a, b in zip(run_graph(level0, inputs), run_graph(level3, inputs)):
        numpy.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    convs = [n for n in level3.nodes if n.op == "conv2d" or
             (n.op == "fused" and n.regions[0].nodes[0].op == "conv2d")]
    for node in convs:
        epilogue = [m.op for m in (node.regions[0].nodes if node.regions else [])]
        assert "mul" not in epilogue, epilogue


def test_hybridize_freeze_opt_level_3_folds_and_matches_eager(tmp_path):
    from hybrid.model_zoo import ResNet18

    net = ResNet18(classes=4, width=4)
    net.initialize()
    for p in net.collect_params().values():
        p.set_data(p.data().asnumpy() * numpy.float32(0.9) + numpy.float32(0.05))
    x = numpy.random.default_rng(2).standard_normal((2, 3, 16, 16)).astype(numpy.float32)
    eager = net(hb.np.array(x)).asnumpy()
    net.hybridize(backend="interp", opt_level=3, freeze=True, dump=str(tmp_path))
    compiled = net(hb.np.array(x)).asnumpy()
    numpy.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
    assert "fold_batchnorm" in (tmp_path / "passes.txt").read_text()
    traced_muls = net.ir(stage="traced").count(" = mul(")
    assert net.ir().count(" = mul(") < traced_muls // 2, net.ir()
