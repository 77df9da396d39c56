"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), as MXNet's model zoo builds them."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish


def _conv_relu(channels: int, kernel: int, padding: int = 0) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(nn.Conv2D(channels, kernel, padding=padding), nn.Activation("relu"))
    return out


def _fire(squeeze: int, expand1x1: int, expand3x3: int) -> nn.HybridSequential:
    """A 1x1 squeeze convolution, then 1x1 and 3x3 expansions side by side (concatenated)."""
    expand = nn.HybridConcatenate(axis=1)
    expand.add(_conv_relu(expand1x1, 1), _conv_relu(expand3x3, 3, 1))
    out = nn.HybridSequential()
    out.add(_conv_relu(squeeze, 1), expand)
    return out


def _pool() -> nn.MaxPool2D:
    return nn.MaxPool2D(pool_size=3, strides=2, ceil_mode=True)


class SqueezeNet(nn.HybridBlock):
    """Fire modules between max pools; the classifier is a 1x1 convolution and a 13x13 average pool
    (224x224 inputs)."""

    def __init__(self, version: str, classes: int = 1000):
        super().__init__()
        if version not in ("1.0", "1.1"):
            raise ValueError(f"SqueezeNet version {version!r} is not offered; choose '1.0' or '1.1'")
        self.features = nn.HybridSequential()
        if version == "1.0":
            self.features.add(nn.Conv2D(96, 7, strides=2), nn.Activation("relu"), _pool(),
                              _fire(16, 64, 64), _fire(16, 64, 64), _fire(32, 128, 128), _pool(),
                              _fire(32, 128, 128), _fire(48, 192, 192), _fire(48, 192, 192), _fire(64, 256, 256),
                              _pool(), _fire(64, 256, 256))
        else:
            self.features.add(nn.Conv2D(64, 3, strides=2), nn.Activation("relu"), _pool(),
                              _fire(16, 64, 64), _fire(16, 64, 64), _pool(), _fire(32, 128, 128),
                              _fire(32, 128, 128), _pool(), _fire(48, 192, 192), _fire(48, 192, 192),
                              _fire(64, 256, 256), _fire(64, 256, 256))
        self.features.add(nn.Dropout(0.5))
        self.output = nn.HybridSequential()
        self.output.add(nn.Conv2D(classes, 1), nn.Activation("relu"), nn.AvgPool2D(13), nn.Flatten())

    def forward(self, x):
        return self.output(self.features(x))


def get_squeezenet(version: str, pretrained: bool = False, root: Optional[str] = None, **kwargs) -> SqueezeNet:
    return finish(SqueezeNet(version, **kwargs), f"squeezenet{version}", pretrained, root)


def squeezenet1_0(**kwargs) -> SqueezeNet: return get_squeezenet("1.0", **kwargs)
def squeezenet1_1(**kwargs) -> SqueezeNet: return get_squeezenet("1.1", **kwargs)
