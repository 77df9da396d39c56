"""The channel-blocked image layout (NCHW[b]c, padded) and the convolution that reads it.

A blocked image keeps each group of `b` channels of a pixel adjacent, with the zero border a
convolution's padding needs already in place:

    to_blocked(x: (N, C, H, W)) {block=b, pad=[ph, pw]}  ->  (N, ceil(C/b), H + 2ph, W + 2pw, b)
        out[n, cb, h, w, c] = x[n, cb*b + c, h - ph, w - pw], zero outside the image and past C
    from_blocked(xb) {channels=C, pad=[ph, pw]}          ->  (N, C, H, W): the inverse (a crop)
    conv2d_blocked(xb, w: (O, C, KH, KW)) {stride, dilation}  ->  (N, O, OH, OW)
        = conv2d(from_blocked(xb, channels=C, pad=[0, 0]), w, padding 0): the border is in xb

The conv_layout pass (hybrid/passes/conv_layout.py) writes these so that a convolution's result
that only feeds another convolution is stored once in the layout the consumer's kernel reads,
instead of being re-laid out by the consumer on every call.
"""
from __future__ import annotations

import numpy

from ...errors import ShapeError
from ..registry import OpDef, register
from ..types import TensorType
from .common import expect_ndim, same_dtype
from .conv import _conv2d_infer, _conv2d_reference
from .gradkit import apply


def blocked_shape(shape: tuple[int, int, int, int], block: int, pad: tuple[int, int]) -> tuple[int, ...]:
    n, c, h, w = shape
    return (n, -(-c // block), h + 2 * pad[0], w + 2 * pad[1], block)


def _to_blocked_infer(types, block, pad):
    (x,) = types
    expect_ndim(x, 4, "to_blocked input (N, C, H, W)")
    if block < 1 or min(pad) < 0:
        raise ShapeError(f"to_blocked needs a block >= 1 and padding >= 0, got block {block}, pad {tuple(pad)}")
    return TensorType(blocked_shape(x.shape, block, pad), x.dtype)


def _to_blocked_reference(x, block, pad):
    n, c, h, w = x.shape
    ph, pw = pad
    cb = -(-c // block)
    full = numpy.zeros((n, cb * block, h + 2 * ph, w + 2 * pw), x.dtype)
    full[:, :c, ph:ph + h, pw:pw + w] = x
    return numpy.ascontiguousarray(full.reshape(n, cb, block, h + 2 * ph, w + 2 * pw).transpose(0, 1, 3, 4, 2))


def _from_blocked_infer(types, channels, pad):
    (xb,) = types
    expect_ndim(xb, 5, "from_blocked input (N, C/b, H, W, b)")
    n, cb, hp, wp, block = xb.shape
    if not (cb - 1) * block < channels <= cb * block:
        raise ShapeError(f"from_blocked: {channels} channels do not fill the last of {cb} blocks of {block}")
    if hp - 2 * pad[0] < 0 or wp - 2 * pad[1] < 0 or min(pad) < 0:
        raise ShapeError(f"from_blocked: padding {tuple(pad)} does not fit the {hp}x{wp} blocked image")
    return TensorType((n, channels, hp - 2 * pad[0], wp - 2 * pad[1]), xb.dtype)


def _from_blocked_reference(xb, channels, pad):
    n, cb, hp, wp, block = xb.shape
    ph, pw = pad
    full = xb.transpose(0, 1, 4, 2, 3).reshape(n, cb * block, hp, wp)
    return numpy.ascontiguousarray(full[:, :channels, ph:hp - ph, pw:wp - pw])


register(OpDef("to_blocked", _to_blocked_infer, _to_blocked_reference, "layout", attrs=("block", "pad"),
               grad=lambda g, i, o, block, pad: [apply("from_blocked", g, channels=i[0].shape[1], pad=pad)],
               doc="NCHW -> padded NCHW[block]c (zeros at the border and past the channels)"))
register(OpDef("from_blocked", _from_blocked_infer, _from_blocked_reference, "layout", attrs=("channels", "pad"),
               grad=lambda g, i, o, channels, pad: [apply("to_blocked", g, block=i[0].shape[4], pad=pad)],
               doc="padded NCHW[b]c -> NCHW: the inverse of to_blocked"))


def _unblocked(xb: TensorType, w: TensorType) -> TensorType:
    expect_ndim(xb, 5, "conv2d_blocked input (N, C/b, H, W, b)")
    expect_ndim(w, 4, "conv2d_blocked weight (O, C, KH, KW)")
    n, cb, hp, wp, block = xb.shape
    channels = w.shape[1]
    if not (cb - 1) * block < channels <= cb * block:
        raise ShapeError(f"conv2d_blocked: the weight's {channels} input channels do not fill the last of the "
                         f"input's {cb} blocks of {block}")
    return TensorType((n, channels, hp, wp), xb.dtype)


def _conv2d_blocked_infer(types, stride, dilation):
    xb, w = types
    same_dtype(types)
    return _conv2d_infer([_unblocked(xb, w), w], stride, (0, 0), dilation, 1)


def _conv2d_blocked_reference(xb, w, stride, dilation):
    x = _from_blocked_reference(xb, w.shape[1], (0, 0))
    return _conv2d_reference(x, w, stride, (0, 0), dilation, 1)


def _conv2d_blocked_grad(g, inputs, outputs, stride, dilation):
    xb, w = inputs
    n, cb, hp, wp, block = xb.shape
    attrs = dict(stride=stride, padding=(0, 0), dilation=dilation, groups=1)
    gx = apply("conv2d_input_grad", g, w, input_shape=(n, w.shape[1], hp, wp), **attrs)
    x = apply("from_blocked", xb, channels=w.shape[1], pad=(0, 0))
    return [apply("to_blocked", gx, block=block, pad=(0, 0)),
            apply("conv2d_weight_grad", x, g, weight_shape=tuple(w.shape), **attrs)]


register(OpDef("conv2d_blocked", _conv2d_blocked_infer, _conv2d_blocked_reference, "conv",
               attrs=("stride", "dilation"), grad=_conv2d_blocked_grad,
               doc="conv2d over a padded NCHW[b]c input (padding 0: the border is in the input)"))
