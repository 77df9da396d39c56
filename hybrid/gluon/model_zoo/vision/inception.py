"""Inception v3 (Szegedy et al. 2015), as MXNet's model zoo builds it (299x299 inputs)."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish


def _basic_conv(channels: int, kernel, strides=1, padding=0) -> nn.HybridSequential:
    """Convolution without bias, BatchNorm (epsilon 1e-3) and ReLU."""
    out = nn.HybridSequential()
    out.add(nn.Conv2D(channels, kernel, strides=strides, padding=padding, use_bias=False),
            nn.BatchNorm(epsilon=0.001), nn.Activation("relu"))
    return out


def _branch(pool: Optional[str], *convs) -> nn.HybridSequential:
    """An optional pool ('avg': 3x3/1 padded, 'max': 3x3/2) then basic convolutions given as
    (channels, kernel, strides, padding) tuples."""
    out = nn.HybridSequential()
    if pool == "avg":
        out.add(nn.AvgPool2D(pool_size=3, strides=1, padding=1))
    elif pool == "max":
        out.add(nn.MaxPool2D(pool_size=3, strides=2))
    for channels, kernel, strides, padding in convs:
        out.add(_basic_conv(channels, kernel, strides or 1, padding or 0))
    return out


def _concat(*branches) -> nn.HybridConcatenate:
    out = nn.HybridConcatenate(axis=1)
    out.add(*branches)
    return out


def _block_a(pool_features: int):
    return _concat(_branch(None, (64, 1, None, None)),
                   _branch(None, (48, 1, None, None), (64, 5, None, 2)),
                   _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, None, 1)),
                   _branch("avg", (pool_features, 1, None, None)))


def _block_b():
    return _concat(_branch(None, (384, 3, 2, None)),
                   _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, 2, None)),
                   _branch("max"))


def _block_c(c7: int):
    return _concat(_branch(None, (192, 1, None, None)),
                   _branch(None, (c7, 1, None, None), (c7, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0))),
                   _branch(None, (c7, 1, None, None), (c7, (7, 1), None, (3, 0)), (c7, (1, 7), None, (0, 3)),
                           (c7, (7, 1), None, (3, 0)), (192, (1, 7), None, (0, 3))),
                   _branch("avg", (192, 1, None, None)))


def _block_d():
    return _concat(_branch(None, (192, 1, None, None), (320, 3, 2, None)),
                   _branch(None, (192, 1, None, None), (192, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0)),
                           (192, 3, 2, None)),
                   _branch("max"))


def _split(first: nn.HybridSequential) -> nn.HybridSequential:
    """`first`, then 1x3 and 3x1 convolutions side by side."""
    out = nn.HybridSequential()
    out.add(first, _concat(_branch(None, (384, (1, 3), None, (0, 1))), _branch(None, (384, (3, 1), None, (1, 0)))))
    return out


def _block_e():
    return _concat(_branch(None, (320, 1, None, None)),
                   _split(_branch(None, (384, 1, None, None))),
                   _split(_branch(None, (448, 1, None, None), (384, 3, None, 1))),
                   _branch("avg", (192, 1, None, None)))


class Inception3(nn.HybridBlock):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(_basic_conv(32, 3, strides=2), _basic_conv(32, 3), _basic_conv(64, 3, padding=1),
                          nn.MaxPool2D(pool_size=3, strides=2), _basic_conv(80, 1), _basic_conv(192, 3),
                          nn.MaxPool2D(pool_size=3, strides=2),
                          _block_a(32), _block_a(64), _block_a(64), _block_b(),
                          _block_c(128), _block_c(160), _block_c(160), _block_c(192), _block_d(),
                          _block_e(), _block_e(), nn.AvgPool2D(pool_size=8), nn.Dropout(0.5))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def inception_v3(pretrained: bool = False, root: Optional[str] = None, **kwargs) -> Inception3:
    return finish(Inception3(**kwargs), "inceptionv3", pretrained, root)
