"""A depthwise convolution's gradients on llvm (kernel/grads.py: the weight gradient as one leveled sum per
weight, the input gradient as a gather over taps; no im2col or column buffers) against the interp backend
(NumPy references), and the weight gradient's accuracy on a MobileNet-sized sum against float64."""
from __future__ import annotations

import numpy
import pytest

from hybrid.codegen import build

from test_llvm_util import compare, graph_of, op

# (N, C, H, W, K, stride, padding, dilation)
SHAPES = [
    (2, 20, 9, 11, 3, (1, 1), (1, 1), (1, 1)),
    (1, 7, 14, 30, 5, (2, 1), (2, 1), (1, 1)),        # 5x5, unequal strides and padding
    (2, 3, 8, 8, 3, (1, 1), (0, 0), (2, 2)),          # dilation, no padding
    (3, 16, 7, 7, 3, (2, 2), (1, 1), (1, 1)),         # stride 2, odd size
]


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _weight_grad_graph(shape):
    N, C, H, W, K, s, p, d = shape
    OH, OW = _out_size(H, K, s[0], p[0], d[0]), _out_size(W, K, s[1], p[1], d[1])
    attrs = dict(stride=s, padding=p, dilation=d, groups=C)
    graph = graph_of({"x": ((N, C, H, W), "f32"), "g": ((N, C, OH, OW), "f32")},
                     lambda gr, x, g: [op(gr, "conv2d_weight_grad", x, g, weight_shape=(C, 1, K, K), **attrs)])
    return graph, (N, C, OH, OW)


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{s[1]}ch-{s[4]}x{s[4]}-s{s[5][0]}{s[5][1]}-d{s[7][0]}" for s in SHAPES])
def test_depthwise_weight_grad_equals_interp(shape):
    """Sums of at most 3 x 14 x 30 products: rtol 1e-5 / atol 1e-5."""
    rng = numpy.random.default_rng(5)
    graph, g_shape = _weight_grad_graph(shape)
    x = rng.standard_normal(shape[:4]).astype("f4")
    compare(graph, [x, rng.standard_normal(g_shape).astype("f4")], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{s[1]}ch-{s[4]}x{s[4]}-s{s[5][0]}{s[5][1]}-d{s[7][0]}" for s in SHAPES])
def test_depthwise_input_grad_equals_interp(shape):
    """Sums of at most 25 products: rtol 1e-5 / atol 1e-5."""
    N, C, H, W, K, s, p, d = shape
    OH, OW = _out_size(H, K, s[0], p[0], d[0]), _out_size(W, K, s[1], p[1], d[1])
    attrs = dict(stride=s, padding=p, dilation=d, groups=C)
    graph = graph_of({"g": ((N, C, OH, OW), "f32"), "w": ((C, 1, K, K), "f32")},
                     lambda gr, g, w: [op(gr, "conv2d_input_grad", g, w, input_shape=(N, C, H, W), **attrs)])
    rng = numpy.random.default_rng(7)
    compare(graph, [rng.standard_normal((N, C, OH, OW)).astype("f4"), rng.standard_normal((C, 1, K, K)).astype("f4")],
            rtol=1e-5, atol=1e-5)


def test_depthwise_weight_grad_long_sum_is_accurate():
    """MobileNet v2's first depthwise layer at batch 8: each weight sums 8 x 112 x 112 products. Within 4 float32
    epsilons of the float64 sum, relative to the sum of the products' magnitudes (measured 1.3; the GEMM form,
    which added kc-long partial sums into the output in order, was 10.7 off, and moved MobileNet v2's compiled SGD
    step further from the float64 step than PyTorch's)."""
    shape = (8, 2, 112, 112, 3, (1, 1), (1, 1), (1, 1))
    rng = numpy.random.default_rng(6)
    graph, g_shape = _weight_grad_graph(shape)
    x = rng.uniform(0, 1, shape[:4]).astype("f4")
    g = rng.uniform(0, 1, g_shape).astype("f4")
    got = build(graph, "llvm")([x, g])[0]
    x8 = numpy.pad(x.astype("f8"), ((0, 0), (0, 0), (1, 1), (1, 1)))
    exact = numpy.zeros((2, 1, 3, 3))
    for kh in range(3):
        for kw in range(3):
            exact[:, 0, kh, kw] = (g * x8[:, :, kh:kh + 112, kw:kw + 112]).sum((0, 2, 3))
    assert numpy.abs(got - exact).max() / exact.min() < 4 * numpy.finfo("f4").eps
