"""VGG 11/13/16/19, with and without BatchNorm (Simonyan & Zisserman 2014), as MXNet's model zoo."""
from __future__ import annotations

from typing import Optional

from ....frontend import nn
from .store import finish

# depth -> (convolutions per stage, channels per stage)
VGG_SPEC = {11: ([1, 1, 2, 2, 2], [64, 128, 256, 512, 512]),
            13: ([2, 2, 2, 2, 2], [64, 128, 256, 512, 512]),
            16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]),
            19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512])}


class VGG(nn.HybridBlock):
    """Stages of 3x3 convolutions (each optionally followed by BatchNorm) and 2x2 max pooling, then two
    4096-unit dense layers with dropout."""

    def __init__(self, layers: list[int], filters: list[int], classes: int = 1000, batch_norm: bool = False):
        super().__init__()
        if len(layers) != len(filters):
            raise ValueError(f"VGG: {len(layers)} stage depths but {len(filters)} channel counts")
        self.features = nn.HybridSequential()
        for count, channels in zip(layers, filters):
            for _ in range(count):
                self.features.add(nn.Conv2D(channels, 3, padding=1))
                if batch_norm:
                    self.features.add(nn.BatchNorm())
                self.features.add(nn.Activation("relu"))
            self.features.add(nn.MaxPool2D(strides=2))
        for _ in range(2):
            self.features.add(nn.Dense(4096, activation="relu"), nn.Dropout(0.5))
        self.output = nn.Dense(classes)

    def forward(self, x):
        return self.output(self.features(x))


def get_vgg(num_layers: int, pretrained: bool = False, root: Optional[str] = None, device=None, **kwargs) -> VGG:
    if num_layers not in VGG_SPEC:
        raise ValueError(f"VGG depth {num_layers} is not offered; choose one of {sorted(VGG_SPEC)}")
    layers, filters = VGG_SPEC[num_layers]
    suffix = "_bn" if kwargs.get("batch_norm") else ""
    return finish(VGG(layers, filters, **kwargs), f"vgg{num_layers}{suffix}", pretrained, root, device)


def vgg11(**kwargs) -> VGG: return get_vgg(11, **kwargs)
def vgg13(**kwargs) -> VGG: return get_vgg(13, **kwargs)
def vgg16(**kwargs) -> VGG: return get_vgg(16, **kwargs)
def vgg19(**kwargs) -> VGG: return get_vgg(19, **kwargs)
def vgg11_bn(**kwargs) -> VGG: return get_vgg(11, batch_norm=True, **kwargs)
def vgg13_bn(**kwargs) -> VGG: return get_vgg(13, batch_norm=True, **kwargs)
def vgg16_bn(**kwargs) -> VGG: return get_vgg(16, batch_norm=True, **kwargs)
def vgg19_bn(**kwargs) -> VGG: return get_vgg(19, batch_norm=True, **kwargs)
