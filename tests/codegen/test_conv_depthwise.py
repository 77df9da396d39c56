"""The depthwise direct convolution (codegen/llvm/conv_depthwise.py, chosen in conv_choice.py) against the interp
backend (NumPy references): strides, dilation, padding, channel counts below and between whole vectors, fused
epilogues (folded BatchNorm, residual, ReLU6-like clamps), eager single-op kernels and a hybridized gluon block;
its code for both host kinds. Tolerances: rtol 1e-5 / atol 1e-5 (sums of at most 25 products)."""
from __future__ import annotations

import numpy
import pytest

from hybrid import config, passes
from hybrid.codegen.kernel import lower_node
from hybrid.codegen.kernel.describe import ConvGeometry
from hybrid.codegen.llvm import conv_choice
from hybrid.codegen.llvm.conv_depthwise import DepthwiseConv, depthwise_tile
from hybrid.codegen.llvm.conv_direct import ConvTile, render_direct, standalone_module, vector_registers
from hybrid.codegen.llvm.conv_rewrite import use_direct_convolutions

from test_llvm_util import HOST_KINDS, assembly, compare, eager_convolution, graph_of, hybridized_and_eager, op

rng = numpy.random.default_rng(3)

# (N, C, H, W, K, stride, padding, dilation)
SHAPES = [
    (2, 20, 9, 11, 3, (1, 1), (1, 1), (1, 1)),        # a partial channel block
    (1, 37, 14, 30, 5, (2, 1), (2, 1), (1, 1)),       # 5x5, unequal strides and padding, wide rows (tails)
    (2, 3, 8, 8, 3, (1, 1), (0, 0), (2, 2)),          # fewer channels than any vector, dilation, no padding
    (3, 32, 7, 7, 3, (2, 2), (1, 1), (1, 1)),         # whole blocks, stride 2
]


def _graph(shape, epilogue: str):
    N, C, H, W, K, s, p, d = shape
    OH = (H + 2 * p[0] - d[0] * (K - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (K - 1) - 1) // s[1] + 1

    def body(g, x, w, scale, shift, r):
        y = op(g, "conv2d", x, w, stride=s, padding=p, dilation=d, groups=C)
        z = op(g, "add", op(g, "mul", y, scale), shift)
        if epilogue == "residual":
            z = op(g, "add", z, r)
        elif epilogue == "relu6":
            z = op(g, "minimum", op(g, "relu", z), op(g, "add", op(g, "mul", shift, shift), scale))
        return [z, y]
    types = {"x": ((N, C, H, W), "f32"), "w": ((C, 1, K, K), "f32"), "scale": ((1, C, 1, 1), "f32"),
             "shift": ((1, C, 1, 1), "f32"), "r": ((N, C, OH, OW), "f32")}
    graph = graph_of(types, body)
    graph.param_names.add("w")
    return graph, [rng.standard_normal(t[0]).astype("f4") for t in types.values()]


def _stages(graph) -> list:
    found = []
    for node in passes.optimize(graph).graph.nodes:
        if node.op in ("fused", "conv2d"):
            k = lower_node(node)
            use_direct_convolutions(k)
            found += [s for s in k.stages if isinstance(s, DepthwiseConv)]
    return found


@pytest.mark.parametrize("epilogue", ["bn", "residual", "relu6"])
@pytest.mark.parametrize("shape", SHAPES)
def test_depthwise_equals_interp(shape, epilogue):
    graph, args = _graph(shape, epilogue)
    stages = _stages(graph)
    assert stages and "depthwise_conv(" in str(stages[0])
    compare(graph, args, rtol=1e-5, atol=1e-5)


def test_choice():
    """Depthwise convolutions with a spatial kernel run the depthwise kernel (also with conv_impl=direct);
    1x1 depthwise, other grouped convolutions and conv_impl=im2col take im2col."""
    def geo(c, o, groups, k=3):
        return ConvGeometry("x", "w", None, None, (8, c, 28, 28), (o, c // groups, k, k), (1, 1), (1, 1), (1, 1),
                            groups)
    for width in (8, 16):
        assert conv_choice.choose_kind(geo(64, 64, 64), width) == "depthwise"
        assert conv_choice.choose_kind(geo(64, 64, 64, k=1), width) == "im2col"
        assert conv_choice.choose_kind(geo(64, 64, 4), width) == "im2col"
        assert conv_choice.choose_kind(geo(64, 128, 64), width) == "im2col"    # a channel multiplier
    with config(conv_impl="direct"):
        assert conv_choice.choose_kind(geo(64, 64, 64), 16) == "depthwise"
    with config(conv_impl="im2col"):
        assert conv_choice.choose_kind(geo(64, 64, 64), 16) == "im2col"


@pytest.mark.parametrize("width", [4, 8, 16])
def test_register_tile_fits(width):
    for ow in (1, 5, 7, 14, 28, 56, 112):
        rw = depthwise_tile(ow, width)
        assert 1 <= rw <= ow and rw + 4 <= vector_registers(width)


@pytest.mark.parametrize("stores", ["nchw", "blocked", "both"])
@pytest.mark.parametrize("cpu, features, width, reg", HOST_KINDS)
def test_each_host_kind_variant_compiles_to_its_fma(cpu, features, width, reg, stores):
    """The depthwise tile for the other host kind compiles to that kind's vector FMAs, one per pixel of the
    register tile at least, with no broadcast; AVX2 code uses no zmm register."""
    rw = depthwise_tile(28, width)
    tile = ConvTile(width, 2, 64 // width, width, 30, 30, 64 // width, 1, rw, 28, 28, 3, 3, (1, 1), (1, 1), False)
    asm = assembly(lambda triple: standalone_module(DepthwiseConv("y", "x", "w", tile), render_direct, triple,
                                                    stores), cpu, features)
    assert sum(1 for line in asm if "vfmadd" in line and reg in line) >= rw
    if reg == "ymm":
        assert not any("zmm" in line for line in asm)


def test_eager_depthwise_runs_the_kernel(monkeypatch, tmp_path):
    """An eager depthwise convolution large enough for a compiled kernel runs the depthwise kernel."""
    got, expected, ir = eager_convolution(monkeypatch, tmp_path, rng.standard_normal((2, 24, 12, 12)).astype("f4"),
                                          rng.standard_normal((24, 1, 3, 3)).astype("f4"), groups=24)
    assert "hb_dw_tile" in ir
    numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mobilenet_block_hybridized_equals_eager():
    """A MobileNet-v2 inverted residual (1x1 expand, depthwise 3x3 + BatchNorm + ReLU6, 1x1 project, residual)
    hybridized on llvm equals eager."""
    import hybrid as hb
    from hybrid import np
    from hybrid.gluon import nn

    class Block(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.expand = nn.Conv2D(48, 1, in_channels=8)
            self.dw = nn.Conv2D(48, 3, padding=1, groups=48, in_channels=48)
            self.bn = nn.BatchNorm(in_channels=48)
            self.project = nn.Conv2D(8, 1, in_channels=48)

        def forward(self, x):
            y = hb.np.clip(self.bn(self.dw(hb.npx.relu(self.expand(x)))), 0, 6)
            return self.project(y) + x

    net = Block()
    net.initialize()
    x = np.array(rng.standard_normal((2, 8, 14, 14)).astype("f4"))
    compiled, eager = hybridized_and_eager(net, x)
    numpy.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)
