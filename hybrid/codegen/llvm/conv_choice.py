"""Which kernel runs a float32 convolution on the LLVM backend: the direct convolution
(conv_direct.py) or im2col + the packed GEMM.

`choose_kind` decides per shape class from measurements on the host (bench/conv_shapes.py and
bench/onnx_conv_breakdown.py: each convolution with a folded-BatchNorm epilogue, weights kept packed between
calls as a model's parameters are, process CPU time, interleaved with ONNX Runtime; see bench/RESULTS.md
"Convolution kernels" and "conv5"). Numbers below: AVX2 (znver1, 8 floats), one thread, batch 1 and 8, the
W6 shapes and every convolution of the ONNX ResNet-50, Inception-v1 and DenseNet-121 files. The direct kernel
wins where each output pixel does enough work to pay for re-laying the input and the result out (the
NCHW[x]c transforms at its edges):
  - a spatial kernel (3x3, 5x5) over at least 4 input channels and output rows of at least half a vector
    (ResNet-18's 3x3 layers 0.68-0.78x of im2col's time on AVX-512; Inception's 5x5: 0.7-0.9x on AVX2);
  - a 7x7 stem over RGB (C < 4: 49 taps per packed input float; ResNet-50's 3->64 7x7/2 at 224: 0.80-0.87x
    of im2col at batch 1 and 8), but not the 3x3 RGB stems (W6: 1.5x) nor other thin inputs, unless pooled
    (below);
  - 1x1 stride-1 convolutions only on small images (output rows under 14 pixels: the GEMM's columns are the
    49 pixels of a 7x7 image, too few for its panels; ResNet-50's and DenseNet-121's 7x7 1x1s 0.80-0.92x of
    im2col, batch 1 and 8). From 14x14 up im2col is as fast or faster (the im2col of a 1x1 is no copy at
    all); so it is for stride 2, where the direct kernel would pack 4x the pixels it reads (W6's 256->512
    1x1/2 to 8x8: 1.2x of im2col's time, ResNet-50's 1024->2048 to 7x7: 1.0x).
A 3x3 stride-1 convolution over at least one vector of input channels runs Winograd (conv_winograd.py) from
7x7 outputs up: F(4x4,3x3) from 28x28 (ResNet-18 at 64x64 and 32x32: 0.31-0.35x ONNX Runtime's time;
ResNet-50's 64 and 128 channels at 56x56 and 28x28 0.34-0.36x; F(2x2) 0.5-0.57x), F(2x2,3x3) from 14x14 to 27
(W6's 256 channels at 16x16: 0.55x, F(4x4) 0.69x; ResNet-50's 256 at 14x14: 0.46-0.47x at batch 1 and 8,
F(4x4) 0.78-0.89x, direct 1.0x), F(4x4,3x3) again below 14 (at 7x7 and 8x8 four 4x4 tiles cover the image
with little waste, where F(2x2)'s sixteen 2x2 tiles of 16 frequencies re-read 16/9 of the weights per 4
pixels: W6's 512 channels at 8x8 0.70x against F(2x2) 1.5x; ResNet-50's 512 at 7x7 0.76-0.78x, direct
0.83-0.86x).
With 16-float vectors (AVX-512, measured on Sapphire Rapids: one thread, batch 8, CPU time against ONNX
Runtime's, with conv_winograd.chunking's longer chunks for deep layers) F(4x4,3x3) from 16x16 outputs
(ResNet-18's 64 channels at 64x64 0.43x, 128 at 32x32 0.46x, 256 at 16x16 0.47x; F(2x2) 0.64-0.81x), F(2x2,3x3)
at 14 and 15 (256 channels at 14x14: 0.51-0.60x, F(4x4) 0.58-0.71x), F(4x4) again from 8 to 13, its chunks
holding several whole images (512 channels at 8x8: F(4x4) 0.77-0.83x, F(2x2) 0.79-0.80x, direct 0.93-0.97x),
and at 7x7 the direct kernel, whatever the row length (512 channels: direct 0.70-0.75x, F(4x4) 0.78-0.82x,
F(2x2) 0.77-0.87x, im2col 1.41x).
Depthwise convolutions with a spatial kernel run conv_depthwise.py (a vector of channels per FMA, no GEMM
to feed); other grouped convolutions take im2col.
The `conv_impl` setting (HYBRID_CONV_IMPL) forces one kind for every convolution that the direct kernel
supports (benchmarks and tests)."""
from __future__ import annotations

from typing import Optional

from ...config import config
from ...ir.graph import Node
from ..kernel.describe import ConvGeometry
from . import gemm


def winograd_fits(geo: ConvGeometry) -> bool:
    """Whether Winograd F(m x m, 3x3) computes `geo`: an ungrouped 3x3 convolution, stride 1, no dilation."""
    return geo.w_shape[2:] == (3, 3) and tuple(geo.stride) == (1, 1) and tuple(geo.dilation) == (1, 1) \
        and geo.groups == 1


def depthwise(geo: ConvGeometry) -> bool:
    """Whether `geo` is a depthwise convolution (groups = input channels = output channels) on an NCHW input."""
    return 1 < geo.groups == geo.in_shape[1] == geo.w_shape[0] and not geo.block


def choose_kind(geo: ConvGeometry, width: int, pooled: bool = False) -> str:
    """"direct", "winograd2", "winograd4", "depthwise" or "im2col" for the convolution `geo` on a target with
    `width` floats per vector (other grouped convolutions: "im2col"). pooled: a pooling of the result would run
    in the direct kernel's output loop (conv_rewrite._pool_in_output_loop), so the result never reaches memory:
    then a thin input (C < 4) takes the direct kernel too when it has at least 4 output channels (half an AVX2
    vector, a quarter of an AVX-512 one; with 4-float vectors 2) (LeNet-5's conv1, 1 -> 6 channels then 2x2 max pooling, AVX2: W2 0.80x ONNX Runtime's CPU
    time against 0.92x with im2col and a separate pooling pass; AVX-512 (Sapphire Rapids), 6 of 16 lanes,
    one thread: 0.35 ms CPU against 0.60 ms for im2col with its pooling)."""
    forced = config.get("conv_impl")
    if geo.groups != 1:
        spatial = geo.w_shape[2] * geo.w_shape[3] > 1
        return "depthwise" if depthwise(geo) and spatial and forced != "im2col" else "im2col"
    if forced.startswith("winograd") and winograd_fits(geo):
        return forced
    if forced not in ("auto", "winograd2", "winograd4"):
        return forced
    _, c, h, w = geo.in_shape
    _, _, kh, kw = geo.w_shape
    oh = (h + 2 * geo.padding[0] - geo.dilation[0] * (kh - 1) - 1) // geo.stride[0] + 1
    ow = (w + 2 * geo.padding[1] - geo.dilation[1] * (kw - 1) - 1) // geo.stride[1] + 1
    if forced == "auto" and winograd_fits(geo) and c >= width and min(oh, ow) >= 7:
        if width < 16:
            return "winograd2" if 14 <= min(oh, ow) < 28 else "winograd4"
        if min(oh, ow) >= 8:
            return "winograd2" if 14 <= min(oh, ow) < 16 else "winograd4"
        return "direct"
    thin_pooled = pooled and min(geo.w_shape[0], width) >= min(4, width // 2)
    enough_work = c >= 4 or thin_pooled or kh * kw >= 49       # per packed input float (the 7x7 RGB stem)
    small_1x1 = ow < 14 and tuple(geo.stride) == (1, 1)
    return "direct" if (kh * kw > 1 or small_1x1) and enough_work and 2 * ow >= width else "im2col"


def blocked_input(node: Node) -> Optional[int]:
    """The LLVM backend's rule for the channel-blocked layout pass (passes/conv_layout.py): the block (one
    vector of channels of the target) when `node` (conv2d or conv2d_blocked) runs the direct kernel (or
    Winograd, which reads and stores the same layouts), which
    reads a blocked input of at least one block of channels in place and can store its result blocked;
    None otherwise."""
    width = gemm.host_config().width
    x, w = node.inputs
    if x.dtype != "f32" or node.attrs.get("groups", 1) != 1:
        return None
    if node.op == "conv2d_blocked":
        n, cb, h, wd, block = x.shape
        geo_in, padding = (n, w.shape[1], h, wd), (0, 0)
        if block != width:
            return None
    else:
        geo_in, padding = x.shape, tuple(node.attrs["padding"])
    geo = ConvGeometry("x", "w", None, None, tuple(geo_in), tuple(w.shape), tuple(node.attrs["stride"]), padding,
                       tuple(node.attrs["dilation"]), 1)
    return width if choose_kind(geo, width) != "im2col" else None
