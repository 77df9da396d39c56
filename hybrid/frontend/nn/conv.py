"""Convolution, transposed convolution and pooling layers over 1, 2 and 3 spatial dimensions
(Gluon names and arguments), channel-first or channel-last (`layout`). All run through the
rank-generic npx.convolution / deconvolution / pooling."""
from __future__ import annotations

from typing import Optional

from .. import npx
from ..block import HybridBlock
from ..convnd import CHANNEL_FIRST, CHANNEL_LAST, ntuple
from ..parameter import Parameter


def _check_layout(cls_name: str, layout: str, rank: int) -> bool:
    """True for a channel-last layout; an error naming the layer for one of another rank."""
    if layout == CHANNEL_FIRST[rank]:
        return False
    if layout == CHANNEL_LAST[rank]:
        return True
    raise ValueError(f"{cls_name}: layout must be {CHANNEL_FIRST[rank]!r} or {CHANNEL_LAST[rank]!r}, got {layout!r}")


class _Conv(HybridBlock):
    """Shared by Conv{1,2,3}D and their transposes: `rank` spatial dims; `in_channels=0` defers
    the weight shape to the first call."""

    rank = 2
    transposed = False

    def __init__(self, channels: int, kernel_size, strides=1, padding=0, dilation=1, groups: int = 1,
                 layout: Optional[str] = None, activation: Optional[str] = None, use_bias: bool = True,
                 weight_initializer=None, bias_initializer="zeros", in_channels: int = 0, dtype="float32",
                 output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self.rank
        self.layout = layout or CHANNEL_FIRST[n]
        self.channel_last = _check_layout(name, self.layout, n)
        self.channels, self.groups, self.activation = channels, groups, activation
        self.kernel = ntuple(kernel_size, n, f"{name} kernel_size")
        self.strides, self.padding = ntuple(strides, n, f"{name} strides"), ntuple(padding, n, f"{name} padding")
        self.dilation = ntuple(dilation, n, f"{name} dilation")
        self.output_padding = ntuple(output_padding, n, f"{name} output_padding")
        self.in_channels = in_channels
        self.weight = Parameter("weight", self._weight_shape(in_channels), dtype, weight_initializer)
        self.bias = Parameter("bias", (channels,), dtype, bias_initializer) if use_bias else None

    def _weight_shape(self, in_channels: int) -> tuple[int, ...]:
        # convolution: (out, in/groups, *k); transposed: (in, out/groups, *k); channel-last moves the 2nd dim last
        lead = (in_channels, self.channels // self.groups) if self.transposed else \
            (self.channels, in_channels // self.groups if in_channels else 0)
        return (lead[0],) + self.kernel + (lead[1],) if self.channel_last else lead + self.kernel

    def forward(self, x):
        if not self.weight.is_initialized:
            self.weight._finish_deferred_init(self._weight_shape(x.shape[-1] if self.channel_last else x.shape[1]))
        weight = self.weight.data()  # first: graph parameters are listed in order of use
        bias = self.bias.data() if self.bias is not None else None
        if self.transposed:
            out = npx.deconvolution(x, weight, bias, stride=self.strides, dilate=self.dilation,
                                    pad=self.padding, adj=self.output_padding, num_group=self.groups,
                                    layout=self.layout)
        else:
            out = npx.convolution(x, weight, bias, stride=self.strides, dilate=self.dilation,
                                  pad=self.padding, num_group=self.groups, layout=self.layout)
        return npx.activation(out, self.activation) if self.activation else out

    def _extra_repr(self) -> str:
        shape = self.weight.shape
        ins = (shape[0] if self.transposed else shape[-1 if self.channel_last else 1] * self.groups) or None
        return f"{ins} -> {self.channels}, kernel_size={self.kernel}, stride={self.strides}, padding={self.padding}"


class Conv1D(_Conv):
    """1-D convolution over (N, C, W) ('NCW') or (N, W, C) ('NWC')."""
    rank = 1


class Conv2D(_Conv):
    """2-D convolution over NCHW or NHWC."""
    rank = 2


class Conv3D(_Conv):
    """3-D convolution over NCDHW or NDHWC."""
    rank = 3


class _ConvTranspose(_Conv):
    transposed = True

    def __init__(self, channels: int, kernel_size, strides=1, padding=0, output_padding=0, dilation=1,
                 groups: int = 1, layout: Optional[str] = None, activation: Optional[str] = None, use_bias: bool = True,
                 weight_initializer=None, bias_initializer="zeros", in_channels: int = 0, dtype="float32"):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
                         weight_initializer, bias_initializer, in_channels, dtype, output_padding)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (the gradient of Conv1D with respect to its input)."""
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution"): upsamples by `strides`."""
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    rank = 3


class _Pool(HybridBlock):
    rank = 2
    pool_type = "max"

    def __init__(self, pool_size=2, strides=None, padding=0, layout: Optional[str] = None, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        name, n = type(self).__name__, self.rank
        if ceil_mode and self.pool_type != "max":
            raise ValueError(f"{name}: ceil_mode=True is supported for max pooling; pad the input instead")
        self.ceil_mode = ceil_mode
        self.layout = layout or CHANNEL_FIRST[n]
        _check_layout(name, self.layout, n)
        self.pool_size = ntuple(pool_size, n, f"{name} pool_size")
        self.strides = ntuple(strides, n, f"{name} strides") if strides is not None else self.pool_size
        self.padding = ntuple(padding, n, f"{name} padding")
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return npx.pooling(x, self.pool_size, self.strides, self.padding, self.pool_type,
                           count_include_pad=self.count_include_pad, layout=self.layout,
                           pooling_convention="full" if self.ceil_mode else "valid")

    def _extra_repr(self) -> str:
        return f"size={self.pool_size}, stride={self.strides}, padding={self.padding}"


def _avg_init(self, pool_size=2, strides=None, padding=0, ceil_mode: bool = False, layout: Optional[str] = None,
              count_include_pad: bool = True):
    # Gluon's AvgPool argument order (ceil_mode before layout) differs from MaxPool's
    _Pool.__init__(self, pool_size, strides, padding, layout, ceil_mode, count_include_pad)


class MaxPool1D(_Pool):
    rank, pool_type = 1, "max"


class MaxPool2D(_Pool):
    rank, pool_type = 2, "max"


class MaxPool3D(_Pool):
    rank, pool_type = 3, "max"


class AvgPool1D(_Pool):
    rank, pool_type = 1, "avg"
    __init__ = _avg_init


class AvgPool2D(_Pool):
    rank, pool_type = 2, "avg"
    __init__ = _avg_init


class AvgPool3D(_Pool):
    rank, pool_type = 3, "avg"
    __init__ = _avg_init


class _GlobalPool(HybridBlock):
    rank = 2
    pool_type = "avg"

    def __init__(self, layout: Optional[str] = None):
        super().__init__()
        self.layout = layout or CHANNEL_FIRST[self.rank]
        _check_layout(type(self).__name__, self.layout, self.rank)

    def forward(self, x):
        return npx.pooling(x, pool_type=self.pool_type, global_pool=True, layout=self.layout)


class GlobalAvgPool1D(_GlobalPool):
    rank, pool_type = 1, "avg"


class GlobalAvgPool2D(_GlobalPool):
    rank, pool_type = 2, "avg"


class GlobalAvgPool3D(_GlobalPool):
    rank, pool_type = 3, "avg"


class GlobalMaxPool1D(_GlobalPool):
    rank, pool_type = 1, "max"


class GlobalMaxPool2D(_GlobalPool):
    rank, pool_type = 2, "max"


class GlobalMaxPool3D(_GlobalPool):
    rank, pool_type = 3, "max"
