"""Winograd F(2x2,3x3) and F(4x4,3x3) against the interp backend (NumPy references). LLVM
(codegen/llvm/conv_winograd.py, chosen in conv_choice.py): plain and with each kind of fused epilogue, partial
tiles and channel blocks, the blocked layout between convolutions, eager single-op kernels and a hybridized
gluon block; its code for both host kinds. CUDA (kernel/winograd.py's stages, with conv_impl=winograd<m>):
the emulator and an nvcc compile.

Tolerance: Winograd's transforms lose float32 accuracy (F(4x4)'s coefficients go up to 8 and 1/24), so
results are compared with an absolute error bound relative to the largest output magnitude: 1e-5 of it for
F(2x2), 5e-5 for F(4x4) (measured on these shapes: about 5e-7 and 4e-6), plus rtol 1e-4. The kind is forced
with the conv_impl setting, except in the auto-choice tests, which only use rules that do not depend on the
host's vector width."""
from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy
import pytest

from hybrid import config, passes
from hybrid.codegen import build, conv_layout_rule
from hybrid.codegen.cuda import compiler
from hybrid.codegen.kernel import lower_node
from hybrid.codegen.kernel.describe import ConvGeometry
from hybrid.codegen.llvm import conv_choice, conv_winograd
from hybrid.codegen.llvm.conv_direct import ConvTile, DirectConv, choose_tile
from hybrid.codegen.llvm.conv_rewrite import use_direct_convolutions
from hybrid.codegen.kernel.winograd import TRANSFORMS
from hybrid.codegen.llvm.conv_winograd import WinogradConv

from test_llvm_util import HOST_KINDS, assembly, eager_convolution, graph_of, hybridized_and_eager, op, residual_block

rng = numpy.random.default_rng(11)
TOLERANCE = {2: 1e-5, 4: 5e-5}


def _close(got, expected, m: int) -> None:
    for a, b in zip(got, expected):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=TOLERANCE[m] * float(numpy.abs(b).max()))


@pytest.mark.parametrize("m", [2, 4])
def test_transforms_compute_the_correlation(m):
    """A^T [(G g G^T) * (B^T d B)] A is the 3x3 correlation of the (m+2)x(m+2) tile d (float64, exact to
    rounding)."""
    bt, g, at = (numpy.array(t, dtype=numpy.float64) for t in TRANSFORMS[m])
    d, w = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
    y = at @ ((g @ w @ g.T) * (bt @ d @ bt.T)) @ at.T
    expected = [[(d[i:i + 3, j:j + 3] * w).sum() for j in range(m)] for i in range(m)]
    numpy.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def _conv_graph(n, c, h, w, o, padding, epilogue: str):
    """conv 3x3 stride 1 (+ folded BatchNorm, + residual, + ReLU as `epilogue` says) and the bare convolution."""
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2

    def body(g, x, k, scale, shift, r):
        y = op(g, "conv2d", x, k, stride=(1, 1), padding=padding, dilation=(1, 1), groups=1)
        z = y
        if epilogue in ("bn", "all"):
            z = op(g, "add", op(g, "mul", z, scale), shift)
        if epilogue in ("residual", "all"):
            z = op(g, "add", z, r)
        if epilogue in ("relu", "all"):
            z = op(g, "relu", z)
        return [z] if epilogue == "none" else [z, y]
    types = {"x": ((n, c, h, w), "f32"), "k": ((o, c, 3, 3), "f32"), "scale": ((1, o, 1, 1), "f32"),
             "shift": ((1, o, 1, 1), "f32"), "r": ((n, o, oh, ow), "f32")}
    graph = graph_of(types, body)
    graph.param_names.add("k")
    return graph, [rng.standard_normal(s).astype("f4") for s, _ in types.values()]


def _stages(graph, impl: str, layout: bool = False) -> list:
    """The convolution stages of every kernel of the optimized graph after the LLVM rewrite."""
    found = []
    with config(conv_impl=impl):
        optimized = passes.optimize(graph, conv_layout=conv_layout_rule("llvm") if layout else None).graph
        for node in optimized.nodes:
            if node.op in ("fused", "conv2d", "conv2d_blocked"):
                k = lower_node(node)
                use_direct_convolutions(k)
                found += [s for s in k.stages if isinstance(s, DirectConv)]
    return found


def _run(graph, args, impl: str):
    expected = build(graph, "interp")(args)
    with config(conv_impl=impl):
        got = build(passes.optimize(graph).graph, "llvm")(args)
    return got, expected


# (N, C, H, W, O, padding): partial tiles in both directions, channels not multiples of any block
SHAPES = [
    (2, 17, 9, 11, 20, (1, 1)),
    (1, 16, 8, 8, 16, (0, 0)),       # no padding: 6x6 outputs (F(4x4): a partial tile row and column)
    (3, 5, 7, 30, 33, (2, 1)),       # fewer channels than a vector, unequal padding
    (2, 40, 12, 13, 9, (1, 1)),
]


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape, epilogue", list(zip(SHAPES, ["all", "none", "bn", "residual"])) +
                         [(SHAPES[0], "relu")])
def test_winograd_equals_interp(shape, epilogue, m):
    graph, args = _conv_graph(*shape, epilogue)
    stages = _stages(graph, f"winograd{m}")
    assert stages and all(isinstance(s, WinogradConv) and s.m == m for s in stages)
    assert str(stages[0]).count(f"winograd_conv(F({m}x{m},3x3)")
    _close(*_run(graph, args, f"winograd{m}"), m)


@pytest.mark.parametrize("m", [2, 4])
def test_one_image_shares_its_output_channel_groups_out(m):
    """Batch 1 at 7x7 is one chunk of tiles: its output-channel groups are split into work items
    (conv_winograd.group_parts; 100 channels: an uneven split on 8- and 16-float vectors); results equal interp."""
    graph, args = _conv_graph(1, 24, 7, 7, 100, (1, 1), "all")
    stages = _stages(graph, f"winograd{m}")
    assert stages and all(s.parts > 1 and s.items == s.chunks * s.parts for s in stages)
    _close(*_run(graph, args, f"winograd{m}"), m)


def test_chunks_split_an_image_evenly_and_grow_where_the_weights_outgrow_l2():
    """conv_winograd.chunk_tiles: an image's tiles are split into chunks of about equal size (49 tiles, 7 per
    register tile, room for 6 register tiles: 28 + 21, not 42 + 7); with 16-float vectors, transformed weights
    above CACHED_WEIGHT_FLOATS give the scratch DEEP_SCRATCH_FLOATS (longer chunks), with 8 floats they do not;
    conv_winograd.chunking: there a chunk holds several whole images of few tiles."""
    a2, scratch = 36, conv_winograd.SCRATCH_FLOATS
    per_tile = a2 * (3 * 4 + 1 * 8)                          # 3 blocks of 4 input channels, 1 block of 8 out
    assert scratch // (per_tile * 7) == 6
    assert conv_winograd.chunk_tiles(4, 49, 7, 3, 4, 1, 1, 8) == 28
    assert conv_winograd.chunk_tiles(4, 49, 7, 1, 1, 1, 1, 8) == 49          # room for all: one chunk
    assert conv_winograd.chunk_tiles(4, 50, 7, 1, 1, 1, 1, 8) == 56          # whole register tiles
    deep = dict(m=4, tiles=64, rw=4, cb=32, ci=16, ro=4, og=8)               # 512 channels, F(4x4), 8x8 tiles
    assert a2 * 32 * 16 * 4 * 8 * 16 > conv_winograd.CACHED_WEIGHT_FLOATS
    assert conv_winograd.chunk_tiles(**deep, width=16) > conv_winograd.chunk_tiles(**deep, width=8) == 4
    shallow = dict(deep, cb=4, og=1)                                         # 64 -> 64 channels: in L2
    assert conv_winograd.chunk_tiles(**shallow, width=16) == 4 < conv_winograd.chunk_tiles(**deep, width=16)
    # 8 images of 4 tiles (512 channels at 8x8): whole images per chunk where the weights are deep, as many
    # per chunk as the deep scratch holds, the images split evenly among the chunks
    eight = dict(m=4, tiles=4, rw=4, cb=32, ci=16, ro=4, og=8, images=8)
    fit = conv_winograd.DEEP_SCRATCH_FLOATS // (a2 * (32 * 16 + 4 * 16) * 4) * 4 // 4
    assert 2 <= fit < 8
    chunks = -(-8 // fit)
    assert conv_winograd.chunking(**eight, width=16) == (4 * -(-8 // chunks), -(-8 // chunks))
    assert conv_winograd.chunking(**eight, width=8) == (4, 1)
    assert conv_winograd.chunking(**dict(eight, cb=1, og=1), width=16) == (4, 1)


@pytest.mark.parametrize("m", [2, 4])
def test_deep_layer_with_long_chunks_equals_interp(m):
    """128 -> 144 channels (transformed weights above CACHED_WEIGHT_FLOATS: on 16-float hosts the long-chunk
    scratch), 7 images of 16x16 outputs: equal to interp. F(4x4) on 16-float hosts: 16 tiles per image, chunks
    of whole images, the last holding fewer."""
    graph, args = _conv_graph(7, 128, 16, 16, 144, (1, 1), "all")
    stages = _stages(graph, f"winograd{m}")
    assert stages and all(isinstance(s, WinogradConv) and s.m == m for s in stages)
    if m == 4 and stages[0].tile.width == 16:
        assert all(1 < s.images and 7 % s.images and s.chunk == 16 * s.images
                   and s.items == -(-7 // s.images) * s.parts for s in stages)
    _close(*_run(graph, args, f"winograd{m}"), m)


def test_other_shapes_keep_their_kernel_when_winograd_is_forced():
    """conv_impl=winograd<m> applies to 3x3 stride-1 convolutions only; stride 2 stays direct."""
    def geo(k, stride, dilation=1):
        return ConvGeometry("x", "w", None, None, (8, 64, 32, 32), (64, 64, k, k), (stride, stride), (1, 1),
                            (dilation, dilation), 1)
    with config(conv_impl="winograd4"):
        assert conv_choice.choose_kind(geo(3, 1), 16) == "winograd4"
        assert conv_choice.choose_kind(geo(3, 2), 16) == "direct"
        assert conv_choice.choose_kind(geo(3, 1, 2), 16) == "direct"
        assert conv_choice.choose_kind(geo(5, 1), 16) == "direct"


def test_auto_choice_by_shape_class():
    """auto, 8-float vectors: F(4x4) from 28x28 outputs, F(2x2) from 14x14 to 27, F(4x4) from 7x7 to 13 (a few
    4x4 tiles cover the image); 16-float vectors: F(4x4) from 16x16, F(2x2) at 14 and 15, F(4x4) from 8 to 13,
    the direct kernel at 7 (even for rows shorter than half a vector); the direct kernel below 7x7 and for fewer
    input channels than a vector; never for stride 2 (conv_choice.py)."""
    def geo(c, size, stride=1):
        return ConvGeometry("x", "w", None, None, (8, c, size, size), (c, c, 3, 3), (stride, stride), (1, 1),
                            (1, 1), 1)
    expected = {8: ["winograd4", "winograd4", "winograd4", "winograd2", "winograd2", "winograd4", "winograd4"],
                16: ["winograd4", "winograd4", "winograd4", "winograd4", "winograd2", "winograd4", "direct"]}
    for width, kinds in expected.items():
        shapes = [geo(64, 64), geo(128, 32), geo(128, 28), geo(256, 16), geo(256, 14), geo(512, 8), geo(512, 7)]
        assert [conv_choice.choose_kind(g, width) for g in shapes] == kinds
        assert not conv_choice.choose_kind(geo(512, 6), width).startswith("winograd")
        assert conv_choice.choose_kind(geo(64, 64, 2), width) == "direct"
        assert conv_choice.choose_kind(geo(width - 1, 64), width) == "direct"
    with config(conv_impl="direct"):
        assert conv_choice.choose_kind(geo(64, 64), 16) == "direct"


@pytest.mark.parametrize("m", [2, 4])
def test_packed_weights_follow_new_weights(m):
    """The transformed weights are kept between calls and recomputed when the parameter changes."""
    graph, args = _conv_graph(*SHAPES[0], "bn")
    with config(conv_impl=f"winograd{m}"):
        exe = build(passes.optimize(graph).graph, "llvm")
    reference = build(graph, "interp")
    for _ in range(2):
        _close(exe(args), reference(args), m)
        args[1] = rng.standard_normal(args[1].shape).astype("f4")


def _chain(n, c, h, w, mid, out, residual: bool):
    """conv 3x3 -> folded BatchNorm -> ReLU (-> + r) -> conv 3x3, both stride 1: the layout pass blocks the
    value between them."""
    def body(g, x, w1, scale, shift, w2, r):
        y = op(g, "relu", op(g, "add", op(g, "mul", op(g, "conv2d", x, w1, stride=(1, 1), padding=(1, 1),
                                                          dilation=(1, 1), groups=1), scale), shift))
        if residual:
            y = op(g, "add", y, r)
        return [op(g, "conv2d", y, w2, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)]
    types = {"x": ((n, c, h, w), "f32"), "w1": ((mid, c, 3, 3), "f32"), "scale": ((1, mid, 1, 1), "f32"),
             "shift": ((1, mid, 1, 1), "f32"), "w2": ((out, mid, 3, 3), "f32"), "r": ((n, mid, h, w), "f32")}
    graph = graph_of(types, body)
    graph.param_names.update({"w1", "w2"})
    return graph, [rng.standard_normal(s).astype("f4") for s, _ in types.values()]


@pytest.mark.parametrize("m, residual", [(2, False), (4, True), (4, False)])
def test_blocked_layout_between_winograd_convolutions(m, residual):
    """The producer stores the blocked image (only it, or with the NCHW result the residual needs), border
    zeroed; the consumer reads it in place; both equal interp (a convolution of a convolution: the bound of
    the second's magnitude)."""
    graph, args = _chain(2, 6, 9, 13, 19, 11, residual)
    stages = _stages(graph, f"winograd{m}", layout=True)
    producer = next(s for s in stages if s.out_pad is not None)
    assert isinstance(producer, WinogradConv) and producer.blocked_out != residual
    assert all(isinstance(s, WinogradConv) for s in stages) and len(stages) == 2
    expected = build(graph, "interp")(args)
    with config(conv_impl=f"winograd{m}"):
        got = build(passes.optimize(graph, conv_layout=conv_layout_rule("llvm")).graph, "llvm")(args)
    _close(got, expected, m)


@pytest.mark.parametrize("cpu, features, width, reg", HOST_KINDS)
@pytest.mark.parametrize("m, stores", list(itertools.product([2, 4], ["nchw", "blocked", "both"])))
def test_each_host_kind_variant_compiles_to_its_fma(cpu, features, width, reg, m, stores):
    """Whichever host runs the tests, Winograd's code for the other kind is generated and compiles to that
    kind's vector FMAs (the GEMM's register tile) and whole-vector transforms; AVX2 code uses no zmm."""
    tiles = (32 // m) ** 2
    ro, rw = choose_tile(64 // width, tiles, width)
    tile = ConvTile(width, 2, 64 // width, width, 34, 34, 64 // width // ro, ro, rw, 32, 32, 3, 3, (1, 1), (1, 1),
                    False)
    asm = assembly(lambda triple: conv_winograd.standalone_ir(tile, m, triple, stores), cpu, features)
    assert sum(1 for line in asm if "vfmadd" in line and reg in line) >= ro * rw
    assert sum(1 for line in asm if ("vaddps" in line or "vsubps" in line) and reg in line) >= (m + 2) ** 2
    if reg == "ymm":
        assert not any("zmm" in line for line in asm)


def test_eager_convolution_runs_winograd(monkeypatch, tmp_path):
    """An eager 3x3 convolution large enough for a compiled kernel runs Winograd where auto picks it (14x15
    outputs over 16 channels: F(2x2) on targets of up to 16 floats per vector) and equals the reference."""
    got, expected, ir = eager_convolution(monkeypatch, tmp_path, rng.standard_normal((2, 16, 14, 15)).astype("f4"),
                                          rng.standard_normal((24, 16, 3, 3)).astype("f4"))
    assert "winograd convolution F(2x2,3x3)" in ir
    _close([got], [expected], 2)


@pytest.mark.parametrize("impl", ["auto", "winograd4"])
def test_residual_block_hybridized_equals_eager(impl):
    """A ResNet basic block (inference) hybridized on llvm, its 3x3 convolutions through Winograd, equals
    eager (NumPy references)."""
    from hybrid import np
    net = residual_block(16)
    x = np.array(rng.standard_normal((2, 16, 16, 18)).astype("f4"))
    compiled, eager = hybridized_and_eager(net, x, conv_impl=impl)
    _close([compiled], [eager], 4)


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")


@needs_gxx
@pytest.mark.parametrize("m", [2, 4])
def test_kernel_stages_on_cuda_emulator(m):
    """conv_impl=winograd<m> on CUDA: the convolution (with its folded BatchNorm + residual + ReLU epilogue)
    becomes the four Winograd kernel stages (kernel/winograd.py), which the emulator runs to interp's numbers."""
    from hybrid.codegen.cuda.program import lower
    graph, args = _conv_graph(*SHAPES[0], "all")
    optimized = passes.optimize(graph).graph
    with config(conv_impl=f"winograd{m}"):
        kernels = [lower(n) for n in optimized.nodes if n.op in ("fused", "conv2d")]
        got = build(optimized, "cuda", runtime="emulator")(args)
    assert all(any(name.endswith("@wino_v") for name in k.buffers) for k in kernels) and kernels
    _close(got, build(graph, "interp")(args), m)


@pytest.mark.skipif(compiler.find_nvcc() is None, reason="nvcc not found (install the CUDA toolkit)")
def test_kernel_stages_compile_with_nvcc(tmp_path):
    """The Winograd stages' CUDA source (both tile sizes) compiles for sm_80."""
    from hybrid.codegen.cuda.prelude import PRELUDE
    from hybrid.codegen.cuda.program import build_program
    graph, _ = _conv_graph(*SHAPES[2], "all")
    optimized = passes.optimize(graph).graph
    sources = []
    for m in (2, 4):
        with config(conv_impl=f"winograd{m}"):
            program = build_program(optimized, prefix=f"w{m}_")
        sources += [launch.source for launch in program.launches()]
    path = tmp_path / "winograd.cu"
    path.write_text(PRELUDE + "\n" + "\n".join(sources))
    proc = subprocess.run([compiler.find_nvcc(), "-cubin", "-arch=sm_80", *compiler.NVCC_FLAGS, "-o",
                           str(tmp_path / "w.cubin"), str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:6000]
