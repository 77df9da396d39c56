"""Convolution and pooling layers (NCHW, Gluon names)."""
from __future__ import annotations

from typing import Optional

from .. import npx
from ..block import HybridBlock
from ..npx import _pair
from ..parameter import Parameter


class Conv2D(HybridBlock):
    """2-D convolution; `in_channels=0` defers the weight shape to the first call."""

    def __init__(self, channels: int, kernel_size, strides=1, padding=0, dilation=1, groups: int = 1,
                 layout: str = "NCHW", activation: Optional[str] = None, use_bias: bool = True,
                 weight_initializer=None, bias_initializer="zeros", in_channels: int = 0, dtype="float32"):
        super().__init__()
        if layout != "NCHW":
            raise ValueError(f"Conv2D supports layout 'NCHW' only, got {layout!r}")
        self.channels, self.kernel = channels, _pair(kernel_size)
        self.strides, self.padding, self.dilation = _pair(strides), _pair(padding), _pair(dilation)
        self.groups, self.activation = groups, activation
        self.weight = Parameter("weight", (channels, in_channels // groups if in_channels else 0) + self.kernel,
                                dtype, weight_initializer)
        self.bias = Parameter("bias", (channels,), dtype, bias_initializer) if use_bias else None

    def forward(self, x):
        if not self.weight.is_initialized:
            self.weight._finish_deferred_init((self.channels, x.shape[1] // self.groups) + self.kernel)
        out = npx.convolution(x, self.weight.data(), self.bias.data() if self.bias is not None else None,
                              self.strides, self.padding, self.dilation, self.groups)
        return npx.activation(out, self.activation) if self.activation else out

    def _extra_repr(self) -> str:
        return f"{self.weight.shape[1] * self.groups or None} -> {self.channels}, kernel_size={self.kernel}, " \
               f"stride={self.strides}, padding={self.padding}"


class _Pool2D(HybridBlock):
    pool_type = "max"

    def __init__(self, pool_size=2, strides=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.pool_size, self.strides, self.padding = _pair(pool_size), strides, _pair(padding)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return npx.pooling(x, self.pool_size, self.strides, self.padding, self.pool_type,
                           count_include_pad=self.count_include_pad)

    def _extra_repr(self) -> str:
        return f"size={self.pool_size}, stride={self.strides or self.pool_size}, padding={self.padding}"


class MaxPool2D(_Pool2D):
    pool_type = "max"


class AvgPool2D(_Pool2D):
    pool_type = "avg"


class _GlobalPool2D(HybridBlock):
    pool_type = "avg"

    def forward(self, x):
        return npx.pooling(x, pool_type=self.pool_type, global_pool=True)


class GlobalAvgPool2D(_GlobalPool2D):
    pool_type = "avg"


class GlobalMaxPool2D(_GlobalPool2D):
    pool_type = "max"
