"""The channel-blocked layout between convolutions (ir/ops/blocked.py, passes/conv_layout.py) on the LLVM
backend: graphs rewritten by the pass with the backend's own rule give interp's numbers on the original
graph, and the kernels take the fast paths (the producing direct convolution stores the blocked image from
its register tile, the consuming one reads it in place, with no input packing).

Tolerances: rtol/atol 1e-4 (float32 sums of a few hundred products in another order than NumPy's; a
convolution of a convolution: atol 1e-5 of the largest magnitude). The
block is the host target's vector width (whatever it is) or a foreign one; no assertion depends on it."""
from __future__ import annotations

import numpy
import pytest

from hybrid import config, passes
from hybrid.codegen import build, conv_layout_rule
from hybrid.codegen.kernel import lower_node
from hybrid.codegen.llvm import gemm
from hybrid.codegen.llvm.conv_direct import DirectConv, PackInput
from hybrid.codegen.llvm.conv_rewrite import use_direct_convolutions

from test_llvm_util import graph_of, op

rng = numpy.random.default_rng(5)
WIDTH = gemm.host_config().width


def _chain(n, c, h, w, mid, out, second: dict, residual: bool = False):
    """conv 3x3 (pad 1) -> folded BatchNorm -> ReLU -> conv (`second`: stride, padding, dilation, kernel)."""
    k2 = second.pop("kernel", 3)

    def body(g, x, w1, scale, shift, w2, r):
        y = op(g, "relu", op(g, "add", op(g, "mul", op(g, "conv2d", x, w1, stride=(1, 1), padding=(1, 1),
                                                          dilation=(1, 1), groups=1), scale), shift))
        if residual:
            y = op(g, "add", y, r)
        return [op(g, "conv2d", y, w2, groups=1, **second)]
    types = {"x": ((n, c, h, w), "f32"), "w1": ((mid, c, 3, 3), "f32"), "scale": ((1, mid, 1, 1), "f32"),
             "shift": ((1, mid, 1, 1), "f32"), "w2": ((out, mid, k2, k2), "f32"), "r": ((n, mid, h, w), "f32")}
    graph = graph_of(types, body)
    graph.param_names.update({"w1", "w2"})
    return graph, [rng.standard_normal(s).astype("f4") for s, _ in types.values()]


# (N, C, H, W, mid, out, second conv): channel counts not multiples of any block, batch 1 and > 1
CHAINS = [
    (2, 5, 9, 21, 19, 23, dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))),
    (1, 8, 11, 17, 37, 9, dict(stride=(2, 2), padding=(1, 1), dilation=(1, 1))),
    (3, 6, 7, 40, 20, 17, dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1))),
    (2, 4, 8, 20, 33, 16, dict(stride=(1, 1), padding=(2, 2), dilation=(1, 1), kernel=5)),
]


def _optimized(graph):
    with config(conv_impl="direct"):
        return passes.optimize(graph, conv_layout=conv_layout_rule("llvm")).graph


def _kernels(graph):
    """The LLVM kernel stages of every fused node, after the direct-convolution rewrite."""
    kernels = []
    with config(conv_impl="direct"):
        for node in graph.nodes:
            if node.op in ("fused", "conv2d", "conv2d_blocked"):
                k = lower_node(node)
                use_direct_convolutions(k)
                kernels.append(k)
    return kernels


@pytest.mark.parametrize("chain", CHAINS)
def test_blocked_chain_equals_interp(chain):
    """The pass blocks the intermediate value; the first kernel's direct convolution stores it blocked (no
    copy stage), the second reads it in place (no PackInput); llvm equals interp on the original graph."""
    graph, args = _chain(*chain[:6], dict(chain[6]))
    expected = build(graph, "interp")(args)
    optimized = _optimized(graph)
    assert [n.op for n in optimized.nodes if n.op in ("conv2d", "conv2d_blocked")] == ["conv2d_blocked"]
    first, second = _kernels(optimized)
    store = next(s for s in first.stages if isinstance(s, DirectConv))
    assert store.blocked_out and store.out == "out0" and first.stages[-1] is store
    assert any(isinstance(s, DirectConv) for s in second.stages)
    assert not any(isinstance(s, PackInput) for s in second.stages)
    with config(conv_impl="direct"):
        got = build(optimized, "llvm")(args)
    numpy.testing.assert_allclose(got[0], expected[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("residual", [False, True])
def test_value_read_elsewhere_is_stored_in_both_layouts(residual):
    """The intermediate value is also returned (and, with `residual`, its epilogue adds a residual read in
    NCHW): the producer's direct convolution stores the NCHW result and the blocked image, transposed back
    from the NCHW rows, with no copy stage; both outputs equal interp's."""
    graph, args = _chain(2, 5, 6, 19, 18, 7, dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1)), residual=residual)
    conv2 = graph.outputs[0].producer
    graph.outputs.append(conv2.inputs[0])
    optimized = _optimized(graph)
    first = _kernels(optimized)[0]
    store = next(s for s in first.stages if isinstance(s, DirectConv))
    assert store.copy is not None and store.out_pad == (1, 1) and first.stages[-1] is store
    assert len(store.epilogue.residuals) == residual
    with config(conv_impl="direct"):
        got = build(optimized, "llvm")(args)
    for a, b in zip(got, build(graph, "interp")(args)):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["im2col", "direct"])
@pytest.mark.parametrize("block", [4, WIDTH])
def test_blocked_ops_equal_interp_on_llvm(block, impl):
    """to_blocked / conv2d_blocked / from_blocked as plain and fused nodes on llvm, with the host's block and a
    foreign one (the direct kernel reads only its own: a foreign block runs im2col on the blocked input)."""
    c = 2 * block + 3

    def body(g, x, w1, w2):
        xb = op(g, "to_blocked", x, block=block, pad=(1, 2))
        back = op(g, "from_blocked", xb, channels=c, pad=(1, 2))
        y = op(g, "relu", op(g, "conv2d_blocked", xb, w1, stride=(1, 1), dilation=(1, 1)))
        yb = op(g, "to_blocked", y, block=block, pad=(0, 1))
        return [back, op(g, "conv2d_blocked", yb, w2, stride=(2, 1), dilation=(1, 1)), yb]
    types = {"x": ((2, c, 6, 17), "f32"), "w1": ((c + 2, c, 3, 3), "f32"), "w2": ((5, c + 2, 3, 3), "f32")}
    graph = graph_of(types, body)
    args = [rng.standard_normal(s).astype("f4") for s, _ in types.values()]
    expected = build(graph, "interp")(args)
    with config(conv_impl=impl):
        got = build(passes.optimize(graph).graph, "llvm")(args)
    numpy.testing.assert_array_equal(got[0], args[0])
    for a, b in zip(got, expected):     # the second convolution sums products of sums: absolute error by scale
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(numpy.abs(b).max()))


def test_resnet_block_hybridized_equals_eager():
    """A gluon ResNet basic-block stack hybridized on llvm (the pass runs with the backend's rule) equals
    eager, and its optimized IR holds the blocked layout."""
    import hybrid as hb
    from hybrid.gluon import nn

    class Block(nn.HybridBlock):
        def __init__(self, channels):
            super().__init__()
            self.c1 = nn.Conv2D(channels, 3, padding=1, use_bias=False)
            self.b1 = nn.BatchNorm()
            self.c2 = nn.Conv2D(channels, 3, padding=1, use_bias=False)
            self.b2 = nn.BatchNorm()

        def forward(self, x):
            return npx_relu(self.b2(self.c2(npx_relu(self.b1(self.c1(x))))) + x)
    npx_relu = hb.npx.relu
    net = nn.HybridSequential()
    net.add(nn.Conv2D(WIDTH + 3, 3, padding=1), Block(WIDTH + 3), Block(WIDTH + 3))
    net.initialize()
    x = hb.np.array(rng.standard_normal((2, 3, 10, 19)).astype("f4"))
    expected = net(x).asnumpy()
    with config(conv_impl="direct"):
        net.hybridize(backend="llvm")
        got = net(x).asnumpy()
    numpy.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert "conv2d_blocked(" in net.ir() and "to_blocked(" in net.ir()
