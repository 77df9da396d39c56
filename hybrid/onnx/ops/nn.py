"""Convolution, pooling and normalization ONNX ops (1-, 2- and 3-d spatial).

2-d cases with symmetric padding map to hybrid's conv2d / pooling primitives directly; 1-d runs
as 2-d with a unit height; 3-d convolution and transposed convolution are sums over kernel depth of
2-d ones; pooling passes symmetric padding to the pooling primitive (no padding kernel), else pads explicitly
(asymmetric pads, ceil mode), subsamples axes whose stride is a multiple of their dilation and pools
with the primitive; other dilated windows reduce strided slices one axis at a time.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Optional

import numpy

from ...frontend import np, npx
from ...core.dispatch import bind
from ...core.promote import cast
from ...ir.types import is_float_dtype
from .base import OnnxNode, converts, normalize_axis
from .shape import const_array


def spatial_pads(node: OnnxNode, sizes, kernel, strides, dilations) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis from `pads` or `auto_pad`."""
    n = len(sizes)
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return pads
    if auto == "VALID":
        return [(0, 0)] * n
    flat = node.attr("pads", [0] * (2 * n))
    return [(flat[i], flat[i + n]) for i in range(n)]


def _attrs(node: OnnxNode, x, kernel):
    n = x.ndim - 2
    if n not in (1, 2, 3):
        raise node.fail(f"{n}-d spatial input {x.shape} is not supported (1-, 2- and 3-d are)")
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    return strides, dilations, spatial_pads(node, x.shape[2:], kernel, strides, dilations)


def _pad_spatial(x, pads, value: float = 0.0):
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads], constant_values=value)


def _conv2d(x, w, strides, dilations, pads, groups):
    symmetric = all(lo == hi for lo, hi in pads)
    if not symmetric:
        x, pads = _pad_spatial(x, pads), [(0, 0)] * 2
    return npx.convolution(x, w, None, stride=tuple(strides), pad=tuple(lo for lo, _ in pads),
                           dilate=tuple(dilations), num_group=groups)


def _conv3d(x, w, strides, dilations, pads, groups):
    """Sum over kernel depth of 2-d convolutions of depth slices (batch and depth folded together)."""
    x = _pad_spatial(x, pads)
    n, c, depth = x.shape[:3]
    kd = w.shape[2]
    out_depth = (depth - (kd - 1) * dilations[0] - 1) // strides[0] + 1
    total = None
    for k in range(kd):
        start = k * dilations[0]
        part = x[:, :, start:start + (out_depth - 1) * strides[0] + 1:strides[0]]
        part = np.reshape(np.transpose(part, (0, 2, 1, 3, 4)), (n * out_depth, c) + part.shape[3:])
        y = npx.convolution(part, w[:, :, k], None, stride=tuple(strides[1:]), pad=0, dilate=tuple(dilations[1:]),
                            num_group=groups)
        total = y if total is None else total + y
    total = np.reshape(total, (n, out_depth) + total.shape[1:])
    return np.transpose(total, (0, 2, 1, 3, 4))


@converts("Conv")
def _conv(node: OnnxNode):
    x, w, bias = node.input(0), node.input(1), node.optional(2)
    strides, dilations, pads = _attrs(node, x, node.attr("kernel_shape", list(w.shape[2:])))
    groups = node.attr("group", 1)
    if x.ndim == 3:
        y = _conv2d(np.expand_dims(x, 2), np.expand_dims(w, 2), [1] + strides, [1] + dilations,
                    [(0, 0)] + pads, groups)
        y = np.squeeze(y, 2)
    elif x.ndim == 4:
        y = _conv2d(x, w, strides, dilations, pads, groups)
    else:
        y = _conv3d(x, w, strides, dilations, pads, groups)
    if bias is not None:
        y = y + np.reshape(bias, (-1,) + (1,) * (y.ndim - 2))
    return y


def _conv_transpose2d(x, w, full, strides, dilations, groups):
    c_out = w.shape[1] * groups
    return bind("conv2d_input_grad", x, w, input_shape=(x.shape[0], c_out) + tuple(full), stride=tuple(strides),
                padding=(0, 0), dilation=tuple(dilations), groups=groups)


def _conv_transpose3d(x, w, full, strides, dilations, groups):
    """Sum over kernel depth of 2-d transposed convolutions of every input depth slice (batch and depth
    folded together), input depth i landing at output depth i * stride + tap * dilation."""
    n, c, depth = x.shape[:3]
    planes = np.reshape(np.transpose(x, (0, 2, 1, 3, 4)), (n * depth, c) + x.shape[3:])
    total = None
    for tap in range(w.shape[2]):
        y = _conv_transpose2d(planes, w[:, :, tap], full[1:], strides[1:], dilations[1:], groups)
        y = np.reshape(y, (n, depth) + y.shape[1:])
        if strides[0] > 1:   # stride - 1 zero planes after each input depth
            y = np.pad(np.expand_dims(y, 2), [(0, 0), (0, 0), (0, strides[0] - 1)] + [(0, 0)] * 3)
            y = np.reshape(y, (n, depth * strides[0]) + y.shape[3:])[:, :(depth - 1) * strides[0] + 1]
        start = tap * dilations[0]
        y = np.pad(y, [(0, 0), (start, full[0] - start - y.shape[1])] + [(0, 0)] * 3)
        total = y if total is None else total + y
    return np.transpose(total, (0, 2, 1, 3, 4))


@converts("ConvTranspose")
def _conv_transpose(node: OnnxNode):
    """The input-gradient of a convolution: run unpadded at full size, then crop the pads."""
    x, w, bias = node.input(0), node.input(1), node.optional(2)
    if x.ndim not in (3, 4, 5):
        raise node.fail(f"ConvTranspose supports 1-, 2- and 3-d inputs, got {x.shape}")
    n_sp = x.ndim - 2
    kernel = list(node.attr("kernel_shape", list(w.shape[2:])))
    strides = list(node.attr("strides", [1] * n_sp))
    dilations = list(node.attr("dilations", [1] * n_sp))
    groups = node.attr("group", 1)
    out_pad = list(node.attr("output_padding", [0] * n_sp))
    full = [s * (i - 1) + op + (k - 1) * d + 1
            for i, k, s, d, op in zip(x.shape[2:], kernel, strides, dilations, out_pad)]
    auto = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape", None)
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [i * s for i, s in zip(x.shape[2:], strides)]
    if out_shape is not None:
        out_shape = list(out_shape)[-n_sp:]
        pads = []
        for f, o in zip(full, out_shape):
            total = f - o
            pads.append((total // 2, total - total // 2) if auto == "SAME_UPPER" else (total - total // 2, total // 2))
    else:
        flat = node.attr("pads", [0] * (2 * n_sp))
        pads = [(flat[i], flat[i + n_sp]) for i in range(n_sp)]
    if n_sp == 1:
        x, w = np.expand_dims(x, 2), np.expand_dims(w, 2)
        full, pads, strides, dilations = [1] + full, [(0, 0)] + pads, [1] + strides, [1] + dilations
    convolve = _conv_transpose3d if n_sp == 3 else _conv_transpose2d
    y = convolve(x, w, full, strides, dilations, groups)
    y = y[(slice(None), slice(None)) + tuple(slice(max(lo, 0), f - max(hi, 0)) for (lo, hi), f in zip(pads, full))]
    grow = [(max(-lo, 0), max(-hi, 0)) for lo, hi in pads]
    y = _pad_spatial(y, grow)
    if n_sp == 1:
        y = np.squeeze(y, 2)
    if bias is not None:
        y = y + np.reshape(bias, (-1,) + (1,) * (y.ndim - 2))
    return y


# -- pooling ----------------------------------------------------------------------------------------------
def _pool_geometry(node: OnnxNode, x, kernel):
    strides, dilations, pads = _attrs(node, x, kernel)
    ceil_mode = node.attr("ceil_mode", 0)
    out, extra = [], []
    for size, (lo, hi), k, s, d in zip(x.shape[2:], pads, kernel, strides, dilations):
        span = size + lo + hi - (k - 1) * d - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + lo:   # a window may not start in the right padding
            o -= 1
        out.append(o)
        extra.append(max(0, (o - 1) * s + (k - 1) * d + 1 - (size + lo + hi)))
    return strides, dilations, pads, out, extra


def _window_slices(kernel, strides, dilations, out):
    for offsets in itertools.product(*(range(k) for k in kernel)):
        yield (slice(None), slice(None)) + tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                                                 for o, d, n, s in zip(offsets, dilations, out, strides))


def _primitive_padding(x, kernel, dilations, pads) -> Optional[tuple]:
    """The pooling primitive's padding when it pools this window as given: 2-d or 3-d, undilated,
    padding symmetric and at most half the kernel (the padding then never needs a kernel of its own)."""
    if x.ndim in (4, 5) and all(d == 1 for d in dilations) and \
            all(lo == hi and 2 * lo <= k for (lo, hi), k in zip(pads, kernel)):
        return tuple(lo for lo, _ in pads)
    return None


def _window_reduce(x, pads, kernel, strides, dilations, out, kind: str):
    """max or sum over every window of x (N, C, *spatial) padded by `pads` (lowest value or zeros).

    An axis whose stride is a multiple of its dilation only ever reads every d-th element (each window
    starts on that grid), so it is subsampled first and pooled undilated. With no dilation left the
    pooling primitive does the work; otherwise the window is reduced one axis at a time (max and sum
    are separable), sum(kernel) strided slices rather than prod(kernel), which keeps the fused kernel
    small for large dilated windows."""
    mode = "max" if kind == "max" else "avg"
    padding = _primitive_padding(x, kernel, dilations, pads)
    if padding is None:
        lowest = -math.inf if is_float_dtype(x.dtype) else int(numpy.iinfo(x.dtype).min)
        x = _pad_spatial(x, pads, lowest if kind == "max" else 0.0)
        padding = (0,) * len(kernel)
    strides, dilations = list(strides), list(dilations)
    key = [slice(None)] * x.ndim
    for axis, (k, s, d, n) in enumerate(zip(kernel, strides, dilations, out)):
        if d > 1 and s % d == 0:
            key[2 + axis] = slice(0, (n - 1) * s + (k - 1) * d + 1, d)
            strides[axis], dilations[axis] = s // d, 1
    x = x[tuple(key)]
    if all(d == 1 for d in dilations):
        pooled = npx.pooling(x, tuple(kernel), tuple(strides), padding, mode, count_include_pad=True)
        return pooled if kind == "max" else pooled * float(math.prod(kernel))
    combine = np.maximum if kind == "max" else np.add
    for axis, (k, s, d, n) in enumerate(zip(kernel, strides, dilations, out)):
        total = None
        for offset in range(k):
            key = [slice(None)] * x.ndim
            key[2 + axis] = slice(offset * d, offset * d + (n - 1) * s + 1, s)
            part = x[tuple(key)]
            total = part if total is None else combine(total, part)
        x = total
    return x


def _count_windows(shape, pads, extra, kernel, strides, dilations, out, include_pad: bool) -> numpy.ndarray:
    """How many real (or explicitly padded) elements each window covers: the average's divisor."""
    mask = numpy.ones(shape, numpy.float64)
    widths = [(lo, hi) for lo, hi in pads]
    mask = numpy.pad(mask, widths, constant_values=1.0 if include_pad else 0.0)
    mask = numpy.pad(mask, [(0, e) for e in extra])[None, None]
    counts = sum(mask[key] for key in _window_slices(kernel, strides, dilations, out))
    return counts[0, 0]


def _max_with_indices(node: OnnxNode, x, kernel, strides, dilations, pads, out, extra):
    """MaxPool with its Indices output: the flat index (over N, C and the spatial axes, row-major, or with
    the spatial axes column-major when storage_order=1) of each window's first maximum, padding excluded."""
    sizes = x.shape[2:]
    lowest = -math.inf if is_float_dtype(x.dtype) else int(numpy.iinfo(x.dtype).min)
    padded = _pad_spatial(x, [(lo, hi + e) for (lo, hi), e in zip(pads, extra)], lowest)
    order = "F" if node.attr("storage_order", 0) else "C"
    steps = numpy.cumprod((1,) + sizes[:-1]) if order == "F" else numpy.cumprod((1,) + sizes[::-1][:-1])[::-1]
    best = index = None
    for key in _window_slices(kernel, strides, dilations, out):
        part = padded[key]
        # where this offset reads in the unpadded input, per output position (padding never wins: -inf)
        rows = [numpy.arange(k.start, k.stop, k.step) - lo for k, (lo, _) in zip(key[2:], pads)]
        flat = sum(numpy.clip(r, 0, size - 1).reshape((-1,) + (1,) * (len(rows) - i - 1)) * step
                   for i, (r, size, step) in enumerate(zip(rows, sizes, steps)))
        flat = const_array(numpy.asarray(flat, numpy.int64))
        if best is None:
            best, index = part, np.broadcast_to(flat, part.shape)
        else:
            take = part > best           # strictly greater: the first maximum in window order stays
            best, index = np.where(take, part, best), np.where(take, flat, index)
    n, c = x.shape[:2]
    base = const_array((numpy.arange(n * c, dtype=numpy.int64) * math.prod(sizes)).reshape((n, c) + (1,) * len(sizes)))
    return best, index + base


def _pool(node: OnnxNode, kind: str):
    x = node.input(0)
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, pads, out, extra = _pool_geometry(node, x, kernel)
    if node.num_outputs > 1:
        return _max_with_indices(node, x, kernel, strides, dilations, pads, out, extra)
    squeeze = x.ndim == 3
    if squeeze:
        x = np.expand_dims(x, 2)
        kernel, strides, dilations, out = [1] + kernel, [1] + strides, [1] + dilations, [1] + out
        pads, extra = [(0, 0)] + pads, [0] + extra
    full_pads = [(lo, hi + e) for (lo, hi), e in zip(pads, extra)]
    include = bool(node.attr("count_include_pad", 0))
    padding = _primitive_padding(x, kernel, dilations, full_pads)
    if kind == "max":
        y = _window_reduce(x, full_pads, kernel, strides, dilations, out, "max")
    elif kind == "avg" and padding is not None:   # the primitive divides by the right count itself
        y = npx.pooling(x, tuple(kernel), tuple(strides), padding, "avg", count_include_pad=include)
    else:
        p = node.attr("p", 2) if kind == "lp" else 1
        base = np.power(np.abs(x), float(p)) if kind == "lp" else x
        sums = _window_reduce(base, full_pads, kernel, strides, dilations, out, "sum")
        if kind == "lp":
            y = np.power(sums, 1.0 / p)
        else:
            counts = _count_windows(x.shape[2:], pads, extra, kernel, strides, dilations, out, include)
            y = sums / const_array(counts.astype(x.dtype))
    return np.squeeze(y, 2) if squeeze else y


converts("MaxPool")(lambda node: _pool(node, "max"))
converts("AveragePool")(lambda node: _pool(node, "avg"))
converts("LpPool")(lambda node: _pool(node, "lp"))


def _spatial_axes(x):
    return tuple(range(2, x.ndim))


converts("GlobalAveragePool")(lambda node: np.mean(node.input(0), _spatial_axes(node.input(0)), keepdims=True))
converts("GlobalMaxPool")(lambda node: np.max(node.input(0), _spatial_axes(node.input(0)), keepdims=True))


@converts("GlobalLpPool")
def _global_lp_pool(node: OnnxNode):
    x, p = node.input(0), float(node.attr("p", 2))
    return np.power(np.sum(np.power(np.abs(x), p), _spatial_axes(x), keepdims=True), 1.0 / p)


# -- normalization ----------------------------------------------------------------------------------------
def _channel(v, ndim: int):
    return np.reshape(v, (-1,) + (1,) * (ndim - 2))


@converts("BatchNormalization")
def _batch_norm(node: OnnxNode):
    x, scale, bias, mean, var = (node.input(i) for i in range(5))
    if node.attr("training_mode", 0) or (node.opset < 9 and node.num_outputs > 1) or node.num_outputs > 1:
        raise node.fail("training-mode BatchNormalization (running-statistics outputs) is a training op; "
                        "import the inference graph and fine-tune with hybrid's own BatchNorm")
    eps = node.attr("epsilon", 1e-5)
    factor = scale * npx.rsqrt(var + eps)
    return x * _channel(factor, x.ndim) + _channel(bias - mean * factor, x.ndim)


def _normalize(x, axes, eps):
    mean = np.mean(x, axes, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axes, keepdims=True)
    return centered, mean, npx.rsqrt(var + eps)


@converts("InstanceNormalization")
def _instance_norm(node: OnnxNode):
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    centered, _, inv = _normalize(x, _spatial_axes(x), node.attr("epsilon", 1e-5))
    return centered * inv * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@converts("LayerNormalization")
def _layer_norm(node: OnnxNode):
    x, scale, bias = node.input(0), node.input(1), node.optional(2)
    axis = normalize_axis(node.attr("axis", -1), x.ndim, node)
    centered, mean, inv = _normalize(x, tuple(range(axis, x.ndim)), node.attr("epsilon", 1e-5))
    y = centered * inv * scale
    if bias is not None:
        y = y + bias
    return (y, mean, inv)[:node.num_outputs] if node.num_outputs > 1 else y


@converts("GroupNormalization")
def _group_norm(node: OnnxNode):
    x, scale, bias = node.input(0), node.input(1), node.input(2)
    groups = node.attr("num_groups")
    grouped = np.reshape(x, (x.shape[0], groups, -1))
    centered, _, inv = _normalize(grouped, (2,), node.attr("epsilon", 1e-5))
    y = np.reshape(centered * inv, x.shape)
    if node.opset < 21:   # opset 18: scale and bias per group
        scale, bias = np.repeat(scale, x.shape[1] // groups), np.repeat(bias, x.shape[1] // groups)
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@converts("LRN")
def _lrn(node: OnnxNode):
    """Local response normalization across channels: a sum of shifted channel slices."""
    x = node.input(0)
    size = node.attr("size")
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(x * x, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    c = x.shape[1]
    total = None
    for i in range(size):
        part = sq[:, i:i + c]
        total = part if total is None else total + part
    return x / np.power(total * (alpha / size) + bias, beta)


@converts("MeanVarianceNormalization")
def _mvn(node: OnnxNode):
    x = node.input(0)
    axes = tuple(normalize_axis(a, x.ndim, node) for a in node.attr("axes", [0, 2, 3]))
    centered, _, _ = _normalize(x, axes, 0.0)
    return centered / (np.sqrt(np.mean(centered * centered, axes, keepdims=True)) + 1e-9)


@converts("LpNormalization")
def _lp_normalization(node: OnnxNode):
    x = node.input(0)
    axis = normalize_axis(node.attr("axis", -1), x.ndim, node)
    p = node.attr("p", 2)
    norm = np.sum(np.abs(x), axis, keepdims=True) if p == 1 else np.sqrt(np.sum(x * x, axis, keepdims=True))
    return np.where(norm == 0, np.zeros((), x.dtype), x / np.where(norm == 0, np.ones((), x.dtype), norm))


# -- dense -------------------------------------------------------------------------------------------------
@converts("MatMul")
def _matmul(node: OnnxNode):
    return np.matmul(node.input(0), node.input(1))


@converts("Gemm")
def _gemm(node: OnnxNode):
    a, b, c = node.input(0), node.input(1), node.optional(2)
    if node.attr("transA", 0):
        a = np.transpose(a)
    if node.attr("transB", 0):
        b = np.transpose(b)
    y = np.matmul(a, b)
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (c * beta if beta != 1.0 else c)
    return y


@converts("RMSNormalization")
def _rms_norm(node: OnnxNode):
    x, scale = node.input(0), node.input(1)
    axis = normalize_axis(node.attr("axis", -1), x.ndim, node)
    axes = tuple(range(axis, x.ndim))
    return x * npx.rsqrt(np.mean(x * x, axes, keepdims=True) + node.attr("epsilon", 1e-5)) * scale


@converts("SwiGLU")
def _swiglu(node: OnnxNode):
    a, b = node.input(0), node.input(1)
    if a.shape != b.shape:
        raise node.fail(f"inputs A {a.shape} and B {b.shape} must have the same shape (no broadcasting)")
    return a * npx.sigmoid(a * node.attr("alpha", 1.0)) * b


@converts("CausalConvWithState")
def _causal_conv_with_state(node: OnnxNode):
    """Depthwise causal 1-d convolution (B, C, T) over the past state (B, C, k-1) and the input; returns
    the output (optionally SiLU-activated) and the last k-1 padded steps as the next state."""
    x, w = node.input(0), node.input(1)
    bias, past = node.optional(2), node.optional(3)
    activation = node.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise node.fail(f"activation {activation!r} is not one of none, silu, swish")
    batch, channels, steps = x.shape
    k = w.shape[2]
    if past is None:
        past = np.zeros((batch, channels, k - 1), x.dtype)
    padded = np.concatenate([past, x], axis=2) if k > 1 else x
    # half-precision inputs accumulate and activate in float32 and round once, as the reference does
    dtype = "f32" if x.type.dtype in ("f16", "bf16") else x.type.dtype
    signal, taps = cast(padded, dtype), cast(np.reshape(w, (1, channels, k)), dtype)
    out = functools.reduce(np.add, [signal[:, :, j:j + steps] * taps[:, :, j:j + 1] for j in range(k)])
    if bias is not None:
        out = out + cast(np.reshape(bias, (1, channels, 1)), dtype)
    if activation != "none":
        out = out * npx.sigmoid(out)
    return cast(out, x.type.dtype), padded[:, :, padded.shape[2] - (k - 1):]
