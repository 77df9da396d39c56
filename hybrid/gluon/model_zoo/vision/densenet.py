"""DenseNet 121/161/169/201 (Huang et al. 2016), as MXNet's model zoo builds them."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish

# depth -> (initial features, growth rate, layers per dense block)
DENSENET_SPEC = {121: (64, 32, [6, 12, 24, 16]), 161: (96, 48, [6, 12, 36, 24]),
                 169: (64, 32, [6, 12, 32, 32]), 201: (64, 32, [6, 12, 48, 32])}


def _dense_layer(growth_rate: int, bn_size: int, dropout: float) -> nn.HybridConcatenate:
    """BN-ReLU-1x1 conv (bn_size * growth) - BN-ReLU-3x3 conv (growth), concatenated to its input."""
    new_features = nn.HybridSequential()
    new_features.add(nn.BatchNorm(), nn.Activation("relu"),
                     nn.Conv2D(bn_size * growth_rate, 1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                     nn.Conv2D(growth_rate, 3, padding=1, use_bias=False))
    if dropout:
        new_features.add(nn.Dropout(dropout))
    out = nn.HybridConcatenate(axis=1)
    out.add(nn.Identity(), new_features)
    return out


def _transition(channels: int) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(channels, 1, use_bias=False),
            nn.AvgPool2D(pool_size=2, strides=2))
    return out


class DenseNet(nn.HybridBlock):
    """Dense blocks joined by transitions that halve the channels and the resolution; expects 224x224
    inputs (the final 7x7 average pooling)."""

    def __init__(self, num_init_features: int, growth_rate: int, block_config: list[int], bn_size: int = 4,
                 dropout: float = 0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(num_init_features, 7, strides=2, padding=3, use_bias=False), nn.BatchNorm(),
                          nn.Activation("relu"), nn.MaxPool2D(pool_size=3, strides=2, padding=1))
        channels = num_init_features
        for i, count in enumerate(block_config):
            block = nn.HybridSequential()
            for _ in range(count):
                block.add(_dense_layer(growth_rate, bn_size, dropout))
            self.features.add(block)
            channels += count * growth_rate
            if i != len(block_config) - 1:
                channels //= 2
                self.features.add(_transition(channels))
        self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.AvgPool2D(pool_size=7), nn.Flatten())
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def get_densenet(num_layers: int, pretrained: bool = False, root: Optional[str] = None, **kwargs) -> DenseNet:
    if num_layers not in DENSENET_SPEC:
        raise ValueError(f"DenseNet depth {num_layers} is not offered; choose one of {sorted(DENSENET_SPEC)}")
    return finish(DenseNet(*DENSENET_SPEC[num_layers], **kwargs), f"densenet{num_layers}", pretrained, root)


def densenet121(**kwargs) -> DenseNet: return get_densenet(121, **kwargs)
def densenet161(**kwargs) -> DenseNet: return get_densenet(161, **kwargs)
def densenet169(**kwargs) -> DenseNet: return get_densenet(169, **kwargs)
def densenet201(**kwargs) -> DenseNet: return get_densenet(201, **kwargs)
