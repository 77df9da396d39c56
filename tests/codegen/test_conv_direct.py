"""The direct convolution (codegen/llvm/conv_direct.py, conv_rewrite.py, conv_choice.py) against the interp
backend (NumPy references) on every shape class it takes, and its generated code for both host kinds.

Tolerances: rtol 1e-4 / atol 1e-4 (float32 sums of up to a few hundred products, in a different order
than NumPy's). The direct kernel is forced with the conv_impl setting; which kernel `auto` picks is
tested separately, so no assertion depends on the vector width of the host running the tests."""
from __future__ import annotations

import numpy
import pytest

from hybrid import config, passes
from hybrid.codegen import build
from hybrid.codegen.llvm import conv_choice, conv_direct
from hybrid.codegen.llvm.conv_direct import ConvTile, choose_tile, vector_registers
from hybrid.codegen.kernel.describe import ConvGeometry

from test_llvm_util import HOST_KINDS, assembly, compare, graph_of, hybridized_and_eager, op, residual_block

rng = numpy.random.default_rng(0)

# (N, C, H, W, O, KH, KW, stride, padding, dilation)
SHAPES = [
    (2, 3, 9, 11, 6, 3, 3, (1, 1), (1, 1), (1, 1)),       # RGB-like stem, odd sizes, O < block
    (1, 20, 9, 11, 40, 3, 3, (2, 2), (1, 1), (1, 1)),      # stride 2, C and O not multiples of any block
    (2, 16, 8, 8, 32, 1, 1, (1, 1), (0, 0), (1, 1)),       # 1x1, read in place by im2col
    (2, 17, 9, 9, 24, 1, 1, (2, 2), (0, 0), (1, 1)),       # 1x1 stride 2
    (3, 5, 7, 30, 17, 5, 5, (1, 1), (2, 2), (1, 1)),       # 5x5, wide rows (full tiles and a tail)
    (1, 8, 10, 13, 16, 3, 3, (1, 2), (0, 1), (2, 1)),      # unequal strides and padding, dilation
    (2, 17, 5, 37, 20, 3, 3, (1, 1), (1, 1), (1, 1)),      # rows of several vectors, a partial channel block
]


def _conv_graph(shape, residual: bool):
    N, C, H, W, O, KH, KW, s, p, d = shape
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1

    def body(g, a, k, scale, shift, r):
        y = op(g, "conv2d", a, k, stride=s, padding=p, dilation=d, groups=1)
        z = op(g, "add", op(g, "mul", y, scale), shift)            # folded BatchNorm
        if residual:
            z = op(g, "add", z, r)
        return [op(g, "relu", z), y]
    types = {"a": ((N, C, H, W), "f32"), "k": ((O, C, KH, KW), "f32"), "scale": ((1, O, 1, 1), "f32"),
             "shift": ((1, O, 1, 1), "f32"), "r": ((N, O, OH, OW), "f32")}
    graph = graph_of(types, body)
    graph.param_names.add("k")      # weights kept packed between calls, as a model's are
    return graph, [rng.standard_normal(s_).astype("f4") for s_, _ in types.values()]


@pytest.mark.parametrize("shape", SHAPES)
def test_direct_convolution_equals_interp(shape):
    """Convolution + folded BatchNorm + residual + ReLU, and the bare convolution, through the direct kernel."""
    graph, args = _conv_graph(shape, residual=shape[0] != 1)
    with config(conv_impl="direct"):
        compare(graph, args, rtol=1e-4, atol=1e-4)


def test_packed_parameter_follows_new_weights():
    """Weights kept in the direct layout between calls are repacked when the parameter changes."""
    graph, args = _conv_graph(SHAPES[1], residual=False)
    with config(conv_impl="direct"):
        exe = build(passes.optimize(graph).graph, "llvm")
    reference = build(graph, "interp")
    for _ in range(2):
        numpy.testing.assert_allclose(exe(args)[0], reference(args)[0], rtol=1e-4, atol=1e-4)
        args[1] = rng.standard_normal(args[1].shape).astype("f4")


def test_chosen_kernel_is_visible_in_the_dumps(tmp_path):
    graph, args = _conv_graph(SHAPES[0], residual=False)
    with config(conv_impl="direct", dump=str(tmp_path)):
        build(passes.optimize(graph).graph, "llvm")(args)
    ir = next(tmp_path.glob("*-llvm.ll")).read_text()
    assert "; direct convolution NCHW" in ir
    with config(conv_impl="im2col", dump=str(tmp_path / "im2col")):
        build(passes.optimize(graph).graph, "llvm")(args)
    assert "direct convolution" not in next((tmp_path / "im2col").glob("*-llvm.ll")).read_text()


@pytest.mark.parametrize("width", [4, 8, 16])
def test_register_tile_fits_the_registers(width):
    for ob in (1, 2, 3, 4, 8, 32):
        for ow in (1, 5, 8, 10, 24, 28, 64):
            ro, rw = choose_tile(ob, ow, width)
            assert ob % ro == 0 and 1 <= rw <= ow
            assert ro * rw + ro + 1 <= vector_registers(width)


def test_auto_choice_by_shape_class():
    """auto: direct for spatial kernels over enough channels and for the 7x7 RGB stem, im2col for 1x1 on images
    from 14x14 up or with stride 2 and thin 3x3 stems; stride-1 1x1 on 7x7 images direct where half a vector
    fits the row (conv_choice.py; Winograd takes the 3x3 stride-1 shapes: test_conv_winograd.py)."""
    def geo(c, k, w, stride=1):
        return ConvGeometry("x", "w", None, None, (8, c, w, w), (64, c, k, k), (stride, stride), (k // 2, k // 2),
                            (1, 1), 1)
    for width in (8, 16):
        assert conv_choice.choose_kind(geo(64, 3, 64, stride=2), width) == "direct"
        assert conv_choice.choose_kind(geo(64, 5, 64), width) == "direct"
        assert conv_choice.choose_kind(geo(3, 7, 224, stride=2), width) == "direct"
        assert conv_choice.choose_kind(geo(64, 1, 64), width) == "im2col"
        assert conv_choice.choose_kind(geo(512, 1, 14), width) == "im2col"
        assert conv_choice.choose_kind(geo(1024, 1, 14, stride=2), width) == "im2col"   # 7x7 output
        assert conv_choice.choose_kind(geo(3, 3, 64), width) == "im2col"
    assert conv_choice.choose_kind(geo(512, 1, 7), 8) == "direct"
    assert conv_choice.choose_kind(geo(512, 1, 7), 16) == "im2col"          # 7 pixels: under half a vector
    with config(conv_impl="im2col"):
        assert conv_choice.choose_kind(geo(64, 3, 64), 16) == "im2col"


@pytest.mark.parametrize("stores", ["nchw", "blocked", "both"])
@pytest.mark.parametrize("cpu, features, width, reg", HOST_KINDS)
def test_each_host_kind_variant_compiles_to_its_fma(cpu, features, width, reg, stores):
    """Whichever host runs the tests, the micro-kernel for the other kind (AVX-512: 16-float zmm vectors,
    AVX2: 8-float ymm) is generated for that CPU and compiles to its vector FMAs, one per accumulator of the
    register tile at least; AVX2 code uses no zmm register. Also for the tiles storing the blocked image
    (conv_layout pass), alone or with the NCHW result: those store whole vectors of that register kind."""
    ro, rw = choose_tile(8, 32, width)
    tile = ConvTile(width, 2, 4, width, 34, 34, 8 // ro, ro, rw, 32, 32, 3, 3, (1, 1), (1, 1), False)
    asm = assembly(lambda triple: conv_direct.standalone_ir(tile, triple, stores), cpu, features)
    fmas = [line for line in asm if "vfmadd" in line and reg in line]
    assert len(fmas) >= ro * rw
    if stores != "nchw":     # the image's pixels: one whole-vector store per accumulator at least
        assert sum(1 for line in asm if "vmovups" in line and f"%{reg}" in line.split(",")[0]
                   and "(" in line) >= ro * rw
    if reg == "ymm":
        assert not any("zmm" in line for line in asm)


def test_residual_block_eager_and_hybridized_on_llvm():
    """A ResNet basic block (3x3 convs + BatchNorm + ReLU + identity shortcut, inference): eager (NumPy
    references) and hybridized on llvm with the direct kernel agree; the weights are parameters, so the
    compiled graph keeps them packed, and a second call after an update sees the new weights."""
    from hybrid import autograd, np
    net = residual_block(24)
    x = np.array(rng.standard_normal((2, 24, 10, 12)).astype("f4"))
    compiled, eager = hybridized_and_eager(net, x, conv_impl="direct")
    numpy.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)
    with config(conv_impl="direct"), autograd.predict_mode():
        w = net.c1.weight
        w.set_data(w.data() * -0.5)
        compiled = net(x).asnumpy()
        net.hybridize(active=False)
        with config(eager_compile=False):
            eager = net(x).asnumpy()
        numpy.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)


# (name, body of the epilogue on the convolution y): each kind of operand the register tile applies
EPILOGUES = {
    "none": lambda g, y, scale, shift, r: y,
    "bias": lambda g, y, scale, shift, r: op(g, "add", y, shift),
    "scale_shift": lambda g, y, scale, shift, r: op(g, "add", op(g, "mul", y, scale), shift),
    "residual": lambda g, y, scale, shift, r: op(g, "add", y, r),
    "relu": lambda g, y, scale, shift, r: op(g, "relu", y),
    "all": lambda g, y, scale, shift, r: op(g, "relu", op(g, "add", op(g, "add", op(g, "mul", y, scale), shift), r)),
    "unfused": lambda g, y, scale, shift, r: op(g, "sigmoid", op(g, "add", y, shift)),
}


def _epilogue_graph(name: str, stride: int):
    """One convolution (19 -> 37 channels: neither a multiple of any vector block) and epilogue `name`."""
    N, C, H, W, O = 2, 19, 9, 12, 37
    OH, OW = (H + 2 - 3) // stride + 1, (W + 2 - 3) // stride + 1

    def body(g, a, k, scale, shift, r):
        y = op(g, "conv2d", a, k, stride=(stride, stride), padding=(1, 1), dilation=(1, 1), groups=1)
        return [EPILOGUES[name](g, y, scale, shift, r)]
    types = {"a": ((N, C, H, W), "f32"), "k": ((O, C, 3, 3), "f32"), "scale": ((1, O, 1, 1), "f32"),
             "shift": ((1, O, 1, 1), "f32"), "r": ((N, O, OH, OW), "f32")}
    graph = graph_of(types, body)
    graph.param_names.add("k")
    return graph, [rng.standard_normal(s_).astype("f4") for s_, _ in types.values()]


def _direct_conv_stages(graph):
    """The kernel stages of the graph's convolution after the direct-convolution rewrite."""
    from hybrid.codegen.kernel import lower_node
    from hybrid.codegen.llvm.conv_rewrite import use_direct_convolutions
    node = next(n for n in passes.optimize(graph).graph.nodes if n.op != "param")
    k = lower_node(node, "conv")
    with config(conv_impl="direct"):
        use_direct_convolutions(k)
    return k


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", sorted(EPILOGUES))
def test_epilogue_in_the_register_tile_equals_interp(name, stride, monkeypatch, caplog):
    """Each epilogue the tile applies (none, bias, folded-BatchNorm scale/shift, residual, ReLU, all of them)
    is applied before the one store into the final result: the convolution is the kernel's last stage and
    writes the output buffer. An epilogue with another op (sigmoid) runs as a separate pass, and says why
    in the "fusion" log (its exp). Both agree with interp."""
    import logging
    graph, args = _epilogue_graph(name, stride)
    monkeypatch.setenv("HYBRID_LOG", "fusion")
    with caplog.at_level(logging.INFO, logger="hybrid"):
        k = _direct_conv_stages(graph)
    conv = next(s for s in k.stages if isinstance(s, conv_direct.DirectConv))
    unfused = [r.getMessage() for r in caplog.records if "separate pass" in r.getMessage()]
    if name == "unfused":
        assert k.stages[-1] is not conv and conv.out != "out0" and unfused and "exp" in unfused[0]
    else:
        assert k.stages[-1] is conv and conv.out == "out0" and not unfused
        assert (conv.epilogue.expr == ("acc",)) == (name == "none")
        assert len(conv.epilogue.residuals) == (name in ("residual", "all"))
    with config(conv_impl="direct"):
        compare(graph, args, rtol=1e-4, atol=1e-4)


# (N, C, H, W, O, K, stride, padding, pool kernel): LeNet's two layers, then odd sizes whose last result row and
# column no window covers (floor), partial channel blocks (O not a multiple of any vector) and row tails
POOLED = [
    (3, 1, 28, 28, 6, 5, 1, 2, 2),
    (3, 6, 14, 14, 16, 5, 1, 0, 2),
    (2, 5, 13, 17, 11, 3, 1, 1, 2),
    (2, 8, 17, 19, 20, 3, 2, 1, 3),
]


def _pooled_graph(shape, pool: str, result_too: bool = False):
    N, C, H, W, O, K, s, p, q = shape

    def body(g, a, k, b):
        y = op(g, "relu", op(g, "add", op(g, "conv2d", a, k, stride=(s, s), padding=(p, p), dilation=(1, 1),
                                          groups=1), b))
        attrs = {"count_include_pad": True} if pool == "avg_pool2d" else {}
        pooled = op(g, pool, y, kernel=(q, q), stride=(q, q), padding=(0, 0), **attrs)
        return [pooled, y] if result_too else [pooled]
    types = {"a": ((N, C, H, W), "f32"), "k": ((O, C, K, K), "f32"), "b": ((1, O, 1, 1), "f32")}
    graph = graph_of(types, body)
    graph.param_names.add("k")
    return graph, [rng.standard_normal(s_).astype("f4") for s_, _ in types.values()]


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape", POOLED)
def test_pooling_in_the_output_loop_equals_interp(shape, pool):
    """conv + bias + ReLU + non-overlapping pooling is one kernel whose direct convolution pools in its output
    loop: its last stage, writing the pooled output; the full result is no buffer of the kernel. Equal to
    interp (max exactly up to the convolution's rounding; average within float32 rounding)."""
    graph, args = _pooled_graph(shape, pool)
    k = _direct_conv_stages(graph)
    conv = k.stages[-1]
    assert isinstance(conv, conv_direct.DirectConv) and conv.pool is not None and conv.out == "out0"
    assert conv.pool.op == pool[:3] and (conv.pool.kh, conv.pool.kw) == (shape[-1], shape[-1])
    assert not any(b.role == "temp" and len(b.shape) == 4 and b.shape[2:] == (conv.tile.oh, conv.tile.ow)
                   for b in k.buffers.values())
    with config(conv_impl="direct"):
        compare(graph, args, rtol=1e-4, atol=1e-4)


def test_pooling_of_a_result_read_elsewhere_stays_a_stage():
    """When the convolution's result is an output too, it is stored whole and pooled by a separate stage."""
    graph, args = _pooled_graph(POOLED[2], "max_pool2d", result_too=True)
    k = _direct_conv_stages(graph)
    conv = next(s for s in k.stages if isinstance(s, conv_direct.DirectConv))
    assert conv.pool is None and k.stages[-1] is not conv
    with config(conv_impl="direct"):
        compare(graph, args, rtol=1e-4, atol=1e-4)


def test_thin_pooled_convolution_takes_the_direct_kernel_from_four_output_channels():
    """LeNet's conv1 (1 -> 6 channels, pooled): direct with 8-float (6 of 8 lanes) and 16-float vectors (6 of
    16); 3 output channels keep im2col on both (2 take direct on 4-float vectors); without a fused pooling,
    im2col (conv_choice.py)."""
    def geo(o):
        return ConvGeometry("x", "w", None, None, (64, 1, 28, 28), (o, 1, 5, 5), (1, 1), (2, 2), (1, 1), 1)
    assert conv_choice.choose_kind(geo(6), 8, pooled=True) == conv_choice.choose_kind(geo(6), 16, pooled=True) \
        == "direct"
    assert conv_choice.choose_kind(geo(3), 16, pooled=True) == conv_choice.choose_kind(geo(3), 8, pooled=True) \
        == "im2col"
    assert conv_choice.choose_kind(geo(4), 16, pooled=True) == conv_choice.choose_kind(geo(2), 4, pooled=True) \
        == "direct"
    assert conv_choice.choose_kind(geo(6), 8) == conv_choice.choose_kind(geo(6), 16) == "im2col"


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("cpu, features, width, reg", HOST_KINDS)
def test_each_host_kind_pools_with_its_vectors(cpu, features, width, reg, pool):
    """The pooling in the output loop, generated for the other host kind too: its maxima (or sums) of window
    rows compile to that kind's packed vector instructions."""
    tile = ConvTile(width, 2, 1, 6, 14, 14, 2, 1, 5, 10, 10, 5, 5, (1, 1), (1, 1), False)
    conv = conv_direct.DirectConv("y", "x", "w", tile, 16, pool=conv_direct.PoolTail(pool, 2, 2, 5, 5))
    asm = assembly(lambda triple: conv_direct.standalone_module(conv, conv_direct.render_direct, triple, "nchw"),
                   cpu, features)
    combine = "vmaxps" if pool == "max" else "vaddps"
    assert any(combine in line and ("xmm" in line or "ymm" in line or "zmm" in line) for line in asm)
    if reg == "ymm":
        assert not any("zmm" in line for line in asm)
