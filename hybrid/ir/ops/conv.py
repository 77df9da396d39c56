"""2-D convolution (NCHW, OIHW weights, groups) and 2-D max/avg pooling."""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType, is_float_dtype
from .common import expect_ndim, same_dtype
from .gradkit import apply


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _conv2d_infer(types, stride, padding, dilation, groups):
    x, w = types
    expect_ndim(x, 4, "conv2d input (N, C, H, W)")
    expect_ndim(w, 4, "conv2d weight (O, C/groups, KH, KW)")
    dtype = same_dtype(types)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % groups or o % groups or cg * groups != c:
        raise ShapeError(f"input has {c} channels, weight expects {cg} per group x {groups} groups")
    oh = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_out_size(wd, kw, stride[1], padding[1], dilation[1])
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"kernel {kh}x{kw} does not fit the {h}x{wd} input with padding {tuple(padding)}")
    return TensorType((n, o, oh, ow), dtype)


def windows(x, kh, kw, stride, dilation):
    """View (N, C, OH, OW, KH, KW) of every kernel window of an already padded NCHW array."""
    n, c, h, w = x.shape
    oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    sn, sc, sh, sw = x.strides
    return numpy.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw), (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1]),
        writeable=False)


def _pad_hw(x, padding, value=0.0):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _conv2d_reference(x, w, stride, padding, dilation, groups):
    o, cg, kh, kw = w.shape
    cols = windows(_pad_hw(x, padding), kh, kw, stride, dilation)  # N, C, OH, OW, KH, KW
    n, c, oh, ow = cols.shape[:4]
    cols = cols.reshape(n, groups, cg, oh, ow, kh, kw)
    wg = w.reshape(groups, o // groups, cg, kh, kw)
    out = numpy.einsum("ngchwij,gocij->ngohw", cols, wg, optimize=True)
    return numpy.ascontiguousarray(out.reshape(n, o, oh, ow)).astype(x.dtype, copy=False)


def _conv2d_grad(g, inputs, outputs, **attrs):
    x, w = inputs
    return [apply("conv2d_input_grad", g, w, input_shape=tuple(x.shape), **attrs),
            apply("conv2d_weight_grad", x, g, weight_shape=tuple(w.shape), **attrs)]


register(OpDef("conv2d", _conv2d_infer, _conv2d_reference, "conv",
               attrs=("stride", "padding", "dilation", "groups"), grad=_conv2d_grad))


def _pool_infer(types, kernel, stride, padding, **_):
    (x,) = types
    expect_ndim(x, 4, "pooling input (N, C, H, W)")
    n, c, h, w = x.shape
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ShapeError(f"padding {tuple(padding)} must be at most half the kernel {tuple(kernel)}")
    oh = conv_out_size(h, kernel[0], stride[0], padding[0])
    ow = conv_out_size(w, kernel[1], stride[1], padding[1])
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"pooling window {tuple(kernel)} does not fit the {h}x{w} input")
    return TensorType((n, c, oh, ow), x.dtype)


def _max_pool_reference(x, kernel, stride, padding):
    low = -numpy.inf if is_float_dtype(x.dtype) else numpy.iinfo(x.dtype).min
    cols = windows(_pad_hw(x, padding, low), kernel[0], kernel[1], stride, (1, 1))
    return cols.max(axis=(4, 5))


def _avg_pool_reference(x, kernel, stride, padding, count_include_pad):
    cols = windows(_pad_hw(x, padding), kernel[0], kernel[1], stride, (1, 1))
    total = cols.sum(axis=(4, 5), dtype=numpy.float64)
    if count_include_pad:
        return (total / (kernel[0] * kernel[1])).astype(x.dtype)
    ones = _pad_hw(numpy.ones((1, 1) + x.shape[2:], numpy.float64), padding)
    counts = windows(ones, kernel[0], kernel[1], stride, (1, 1)).sum(axis=(4, 5))
    return (total / counts).astype(x.dtype)


register(OpDef("max_pool2d", _pool_infer, _max_pool_reference, "pool", attrs=("kernel", "stride", "padding"),
               grad=lambda g, i, o, **attrs: [apply("max_pool2d_grad", i[0], g, **attrs)]))
register(OpDef("avg_pool2d", _pool_infer, _avg_pool_reference, "pool",
               attrs=("kernel", "stride", "padding", "count_include_pad"),
               grad=lambda g, i, o, **attrs: [apply("avg_pool2d_grad", g, input_shape=tuple(i[0].shape), **attrs)]))
