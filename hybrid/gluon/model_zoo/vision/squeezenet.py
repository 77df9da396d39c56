"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016): fire modules (a 1x1 squeeze, then 1x1 and 3x3
expands concatenated)."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish


def _fire_conv(channels: int, kernel: int, padding: int = 0) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(nn.Conv2D(channels, kernel, padding=padding), nn.Activation("relu"))
    return out


def _fire(squeeze: int, expand1x1: int, expand3x3: int) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(_fire_conv(squeeze, 1))
    paths = nn.HybridConcatenate(axis=1)
    paths.add(_fire_conv(expand1x1, 1), _fire_conv(expand3x3, 3, 1))
    out.add(paths)
    return out


class SqueezeNet(nn.HybridBlock):
    def __init__(self, version: str, classes: int = 1000):
        super().__init__()
        if version not in ("1.0", "1.1"):
            raise ValueError(f"SqueezeNet version must be '1.0' or '1.1', got {version!r}")
        f = self.features = nn.HybridSequential()

        def pool():
            return nn.MaxPool2D(3, 2, ceil_mode=True)
        if version == "1.0":
            f.add(nn.Conv2D(96, 7, 2), nn.Activation("relu"), pool(), _fire(16, 64, 64), _fire(16, 64, 64),
                  _fire(32, 128, 128), pool(), _fire(32, 128, 128), _fire(48, 192, 192), _fire(48, 192, 192),
                  _fire(64, 256, 256), pool(), _fire(64, 256, 256))
        else:
            f.add(nn.Conv2D(64, 3, 2), nn.Activation("relu"), pool(), _fire(16, 64, 64), _fire(16, 64, 64), pool(),
                  _fire(32, 128, 128), _fire(32, 128, 128), pool(), _fire(48, 192, 192), _fire(48, 192, 192),
                  _fire(64, 256, 256), _fire(64, 256, 256))
        f.add(nn.Dropout(0.5))
        self.output = nn.HybridSequential()
        self.output.add(nn.Conv2D(classes, 1), nn.Activation("relu"), nn.AvgPool2D(13), nn.Flatten())

    def forward(self, x):
        return self.output(self.features(x))


def squeezenet1_0(pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> SqueezeNet:
    return finish(SqueezeNet("1.0", **kwargs), "squeezenet1.0", pretrained, root, device)


def squeezenet1_1(pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> SqueezeNet:
    return finish(SqueezeNet("1.1", **kwargs), "squeezenet1.1", pretrained, root, device)
