"""Primitives that gradient rules need: the transposes of conv2d, pooling and take.

  conv2d_input_grad(g, w)   the cotangent of conv2d's input (a transposed convolution)
  conv2d_weight_grad(x, g)  the cotangent of conv2d's weight (a correlation of x with g)
  max_pool2d_grad(x, g)     g routed to the first maximum of each window
  avg_pool2d_grad(g)        g spread evenly over each window
  take_grad(g, idx)         scatter-add of g into zeros along `axis` (repeated indices add up)

Each is linear in its cotangent operand, so its own gradient is again one of these ops or the
forward op (second-order gradients), except max_pool2d_grad, which has no rule.
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import INT_DTYPES, TensorType
from .common import expect_ndim, same_dtype
from .conv import _pad_hw, _pool_infer, conv_out_size, windows
from .gradkit import apply

CONV_ATTRS = ("stride", "padding", "dilation", "groups")


def _conv_output_shape(x_shape, w_shape, stride, padding, dilation) -> tuple[int, ...]:
    n, _, h, wd = x_shape
    o, _, kh, kw = w_shape
    return (n, o, conv_out_size(h, kh, stride[0], padding[0], dilation[0]),
            conv_out_size(wd, kw, stride[1], padding[1], dilation[1]))


def _check_conv_cotangent(g, x_shape, w_shape, stride, padding, dilation, groups):
    expect_ndim(g, 4, "conv2d cotangent (N, O, OH, OW)")
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1] * groups:
        raise ShapeError(f"input shape {tuple(x_shape)} and weight shape {tuple(w_shape)} do not match "
                         f"with {groups} groups")
    expected = _conv_output_shape(x_shape, w_shape, stride, padding, dilation)
    if tuple(g.shape) != expected:
        raise ShapeError(f"cotangent shape {g.shape} is not the conv2d output shape {expected}")


def _input_grad_infer(types, input_shape, stride, padding, dilation, groups):
    g, w = types
    expect_ndim(w, 4, "conv2d weight (O, C/groups, KH, KW)")
    _check_conv_cotangent(g, input_shape, w.shape, stride, padding, dilation, groups)
    return TensorType(tuple(input_shape), same_dtype(types))


def _spatial_window(i: int, j: int, oh: int, ow: int, stride, dilation):
    """The strided (rows, cols) slice of a padded input that kernel tap (i, j) reads."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(None), slice(r0, r0 + stride[0] * (oh - 1) + 1, stride[0]),
            slice(c0, c0 + stride[1] * (ow - 1) + 1, stride[1]))


def _crop(padded, padding, h, w):
    return numpy.ascontiguousarray(padded[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w])


def _input_grad_reference(g, w, input_shape, stride, padding, dilation, groups):
    n, c, h, wd = input_shape
    o, cg, kh, kw = w.shape
    oh, ow = g.shape[2:]
    # one batched matmul gives every kernel tap's contribution (col2im), then one strided add per tap
    gg = g.reshape(n, groups, o // groups, oh * ow)
    wg = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    taps = numpy.matmul(wg, gg).reshape(n, groups, cg, kh, kw, oh, ow)
    dx = numpy.zeros((n, c, h + 2 * padding[0], wd + 2 * padding[1]), g.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[_spatial_window(i, j, oh, ow, stride, dilation)] += taps[:, :, :, i, j].reshape(n, c, oh, ow)
    return _crop(dx, padding, h, wd)


def _input_grad_grad(ct, inputs, outputs, input_shape, **attrs):
    g, w = inputs
    return [apply("conv2d", ct, w, **attrs), apply("conv2d_weight_grad", ct, g, weight_shape=tuple(w.shape), **attrs)]


register(OpDef("conv2d_input_grad", _input_grad_infer, _input_grad_reference, "conv",
               attrs=("input_shape",) + CONV_ATTRS, grad=_input_grad_grad,
               doc="cotangent of conv2d's input: (g, weight) -> input_shape"))


def _weight_grad_infer(types, weight_shape, stride, padding, dilation, groups):
    x, g = types
    expect_ndim(x, 4, "conv2d input (N, C, H, W)")
    _check_conv_cotangent(g, x.shape, weight_shape, stride, padding, dilation, groups)
    return TensorType(tuple(weight_shape), same_dtype(types))


def _weight_grad_reference(x, g, weight_shape, stride, padding, dilation, groups):
    o, cg, kh, kw = weight_shape
    n, _, oh, ow = g.shape
    # im2col as (groups, N*OH*OW, C/groups*KH*KW), then one batched matmul per group
    cols = windows(_pad_hw(x, padding), kh, kw, stride, dilation)[:, :, :oh, :ow]
    cols = cols.reshape(n, groups, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    cols = cols.reshape(groups, n * oh * ow, cg * kh * kw)
    gg = g.reshape(n, groups, o // groups, oh * ow).transpose(1, 2, 0, 3).reshape(groups, o // groups, n * oh * ow)
    return numpy.matmul(gg, cols).reshape(weight_shape).astype(g.dtype, copy=False)


def _weight_grad_grad(ct, inputs, outputs, weight_shape, **attrs):
    x, g = inputs
    return [apply("conv2d_input_grad", g, ct, input_shape=tuple(x.shape), **attrs), apply("conv2d", x, ct, **attrs)]


register(OpDef("conv2d_weight_grad", _weight_grad_infer, _weight_grad_reference, "conv",
               attrs=("weight_shape",) + CONV_ATTRS, grad=_weight_grad_grad,
               doc="cotangent of conv2d's weight: (input, g) -> weight_shape"))


def _check_pool_cotangent(g, input_shape, kernel, stride, padding):
    expected = _pool_infer([TensorType(tuple(input_shape), g.dtype)], kernel, stride, padding)
    if g.shape != expected.shape:
        raise ShapeError(f"cotangent shape {g.shape} is not the pooling output shape {expected.shape}")


def _max_pool_grad_infer(types, kernel, stride, padding):
    x, g = types
    _check_pool_cotangent(g, x.shape, kernel, stride, padding)
    return TensorType(x.shape, same_dtype(types))


def _max_pool_grad_reference(x, g, kernel, stride, padding):
    n, c, h, w = x.shape
    oh, ow = g.shape[2:]
    padded = _pad_hw(x, padding, -numpy.inf)
    cols = windows(padded, kernel[0], kernel[1], stride, (1, 1)).reshape(n, c, oh, ow, -1)
    ki, kj = numpy.divmod(cols.argmax(axis=-1), kernel[1])
    rows = numpy.arange(oh)[:, None] * stride[0] + ki
    columns = numpy.arange(ow)[None, :] * stride[1] + kj
    batch = numpy.arange(n)[:, None, None, None]
    channel = numpy.arange(c)[None, :, None, None]
    dx = numpy.zeros(padded.shape, g.dtype)
    numpy.add.at(dx, (batch, channel, rows, columns), g)
    return _crop(dx, padding, h, w)


register(OpDef("max_pool2d_grad", _max_pool_grad_infer, _max_pool_grad_reference, "pool",
               attrs=("kernel", "stride", "padding"),
               doc="cotangent of max_pool2d's input: (input, g) -> input shape; no second-order rule"))


def _avg_pool_grad_infer(types, input_shape, kernel, stride, padding, count_include_pad):
    (g,) = types
    _check_pool_cotangent(g, input_shape, kernel, stride, padding)
    return TensorType(tuple(input_shape), g.dtype)


def _avg_pool_grad_reference(g, input_shape, kernel, stride, padding, count_include_pad):
    n, c, h, w = input_shape
    oh, ow = g.shape[2:]
    if count_include_pad:
        share = g / g.dtype.type(kernel[0] * kernel[1])
    else:
        ones = _pad_hw(numpy.ones((1, 1, h, w), g.dtype), padding)
        share = g / windows(ones, kernel[0], kernel[1], stride, (1, 1)).sum(axis=(4, 5))
    dx = numpy.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]), g.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            dx[_spatial_window(i, j, oh, ow, stride, (1, 1))] += share
    return _crop(dx, padding, h, w)


register(OpDef("avg_pool2d_grad", _avg_pool_grad_infer, _avg_pool_grad_reference, "pool",
               attrs=("input_shape", "kernel", "stride", "padding", "count_include_pad"),
               grad=lambda ct, i, o, input_shape, **attrs: [apply("avg_pool2d", ct, **attrs)],
               doc="cotangent of avg_pool2d's input: g -> input_shape"))


def _take_grad_infer(types, axis, size):
    g, idx = types
    if idx.dtype not in INT_DTYPES:
        raise ShapeError(f"indices must be integers, got {idx.dtype}")
    if g.ndim < axis + idx.ndim or g.shape[axis:axis + idx.ndim] != idx.shape:
        raise ShapeError(f"cotangent {g} does not hold the index shape {idx.shape} at axis {axis}")
    return TensorType(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype)


def _take_grad_reference(g, idx, axis, size):
    rest = g.shape[axis + idx.ndim:]
    out = numpy.zeros(g.shape[:axis] + (size,) + rest, g.dtype)
    flat = g.reshape(g.shape[:axis] + (idx.size,) + rest)
    numpy.add.at(out, (slice(None),) * axis + (idx.reshape(-1),), flat)
    return out


register(OpDef("take_grad", _take_grad_infer, _take_grad_reference, "other", attrs=("axis", "size"),
               grad=lambda ct, i, o, axis, size: [apply("take", ct, i[1], axis=axis), None],
               doc="scatter-add of g into zeros of `size` along `axis` at `idx` (take's cotangent)"))
