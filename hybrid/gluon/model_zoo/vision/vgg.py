"""VGG 11/13/16/19 (Simonyan & Zisserman 2014), with and without batch normalization."""
from __future__ import annotations

from ....frontend import init, nn

# layers per stage, filters per stage
VGG_SPEC = {11: ([1, 1, 2, 2, 2], [64, 128, 256, 512, 512]), 13: ([2, 2, 2, 2, 2], [64, 128, 256, 512, 512]),
            16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]), 19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512])}


class VGG(nn.HybridBlock):
    def __init__(self, layers, filters, classes: int = 1000, batch_norm: bool = False):
        super().__init__()
        if len(layers) != len(filters):
            raise ValueError(f"VGG: {len(layers)} stage depths for {len(filters)} filter counts")
        self.features = nn.HybridSequential()
        for count, channels in zip(layers, filters):
            for _ in range(count):
                self.features.add(nn.Conv2D(channels, 3, padding=1,
                                            weight_initializer=init.Xavier("gaussian", "out", 2)))
                if batch_norm:
                    self.features.add(nn.BatchNorm())
                self.features.add(nn.Activation("relu"))
            self.features.add(nn.MaxPool2D(strides=2))
        self.features.add(nn.Dense(4096, activation="relu", weight_initializer="normal"), nn.Dropout(0.5),
                          nn.Dense(4096, activation="relu", weight_initializer="normal"), nn.Dropout(0.5))
        self.output = nn.Dense(classes, weight_initializer="normal")

    def forward(self, x):
        return self.output(self.features(x))


def get_vgg(num_layers: int, batch_norm: bool = False, **kwargs) -> VGG:
    if num_layers not in VGG_SPEC:
        raise ValueError(f"VGG depth {num_layers} does not exist; choose one of {sorted(VGG_SPEC)}")
    layers, filters = VGG_SPEC[num_layers]
    return VGG(layers, filters, batch_norm=batch_norm, **kwargs)


def vgg11(**kw): return get_vgg(11, **kw)
def vgg13(**kw): return get_vgg(13, **kw)
def vgg16(**kw): return get_vgg(16, **kw)
def vgg19(**kw): return get_vgg(19, **kw)
def vgg11_bn(**kw): return get_vgg(11, batch_norm=True, **kw)
def vgg13_bn(**kw): return get_vgg(13, batch_norm=True, **kw)
def vgg16_bn(**kw): return get_vgg(16, batch_norm=True, **kw)
def vgg19_bn(**kw): return get_vgg(19, batch_norm=True, **kw)
