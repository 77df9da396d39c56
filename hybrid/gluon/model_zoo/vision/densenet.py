"""DenseNet 121/161/169/201 (Huang et al. 2017): dense blocks of BN-ReLU-Conv layers whose outputs
are concatenated to their inputs, with transitions halving channels and resolution."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish

DENSENET_SPEC = {121: (64, 32, [6, 12, 24, 16]), 161: (96, 48, [6, 12, 36, 24]), 169: (64, 32, [6, 12, 32, 32]),
                 201: (64, 32, [6, 12, 48, 32])}


def _dense_layer(growth_rate: int, bn_size: int, dropout: float) -> nn.HybridConcatenate:
    new_features = nn.HybridSequential()
    new_features.add(nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(bn_size * growth_rate, 1, use_bias=False),
                     nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(growth_rate, 3, padding=1, use_bias=False))
    if dropout:
        new_features.add(nn.Dropout(dropout))
    layer = nn.HybridConcatenate(axis=1)
    layer.add(nn.Identity(), new_features)
    return layer


def _dense_block(num_layers: int, bn_size: int, growth_rate: int, dropout: float) -> nn.HybridSequential:
    block = nn.HybridSequential()
    for _ in range(num_layers):
        block.add(_dense_layer(growth_rate, bn_size, dropout))
    return block


def _transition(channels: int) -> nn.HybridSequential:
    out = nn.HybridSequential()
    out.add(nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(channels, 1, use_bias=False), nn.AvgPool2D(2, 2))
    return out


class DenseNet(nn.HybridBlock):
    def __init__(self, num_init_features: int, growth_rate: int, block_config, bn_size: int = 4,
                 dropout: float = 0.0, classes: int = 1000):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(num_init_features, 7, 2, 3, use_bias=False), nn.BatchNorm(),
                          nn.Activation("relu"), nn.MaxPool2D(3, 2, 1))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add(_dense_block(num_layers, bn_size, growth_rate, dropout))
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                channels //= 2
                self.features.add(_transition(channels))
        self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.AvgPool2D(7), nn.Flatten())
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def get_densenet(num_layers: int, **kwargs) -> DenseNet:
    if num_layers not in DENSENET_SPEC:
        raise ValueError(f"DenseNet depth {num_layers} does not exist; choose one of {sorted(DENSENET_SPEC)}")
    init_features, growth, config = DENSENET_SPEC[num_layers]
    return DenseNet(init_features, growth, config, **kwargs)


def _named(depth: int):
    def build(pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> DenseNet:
        return finish(get_densenet(depth, **kwargs), f"densenet{depth}", pretrained, root, device)
    build.__name__ = f"densenet{depth}"
    return build


densenet121, densenet161, densenet169, densenet201 = (_named(d) for d in (121, 161, 169, 201))
