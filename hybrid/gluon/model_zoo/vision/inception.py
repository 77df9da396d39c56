"""Inception v3 (Szegedy et al. 2015) for 299x299 inputs, with MXNet's branch layout."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish

_SETTING_NAMES = ("channels", "kernel_size", "strides", "padding")


def _basic_conv(**kwargs) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(nn.Conv2D(use_bias=False, **kwargs), nn.BatchNorm(epsilon=0.001), nn.Activation("relu"))
    return out


def _branch(pool, *conv_settings) -> nn.HybridSequential:
    """An optional pooling ('avg' 3x3/1 or 'max' 3x3/2), then basic convolutions given as
    (channels, kernel_size, strides, padding) with None for the defaults."""
    out = nn.HybridSequential()
    if pool == "avg":
        out.add(nn.AvgPool2D(3, 1, 1))
    elif pool == "max":
        out.add(nn.MaxPool2D(3, 2))
    for setting in conv_settings:
        out.add(_basic_conv(**{k: v for k, v in zip(_SETTING_NAMES, setting) if v is not None}))
    return out


def _concat(*branches) -> nn.HybridConcatenate:
    out = nn.HybridConcatenate(axis=1)
    out.add(*branches)
    return out


def _make_a(pool_features: int):
    return _concat(_branch(None, (64, 1, None, None)), _branch(None, (48, 1, None, None), (64, 5, None, 2)),
                   _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, None, 1)),
                   _branch("avg", (pool_features, 1, None, None)))


def _make_b():
    return _concat(_branch(None, (384, 3, 2, None)),
                   _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, 2, None)), _branch("max"))


def _make_c(c7: int):
    return _concat(_branch(None, (192, 1, None, None)),
                   _branch(None, (c7, 1, None, None), (c7, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0))),
                   _branch(None, (c7, 1, None, None), (c7, (7, 1), None, (3, 0)), (c7, (1, 7), None, (0, 3)),
                           (c7, (7, 1), None, (3, 0)), (192, (1, 7), None, (0, 3))),
                   _branch("avg", (192, 1, None, None)))


def _make_d():
    return _concat(_branch(None, (192, 1, None, None), (320, 3, 2, None)),
                   _branch(None, (192, 1, None, None), (192, (1, 7), None, (0, 3)), (192, (7, 1), None, (3, 0)),
                           (192, 3, 2, None)), _branch("max"))


def _split_3x3(first) -> nn.HybridSequential:
    """A branch followed by parallel 1x3 and 3x1 convolutions, concatenated."""
    out = nn.HybridSequential()
    out.add(first, _concat(_branch(None, (384, (1, 3), None, (0, 1))), _branch(None, (384, (3, 1), None, (1, 0)))))
    return out


def _make_e():
    return _concat(_branch(None, (320, 1, None, None)), _split_3x3(_branch(None, (384, 1, None, None))),
                   _split_3x3(_branch(None, (448, 1, None, None), (384, 3, None, 1))),
                   _branch("avg", (192, 1, None, None)))


class Inception3(nn.HybridBlock):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(_basic_conv(channels=32, kernel_size=3, strides=2), _basic_conv(channels=32, kernel_size=3),
                          _basic_conv(channels=64, kernel_size=3, padding=1), nn.MaxPool2D(3, 2),
                          _basic_conv(channels=80, kernel_size=1), _basic_conv(channels=192, kernel_size=3),
                          nn.MaxPool2D(3, 2), _make_a(32), _make_a(64), _make_a(64), _make_b(), _make_c(128),
                          _make_c(160), _make_c(160), _make_c(192), _make_d(), _make_e(), _make_e(), nn.AvgPool2D(8),
                          nn.Dropout(0.5))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def inception_v3(pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> Inception3:
    return finish(Inception3(**kwargs), "inceptionv3", pretrained, root, device)
