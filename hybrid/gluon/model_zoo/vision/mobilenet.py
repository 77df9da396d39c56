"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018) with width multipliers."""
from __future__ import annotations

from ....frontend import nn, np


class ReLU6(nn.HybridBlock):
    """min(max(x, 0), 6)."""

    def forward(self, x):
        return np.clip(x, 0.0, 6.0)


def _add_conv(out, channels: int = 1, kernel: int = 1, stride: int = 1, pad: int = 0, num_group: int = 1,
              active: bool = True, relu6: bool = False) -> None:
    out.add(nn.Conv2D(channels, kernel, stride, pad, groups=num_group, use_bias=False), nn.BatchNorm(scale=True))
    if active:
        out.add(ReLU6() if relu6 else nn.Activation("relu"))


def _add_conv_dw(out, dw_channels: int, channels: int, stride: int, relu6: bool = False) -> None:
    _add_conv(out, dw_channels, 3, stride, 1, dw_channels, relu6=relu6)
    _add_conv(out, channels, relu6=relu6)


class LinearBottleneck(nn.HybridBlock):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); a residual when shapes allow."""

    def __init__(self, in_channels: int, channels: int, t: int, stride: int):
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == channels
        self.out = nn.HybridSequential()
        _add_conv(self.out, in_channels * t, relu6=True)
        _add_conv(self.out, in_channels * t, 3, stride, 1, in_channels * t, relu6=True)
        _add_conv(self.out, channels, active=False)

    def forward(self, x):
        out = self.out(x)
        return out + x if self.use_shortcut else out


class MobileNet(nn.HybridBlock):
    def __init__(self, multiplier: float = 1.0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        _add_conv(self.features, int(32 * multiplier), 3, 2, 1)
        dw_channels = [int(c * multiplier) for c in [32, 64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024]]
        channels = [int(c * multiplier) for c in [64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024] * 2]
        strides = [1, 2] * 3 + [1] * 5 + [2, 1]
        for dwc, c, s in zip(dw_channels, channels, strides):
            _add_conv_dw(self.features, dwc, c, s)
        self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


class MobileNetV2(nn.HybridBlock):
    def __init__(self, multiplier: float = 1.0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        _add_conv(self.features, int(32 * multiplier), 3, 2, 1, relu6=True)
        in_group = [int(c * multiplier) for c in [32] + [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3]
        out_group = [int(c * multiplier) for c in [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320]]
        ts = [1] + [6] * 16
        strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
        for in_c, c, t, s in zip(in_group, out_group, ts, strides):
            self.features.add(LinearBottleneck(in_c, c, t, s))
        _add_conv(self.features, int(1280 * multiplier) if multiplier > 1.0 else 1280, relu6=True)
        self.features.add(nn.GlobalAvgPool2D())
        self.output = nn.HybridSequential()
        self.output.add(nn.Conv2D(classes, 1, use_bias=False), nn.Flatten())

    def forward(self, x):
        return self.output(self.features(x))


def mobilenet1_0(**kw): return MobileNet(1.0, **kw)
def mobilenet0_75(**kw): return MobileNet(0.75, **kw)
def mobilenet0_5(**kw): return MobileNet(0.5, **kw)
def mobilenet0_25(**kw): return MobileNet(0.25, **kw)
def mobilenet_v2_1_0(**kw): return MobileNetV2(1.0, **kw)
def mobilenet_v2_0_75(**kw): return MobileNetV2(0.75, **kw)
def mobilenet_v2_0_5(**kw): return MobileNetV2(0.5, **kw)
def mobilenet_v2_0_25(**kw): return MobileNetV2(0.25, **kw)
