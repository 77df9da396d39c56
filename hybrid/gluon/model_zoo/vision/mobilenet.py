"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018) with width multipliers, as MXNet's
model zoo builds them."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn, np
from .store import finish


class RELU6(nn.HybridBlock):
    """min(max(x, 0), 6)."""

    def forward(self, x):
        return np.clip(x, 0.0, 6.0)


def _add_conv(out: nn.HybridSequential, channels: int, kernel: int = 1, stride: int = 1, pad: int = 0,
              groups: int = 1, active: bool = True, relu6: bool = False) -> None:
    """Convolution (no bias), BatchNorm and, when `active`, ReLU or ReLU6."""
    out.add(nn.Conv2D(channels, kernel, strides=stride, padding=pad, groups=groups, use_bias=False), nn.BatchNorm())
    if active:
        out.add(RELU6() if relu6 else nn.Activation("relu"))


class MobileNet(nn.HybridBlock):
    """Depthwise-separable convolutions (a 3x3 depthwise then a 1x1 pointwise, each with BN and ReLU)."""

    def __init__(self, multiplier: float = 1.0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        _add_conv(self.features, int(32 * multiplier), kernel=3, stride=2, pad=1)
        depthwise = [int(c * multiplier) for c in [32, 64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024]]
        pointwise = [int(c * multiplier) for c in [64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024] * 2]
        strides = [1, 2] * 3 + [1] * 5 + [2, 1]
        for dw, pw, stride in zip(depthwise, pointwise, strides):
            _add_conv(self.features, dw, kernel=3, stride=stride, pad=1, groups=dw)
            _add_conv(self.features, pw)
        self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


class LinearBottleneck(nn.HybridBlock):
    """Inverted residual: 1x1 expansion by t, 3x3 depthwise (strided), linear 1x1 projection; the input
    is added back when the shape is unchanged."""

    def __init__(self, in_channels: int, channels: int, t: int, stride: int):
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == channels
        self.out = nn.HybridSequential()
        _add_conv(self.out, in_channels * t, relu6=True)
        _add_conv(self.out, in_channels * t, kernel=3, stride=stride, pad=1, groups=in_channels * t, relu6=True)
        _add_conv(self.out, channels, active=False)

    def forward(self, x):
        out = self.out(x)
        return out + x if self.use_shortcut else out


class MobileNetV2(nn.HybridBlock):
    def __init__(self, multiplier: float = 1.0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        _add_conv(self.features, int(32 * multiplier), kernel=3, stride=2, pad=1, relu6=True)
        ins = [int(c * multiplier) for c in [32] + [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3]
        outs = [int(c * multiplier) for c in [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320]]
        expansions = [1] + [6] * 16
        strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
        for in_c, out_c, t, stride in zip(ins, outs, expansions, strides):
            self.features.add(LinearBottleneck(in_c, out_c, t, stride))
        _add_conv(self.features, int(1280 * multiplier) if multiplier > 1.0 else 1280, relu6=True)
        self.features.add(nn.GlobalAvgPool2D())
        self.output = nn.HybridSequential()
        self.output.add(nn.Conv2D(classes, 1, use_bias=False), nn.Flatten())

    def forward(self, x):
        return self.output(self.features(x))


def _suffix(multiplier: float) -> str:
    """MXNet's file naming: 1.0 and 0.5 keep one decimal, 0.75 and 0.25 two."""
    text = f"{multiplier:.2f}"
    return text[:-1] if text in ("1.00", "0.50") else text


def get_mobilenet(multiplier: float, pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> MobileNet:
    return finish(MobileNet(multiplier, **kwargs), f"mobilenet{_suffix(multiplier)}", pretrained, root, device)


def get_mobilenet_v2(multiplier: float, pretrained: bool = False, root: Optional[str] = None, device=None,
                     **kwargs) -> MobileNetV2:
    return finish(MobileNetV2(multiplier, **kwargs), f"mobilenetv2_{_suffix(multiplier)}", pretrained, root, device)


def mobilenet1_0(**kwargs): return get_mobilenet(1.0, **kwargs)
def mobilenet0_75(**kwargs): return get_mobilenet(0.75, **kwargs)
def mobilenet0_5(**kwargs): return get_mobilenet(0.5, **kwargs)
def mobilenet0_25(**kwargs): return get_mobilenet(0.25, **kwargs)
def mobilenet_v2_1_0(**kwargs): return get_mobilenet_v2(1.0, **kwargs)
def mobilenet_v2_0_75(**kwargs): return get_mobilenet_v2(0.75, **kwargs)
def mobilenet_v2_0_5(**kwargs): return get_mobilenet_v2(0.5, **kwargs)
def mobilenet_v2_0_25(**kwargs): return get_mobilenet_v2(0.25, **kwargs)
